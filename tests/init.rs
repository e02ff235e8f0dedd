//! `mailferry init` as a newcomer runs it: the profile it writes is one the profile loader
//! accepts and `plan` gets past, it names the variables to export and never holds a password,
//! it does not write over a file, and without addresses or a terminal it says what to give.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use mailferry::i18n::{Lang, format_in};
use mailferry::profile::{PasswordSource, Profile, Source, Target};
use support::BIN;

/// A code that must never reach the file, even though init can see it.
const SECRET: &str = "abcdSECRETcode16";

fn mailferry(dir: &Path, lang: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("LANG", lang)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env_remove("MAILFERRY_LANG")
        .env("MAILFERRY_SOURCE_CODE", SECRET)
        .env_remove("MAILFERRY_TARGET_CODE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn imap(account: &Source) -> &mailferry::profile::ImapAccount {
    match account {
        Source::Imap(a) => a,
        _ => panic!("not an IMAP source"),
    }
}

/// The profile's text holds no secret, and every `password:` it sets is a source, not a value.
fn assert_no_password(yaml: &str) {
    assert!(!yaml.contains(SECRET), "{yaml}");
    for line in yaml.lines().filter(|l| !l.trim_start().starts_with('#')) {
        if let Some((_, value)) = line.split_once("password:") {
            let value = value.trim_start();
            assert!(
                value.starts_with("{ env:") || value.starts_with("{ command:"),
                "{line}"
            );
        }
    }
}

#[test]
fn netease_to_qq_writes_a_profile_plan_accepts_with_no_password_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = mailferry(
        dir.path(),
        "C",
        &["init", "--from", "alice@163.com", "--to", "123456@qq.com"],
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("export MAILFERRY_SOURCE_CODE=..."), "{text}");
    assert!(text.contains("export MAILFERRY_TARGET_CODE=..."), "{text}");
    assert!(text.contains("mailferry doctor 163-to-qq.yaml"), "{text}");
    for id in ["hint-code-netease", "hint-code-qq"] {
        let steps = format_in(Lang::En, id, &[]).unwrap();
        assert!(text.contains(steps.lines().nth(1).unwrap()), "{id}: {text}");
    }

    let path = dir.path().join("163-to-qq.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap();
    assert_no_password(&yaml);
    let profile = Profile::load(&path).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let src = imap(&profile.source);
    assert_eq!(src.provider.map(|p| p.id), Some("163"));
    assert_eq!(
        (src.host.as_str(), src.user.as_str()),
        ("imap.163.com", "alice@163.com")
    );
    assert_eq!(
        src.password,
        PasswordSource::Env("MAILFERRY_SOURCE_CODE".into())
    );
    let Target::Imap(dst) = &profile.target else {
        panic!("{yaml}")
    };
    assert_eq!(dst.provider.map(|p| p.id), Some("qq"));
    assert_eq!(
        dst.password,
        PasswordSource::Env("MAILFERRY_TARGET_CODE".into())
    );

    // `plan` gets past the profile and stops only for want of the target's code, before any
    // connection: a profile error would name the file and a line.
    let (code, text) = mailferry(dir.path(), "C", &["plan", "163-to-qq.yaml"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("MAILFERRY_TARGET_CODE is not set"), "{text}");
    assert!(!text.contains(" line "), "{text}");
}

#[test]
fn a_backup_profile_archives_where_the_user_pointed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("profiles")).unwrap();
    let (code, text) = mailferry(
        dir.path(),
        "C",
        &[
            "init",
            "--from",
            "bob@126.com",
            "--backup",
            "backups/bob",
            "--out",
            "profiles/bob.yaml",
        ],
    );
    assert_eq!(code, 0, "{text}");
    let path = dir.path().join("profiles/bob.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap();
    assert_no_password(&yaml);
    let profile = Profile::load(&path).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(imap(&profile.source).host, "imap.126.com");
    let Target::Archive(archive) = &profile.target else {
        panic!("{yaml}")
    };
    // Typed relative to where the user stands, not to the profile's directory.
    assert!(
        archive.path.starts_with(dir.path()) && archive.path.ends_with("backups/bob"),
        "{:?}",
        archive.path
    );
    assert!(!archive.path.starts_with(dir.path().join("profiles")));
    // Only the source has a secret to give.
    assert!(!text.contains("MAILFERRY_TARGET_CODE"), "{text}");
}

#[test]
fn every_preset_and_a_guess() {
    let dir = tempfile::tempdir().unwrap();
    for (from, host) in [
        ("a@yeah.net", "imap.yeah.net"),
        ("a@foxmail.com", "imap.qq.com"),
        ("a@exmail.qq.com", "imap.exmail.qq.com"),
        ("a@gmail.com", "imap.gmail.com"),
        ("a@outlook.com", "outlook.office365.com"),
        ("a@mail.example.org", "imap.mail.example.org"),
    ] {
        let out = format!("{from}.yaml");
        let (code, text) = mailferry(
            dir.path(),
            "C",
            &["init", "--from", from, "--to", "b@qq.com", "--out", &out],
        );
        assert_eq!(code, 0, "{from}: {text}");
        let path = dir.path().join(&out);
        let yaml = std::fs::read_to_string(&path).unwrap();
        assert_no_password(&yaml);
        let profile = Profile::load(&path).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert_eq!(imap(&profile.source).host, host, "{from}");
        if from.ends_with("example.org") {
            assert!(text.contains("is a guess"), "{text}");
            assert!(yaml.contains("GUESS"), "{yaml}");
        }
        if from.ends_with("outlook.com") {
            // A token tool, not a variable: an exported token would expire within the hour.
            assert!(
                matches!(imap(&profile.source).password, PasswordSource::Command(_)),
                "{yaml}"
            );
            assert!(!text.contains("export MAILFERRY_SOURCE_CODE"), "{text}");
        }
    }
}

#[test]
fn an_existing_file_is_kept_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("163-to-qq.yaml");
    std::fs::write(&path, "# mine\n").unwrap();
    let args = ["init", "--from", "alice@163.com", "--to", "123456@qq.com"];
    let (code, text) = mailferry(dir.path(), "C", &args);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("--force"), "{text}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n");

    let (code, text) = mailferry(dir.path(), "C", &[&args[..], &["--force"]].concat());
    assert_eq!(code, 0, "{text}");
    Profile::load(&path).unwrap();
}

#[test]
fn what_it_refuses_it_says_in_the_users_language() {
    let dir = tempfile::tempdir().unwrap();
    // No addresses and no terminal to ask on.
    let (code, text) = mailferry(dir.path(), "C", &["init"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("--from"), "{text}");
    let (code, text) = mailferry(dir.path(), "C", &["init", "--from", "alice@163.com"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("--backup"), "{text}");
    let (code, text) = mailferry(
        dir.path(),
        "C",
        &["init", "--from", "alice", "--to", "b@qq.com"],
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("'alice' is not a mail address"), "{text}");
    let (code, text) = mailferry(
        dir.path(),
        "C",
        &["init", "--from", "a@qq.com", "--to", "a@qq.com"],
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("same account"), "{text}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );

    let (code, text) = mailferry(
        dir.path(),
        "zh_CN.UTF-8",
        &["init", "--from", "alice@163.com", "--to", "123456@qq.com"],
    );
    assert_eq!(code, 0, "{text}");
    for id in ["hint-code-netease", "hint-code-qq"] {
        let steps = format_in(Lang::ZhCn, id, &[]).unwrap();
        assert!(text.contains(steps.lines().nth(1).unwrap()), "{id}: {text}");
    }
    assert!(text.contains("设置 -> POP3/SMTP/IMAP"), "{text}");
}
