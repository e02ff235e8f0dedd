//! One folder plan and one reconcile, seen from outside: every message lands in the folder the
//! job's plan gave it and stays there however the job is resumed, verify pairs folders as run
//! did, empty folders survive every path, and the checkpoint never hides what the target lacks.
//!
//! The source in most tests looks like a NetEase account a person has used for years: the
//! special-use `已发送` beside a user folder `Sent Items`, an empty `空文件夹`, an empty
//! `Empty Folder`, and `Archive` holding only subfolders.

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use support::*;

/// The source account of the issue, with `n` messages in each of 已发送 and Sent Items.
fn seed_source(src: &TestUser, n: usize) {
    let seeds = |tag: &str| -> Vec<Seed> {
        (0..n)
            .map(|i| {
                Seed::new(
                    generated(tag, i, 300 + (i * 7) % 500),
                    FLAG_SETS[i % FLAG_SETS.len()],
                    imap_date(1_600_000_000 + i as i64 * 3_600, 8),
                )
            })
            .collect()
    };
    bulk_append(src, "INBOX", &seeds("inbox")[..n / 4]);
    bulk_append(src, "已发送", &seeds("sent"));
    bulk_append(src, "Sent Items", &seeds("sent-items"));
    bulk_append(src, "Archive/2023", &seeds("archived")[..3]);
    src.create_mailbox("空文件夹");
    src.create_mailbox("Empty Folder");
    src.create_mailbox("Archive/2019");
}

/// Every folder where mail or an empty folder is expected on the target.
const EXPECTED: &[&str] = &[
    "INBOX",
    "已发送",
    "Sent Items",
    "Archive/2023",
    "空文件夹",
    "Empty Folder",
    "Archive/2019",
];

fn assert_all_in_place(src: &TestUser, dst: &TestUser) {
    for f in EXPECTED {
        assert_same(src, f, dst, f);
    }
}

fn total(dst: &TestUser) -> usize {
    let mut c = dst.login();
    EXPECTED.iter().map(|f| count(&mut c, f)).sum()
}

// ---------------------------------------------------------------------------------------------
// 1 + 2. Two folders of one role: repeated kill -9 and resume, then verify

#[test]
fn two_folders_of_one_role_stay_apart_through_kills_and_verify_agrees() {
    let d = dovecot();
    let src = d.new_user("role-src");
    let dst = d.new_user("role-dst");
    seed_source(&src, 400);
    let want = 400 * 2 + 100 + 3;
    let job = Job::new(&src, &dst).workers(2);
    for fraction in [0.1, 0.4, 0.7] {
        let threshold = (want as f64 * fraction) as usize;
        let mut child = job.spawn();
        let started = Instant::now();
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if total(&dst) >= threshold {
                child.kill().unwrap();
                child.wait().unwrap();
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "no progress");
            thread::sleep(Duration::from_millis(5));
        }
        dst.kick();
    }
    let out = job.run();
    assert_eq!(out.code, 0, "{out:?}");
    let warnings = out.report["warnings"].to_string();
    assert!(!warnings.contains("both go to"), "{out:?}");
    assert_all_in_place(&src, &dst);
    let (code, verdict) = job.verify(&[]);
    assert_eq!(code, 0, "{verdict:#}");
    let (code, verdict) = job.verify(&["--deep"]);
    assert_eq!(code, 0, "{verdict:#}");
}

#[test]
fn verify_after_a_clean_run_without_state_pairs_folders_as_run_did() {
    let d = dovecot();
    let src = d.new_user("vclean-src");
    let dst = d.new_user("vclean-dst");
    seed_source(&src, 30);
    let job = Job::new(&src, &dst);
    job.run().assert_clean(30 * 2 + 7 + 3, 0);
    assert_all_in_place(&src, &dst);
    // Even with the job's state gone, the plan comes out the same.
    std::fs::remove_dir_all(job.state_dir()).unwrap();
    let (code, verdict) = job.verify(&[]);
    assert_eq!(code, 0, "{verdict:#}");
    job.run().assert_clean(0, 30 * 2 + 7 + 3);
}

