//! The commands around a job: `init` writes a profile that parses and holds no password,
//! `completions` prints a script for each shell, `man` writes a page per command.

mod support;

use std::process::Command;

use support::{BIN, output_of};

fn mailferry(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    output_of(
        Command::new(BIN)
            .args(args)
            .current_dir(dir)
            .env("LANG", "C")
            .env_remove("LC_ALL")
            .env_remove("MAILFERRY_LANG"),
    )
}

#[test]
fn init_writes_a_profile_plan_accepts_with_no_password_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = mailferry(
        dir.path(),
        &["init", "--from", "alice@163.com", "--to", "123456@qq.com"],
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("export MAILFERRY_SOURCE_CODE="), "{text}");
    assert!(text.contains("客户端授权码"), "the NetEase steps: {text}");
    assert!(text.contains("授权码"), "the QQ steps: {text}");
    let path = dir.path().join("163-to-qq.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap();
    let profile = mailferry::profile::Profile::load(&path).unwrap();
    let mailferry::profile::Source::Imap(src) = &profile.source else {
        panic!("{yaml}")
    };
    assert_eq!(src.host, "imap.163.com");
    assert!(!yaml.to_lowercase().contains("password: \""), "{yaml}");
    // `plan` gets past the profile: it fails only for want of the exported code.
    let (code, text) = mailferry(dir.path(), &["plan", "163-to-qq.yaml"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("MAILFERRY_SOURCE_CODE is not set"), "{text}");

    // Not over an existing file without --force; a backup profile too.
    let (code, text) = mailferry(
        dir.path(),
        &["init", "--from", "alice@163.com", "--to", "123456@qq.com"],
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("--force"), "{text}");
    let (code, text) = mailferry(
        dir.path(),
        &["init", "--from", "bob@126.com", "--backup", "backups/bob"],
    );
    assert_eq!(code, 0, "{text}");
    let backup = mailferry::profile::Profile::load(&dir.path().join("bob-backup.yaml")).unwrap();
    assert!(matches!(
        backup.target,
        mailferry::profile::Target::Archive(_)
    ));

    // Without addresses and without a terminal: a clear error, nothing written.
    let (code, text) = mailferry(dir.path(), &["init"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("--from"), "{text}");
}

#[test]
fn completions_generate_for_every_shell() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let (code, text) = mailferry(dir.path(), &["completions", shell]);
        assert_eq!(code, 0, "{shell}: {text}");
        assert!(
            text.contains("verify") && text.contains("doctor"),
            "{shell}: {text}"
        );
    }
}

#[test]
fn a_man_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = mailferry(dir.path(), &["man", "--out", "pages"]);
    assert_eq!(code, 0, "{text}");
    for page in [
        "mailferry.1",
        "mailferry-run.1",
        "mailferry-plan.1",
        "mailferry-doctor.1",
        "mailferry-verify.1",
        "mailferry-init.1",
        "mailferry-archive-ls.1",
        "mailferry-archive-check.1",
    ] {
        let path = dir.path().join("pages").join(page);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page} is not a man page");
    }
}
