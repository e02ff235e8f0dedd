//! Files mailferry reads but did not write (or wrote long ago): nothing in them becomes an
//! IMAP command, and every message in them is carried or listed.

mod support;

use support::*;

#[test]
fn an_edited_manifest_cannot_run_commands_on_the_restore_target() {
    let d = dovecot();
    let src = d.new_user("inject-src");
    src.append(
        "INBOX",
        &generated("inject", 1, 300),
        &["\\Seen", "Work"],
        None,
    );
    src.append("Keep", &generated("keep", 2, 300), &[], None);
    let dir = tempfile::tempdir().unwrap();
    let backup = write_profile(
        dir.path(),
        &imap_yaml(&src, "SRC"),
        "  archive: { path: backup, format: mbox }\n",
    );
    let r = run_profile(&backup, &[("SRC", &src.password)]);
    let (code, out) = (r.code, r.output);
    assert_eq!(code, 0, "{out}");

    // A keyword and an INTERNALDATE edited to end the APPEND line and start other commands.
    let manifest = dir.path().join("backup/manifest.jsonl");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let evil = "x\r\nA1 DELETE Keep\r\nA2 CREATE Pwned\r\n";
    let edited: String = text
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            if v["t"] == "msg" && v["folder"] == "INBOX" {
                v["flags"] = serde_json::json!(["\\Seen", evil]);
                v["internaldate"] =
                    serde_json::json!(format!("01-Jan-2020 00:00:00 +0000\"{evil}"));
            }
            v.to_string() + "\n"
        })
        .collect();
    std::fs::write(&manifest, edited).unwrap();

    let dst = d.new_user("inject-dst");
    dst.append("Keep", &generated("theirs", 3, 300), &[], None);
    let restore = write_profile(
        dir.path(),
        "  archive: { path: backup }\n",
        &imap_yaml(&dst, "DST"),
    );
    let r = run_profile(&restore, &[("DST", &dst.password)]);
    let (_, out) = (r.code, r.output);
    let names = dst.mailbox_names();
    assert!(names.iter().any(|n| n == "Keep"), "{names:?}\n{out}");
    assert!(!names.iter().any(|n| n == "Pwned"), "{names:?}\n{out}");
    assert_eq!(dst.messages("Keep").len(), 2, "{out}");
    // The message itself is carried, with the flags that could be sent.
    let inbox = dst.messages("INBOX");
    assert_eq!(inbox.len(), 1, "{out}");
    assert!(inbox[0].flags.contains(&"\\Seen".to_string()));
}

#[test]
fn an_mbox_message_with_an_empty_header_section_is_carried() {
    // As Python's `mailbox` writes a message without headers: the From_ line, an empty line,
    // then the body.
    let d = dovecot();
    let dst = d.new_user("headerless-dst");
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("INBOX.mbox");
    std::fs::write(
        &mbox,
        "From MAILER-DAEMON Mon Mar  4 10:00:00 2024\n\nA note with no headers at all.\nSecond line.\n\nFrom a@163.com Mon Mar  4 10:00:00 2024\nSubject: normal\n\nbody\n",
    )
    .unwrap();
    let restore = write_profile(
        dir.path(),
        &format!("  mbox: {}\n", mbox.display()),
        &imap_yaml(&dst, "DST"),
    );
    let r = run_profile(&restore, &[("DST", &dst.password)]);
    let (code, out) = (r.code, r.output);
    assert_eq!(code, 0, "{out}");
    let bodies: Vec<String> = dst
        .messages("INBOX")
        .iter()
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}\n{out}");
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("A note with no headers at all.")),
        "{bodies:?}"
    );
}

#[test]
fn bytes_that_are_no_message_are_listed_and_the_run_exits_1() {
    let d = dovecot();
    let dst = d.new_user("junk-dst");
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("INBOX.mbox");
    std::fs::write(
        &mbox,
        "junk before any From_ line\nmore junk\n\nFrom a@163.com Mon Mar  4 10:00:00 2024\nSubject: kept\n\nbody\n",
    )
    .unwrap();
    let restore = write_profile(
        dir.path(),
        &format!("  mbox: {}\n", mbox.display()),
        &imap_yaml(&dst, "DST"),
    );
    let r = run_profile(&restore, &[("DST", &dst.password)]);
    let (code, out) = (r.code, r.output);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("\"not_carried\""), "{out}");
    assert!(out.contains("at byte 0"), "{out}");
    assert_eq!(dst.messages("INBOX").len(), 1, "{out}");
}
