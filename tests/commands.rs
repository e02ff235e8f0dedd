//! The commands around a job: `completions` prints a script for each shell, `man` writes a
//! page per command (`init` has tests/init.rs).

mod support;

use std::process::{Command, Stdio};

use support::BIN;

fn mailferry(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("LANG", "C")
        .env_remove("LC_ALL")
        .env_remove("MAILFERRY_LANG")
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
