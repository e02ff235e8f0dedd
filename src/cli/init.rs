//! `mailferry init`: writes a commented profile from two addresses (or asks for them on a
//! terminal), then says which variables to export and how to get each authorization code.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use mailferry::i18n::{t, ta};
use mailferry::init::{Account, Destination, SOURCE_VAR, TARGET_VAR};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address to move or back up, e.g. alice@163.com.
    #[arg(long)]
    from: Option<String>,
    /// The address to move to, e.g. 123456@qq.com.
    #[arg(long, conflicts_with = "backup")]
    to: Option<String>,
    /// Back up into this directory instead of moving.
    #[arg(long)]
    backup: Option<String>,
    /// Where to write the profile (default: e.g. 163-to-qq.yaml in the current directory).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write over an existing file.
    #[arg(long)]
    force: bool,
}

pub fn execute(args: Args) -> anyhow::Result<i32> {
    let interactive = args.from.is_none() && std::io::stdin().is_terminal();
    let (from, to, backup) = if interactive {
        ask()?
    } else {
        let Some(from) = args.from.clone() else {
            bail!("{}", t("init-needs-from"));
        };
        (from, args.to.clone(), args.backup.clone())
    };
    let source = Account::parse(&from, SOURCE_VAR).map_err(anyhow::Error::msg)?;
    let destination = match (to, backup) {
        (Some(to), _) => {
            Destination::Account(Account::parse(&to, TARGET_VAR).map_err(anyhow::Error::msg)?)
        }
        (None, Some(dir)) => Destination::Backup(dir),
        (None, None) => bail!("{}", t("init-needs-to")),
    };
    let path = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(mailferry::init::default_file_name(&source, &destination))
    });
    if mailferry::init::would_overwrite(&path) && !args.force {
        bail!(
            "{}",
            ta("init-exists", &[("file", path.display().to_string())])
        );
    }
    std::fs::write(&path, mailferry::init::profile_text(&source, &destination))
        .with_context(|| format!("writing {}", path.display()))?;
    let file = path.display().to_string();
    println!("{}", ta("init-written", &[("file", file.clone())]));
    let mut accounts = vec![&source];
    if let Destination::Account(target) = &destination {
        accounts.push(target);
    }
    for a in &accounts {
        println!();
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
        println!("  {}", t(a.advice_id()));
    }
    println!();
    println!("{}", ta("init-next", &[("file", file.clone())]));
    if interactive && confirm(&t("init-ask-doctor"))? {
        let status = std::process::Command::new(std::env::current_exe()?)
            .arg("doctor")
            .arg(&path)
            .status()?;
        return Ok(status.code().unwrap_or(2));
    }
    Ok(0)
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
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    let answer = prompt(&format!("{question} [Y/n]"))?;
    Ok(answer.is_empty() || answer.to_lowercase().starts_with('y'))
}
