//! Gmail as a source, through a proxy in front of Dovecot that behaves as Gmail does
//! (`X-GM-EXT-1`, `[Gmail]/...` folders with their special-use, `X-GM-MSGID` and
//! `X-GM-LABELS` from a table): a message with three labels arrives once, mail only in All
//! Mail lands in `Archive`, Starred and Important are not copied as folders, a rerun adds
//! nothing, `verify` agrees, the labels are in a backup's manifest, and `labels: all` puts
//! one copy in every label folder.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use support::*;

/// The messages: A has INBOX, Work, Travel and Important; B was sent and is in INBOX; C is
/// in Work and starred; D has no label (All Mail only).
fn messages() -> Vec<(&'static str, u64, &'static [&'static str])> {
    vec![
        (
            "A",
            1001,
            &[
                "INBOX",
                "Work",
                "Travel",
                "[Gmail]/Important",
                "[Gmail]/All Mail",
            ],
        ),
        (
            "B",
            1002,
            &["[Gmail]/Sent Mail", "INBOX", "[Gmail]/All Mail"],
        ),
        ("C", 1003, &["Work", "[Gmail]/Starred", "[Gmail]/All Mail"]),
        ("D", 1004, &["[Gmail]/All Mail"]),
    ]
}

fn raw(name: &str) -> Vec<u8> {
    format!(
        "From: x@gmail.com\r\nSubject: message {name}\r\nMessage-ID: <{name}@gmail.test>\r\n\r\nbody of {name}\r\n"
    )
    .into_bytes()
}

/// Seeds the source folders and returns the proxy's table (folder, UID) -> (id, labels).
fn seed(src: &TestUser) -> BTreeMap<(String, u32), (u64, Vec<String>)> {
    let mut by_folder: BTreeMap<&str, Vec<(&str, u64)>> = BTreeMap::new();
    for (name, id, folders) in messages() {
        for f in folders.iter() {
            by_folder.entry(f).or_default().push((name, id));
        }
    }
    let labels_of = |name: &str| -> Vec<String> {
        let (_, _, folders) = messages().into_iter().find(|m| m.0 == name).unwrap();
        folders
            .iter()
            .filter_map(|f| match *f {
                "INBOX" => Some("\\Inbox".to_string()),
                "[Gmail]/Sent Mail" => Some("\\Sent".to_string()),
                "[Gmail]/Starred" => Some("\\Starred".to_string()),
                "[Gmail]/Important" => Some("\\Important".to_string()),
                "[Gmail]/All Mail" => None,
                other => Some(other.to_string()),
            })
            .collect()
    };
    let mut table = BTreeMap::new();
    for (folder, list) in by_folder {
        let seeds: Vec<Seed> = list
            .iter()
            .map(|(name, _)| {
                let flags: &[&str] = if *name == "C" { &["\\Flagged"] } else { &[] };
                Seed::new(raw(name), flags, imap_date(1_700_000_000, 8))
            })
            .collect();
        bulk_append(src, folder, &seeds);
        for (i, (name, id)) in list.iter().enumerate() {
            table.insert((folder.to_string(), i as u32 + 1), (*id, labels_of(name)));
        }
    }
    table
}

fn subjects_in(u: &TestUser, folder: &str) -> Vec<String> {
    if !u.mailbox_names().iter().any(|n| n == folder) {
        return Vec::new();
    }
    subjects(u, folder)
}

fn total(u: &TestUser) -> usize {
    selectable(u).iter().map(|f| u.messages(f).len()).sum()
}

fn profile(
    dir: &Path,
    src: &TestUser,
    proxy: &Proxy,
    target: &str,
    extra: &str,
) -> std::path::PathBuf {
    let source = format!(
        "  imap: {{ host: 127.0.0.1, port: {}, tls: none, user: \"{}\", password: {{ env: MF_SRC }} }}\n",
        proxy.port(),
        src.name
    );
    let path = write_profile(dir, &source, target);
    let text = std::fs::read_to_string(&path).unwrap() + extra;
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn each_gmail_message_arrives_once_and_all_mail_only_lands_in_archive() {
    let d = dovecot();
    let (src, dst) = (d.new_user("gm"), d.new_user("gmdst"));
    let proxy = Proxy::start(d.plain_port(), vec![Quirk::Gmail(seed(&src))]);
    let dir = tempfile::tempdir().unwrap();
    let p = profile(dir.path(), &src, &proxy, &imap_yaml(&dst, "MF_DST"), "");
    let envs = [
        ("MF_SRC", src.password.as_str()),
        ("MF_DST", dst.password.as_str()),
    ];
    let r = run_profile(&p, &envs);
    assert_eq!(r.code, 0, "{}", r.output);
    assert_eq!(total(&dst), 4, "{:?}", dst.mailbox_names());
    // A's labels are Travel and Work (and INBOX): the first label in the plan's order
    // (alphabetical) takes it.
    assert_eq!(subjects_in(&dst, "Travel"), vec!["message A"]);
    assert_eq!(subjects_in(&dst, "Work"), vec!["message C"]);
    assert_eq!(subjects_in(&dst, "Archive"), vec!["message D"]);
    assert!(subjects_in(&dst, "INBOX").is_empty());
    let names = dst.mailbox_names();
    assert!(
        !names
            .iter()
            .any(|n| n.contains("Starred") || n.contains("Important")),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains("All Mail")), "{names:?}");
    // C keeps its star as \Flagged.
    let c = dst
        .messages("Work")
        .into_iter()
        .find(|m| subject(&m.body) == "message C")
        .unwrap();
    assert!(c.flags.contains(&"\\Flagged".to_string()));

    let again = run_profile(&p, &envs);
    assert_eq!(again.code, 0, "{}", again.output);
    assert_eq!(again.report["copied"], 0, "{}", again.output);
    assert_eq!(total(&dst), 4);

    let (code, text) = mailferry_on("verify", &p, &["--json"], &envs);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn labels_all_copies_into_every_label_folder() {
    let d = dovecot();
    let (src, dst) = (d.new_user("gmall"), d.new_user("gmalldst"));
    let proxy = Proxy::start(d.plain_port(), vec![Quirk::Gmail(seed(&src))]);
    let dir = tempfile::tempdir().unwrap();
    let p = profile(
        dir.path(),
        &src,
        &proxy,
        &imap_yaml(&dst, "MF_DST"),
        "gmail: { labels: all }\n",
    );
    let envs = [
        ("MF_SRC", src.password.as_str()),
        ("MF_DST", dst.password.as_str()),
    ];
    let r = run_profile(&p, &envs);
    assert_eq!(r.code, 0, "{}", r.output);
    assert_eq!(subjects_in(&dst, "INBOX"), vec!["message A", "message B"]);
    assert_eq!(subjects_in(&dst, "Work"), vec!["message A", "message C"]);
    assert_eq!(subjects_in(&dst, "Travel"), vec!["message A"]);
    assert_eq!(subjects_in(&dst, "Archive"), vec!["message D"]);
    assert_eq!(total(&dst), 7, "{:?}", dst.mailbox_names());
}

#[test]
fn a_gmail_backup_keeps_the_labels_in_its_manifest() {
    let d = dovecot();
    let src = d.new_user("gmbak");
    let proxy = Proxy::start(d.plain_port(), vec![Quirk::Gmail(seed(&src))]);
    let dir = tempfile::tempdir().unwrap();
    let p = profile(
        dir.path(),
        &src,
        &proxy,
        "  archive: { path: backup }\n",
        "",
    );
    let r = run_profile(&p, &[("MF_SRC", src.password.as_str())]);
    assert_eq!(r.code, 0, "{}", r.output);
    assert_eq!(r.report["copied"], 4, "{}", r.output);
    let mut manifest = String::new();
    for e in walk(&dir.path().join("backup")) {
        if let Ok(text) = std::fs::read_to_string(&e) {
            manifest.push_str(&text);
        }
    }
    assert!(
        manifest.contains("\"labels\":[\"\\\\Inbox\",\"Work\",\"Travel\",\"\\\\Important\"]"),
        "{manifest}"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn the_profile_decides_which_label_comes_first() {
    let d = dovecot();
    let (src, dst) = (d.new_user("gmord"), d.new_user("gmorddst"));
    let proxy = Proxy::start(d.plain_port(), vec![Quirk::Gmail(seed(&src))]);
    let dir = tempfile::tempdir().unwrap();
    let p = profile(
        dir.path(),
        &src,
        &proxy,
        &imap_yaml(&dst, "MF_DST"),
        "gmail: { order: [Work] }\n",
    );
    let envs = [
        ("MF_SRC", src.password.as_str()),
        ("MF_DST", dst.password.as_str()),
    ];
    let r = run_profile(&p, &envs);
    assert_eq!(r.code, 0, "{}", r.output);
    assert_eq!(subjects_in(&dst, "Work"), vec!["message A", "message C"]);
    assert!(subjects_in(&dst, "Travel").is_empty());
    assert_eq!(total(&dst), 4);
}
