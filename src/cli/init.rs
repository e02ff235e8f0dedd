//! `mailferry init`: writes a commented profile from two addresses (or asks for them on a
//! terminal), then says which variables to export and how to get each authorization code.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use mailferry::i18n::{t, ta};
use mailferry::init::{Destination, Init};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address to move or back up, e.g. alice@163.com.
    #[arg(long)]
    from: Option<String>,
    /// The address to move to, e.g. 123456@qq.com.
    #[arg(long, conflicts_with = "backup")]
    to: Option<String>,
    /// Back up into this directory instead of moving.
    #[arg(long, value_name = "DIR")]
    backup: Option<String>,
    /// Where to write the profile (default: e.g. 163-to-qq.yaml in the current directory).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write over an existing file.
    #[arg(long)]
    force: bool,
}

pub fn execute(args: Args) -> anyhow::Result<i32> {
    // Ask only when nothing was given: half a command line is a mistake to report, not a
    // reason to start a conversation.
    let nothing_given = args.from.is_none() && args.to.is_none() && args.backup.is_none();
    let interactive = nothing_given && std::io::stdin().is_terminal();
    let (from, to, backup) = if interactive {
        ask()?
    } else {
        let Some(from) = args.from.clone() else {
            bail!("{}", t("init-needs-from"));
        };
        (from, args.to.clone(), args.backup.clone())
    };
    let mut init = Init::new(&from, to.as_deref(), backup.as_deref())?;
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(init.default_file_name()));
    // Archive paths in a profile are relative to the profile's directory; the user typed
    // this one relative to where they stand.
    if let Destination::Backup(dir) = &mut init.destination {
        *dir = anchored(dir, &path)?;
    }
    let file = path.display().to_string();
    write_new(&path, &init.profile_text(&file), args.force)?;

    println!("{}", ta("init-written", &[("file", file.clone())]));
    let mut missing = false;
    for a in init.accounts() {
        println!();
        if a.needs_token() {
            println!("{}", ta("init-token", &[("address", a.address.clone())]));
        } else {
            println!(
                "{}",
                ta(
                    "init-export",
                    &[
                        ("var", a.env_var.to_string()),
                        ("address", a.address.clone())
                    ]
                )
            );
            println!("  export {}=...", a.env_var);
            missing |= std::env::var_os(a.env_var).is_none_or(|v| v.is_empty());
        }
        if let Some(host) = &a.guessed_host {
            println!(
                "  {}",
                ta(
                    "init-guessed",
                    &[("host", host.clone()), ("address", a.address.clone())]
                )
            );
        }
        for line in t(a.steps_id()).lines() {
            println!("  {line}");
        }
    }
    println!();
    println!("{}", ta("init-next", &[("file", file.clone())]));
    // doctor without the codes would only say they are missing.
    if interactive && !missing && confirm(&t("init-ask-doctor"))? {
        let status = std::process::Command::new(std::env::current_exe()?)
            .arg("doctor")
            .arg(&path)
            .status()?;
        return Ok(status.code().unwrap_or(2));
    }
    Ok(0)
}

/// `dir` as the profile at `profile` must say it: unchanged when absolute, `~/...`, or when
/// the profile is written in the current directory; otherwise made absolute.
fn anchored(dir: &str, profile: &Path) -> anyhow::Result<String> {
    let beside = profile
        .parent()
        .is_none_or(|p| p.as_os_str().is_empty() || p == Path::new("."));
    if beside || Path::new(dir).is_absolute() || dir.starts_with("~/") {
        return Ok(dir.to_string());
    }
    let cwd = std::env::current_dir().context("reading the current directory")?;
    Ok(cwd.join(dir).display().to_string())
}

/// Writes the profile; an existing file only with `force`, checked by the create itself so
/// nothing can appear in between.
fn write_new(path: &Path, text: &str, force: bool) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut f = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!(
                "{}",
                ta("init-exists", &[("file", path.display().to_string())])
            )
        }
        Err(e) => return Err(e).with_context(|| format!("writing {}", path.display())),
    };
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// The questions `init` asks on a terminal when given no addresses.
fn ask() -> anyhow::Result<(String, Option<String>, Option<String>)> {
    let from = prompt(&t("init-ask-from"))?;
    let to = prompt(&t("init-ask-to"))?;
    if !to.is_empty() {
        return Ok((from, Some(to), None));
    }
    let dir = prompt(&t("init-ask-backup"))?;
    Ok((
        from,
        None,
        Some(if dir.is_empty() { "backup".into() } else { dir }),
    ))
}

fn prompt(question: &str) -> anyhow::Result<String> {
    print!("{question} ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        // End of input (Ctrl-D): stop rather than take an empty answer.
        bail!("{}", t("init-needs-from"));
    }
    Ok(line.trim().to_string())
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    let answer = prompt(&format!("{question} [Y/n]"))?;
    Ok(answer.is_empty() || answer.to_lowercase().starts_with('y'))
}
