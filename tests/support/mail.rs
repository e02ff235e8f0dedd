//! Mail for tests: generated messages, seeding an account fast, and reading a folder back
//! as a multiset to compare across accounts.

use super::imap_client::quote;
use super::{ImapClient, Outcome, Status, TestUser, mutf7_encode};

/// An IMAP date-time for a unix time, printed in the given zone (`+0800`, `-0500`).
pub fn imap_date(unix: i64, zone_hours: i32) -> String {
    let zone = chrono::FixedOffset::east_opt(zone_hours * 3600).unwrap();
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap()
        .with_timezone(&zone)
        .format("%d-%b-%Y %H:%M:%S %z")
        .to_string()
}

/// Flags and keywords the corpora cycle through: every system flag (\Deleted too), NetEase's
/// and Thunderbird's keywords, and a user's own.
pub const FLAG_SETS: &[&[&str]] = &[
    &[],
    &["\\Seen"],
    &["\\Seen", "\\Answered"],
    &["\\Flagged", "$Label1"],
    &["\\Draft"],
    &["\\Seen", "\\Deleted"],
    &["$Forwarded", "Work"],
    &[
        "\\Seen",
        "\\Answered",
        "\\Flagged",
        "$Forwarded",
        "$Label1",
        "Work",
    ],
];

/// A plain message, unique by `tag` and `i`, about `body_len` bytes of body.
pub fn generated(tag: &str, i: usize, body_len: usize) -> Vec<u8> {
    let mut m = format!(
        "From: sender{i}@163.com\r\nTo: alice@qq.com\r\nSubject: {tag} #{i} 测试\r\n\
         Date: Mon, 4 Mar 2024 10:{:02}:{:02} +0800\r\nMessage-ID: <{tag}-{i}@mailferry.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n",
        (i / 60) % 60,
        i % 60
    )
    .into_bytes();
    let mut line = 0;
    while m.len() < body_len {
        m.extend_from_slice(
            format!("{tag} message {i} line {line}: 内容 lorem ipsum\r\n").as_bytes(),
        );
        line += 1;
    }
    m
}

/// One message to seed: bytes, flags, INTERNALDATE.
#[derive(Clone)]
pub struct Seed {
    pub raw: Vec<u8>,
    pub flags: Vec<String>,
    pub date: String,
}

impl Seed {
    pub fn new(raw: Vec<u8>, flags: &[&str], date: String) -> Seed {
        Seed {
            raw,
            flags: flags.iter().map(|f| f.to_string()).collect(),
            date,
        }
    }
}

/// APPENDs many messages quickly: MULTIAPPEND with LITERAL+, up to 100 per command.
pub fn bulk_append(user: &TestUser, folder: &str, seeds: &[Seed]) {
    if !folder.eq_ignore_ascii_case("INBOX") {
        user.create_mailbox(folder);
    }
    let mut c = user.login();
    for chunk in seeds.chunks(100) {
        let mut cmd = format!("APPEND {}", quote(&mutf7_encode(folder))).into_bytes();
        for s in chunk {
            cmd.extend_from_slice(
                format!(
                    " ({}) {} {{{}+}}\r\n",
                    s.flags.join(" "),
                    quote(&s.date),
                    s.raw.len()
                )
                .as_bytes(),
            );
            cmd.extend_from_slice(&s.raw);
        }
        cmd.extend_from_slice(b"\r\n");
        c.command_bytes(&cmd)
            .unwrap()
            .expect_ok(&format!("MULTIAPPEND to {folder}"));
    }
    c.logout();
}

/// A message as compared across accounts: bytes, flags (sorted, no \Recent), INTERNALDATE.
pub type Msg = (Vec<u8>, Vec<String>, String);

/// A folder's messages as a sorted multiset (UIDs differ between accounts).
pub fn content(user: &TestUser, folder: &str) -> Vec<Msg> {
    let mut v: Vec<Msg> = user
        .messages(folder)
        .into_iter()
        .map(|m| (m.body, m.flags, m.internaldate))
        .collect();
    v.sort();
    v
}

/// The `Subject:` of a raw message, for readable failure messages.
pub fn subject(raw: &[u8]) -> String {
    let head = &raw[..raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len())];
    String::from_utf8_lossy(head)
        .lines()
        .find_map(|l| l.strip_prefix("Subject: ").map(str::to_string))
        .unwrap_or_else(|| format!("({} bytes, no subject)", raw.len()))
}

pub fn describe(msgs: &[&Msg]) -> String {
    msgs.iter()
        .map(|(b, f, d)| format!("  {} [{} B] {f:?} {d}\n", subject(b), b.len()))
        .collect()
}

/// The target folder holds exactly the source folder's messages: same bytes, flags and
/// INTERNALDATE, each as often as on the source.
pub fn assert_same(src: &TestUser, sf: &str, dst: &TestUser, df: &str) {
    let want = content(src, sf);
    let got = content(dst, df);
    if want == got {
        return;
    }
    let mut missing: Vec<&Msg> = Vec::new();
    let mut extra: Vec<&Msg> = got.iter().collect();
    for m in &want {
        match extra.iter().position(|g| *g == m) {
            Some(i) => {
                extra.remove(i);
            }
            None => missing.push(m),
        }
    }
    panic!(
        "{sf} -> {df}: source has {}, target has {}\nmissing or different on the target:\n{}\
         extra or different on the target:\n{}",
        want.len(),
        got.len(),
        describe(&missing),
        describe(&extra)
    );
}

/// Subjects of a folder's messages, sorted.
pub fn subjects(user: &TestUser, folder: &str) -> Vec<String> {
    let mut v: Vec<String> = user
        .messages(folder)
        .iter()
        .map(|m| subject(&m.body))
        .collect();
    v.sort();
    v
}

/// Folders that can hold mail (not `\Noselect` containers), sorted.
pub fn selectable(user: &TestUser) -> Vec<String> {
    let mut v: Vec<String> = user
        .mailboxes()
        .into_iter()
        .filter(|m| !m.has("\\Noselect") && !m.has("\\NonExistent"))
        .map(|m| m.name)
        .collect();
    v.sort();
    v
}

/// Every source folder (exactly these) appears in the report, and its target folder holds
/// exactly its messages. For tests that are not about where folders go.
pub fn assert_mirrored(out: &Outcome, src: &TestUser, dst: &TestUser, sources: &[&str]) {
    let rows = out.folders();
    let mut want: Vec<&str> = sources.to_vec();
    want.sort();
    let got: Vec<&str> = rows.keys().map(String::as_str).collect();
    assert_eq!(got, want, "{out:?}");
    for (source, (target, _)) in &rows {
        assert_same(src, source, dst, target);
    }
}

/// Messages in a folder right now (0 when it does not exist yet), on a given connection.
pub fn count(c: &mut ImapClient, folder: &str) -> usize {
    let reply = c
        .command(&format!(
            "STATUS {} (MESSAGES)",
            quote(&mutf7_encode(folder))
        ))
        .unwrap();
    if reply.status != Status::Ok {
        return 0;
    }
    let text = String::from_utf8_lossy(&reply.untagged.concat()).into_owned();
    text.split("MESSAGES ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
