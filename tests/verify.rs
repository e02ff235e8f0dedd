//! `mailferry verify` end to end: the real binary first migrates between accounts of the test
//! Dovecot (`mailferry run`), the target is then damaged with the harness's own IMAP client
//! (never mailferry's code), and `verify` must name exactly the damage, and only read.
//!
//! Every test makes its own users and a profile in a temp dir (`tls: none` to 127.0.0.1,
//! passwords from environment variables set on the command).

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value as Json;
use support::imap_client::quote;
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_mailferry");

// ---------------------------------------------------------------------------------------------
// Jobs: a profile in a temp dir, and the binary run on it.

/// Where the job writes: the target account, or an archive in the job's dir.
enum Target {
    Imap,
    Archive(&'static str),
}

struct Job {
    dir: tempfile::TempDir,
    src: (String, String),
    dst: (String, String),
    target: Target,
    /// IMAP ports of the source and the target: Dovecot's plain port, or a [`Proxy`].
    ports: (u16, u16),
}

/// What one invocation of the binary did.
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

impl Outcome {
    /// The last non-empty stdout line as JSON (`verify --json` prints one object; `run --json`
    /// ends with its report).
    fn json(&self) -> Json {
        let last = self.stdout.lines().rev().find(|l| !l.trim().is_empty());
        match last.map(serde_json::from_str::<Json>) {
            Some(Ok(j)) => j,
            _ => panic!("no JSON on stdout: {self:?}"),
        }
    }
}

impl Job {
    fn new(src: &TestUser, dst: &TestUser) -> Job {
        Job {
            dir: tempfile::tempdir().unwrap(),
            src: (src.name.clone(), src.password.clone()),
            dst: (dst.name.clone(), dst.password.clone()),
            target: Target::Imap,
            ports: (dovecot().plain_port(), dovecot().plain_port()),
        }
    }

    /// Connect to the source and target through these ports (e.g. recording proxies).
    fn ports(mut self, source: u16, target: u16) -> Job {
        self.ports = (source, target);
        self
    }

    /// A backup of `src` into `archive/` in the job's dir, in the given format.
    fn archive(src: &TestUser, format: &'static str) -> Job {
        Job {
            dir: tempfile::tempdir().unwrap(),
            src: (src.name.clone(), src.password.clone()),
            dst: (String::new(), String::new()),
            target: Target::Archive(format),
            ports: (dovecot().plain_port(), dovecot().plain_port()),
        }
    }

    fn profile(&self) -> PathBuf {
        let account = |port: u16, user: &str, var: &str| {
            format!(
                "  imap: {{ host: 127.0.0.1, port: {port}, tls: none, user: \"{user}\", \
                 password: {{ env: {var} }} }}\n"
            )
        };
        let target = match self.target {
            Target::Imap => account(self.ports.1, &self.dst.0, "MF_TEST_DST_PASSWORD"),
            Target::Archive(format) => {
                format!("  archive: {{ path: archive, format: {format} }}\n")
            }
        };
        let yaml = format!(
            "source:\n{}target:\n{target}workers: 2\nstate_dir: state\n",
            account(self.ports.0, &self.src.0, "MF_TEST_SRC_PASSWORD"),
        );
        let path = self.dir.path().join("job.yaml");
        std::fs::write(&path, yaml).unwrap();
        path
    }

