//! The command line: one module per subcommand; this file parses arguments, sets up logging
//! and maps results to exit codes (0 done, 1 finished with some messages failed, 2 fatal).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

mod archive;
mod batch;
mod display;
mod doctor;
mod init;
mod plan;
mod run;
mod schedule;
mod shell;
mod verify;

/// Move and keep mail: migrate IMAP mailboxes (NetEase 163/126/yeah -> QQ Mail and any IMAP
/// server), byte-exact with folders, flags and dates, resumable and without duplicates.
#[derive(Debug, Parser)]
#[command(name = "mailferry", version, propagate_version = true)]
pub struct Cli {
    /// More detail on stderr (-v info, -vv debug). MAILFERRY_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    /// Language of the messages: zh-CN or en. Default: MAILFERRY_LANG, else the locale
    /// (LC_ALL, LC_MESSAGES, LANG). JSON output stays the same in every language.
    #[arg(long, global = true, value_name = "LANG")]
    lang: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Copy every selected message from the profile's source to its target.
    ///
    /// Creates missing folders, keeps flags, keywords and received dates, and records progress
    /// so that a rerun (even after a crash) copies only what is missing. Exit code 0 when
    /// everything selected is on the target, 1 when some messages failed (listed; a rerun
    /// retries them), 2 on fatal errors.
    Run(run::Args),
    /// Show what a run would copy: folders, where each goes, counts and sizes after filters.
    ///
    /// Read-only: folders are opened with EXAMINE and nothing is changed anywhere.
    Plan(plan::Args),
    /// Check each side's connection step by step and say what to fix.
    ///
    /// DNS, TCP, TLS certificate, greeting, login, ID, folder list and opening INBOX.
    Doctor(doctor::Args),
    /// Inspect backups: list their runs and folders, or check every message's bytes.
    Archive(archive::Args),
    /// Prove message by message that the target holds every selected source message.
    ///
    /// Compares each source folder with its target folder (same mapping and filters as run)
    /// by content, not UID: messages missing, extra or duplicated on the target, and flags or
    /// received dates that differ. Read-only on both sides. Exit code 0 when all is there,
    /// 1 when anything is missing or differs, 2 on fatal errors.
    Verify(verify::Args),
    /// Write a commented profile from two addresses: `mailferry init --from alice@163.com --to 123456@qq.com`.
    ///
    /// Presets come from the address domains; passwords are read from environment variables
    /// whose names it prints, with the steps to create each authorization code. Without
    /// arguments on a terminal it asks.
    Init(init::Args),
    /// Run a profile on its `schedule:` with a systemd timer or cron, and see how it went.
    Schedule(schedule::Args),
    /// Many accounts from one batch file: `mailferry batch BATCH.yaml [--shard I/N]`.
    ///
    /// Each account is an ordinary job with its own state dir; a few run at once within
    /// per-host connection budgets; one account's failure never stops the others. Shards
    /// spread the accounts over machines (Kubernetes Indexed Jobs, GNU parallel, Slurm).
    Batch(batch::Args),
    /// Print a shell completion script: `mailferry completions bash > ~/.local/share/bash-completion/completions/mailferry`.
    Completions(shell::CompletionsArgs),
    /// Write the man pages (one per command) to a directory: `mailferry man --out ~/.local/share/man/man1`.
    Man(shell::ManArgs),
}