// ---------------------------------------------------------------------------------------------
// 3 + 4. Backups map as the source names them; empty folders through backup and restore

#[test]
fn backups_keep_source_names_and_empty_folders_and_restore_them() {
    let d = dovecot();
    let src = d.new_user("bk-src");
    seed_source(&src, 20);
    let dir = tempfile::tempdir().unwrap();
    let backup = write_profile(
        dir.path(),
        &imap_yaml(&src, "SRC"),
        "  archive: { path: backup, format: mbox }\n",
    );
    let env = [("SRC", src.password.as_str())];
    let r = run_profile(&backup, &env);
    let (code, first) = (r.code, r.report);
    assert_eq!(code, 0, "{first:#}");
    // An incremental run after new mail: the same names, no merge warning.
    src.append("Sent Items", &generated("later", 1, 300), &[], None);
    let r = run_profile(&backup, &env);
    let (code, second) = (r.code, r.report);
    assert_eq!(code, 0, "{second:#}");
    assert_eq!(second["copied"], 1, "{second:#}");
    for report in [&first, &second] {
        assert!(!report["warnings"].to_string().contains("both go to"));
        for f in report["folders"].as_array().unwrap() {
            assert_eq!(f["source"], f["target"], "{report:#}");
        }
    }

    let dst = d.new_user("bk-dst");
    let restore = write_profile(
        dir.path(),
        "  archive: { path: backup }\n",
        &imap_yaml(&dst, "DST"),
    );
    let r = run_profile(&restore, &[("DST", dst.password.as_str())]);
    let (code, report) = (r.code, r.report);
    assert_eq!(code, 0, "{report:#}");
    let names = dst.mailbox_names();
    for f in [
        "空文件夹",
        "Empty Folder",
        "Archive",
        "Archive/2023",
        "Archive/2019",
    ] {
        assert!(names.iter().any(|n| n == f), "{f} missing: {names:?}");
    }
    assert_all_in_place(&src, &dst);
}

