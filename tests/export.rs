//! `mailferry archive export`: a backup written out as plain mbox files that Python's
//! `mailbox` reads with every message and flag, as a Maildir that Dovecot serves with flags,
//! keywords and received dates, and as `.eml` files byte for byte.

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

/// A mailbox with flags, keywords, a nested Chinese folder and an empty folder, backed up.
fn backed_up(dir: &Path) -> (TestUser, std::path::PathBuf) {
    let d = dovecot();
    let src = d.new_user("exp");
    bulk_append(
        &src,
        "INBOX",
        &[
            Seed::new(
                generated("exp", 1, 300),
                &["\\Seen", "\\Answered"],
                imap_date(1_600_000_000, 8),
            ),
            Seed::new(
                generated("exp", 2, 300),
                &["\\Flagged", "$Forwarded"],
                imap_date(1_610_000_000, 8),
            ),
            Seed::new(
                b"Subject: From line\r\n\r\nFrom here on\r\n>From quoted\r\n".to_vec(),
                &[],
                imap_date(1_620_000_000, 8),
            ),
        ],
    );
    bulk_append(
        &src,
        "工作/2024",
        &[Seed::new(
            generated("exp", 3, 300),
            &["\\Seen"],
            imap_date(1_700_000_000, 8),
        )],
    );
    src.create_mailbox("Empty");
    let profile = write_profile(
        dir,
        &imap_yaml(&src, "MF_SRC"),
        "  archive: { path: backup }\n",
    );
    let r = run_profile(&profile, &[("MF_SRC", &src.password)]);
    assert_eq!(r.code, 0, "{}", r.output);
    (src, dir.join("backup"))
}

fn export(archive: &Path, format: &str, to: &Path, extra: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(["archive", "export"])
        .arg(archive)
        .args(["--format", format, "--to"])
        .arg(to)
        .args(extra)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    text
}

#[test]
fn mbox_export_is_read_by_pythons_mailbox_with_every_flag() {
    let dir = tempfile::tempdir().unwrap();
    let (_src, archive) = backed_up(dir.path());
    let out = dir.path().join("mbox");
    export(&archive, "mbox", &out, &[]);
    for f in ["INBOX.mbox", "工作/2024.mbox", "Empty.mbox"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // Python's mailbox module: message counts, subjects and mbox flags per folder.
    let script = r#"
import mailbox, sys, json
out = {}
for name in sys.argv[1:]:
    box = mailbox.mbox(name)
    out[name] = sorted([str(m["subject"]), "".join(sorted(m.get_flags())), str(m.get("X-Keywords", ""))] for m in box)
print(json.dumps(out))
"#;
    let py = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(out.join("INBOX.mbox"))
        .arg(out.join("工作/2024.mbox"))
        .arg(out.join("Empty.mbox"))
        .output()
        .expect("python3 is needed by this test (scripts/test.sh installs it)");
    let text = String::from_utf8_lossy(&py.stdout);
    assert!(
        py.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let inbox = &v[out.join("INBOX.mbox").to_str().unwrap()];
    assert_eq!(inbox.as_array().unwrap().len(), 3, "{v}");
    let flags_of = |subject_start: &str| {
        inbox
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m[0].as_str().unwrap_or("").starts_with(subject_start))
            .map(|m| {
                (
                    m[1].as_str().unwrap().to_string(),
                    m[2].as_str().unwrap().to_string(),
                )
            })
            .unwrap()
    };
    assert_eq!(flags_of("exp #1"), ("AOR".to_string(), String::new()));
    assert_eq!(
        flags_of("exp #2"),
        ("FO".to_string(), "$Forwarded".to_string())
    );
    assert_eq!(flags_of("From line"), ("O".to_string(), String::new()));
    assert_eq!(
        v[out.join("工作/2024.mbox").to_str().unwrap()]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        v[out.join("Empty.mbox").to_str().unwrap()]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // A folder glob and a date range choose what goes out.
    let some = dir.path().join("some");
    export(
        &archive,
        "mbox",
        &some,
        &["--folder", "INBOX", "--since", "2020-12-01"],
    );
    assert!(!some.join("Empty.mbox").exists());
    let text = std::fs::read_to_string(some.join("INBOX.mbox")).unwrap();
    let separators = text
        .lines()
        .filter(|l| l.starts_with(&format!("From {} ", mailferry::archive::OUR_SENDER)))
        .count();
    assert_eq!(separators, 2, "{text}");
}

#[test]
fn maildir_export_is_served_by_dovecot_with_flags_keywords_and_dates() {
    let dir = tempfile::tempdir().unwrap();
    let (src, archive) = backed_up(dir.path());
    let out = dir.path().join("maildir");
    export(&archive, "maildir", &out, &[]);
    let dst = dovecot().new_user("expmd");
    dst.install_maildir(&out);
    assert_same(&src, "INBOX", &dst, "INBOX");
    assert_same(&src, "工作/2024", &dst, "工作/2024");
    assert!(
        dst.mailbox_names().iter().any(|n| n == "Empty"),
        "{:?}",
        dst.mailbox_names()
    );
}

#[test]
fn eml_export_is_byte_exact_and_refuses_a_full_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (src, archive) = backed_up(dir.path());
    let out = dir.path().join("eml");
    export(&archive, "eml", &out, &[]);
    let mut files: Vec<Vec<u8>> = std::fs::read_dir(out.join("INBOX"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    files.sort();
    let mut want: Vec<Vec<u8>> = src.messages("INBOX").into_iter().map(|m| m.body).collect();
    want.sort();
    assert_eq!(files, want);
    // Never into a directory that holds something.
    let again = Command::new(BIN)
        .args(["archive", "export"])
        .arg(&archive)
        .args(["--format", "eml", "--to"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}