/// A profile path argument shared by the subcommands.
#[derive(Debug, clap::Args)]
pub struct ProfileArg {
    /// The job's YAML profile (see docs/profiles.md).
    pub profile: PathBuf,
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter =
        EnvFilter::try_from_env("MAILFERRY_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    use std::io::IsTerminal;
    use tracing_subscriber::prelude::*;
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(filter)
        .with_filter(tracing_subscriber::filter::filter_fn(never_below_info));
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// async-imap logs every command verbatim at TRACE, LOGIN with its password included: its
/// events (and imap-proto's) never pass below INFO, whatever MAILFERRY_LOG or -v ask for. A
/// second filter on the layer, so no directive of the user's can be more specific than it.
fn never_below_info(meta: &tracing::Metadata<'_>) -> bool {
    let wire = ["async_imap", "imap_proto"]
        .iter()
        .any(|t| meta.target().starts_with(t));
    !wire || *meta.level() <= tracing::Level::INFO
}

/// The language asked for before the arguments are parsed (so `--help` can use it too):
/// `--lang X` / `--lang=X` among the arguments, `MAILFERRY_LANG`, then the locale.
fn language(args: &[std::ffi::OsString]) -> mailferry::i18n::Lang {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let flag = args
        .iter()
        .enumerate()
        .find_map(|(i, a)| match a.strip_prefix("--lang") {
            Some("") => args.get(i + 1).cloned(),
            Some(v) => v.strip_prefix('=').map(str::to_string),
            None => None,
        });
    let var = |name: &str| std::env::var(name).ok();
    mailferry::i18n::Lang::detect(
        &[flag, var("MAILFERRY_LANG")],
        &[var("LC_ALL"), var("LC_MESSAGES"), var("LANG")],
    )
}

/// `--help` in the chosen language: each command's one-line description and the global
/// options come from the catalogue (`help-<command>`, `help-arg-<option>`) when it has them.
fn localized_command() -> clap::Command {
    use clap::CommandFactory;
    let t = |id: &str| mailferry::i18n::format_in(mailferry::i18n::lang(), id, &[]);
    let mut cmd = Cli::command();
    if let Some(about) = t("help-mailferry") {
        cmd = cmd.about(about);
    }
    for arg in ["verbose", "lang"] {
        if let Some(help) = t(&format!("help-arg-{arg}")) {
            cmd = cmd.mut_arg(arg, |a| a.help(help));
        }
    }
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        if let Some(about) = t(&format!("help-{name}")) {
            cmd = cmd.mut_subcommand(&name, |s| s.about(about));
        }
    }
    cmd
}

/// Parses, runs, and returns the exit code.
pub fn main() -> i32 {
    use clap::FromArgMatches;
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    mailferry::i18n::set(language(&args));
    let parsed = localized_command()
        .try_get_matches_from(&args)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return 2;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(a) => run::execute(a).await,
            Command::Plan(a) => plan::execute(a).await,
            Command::Doctor(a) => doctor::execute(a).await,
            Command::Archive(a) => archive::execute(a).await,
            Command::Verify(a) => verify::execute(a).await,
            Command::Init(a) => init::execute(a),
            Command::Schedule(a) => schedule::execute(a),
            Command::Batch(a) => batch::execute(a).await,
            Command::Completions(a) => shell::completions(a),
            Command::Man(a) => shell::man(a),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}: {e:#}", mailferry::i18n::t("error"));
            2
        }
    }
}

/// Loads a profile, printing its notes (e.g. workers capped by a provider).
pub fn load_profile(path: &std::path::Path) -> anyhow::Result<mailferry::profile::Profile> {
    let profile = mailferry::profile::Profile::load(path)?;
    for n in &profile.notes {
        eprintln!("{}: {n}", mailferry::i18n::t("note"));
    }
    Ok(profile)
}

/// Reads a password off the async threads: a password command may run for up to 30 s.
pub fn resolve_password(
    source: &mailferry::profile::PasswordSource,
) -> Result<mailferry::secret::Secret, mailferry::profile::SecretError> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| source.resolve())
        }
        _ => source.resolve(),
    }
}

/// The profile's source, ready to read: an IMAP endpoint with its password resolved, or an
/// opened store (archive, mbox, .eml folder, Maildir). Damage found in a store is printed;
/// the messages before and around it are still used.
pub async fn source_side(
    profile: &mailferry::profile::Profile,
) -> anyhow::Result<mailferry::engine::SourceSide> {
    source_side_limited(profile, None).await
}