#[test]
fn empty_and_parent_only_folders_are_created_by_a_migration() {
    let d = dovecot();
    let src = d.new_user("empty-src");
    let dst = d.new_user("empty-dst");
    src.create_mailbox("空文件夹");
    src.create_mailbox("Projects/2024/Q1");
    let job = Job::new(&src, &dst);
    job.run().assert_clean(0, 0);
    let names = dst.mailbox_names();
    for f in ["空文件夹", "Projects/2024/Q1"] {
        assert!(names.iter().any(|n| n == f), "{f} missing: {names:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 5. The checkpoint never hides what the target lacks

#[test]
fn a_target_folder_deleted_between_runs_is_filled_again() {
    let d = dovecot();
    let src = d.new_user("del-src");
    let dst = d.new_user("del-dst");
    seed_source(&src, 26);
    let job = Job::new(&src, &dst);
    job.run().assert_clean(26 * 2 + 6 + 3, 0);
    let out = d.doveadm(&["mailbox", "delete", "-u", &dst.name, "-s", "Sent Items"]);
    assert!(out.status.success(), "{out:?}");
    let out = job.run();
    out.assert_clean(26, 26 + 6 + 3);
    assert_all_in_place(&src, &dst);
}

#[test]
fn a_changed_folder_map_moves_new_copies_and_says_so() {
    let d = dovecot();
    let src = d.new_user("remap-src");
    let dst = d.new_user("remap-dst");
    seed_source(&src, 10);
    let job = Job::new(&src, &dst);
    job.run().assert_clean(10 * 2 + 2 + 3, 0);
    let job = job.yaml("folders:\n  map: { \"Sent Items\": \"Old Sent\" }\n");
    let out = job.run();
    out.assert_clean(10, 10 + 2 + 3);
    assert!(
        out.report["warnings"]
            .to_string()
            .contains("now goes to Old Sent"),
        "{out:?}"
    );
    assert_same(&src, "Sent Items", &dst, "Old Sent");
    // Mail copied before the change stays where it was put.
    assert_same(&src, "Sent Items", &dst, "Sent Items");
}

// ---------------------------------------------------------------------------------------------
// 6. What the user did on the target stays

fn flags_by_subject(user: &TestUser, folder: &str) -> BTreeMap<String, Vec<String>> {
    user.messages(folder)
        .into_iter()
        .map(|m| (subject(&m.body), m.flags))
        .collect()
}

#[test]
fn flags_set_on_the_target_after_the_copy_survive_a_rerun() {
    let d = dovecot();
    let src = d.new_user("keep-src");
    let dst = d.new_user("keep-dst");
    let a = src.append("INBOX", &generated("keep", 1, 200), &["\\Seen"], None);
    src.append("INBOX", &generated("keep", 2, 200), &["\\Seen"], None);
    src.append("INBOX", &generated("keep", 3, 200), &[], None);
    let job = Job::new(&src, &dst);
    job.run().assert_clean(3, 0);
    // On the target the user flags one, tags it, marks another unread.
    let on_target = dst.messages("INBOX");
    let uid_of = |n: usize| {
        on_target
            .iter()
            .find(|m| subject(&m.body).contains(&format!("#{n} ")))
            .unwrap()
            .uid
    };
    dst.set_flags("INBOX", uid_of(1), &["\\Seen", "\\Flagged", "Todo"]);
    dst.set_flags("INBOX", uid_of(2), &[]);
    // Meanwhile on the source, message 3 is read and message 1 gets \Deleted.
    src.set_flags("INBOX", a, &["\\Seen", "\\Deleted"]);
    let uid3 = src
        .messages("INBOX")
        .into_iter()
        .find(|m| subject(&m.body).contains("#3 "))
        .unwrap()
        .uid;
    src.set_flags("INBOX", uid3, &["\\Seen"]);
    job.run().assert_clean(0, 3);
    let flags = flags_by_subject(&dst, "INBOX");
    let of = |n: usize| {
        flags
            .iter()
            .find(|(s, _)| s.contains(&format!("#{n} ")))
            .map(|(_, f)| f.clone())
            .unwrap()
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(of(1)),
        sorted(vec!["Todo".into(), "\\Flagged".into(), "\\Seen".into()]),
        "the user's flag and keyword stay, and the source's later \\Deleted is not carried"
    );
    assert!(
        of(2).is_empty(),
        "the user's unread mark was undone: {:?}",
        of(2)
    );
    assert_eq!(
        of(3),
        vec!["\\Seen".to_string()],
        "what the source gained is added"
    );
}

// ---------------------------------------------------------------------------------------------
// 8. A server that changes bytes on APPEND

#[test]
fn a_copy_the_server_changed_is_present_not_copied_again() {
    // Some servers rewrite what they are given (a body line ending CR CR LF stored as CR LF,
    // trailing blank lines dropped). This Dovecot keeps bytes as given, so the target is
    // seeded with copies as such a server stored them, and the job's state is gone.
    let d = dovecot();
    let src = d.new_user("crcr-src");
    let dst = d.new_user("crcr-dst");
    for i in 0..3 {
        let raw = format!(
            "From: a@163.com\r\nSubject: stray cr {i}\r\nMessage-ID: <crcr-{i}@x>\r\n\r\nline one\r\r\nline two {i}\r\n\r\n"
        );
        // One received date on both sides: the server's clock would differ between them.
        let date = Some("04-Mar-2024 10:00:00 +0800");
        src.append("INBOX", raw.as_bytes(), &["\\Seen"], date);
        let stored = raw.replace("\r\r\n", "\r\n");
        let stored = stored.strip_suffix("\r\n").unwrap();
        dst.append("INBOX", stored.as_bytes(), &["\\Seen"], date);
    }
    let job = Job::new(&src, &dst);
    job.run().assert_clean(0, 3);
    assert_eq!(dst.messages("INBOX").len(), 3);
    for extra in [&[][..], &["--deep"][..]] {
        let (code, verdict) = job.verify(extra);
        assert_eq!(code, 0, "{verdict:#}");
        assert_eq!(verdict["folders"][0]["changed_by_server"], 3, "{verdict:#}");
        assert!(
            verdict["folders"][0]["warnings"]
                .to_string()
                .contains("byte(s) removed by the server"),
            "{verdict:#}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Look-alikes from a store are told apart by their bytes too

#[test]
fn a_restore_tells_lookalikes_apart_by_their_bytes() {
    let d = dovecot();
    let dst = d.new_user("alike-dst");
    // Equal header fields, equal size, bodies equal for their first 300 bytes.
    let body = |tail: &str| {
        format!(
            "From: a@163.com\nSubject: monthly report\nMessage-ID: <report@x>\nDate: Mon, 4 Mar 2024 10:00:00 +0800\n\n{}\nend {tail}\n",
            "x".repeat(300)
        )
    };
    let (a, b) = (body("AAAA"), body("BBBB"));
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("INBOX.mbox");
    std::fs::write(
        &mbox,
        format!("From a@163.com Mon Mar  4 10:00:00 2024\n{a}\nFrom a@163.com Mon Mar  4 10:00:00 2024\n{b}\n"),
    )
    .unwrap();
    // The target already holds B (as a server serves it, CRLF).
    dst.append("INBOX", b.replace('\n', "\r\n").as_bytes(), &[], None);
    let restore = write_profile(
        dir.path(),
        &format!("  mbox: {}\n", mbox.display()),
        &imap_yaml(&dst, "DST"),
    );
    let r = run_profile(&restore, &[("DST", dst.password.as_str())]);
    let (code, report) = (r.code, r.report);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        (
            report["copied"].as_u64(),
            report["already_present"].as_u64()
        ),
        (Some(1), Some(1)),
        "{report:#}"
    );
    let mut tails: Vec<String> = dst
        .messages("INBOX")
        .iter()
        .map(|m| {
            String::from_utf8_lossy(&m.body)
                .lines()
                .last()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    tails.sort();
    assert_eq!(tails, vec!["end AAAA", "end BBBB"]);
}

// ---------------------------------------------------------------------------------------------
// A dry run changes nothing: no state, no folder, no archive byte

#[test]
fn a_dry_run_writes_no_state_no_folder_and_no_archive_byte() {
    let d = dovecot();
    let src = d.new_user("dry-src");
    let dst = d.new_user("dry-dst");
    seed_source(&src, 5);
    let job = Job::new(&src, &dst);
    let out = job.run_with(&["--dry-run"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.n("copied") > 0, "{out:?}");
    assert!(
        !job.state_dir().exists(),
        "a dry run created the job's state"
    );
    assert_eq!(dst.mailbox_names(), vec!["INBOX".to_string()]);

    let dir = tempfile::tempdir().unwrap();
    let backup = write_profile(
        dir.path(),
        &imap_yaml(&src, "SRC"),
        "  archive: { path: backup, format: mbox }\n",
    );
    let env = [("SRC", src.password.as_str())];
    assert_eq!(run_profile(&backup, &env).code, 0);
    src.append("INBOX", &generated("dry", 9, 300), &[], None);
    let manifest = dir.path().join("backup/manifest.jsonl");
    let before = std::fs::read(&manifest).unwrap();
    let out = Command::new(BIN)
        .arg("run")
        .arg(&backup)
        .args(["--dry-run", "--json"])
        .env("SRC", &src.password)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(report["copied"], 1, "{report:#}");
    assert_eq!(std::fs::read(&manifest).unwrap(), before);
}
