//! Retention: backups keep mail the source deleted until the user's rule says otherwise, and
//! `archive prune` (or `retention:` in the profile) removes exactly the expired messages.

mod support;

use std::process::Command;

use serde_json::Value as Json;
use support::*;

fn prune(dir: &std::path::Path, args: &[&str]) -> Json {
    let (code, out) = output_of(
        Command::new(BIN)
            .args(["archive", "prune", "backup", "--json"])
            .args(args)
            .current_dir(dir),
    );
    assert_eq!(code, 0, "{out}");
    serde_json::from_str(out.lines().last().unwrap_or_default()).unwrap()
}

#[test]
fn only_mail_deleted_longer_ago_than_the_rule_leaves_the_backup() {
    let d = dovecot();
    let (src, dst) = (d.new_user("retsrc"), d.new_user("retdst"));
    for i in 0..4 {
        src.append(
            "INBOX",
            format!("Subject: keep {i}\r\n\r\nx\r\n").as_bytes(),
            &[],
            None,
        );
    }
    src.append("Work", b"Subject: work\r\n\r\ny\r\n", &["\\Seen"], None);
    let work = tempfile::tempdir().unwrap();
    let pw = [("SRC_PW", src.password.as_str())];
    for format in ["mbox", "tar"] {
        let backup = work.path().join("backup");
        let _ = std::fs::remove_dir_all(&backup);
        let _ = std::fs::remove_dir_all(work.path().join("state"));
        let profile = write_profile(
            work.path(),
            &imap_yaml(&src, "SRC_PW"),
            &format!("  archive: {{ path: backup, format: {format} }}\n"),
        );
        let inbox = src.messages("INBOX");
        let first = run_profile(&profile, &pw);
        assert_eq!(
            first.report["copied"],
            inbox.len() as u64 + 1,
            "{}",
            first.output
        );
        src.expunge("INBOX", inbox[1].uid);
        let again = run_profile(&profile, &pw);
        assert_eq!(again.code, 0, "{}", again.output);

        // Younger than the rule: kept, and a dry run says so.
        let young = prune(work.path(), &["--keep-deleted-for", "30d", "--dry-run"]);
        assert_eq!(young["removed"].as_array().unwrap().len(), 0, "{young}");
        assert_eq!(young["deleted_kept"], 1, "{young}");
        let dry = prune(work.path(), &["--keep-deleted-for", "0m", "--dry-run"]);
        assert_eq!(dry["removed"][0]["folder"], "INBOX", "{dry}");
        let done = prune(work.path(), &["--keep-deleted-for", "0m"]);
        assert_eq!(done["removed"].as_array().unwrap().len(), 1, "{done}");

        // A restore holds exactly what the source still has; the source is untouched.
        let dst_pw = [("DST_PW", dst.password.as_str())];
        let restore = write_profile(
            work.path(),
            "  archive: backup\n",
            &imap_yaml(&dst, "DST_PW"),
        );
        let _ = std::fs::remove_dir_all(work.path().join("state"));
        let restored = run_profile(&restore, &dst_pw);
        assert_eq!(restored.code, 0, "{}", restored.output);
        assert_same(&src, "INBOX", &dst, "INBOX");
        assert_same(&src, "Work", &dst, "Work");
        assert_eq!(src.messages("INBOX").len(), inbox.len() - 1);
        for name in ["INBOX", "Work"] {
            for m in dst.messages(name) {
                dst.expunge(name, m.uid);
            }
        }
        let (code, out) = output_of(
            Command::new(BIN)
                .args(["archive", "check", "backup"])
                .current_dir(work.path()),
        );
        assert_eq!(code, 0, "{out}");
    }
}

#[test]
fn retention_in_the_profile_prunes_after_each_backup() {
    let d = dovecot();
    let src = d.new_user("retprof");
    src.append("INBOX", b"Subject: a\r\n\r\nx\r\n", &[], None);
    src.append("INBOX", b"Subject: b\r\n\r\nx\r\n", &[], None);
    let work = tempfile::tempdir().unwrap();
    let pw = [("SRC_PW", src.password.as_str())];
    let profile = write_profile(
        work.path(),
        &imap_yaml(&src, "SRC_PW"),
        "  archive: { path: backup, retention: { keep_deleted_for: 0m } }\n",
    );
    let first = run_profile(&profile, &pw);
    assert_eq!(first.report["pruned"], 0, "{}", first.output);
    let uid = src.messages("INBOX")[0].uid;
    src.expunge("INBOX", uid);
    // With a rule of zero, the run that finds it deleted removes it; the next has nothing.
    let second = run_profile(&profile, &pw);
    assert_eq!(second.report["pruned"], 1, "{}", second.output);
    let third = run_profile(&profile, &pw);
    assert_eq!(third.report["pruned"], 0, "{}", third.output);
    assert_eq!(third.report["copied"], 0, "{}", third.output);
    let (_, out) = output_of(
        Command::new(BIN)
            .args(["archive", "ls", "backup", "--json"])
            .current_dir(work.path()),
    );
    let listing: Json = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(listing["messages"], 1, "{listing}");

    let bad = write_profile(
        work.path(),
        &imap_yaml(&src, "SRC_PW"),
        "  archive: { path: b2, retention: { keep_deleted_for: soon } }\n",
    );
    let refused = run_profile(&bad, &pw);
    assert_eq!(refused.code, 2);
    assert!(
        refused
            .output
            .contains("target.archive.retention.keep_deleted_for"),
        "{}",
        refused.output
    );
}