/// [`source_side`] whose connections count against a batch's per-host budget.
pub async fn source_side_limited(
    profile: &mailferry::profile::Profile,
    limits: Option<&mailferry::imap::limit::HostLimits>,
) -> anyhow::Result<mailferry::engine::SourceSide> {
    let endpoint = |a: &mailferry::profile::ImapAccount, pw| {
        let mut ep = mailferry::imap::Endpoint::new(mailferry::error::Side::Source, a, pw);
        ep.limit = limits.map(|l| l.host(&ep.host));
        ep
    };
    use anyhow::Context as _;
    use mailferry::engine::SourceSide;
    use mailferry::profile::Source;
    Ok(match &profile.source {
        Source::Imap(a) => {
            let pw = resolve_password(&a.password)
                .with_context(|| format!("source password for {}", a.user))?;
            SourceSide::Imap(endpoint(a, pw))
        }
        Source::Pop3(p) => {
            let a = &p.account;
            let pw = resolve_password(&a.password)
                .with_context(|| format!("source password for {}", a.user))?;
            let ep = endpoint(a, pw);
            let label = mailferry::pop3::Pop3Store::label(&ep);
            let store = mailferry::pop3::Pop3Store::open(ep, p.seen).await?;
            SourceSide::Store {
                store: std::sync::Arc::new(store),
                label,
                problems: Vec::new(),
            }
        }
        other => {
            let label = match other {
                Source::Archive { path, .. } => format!("archive:{}", path.display()),
                Source::Mbox { path } => format!("mbox:{}", path.display()),
                Source::EmlDir { path } => format!("eml:{}", path.display()),
                Source::Maildir { path } => format!("maildir:{}", path.display()),
                Source::Imap(_) | Source::Pop3(_) => String::new(),
            };
            let src = other.clone();
            let (store, problems) = tokio::task::spawn_blocking(move || {
                mailferry::archive::open_store_with_problems(&src)
            })
            .await??;
            let problems: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            for p in &problems {
                eprintln!("{}: {p}", mailferry::i18n::t("warning"));
            }
            SourceSide::Store {
                store: std::sync::Arc::from(store),
                label,
                problems,
            }
        }
    })
}

/// The profile's target: an IMAP endpoint with its password resolved, or an archive.
pub fn target_side(
    profile: &mailferry::profile::Profile,
) -> anyhow::Result<mailferry::engine::TargetSide> {
    target_side_limited(profile, None)
}

/// [`target_side`] whose connections count against a batch's per-host budget.
pub fn target_side_limited(
    profile: &mailferry::profile::Profile,
    limits: Option<&mailferry::imap::limit::HostLimits>,
) -> anyhow::Result<mailferry::engine::TargetSide> {
    use anyhow::Context as _;
    use mailferry::engine::TargetSide;
    use mailferry::error::Side;
    use mailferry::imap::Endpoint;
    use mailferry::profile::Target;
    Ok(match &profile.target {
        Target::Imap(a) => {
            let pw = resolve_password(&a.password)
                .with_context(|| format!("target password for {}", a.user))?;
            let mut ep = Endpoint::new(Side::Target, a, pw);
            ep.limit = limits.map(|l| l.host(&ep.host));
            TargetSide::Imap(ep)
        }
        Target::Archive(a) => TargetSide::Archive(a.clone()),
    })
}

/// How `verify` compares: by whole messages or fingerprints, pairing folders by the job's
/// stored folder plan when it has one.
pub fn verify_options(
    profile: &mailferry::profile::Profile,
    source: &mailferry::engine::SourceSide,
    target: &mailferry::engine::TargetSide,
    deep: bool,
) -> anyhow::Result<mailferry::verify::VerifyOptions> {
    let stored = mailferry::checkpoint::read_stored_plan(
        &profile.state_dir,
        &mailferry::sides::job_label(source, target),
    )?;
    Ok(mailferry::verify::VerifyOptions { deep, stored })
}

/// The two sides as `verify` reads them.
pub async fn verify_locations(
    source: &mailferry::engine::SourceSide,
    target: &mailferry::engine::TargetSide,
) -> anyhow::Result<(mailferry::verify::Location, mailferry::verify::Location)> {
    use mailferry::engine::{SourceSide, TargetSide};
    use mailferry::verify::Location;
    let s = match source {
        SourceSide::Imap(ep) => Location::Imap(ep.clone()),
        SourceSide::Store { store, label, .. } => Location::Store {
            store: store.clone(),
            label: label.clone(),
        },
    };
    let t = match target {
        TargetSide::Imap(ep) => Location::Imap(ep.clone()),
        TargetSide::Archive(a) => {
            let dir = a.path.clone();
            let store =
                tokio::task::spawn_blocking(move || mailferry::archive::ArchiveStore::open(&dir))
                    .await??;
            Location::Store {
                store: std::sync::Arc::new(store),
                label: format!("archive:{}", a.path.display()),
            }
        }
    };
    Ok((s, t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