    /// `mailferry SUBCOMMAND PROFILE ARGS...`
    fn mailferry(&self, subcommand: &str, args: &[&str]) -> Outcome {
        let out = Command::new(BIN)
            .arg(subcommand)
            .arg(self.profile())
            .args(args)
            .env("MF_TEST_SRC_PASSWORD", &self.src.1)
            .env("MF_TEST_DST_PASSWORD", &self.dst.1)
            .env_remove("MAILFERRY_LOG")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `run --json`, which must succeed; returns the source -> target folder names it used.
    fn migrate(&self) -> BTreeMap<String, String> {
        let out = self.mailferry("run", &["--json"]);
        assert_eq!(out.code, 0, "{out:?}");
        let report = out.json();
        assert_eq!(report["failed"], 0, "{out:?}");
        report["folders"]
            .as_array()
            .unwrap_or_else(|| panic!("run report has no folders: {out:?}"))
            .iter()
            .map(|f| {
                (
                    f["source"].as_str().unwrap().to_string(),
                    f["target"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// `verify --json ARGS...`: the exit code and the result object.
    fn verify(&self, args: &[&str]) -> (i32, Json, Outcome) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.mailferry("verify", &all);
        assert!(
            out.code == 0 || out.code == 1,
            "verify failed fatally: {out:?}"
        );
        // One object on stdout and nothing else: progress goes elsewhere.
        assert_eq!(out.stdout.trim().lines().count(), 1, "{out:?}");
        let j = out.json();
        (out.code, j, out)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

// ---------------------------------------------------------------------------------------------
// Mail: what the source is seeded with.

/// An IMAP date-time for a unix time, printed in the given zone.
fn imap_date(unix: i64, zone_hours: i32) -> String {
    let zone = chrono::FixedOffset::east_opt(zone_hours * 3600).unwrap();
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap()
        .with_timezone(&zone)
        .format("%d-%b-%Y %H:%M:%S %z")
        .to_string()
}

/// A plain message, unique by `tag` and `i`, with Message-ID `<tag-i@verify.test>`.
fn generated(tag: &str, i: usize) -> Vec<u8> {
    let mut m = format!(
        "From: sender{i}@163.com\r\nTo: alice@qq.com\r\nSubject: {tag} #{i} 测试\r\n\
         Date: Mon, 4 Mar 2024 10:{i:02}:00 +0800\r\nMessage-ID: <{}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n",
        mid(tag, i)
    )
    .into_bytes();
    for line in 0..20 {
        m.extend_from_slice(
            format!("{tag} message {i} line {line}: 内容 lorem ipsum\r\n").as_bytes(),
        );
    }
    m
}

/// The Message-ID (without brackets) of [`generated`]`(tag, i)`.
fn mid(tag: &str, i: usize) -> String {
    format!("{tag}-{i}@verify.test")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/migrate")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Flags and keywords cycled through; unseen messages included on purpose.
const FLAG_SETS: &[&[&str]] = &[
    &[],
    &["\\Seen"],
    &["\\Seen", "\\Answered"],
    &["\\Flagged", "$Label1"],
    &["$Forwarded", "Work"],
    &["\\Seen", "\\Flagged", "$Forwarded", "$Label1", "Work"],
];

const INBOX: &str = "INBOX";
const SENT: &str = "已发送";
const CLIENTS: &str = "客户/2024/三月";

/// Seeds the source: INBOX with generated mail, a message without Message-ID and two different
/// messages sharing one; the Sent folder and a nested Chinese user folder. Dates in several
/// zones. Returns the number of messages per source folder.
fn seed(src: &TestUser) -> BTreeMap<String, u64> {
    let base = 1_709_517_600; // 2024-03-04 10:00 +0800
    let mut counts = BTreeMap::new();
    for (folder, tag, n) in [
        (INBOX, "inbox", 6),
        (SENT, "sent", 3),
        (CLIENTS, "clients", 4),
    ] {
        if folder != INBOX {
            src.create_mailbox(folder);
        }
        for i in 0..n {
            let flags = if folder == SENT {
                &["\\Seen"][..]
            } else {
                FLAG_SETS[i % FLAG_SETS.len()]
            };
            let date = imap_date(base + 3600 * i as i64, [8, -5, 0][i % 3]);
            src.append(folder, &generated(tag, i), flags, Some(&date));
        }
        counts.insert(folder.to_string(), n as u64);
    }
    for (name, flags) in [
        ("no-message-id.eml", &["\\Seen"][..]),
        ("same-id-first.eml", &[][..]),
        ("same-id-second.eml", &["\\Flagged"][..]),
    ] {
        src.append(
            INBOX,
            &fixture(name),
            flags,
            Some("05-Mar-2024 08:15:00 +0800"),
        );
    }
    *counts.get_mut(INBOX).unwrap() += 3;
    counts
}

/// The message in `folder` whose Message-ID is `<id>`.
fn find(user: &TestUser, folder: &str, id: &str) -> StoredMessage {
    let needle = format!("Message-ID: <{id}>");
    let found: Vec<StoredMessage> = user
        .messages(folder)
        .into_iter()
        .filter(|m| String::from_utf8_lossy(&m.body).contains(&needle))
        .collect();
    assert_eq!(found.len(), 1, "{id} in {folder} of {}", user.name);
    found.into_iter().next().unwrap()
}

/// Every message's UID and flags, per folder: what a verify must not change.
fn flag_snapshot(user: &TestUser, folders: &[&str]) -> BTreeMap<String, Vec<(u32, Vec<String>)>> {
    folders
        .iter()
        .map(|f| {
            let flags = user
                .messages(f)
                .into_iter()
                .map(|m| (m.uid, m.flags))
                .collect();
            (f.to_string(), flags)
        })
        .collect()
}

/// Commands that change a mailbox, and FETCHes that would set \\Seen (`BODY[` and `RFC822`
/// instead of their `.PEEK` forms).
fn writes(commands: &[String]) -> Vec<String> {
    commands
        .iter()
        .filter(|c| {
            let upper = c.to_ascii_uppercase();
            let words: Vec<&str> = upper.split_whitespace().collect();
            let verb = match words.get(1) {
                Some(&"UID") => words.get(2),
                other => other,
            };
            let Some(&verb) = verb else { return false };
            let sets_seen = verb == "FETCH"
                && (upper.contains("BODY[")
                    || upper.contains("BINARY[")
                    || upper
                        .split([' ', '(', ')'])
                        .any(|w| w == "RFC822" || w == "RFC822.TEXT"));
            sets_seen
                || matches!(
                    verb,
                    "SELECT"
                        | "STORE"
                        | "APPEND"
                        | "CREATE"
                        | "DELETE"
                        | "RENAME"
                        | "EXPUNGE"
                        | "COPY"
                        | "MOVE"
                        | "SUBSCRIBE"
                        | "UNSUBSCRIBE"
                        | "SETMETADATA"
                )
        })
        .cloned()
        .collect()
}

/// The problems as (kind, folder, message_id), sorted.
fn problems(verdict: &Json) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = verdict["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no problems array: {verdict:#}"))
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_string(),
                p["folder"].as_str().unwrap().to_string(),
                p["message_id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn problem(kind: &str, folder: &str, id: &str) -> (String, String, String) {
    (kind.to_string(), folder.to_string(), format!("<{id}>"))
}

/// The folder rows by source folder name.
fn rows(verdict: &Json) -> BTreeMap<String, Json> {
    verdict["folders"]
        .as_array()
        .unwrap_or_else(|| panic!("no folders array: {verdict:#}"))
        .iter()
        .map(|f| (f["source"].as_str().unwrap().to_string(), f.clone()))
        .collect()
}

/// A clean verdict: ok, the method named, and every folder with exactly the seeded messages.
fn assert_clean(verdict: &Json, method: &str, counts: &BTreeMap<String, u64>) {
    assert_eq!(verdict["ok"], true, "{verdict:#}");
    assert_eq!(verdict["method"], method, "{verdict:#}");
    assert_eq!(problems(verdict), vec![], "{verdict:#}");
    let rows = rows(verdict);
    let got: BTreeMap<String, (u64, u64, u64)> = rows
        .iter()
        .map(|(s, r)| {
            let n = |k: &str| r[k].as_u64().unwrap();
            (
                s.clone(),
                (n("source_messages"), n("target_messages"), n("present")),
            )
        })
        .collect();
    let want: BTreeMap<String, (u64, u64, u64)> = counts
        .iter()
        .map(|(f, n)| (f.clone(), (*n, *n, *n)))
        .collect();
    assert_eq!(
        got, want,
        "(source, target, present) per folder: {verdict:#}"
    );
    let total: u64 = counts.values().sum();
    assert_eq!(verdict["totals"]["source_messages"], total, "{verdict:#}");
    assert_eq!(verdict["totals"]["present"], total, "{verdict:#}");
}

// ---------------------------------------------------------------------------------------------
// 1. A clean migration verifies, by either method.

#[test]
fn clean_migration_verifies_by_fingerprint_and_by_sha256() {
    let d = dovecot();
    let (src, dst) = (d.new_user("clean-src"), d.new_user("clean-dst"));
    let counts = seed(&src);
    let job = Job::new(&src, &dst);
    let map = job.migrate();
    assert_eq!(map.len(), counts.len(), "{map:?}");

    let (code, v, out) = job.verify(&[]);
    assert_eq!(code, 0, "{out:?}");
    assert_clean(&v, "fingerprint", &counts);
    for (s, row) in rows(&v) {
        assert_eq!(row["target"], map[&s].as_str(), "{v:#}");
        assert_eq!(row["target_exists"], true, "{v:#}");
    }

    let (code, v, out) = job.verify(&["--deep"]);
    assert_eq!(code, 0, "{out:?}");
    assert_clean(&v, "sha256", &counts);

    // The human form ends with the verdict.
    let out = job.mailferry("verify", &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let last = out.stdout.lines().last().unwrap_or_default();
    assert!(last.starts_with("OK: verified by fingerprints"), "{out:?}");
}

// ---------------------------------------------------------------------------------------------
// 2. Damage on the target is named exactly.

#[test]
fn missing_changed_flags_and_duplicate_are_each_named_and_nothing_else() {
    let d = dovecot();
    let (src, dst) = (d.new_user("damage-src"), d.new_user("damage-dst"));
    seed(&src);
    let job = Job::new(&src, &dst);
    let map = job.migrate();

    // Lost: an INBOX message. Flags: a client message gets \Flagged. Duplicate: a sent message
    // appended a second time, identical in every way.
    let lost = mid("inbox", 2);
    dst.expunge(&map[INBOX], find(&dst, &map[INBOX], &lost).uid);
    let flagged = mid("clients", 1);
    let m = find(&dst, &map[CLIENTS], &flagged);
    assert_eq!(m.flags, ["\\Seen"]);
    dst.set_flags(&map[CLIENTS], m.uid, &["\\Seen", "\\Flagged"]);
    let doubled = mid("sent", 0);
    let m = find(&dst, &map[SENT], &doubled);
    let flags: Vec<&str> = m.flags.iter().map(String::as_str).collect();
    dst.append(&map[SENT], &m.body, &flags, Some(&m.internaldate));

    let list = job.path("missing.jsonl");
    let (code, v, out) = job.verify(&["--list-missing", list.to_str().unwrap()]);
    assert_eq!(code, 1, "{out:?}");
    assert_eq!(v["ok"], false, "{v:#}");
    assert_eq!(
        problems(&v),
        vec![
            problem("duplicate", &map[SENT], &doubled),
            problem("flags", CLIENTS, &flagged),
            problem("missing", INBOX, &lost),
        ],
        "{v:#}"
    );
    let flags = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "flags")
        .unwrap();
    assert_eq!(
        flags["source_flags"],
        serde_json::json!(["\\Seen"]),
        "{v:#}"
    );
    assert_eq!(
        flags["target_flags"],
        serde_json::json!(["\\Flagged", "\\Seen"]),
        "{v:#}"
    );
    let t = &v["totals"];
    assert_eq!(
        [
            &t["missing"],
            &t["flags_differ"],
            &t["duplicates"],
            &t["extra"],
            &t["date_differ"]
        ],
        [1, 1, 1, 0, 0],
        "{v:#}"
    );

    let text = std::fs::read_to_string(&list).unwrap();
    let lines: Vec<Json> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["folder"], INBOX, "{text}");
    assert_eq!(lines[0]["message_id"], format!("<{lost}>"), "{text}");

    // The human form says the same in its last line.
    let out = job.mailferry("verify", &[]);
    assert_eq!(out.code, 1, "{out:?}");
    let last = out.stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("NOT OK") && last.contains("1 missing") && last.contains("1 duplicates"),
        "{out:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. verify only reads.

#[test]
fn verify_changes_no_flag_and_creates_no_folder_on_either_side() {
    let d = dovecot();
    let (src, dst) = (d.new_user("ro-src"), d.new_user("ro-dst"));
    let counts = seed(&src);
    let job = Job::new(&src, &dst);
    let map = job.migrate();
    let src_folders = [INBOX, SENT, CLIENTS];
    let dst_folders: Vec<&str> = src_folders.iter().map(|f| map[*f].as_str()).collect();

    let src_before = flag_snapshot(&src, &src_folders);
    let dst_before = flag_snapshot(&dst, &dst_folders);
    let unseen = |s: &BTreeMap<String, Vec<(u32, Vec<String>)>>| {
        s.values()
            .flatten()
            .filter(|(_, f)| !f.iter().any(|f| f == "\\Seen"))
            .count()
    };
    assert!(unseen(&src_before) >= 4, "{src_before:?}");
    assert_eq!(unseen(&src_before), unseen(&dst_before));
    // Through recording proxies, to see what verify asks of each server.
    let (sp, tp) = (
        Proxy::start(d.plain_port(), vec![]),
        Proxy::start(d.plain_port(), vec![]),
    );
    let watched = Job::new(&src, &dst).ports(sp.port(), tp.port());
    for args in [&[][..], &["--deep"][..]] {
        let (code, _, out) = watched.verify(args);
        assert_eq!(code, 0, "{args:?}: {out:?}");
        assert_eq!(flag_snapshot(&src, &src_folders), src_before, "{args:?}");
        assert_eq!(flag_snapshot(&dst, &dst_folders), dst_before, "{args:?}");
    }
    for (side, proxy) in [("source", &sp), ("target", &tp)] {
        let commands = proxy.commands();
        assert_eq!(
            writes(&commands),
            Vec::<String>::new(),
            "{side}: {commands:#?}"
        );
        assert!(
            commands.iter().any(|c| c.contains("EXAMINE")),
            "{side}: {commands:#?}"
        );
        assert!(
            commands.iter().any(|c| c.contains("BODY.PEEK[]")),
            "{side}: --deep fetched no whole message: {commands:#?}"
        );
    }

    // A target folder gone: everything that belongs in it is missing, and it stays gone.
    let gone = &map[CLIENTS];
    let mut c = dst.login();
    c.command(&format!("DELETE {}", quote(&mutf7_encode(gone))))
        .unwrap()
        .expect_ok("DELETE");
    c.logout();
    let names_before = dst.mailbox_names();
    assert!(!names_before.contains(gone), "{names_before:?}");
    for args in [&[][..], &["--deep"][..]] {
        let (code, v, out) = job.verify(args);
        assert_eq!(code, 1, "{args:?}: {out:?}");
        let row = &rows(&v)[CLIENTS];
        assert_eq!(row["target_exists"], false, "{v:#}");
        assert_eq!(row["missing"], counts[CLIENTS], "{v:#}");
        assert_eq!(row["present"], 0, "{v:#}");
        let want: Vec<_> = (0..counts[CLIENTS] as usize)
            .map(|i| problem("missing", CLIENTS, &mid("clients", i)))
            .collect();
        assert_eq!(problems(&v), want, "{v:#}");
        assert_eq!(
            dst.mailbox_names(),
            names_before,
            "{args:?}: folder created"
        );
        assert_eq!(flag_snapshot(&src, &src_folders), src_before, "{args:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. A changed body with the same size and headers: only --deep sees it.

#[test]
fn same_size_body_change_is_caught_by_deep_only() {
    let d = dovecot();
    let (src, dst) = (d.new_user("body-src"), d.new_user("body-dst"));
    let counts = seed(&src);
    let job = Job::new(&src, &dst);
    let map = job.migrate();

    let id = mid("inbox", 3);
    let m = find(&dst, &map[INBOX], &id);
    let mut changed = m.body.clone();
    let at = changed.windows(5).rposition(|w| w == b"lorem").unwrap();
    changed[at..at + 5].copy_from_slice(b"LOREM");
    assert_eq!(changed.len(), m.body.len());
    let flags: Vec<&str> = m.flags.iter().map(String::as_str).collect();
    dst.append(&map[INBOX], &changed, &flags, Some(&m.internaldate));
    dst.expunge(&map[INBOX], m.uid);

    let (code, v, out) = job.verify(&[]);
    assert_eq!(code, 0, "{out:?}");
    assert_clean(&v, "fingerprint", &counts);
    let out = job.mailferry("verify", &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("compared by fingerprint"),
        "method not named: {out:?}"
    );

    // As docs/verify.md says: a different body is "missing" on one side plus "extra" on the
    // other, both naming the message.
    let (code, v, out) = job.verify(&["--deep"]);
    assert_eq!(code, 1, "{out:?}");
    assert_eq!(v["method"], "sha256", "{v:#}");
    assert_eq!(
        problems(&v),
        vec![
            problem("extra", &map[INBOX], &id),
            problem("missing", INBOX, &id),
        ],
        "{v:#}"
    );
    for p in v["problems"].as_array().unwrap() {
        assert!(p["sha256"].as_str().is_some_and(|h| h.len() == 64), "{v:#}");
    }
    let out = job.mailferry("verify", &["--deep"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout.contains("compared by SHA-256"),
        "method not named: {out:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. A different INTERNALDATE.

#[test]
fn different_internaldate_is_reported_as_date() {
    let d = dovecot();
    let (src, dst) = (d.new_user("date-src"), d.new_user("date-dst"));
    seed(&src);
    let job = Job::new(&src, &dst);
    let map = job.migrate();

    let id = mid("sent", 1);
    let m = find(&dst, &map[SENT], &id);
    let source_date = find(&src, SENT, &id).internaldate;
    let flags: Vec<&str> = m.flags.iter().map(String::as_str).collect();
    let other = "01-Jan-2020 00:00:00 +0000";
    dst.append(&map[SENT], &m.body, &flags, Some(other));
    dst.expunge(&map[SENT], m.uid);

    let (code, v, out) = job.verify(&[]);
    assert_eq!(code, 1, "{out:?}");
    assert_eq!(problems(&v), vec![problem("date", SENT, &id)], "{v:#}");
    let p = &v["problems"][0];
    assert_eq!(
        internaldate_unix(p["source_internaldate"].as_str().unwrap()),
        internaldate_unix(&source_date),
        "{v:#}"
    );
    assert_eq!(
        internaldate_unix(p["target_internaldate"].as_str().unwrap()),
        internaldate_unix(other),
        "{v:#}"
    );
    assert_eq!(v["totals"]["date_differ"], 1, "{v:#}");
}

// ---------------------------------------------------------------------------------------------
// 6. run --verify, and archive targets.

#[test]
fn run_with_verify_reports_the_verdict() {
    let d = dovecot();
    let (src, dst) = (d.new_user("runv-src"), d.new_user("runv-dst"));
    let counts = seed(&src);
    let job = Job::new(&src, &dst);
    let out = job.mailferry("run", &["--json", "--verify"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report = out.json();
    let v = &report["verify"];
    assert!(v.is_object(), "no verify in the report: {out:?}");
    assert_clean(v, "fingerprint", &counts);

    // The human report carries the verdict too.
    let out = job.mailferry("run", &["--verify"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("verify: OK"), "{out:?}");
}

#[test]
fn archive_targets_verify_after_a_backup() {
    let d = dovecot();
    let src = d.new_user("arch-src");
    let counts = seed(&src);
    let snapshot = flag_snapshot(&src, &[INBOX, SENT, CLIENTS]);
    let mut jobs = Vec::new();
    for format in ["mbox", "tar"] {
        let job = Job::archive(&src, format);
        let out = job.mailferry("run", &["--json"]);
        assert_eq!(out.code, 0, "{format}: {out:?}");
        for (args, method) in [(&[][..], "fingerprint"), (&["--deep"][..], "sha256")] {
            let (code, v, out) = job.verify(args);
            assert_eq!(code, 0, "{format} {args:?}: {out:?}");
            assert_clean(&v, method, &counts);
        }
        jobs.push((format, job));
    }
    assert_eq!(flag_snapshot(&src, &[INBOX, SENT, CLIENTS]), snapshot);

    // The check is real: mail that arrived after the backup is missing from it.
    src.append(CLIENTS, &generated("late", 0), &[], None);
    for (format, job) in &jobs {
        let (code, v, out) = job.verify(&[]);
        assert_eq!(code, 1, "{format}: {out:?}");
        assert_eq!(
            problems(&v),
            vec![problem("missing", CLIENTS, &mid("late", 0))],
            "{format}: {v:#}"
        );
    }
}
