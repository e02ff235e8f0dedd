//! The commands around a job: `completions` prints a script for each shell, `man` writes a
//! page per command (`init` has tests/init.rs).

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

/// Every subcommand (nested ones joined by `-`), as `mailferry --help` lists them.
const COMMANDS: &[&str] = &[
    "run",
    "plan",
    "doctor",
    "archive",
    "archive-ls",
    "archive-check",
    "archive-prune",
    "archive-export",
    "verify",
    "init",
    "schedule",
    "schedule-install",
    "schedule-remove",
    "schedule-status",
    "batch",
    "batch-run",
    "batch-plan",
    "batch-verify",
    "batch-report",
    "completions",
    "man",
];

#[test]
fn completions_generate_for_every_shell() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let (code, text) = mailferry(dir.path(), &["completions", shell]);
        assert_eq!(code, 0, "{shell}: {text}");
        for command in COMMANDS.iter().flat_map(|c| c.split('-')) {
            assert!(text.contains(command), "{shell} does not name {command}");
        }
    }
}

#[test]
fn a_man_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = mailferry(dir.path(), &["man", "--out", "pages"]);
    assert_eq!(code, 0, "{text}");
    let pages: Vec<String> = std::iter::once("mailferry.1".to_string())
        .chain(COMMANDS.iter().map(|c| format!("mailferry-{c}.1")))
        .collect();
    let written = std::fs::read_dir(dir.path().join("pages")).unwrap().count();
    assert_eq!(written, pages.len(), "{text}");
    for page in &pages {
        let path = dir.path().join("pages").join(page);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page} is not a man page");
    }
}
