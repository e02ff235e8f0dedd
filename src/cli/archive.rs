//! `mailferry archive ls|check DIR`

use std::path::PathBuf;

use mailferry::i18n::{t, ta};
use mailferry::text::{human_bytes, name_width, pad};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ArchiveCommand,
    /// The age identity (secret key file from age-keygen, or an SSH private key) that opens
    /// an encrypted archive.
    #[arg(
        long,
        global = true,
        env = "MAILFERRY_IDENTITY",
        value_name = "KEY_FILE"
    )]
    identity: Option<PathBuf>,
}

/// The identity given with `--identity`, read when the archive is opened.
fn identity(
    dir: &std::path::Path,
    file: &Option<PathBuf>,
) -> anyhow::Result<Option<mailferry::crypt::Identity>> {
    let Some(file) = file else {
        return Ok(None);
    };
    let source = mailferry::profile::PasswordSource::File(file.clone());
    Ok(Some(mailferry::archive::load_identity(
        dir,
        &source,
        "--identity",
    )?))
}

#[derive(Debug, clap::Subcommand)]
enum ArchiveCommand {
    /// List an archive's runs and folders with message counts and sizes.
    Ls {
        /// The archive directory (target.archive.path of a backup profile).
        dir: PathBuf,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Re-read every message and verify its SHA-256 against the manifest.
    ///
    /// Reports the first damaged byte range of each damaged file. Exit 0 when everything
    /// reads back intact, 1 when something is damaged.
    Check {
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Remove from a backup the messages the source deleted longer ago than a rule.
    ///
    /// Each backup run notes which archived messages it no longer finds on the source; only
    /// those found deleted before the cutoff go. Affected files are rewritten to new files and
    /// swapped in by one manifest commit, so a prune stopped at any point leaves a whole
    /// archive. Nothing is deleted on any server. Use --dry-run first.
    Prune {
        dir: PathBuf,
        /// Keep messages deleted on the source more recently than this (e.g. 90d, 12w).
        #[arg(long, value_parser = duration, value_name = "AGE")]
        keep_deleted_for: std::time::Duration,
        /// List what would be removed; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Write an archive out as plain files other programs open.
    ///
    /// mbox: one mboxrd file per folder, flags in Status/X-Status/X-Keywords (Thunderbird's
    /// ImportExportTools NG, mutt, Python's mailbox). eml: a tree of .eml files. maildir: a
    /// Maildir++ Dovecot and mutt serve, flags in the file names. The archive is only read.
    Export {
        dir: PathBuf,
        #[arg(long, value_enum)]
        format: Format,
        /// A new (or empty) directory to write into.
        #[arg(long)]
        to: PathBuf,
        /// Only folders matching this glob (decoded names, e.g. "Work/*").
        #[arg(long)]
        folder: Option<String>,
        /// Only mail received on or after this day (YYYY-MM-DD).
        #[arg(long)]
        since: Option<chrono::NaiveDate>,
        /// Only mail received before this day (YYYY-MM-DD).
        #[arg(long)]
        before: Option<chrono::NaiveDate>,
        #[arg(long)]
        json: bool,
    },
}

/// `90d`, `12w`, `36h`: the units of `schedule.alert_after`.
fn duration(text: &str) -> Result<std::time::Duration, String> {
    mailferry::profile::parse_duration(text)
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Mbox,
    Eml,
    Maildir,
}

pub async fn execute(args: Args) -> anyhow::Result<i32> {
    let key = args.identity;
    match args.command {
        ArchiveCommand::Ls { dir, json } => {
            let id = identity(&dir, &key)?;
            let listing =
                tokio::task::spawn_blocking(move || mailferry::archive::list(&dir, id)).await??;
            if json {
                println!("{}", serde_json::to_string(&listing)?);
                return Ok(0);
            }
            println!(
                "{} ({:?}, format {}): {} messages, {} ({} stored)",
                listing.path.display(),
                listing.format,
                listing.version,
                listing.messages,
                human_bytes(listing.bytes),
                human_bytes(listing.stored_bytes)
            );
            println!("{}:", t("archive-runs"));
            for r in &listing.runs {
                println!(
                    "  #{:<4} {}  {:>6} added  {:>10}  {:>4} flag updates",
                    r.run,
                    r.finished,
                    r.added,
                    human_bytes(r.bytes),
                    r.flag_updates
                );
            }
            if let Some(run) = listing.interrupted_run {
                println!("  #{run:<4} {}", t("archive-interrupted"));
            }
            println!("{}:", t("archive-folders"));
            let w = name_width(listing.folders.iter().map(|f| f.name.as_str()));
            for f in &listing.folders {
                println!(
                    "  {}  {:<8} {:>6} messages  {:>10}",
                    pad(&f.name, w),
                    f.role
                        .map(|r| format!("{r:?}").to_lowercase())
                        .unwrap_or_else(|| "-".into()),
                    f.messages,
                    human_bytes(f.bytes)
                );
            }
            for p in &listing.problems {
                println!("{}: {p}", t("problem"));
            }
            Ok(if listing.problems.is_empty() { 0 } else { 1 })
        }
        ArchiveCommand::Export {
            dir,
            format,
            to,
            folder,
            since,
            before,
            json,
        } => {
            use mailferry::archive::{ExportFormat, ExportOptions};
            let format = match format {
                Format::Mbox => ExportFormat::Mbox,
                Format::Eml => ExportFormat::Eml,
                Format::Maildir => ExportFormat::Maildir,
            };
            let options = ExportOptions {
                folder,
                since,
                before,
            };
            let target = to.clone();
            let id = identity(&dir, &key)?;
            let summary = tokio::task::spawn_blocking(move || {
                let store = mailferry::archive::ArchiveStore::open_with(&dir, id)?;
                mailferry::archive::export(&store, &target, format, &options)
            })
            .await??;
            if json {
                println!("{}", serde_json::to_string(&summary)?);
            } else {
                println!(
                    "{}: {} folders, {} messages, {}",
                    to.display(),
                    summary.folders,
                    summary.messages,
                    human_bytes(summary.bytes)
                );
                for p in &summary.problems {
                    println!("{}: {p}", t("problem"));
                }
            }
            Ok(if summary.problems.is_empty() { 0 } else { 1 })
        }
        ArchiveCommand::Prune {
            dir,
            keep_deleted_for,
            dry_run,
            json,
        } => prune(dir, &key, keep_deleted_for, dry_run, json).await,
        ArchiveCommand::Check { dir, json } => {
            let id = identity(&dir, &key)?;
            let report =
                tokio::task::spawn_blocking(move || mailferry::archive::check(&dir, id)).await??;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "{}: {}",
                    report.path.display(),
                    ta(
                        "archive-intact",
                        &[
                            ("ok", report.messages_ok.to_string()),
                            ("total", report.messages_total.to_string()),
                            ("bytes", human_bytes(report.bytes_ok)),
                        ],
                    )
                );
                for d in &report.damaged {
                    println!(
                        "damaged: {} bytes {}..{}: {}",
                        d.file, d.start, d.end, d.detail
                    );
                }
                for p in &report.problems {
                    println!("{}: {p}", t("problem"));
                }
                for n in &report.notes {
                    println!("{}: {n}", t("note"));
                }
                println!("{}", if report.ok { "OK" } else { "DAMAGED" });
            }
            Ok(if report.ok { 0 } else { 1 })
        }
    }
}

async fn prune(
    dir: PathBuf,
    key: &Option<PathBuf>,
    keep: std::time::Duration,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<i32> {
    let id = identity(&dir, key)?;
    let cutoff = mailferry::archive::cutoff(chrono::Utc::now(), keep);
    let report = tokio::task::spawn_blocking(move || {
        let listing = mailferry::archive::list(&dir, id.clone())?;
        // The rewritten volumes of an encrypted archive go to the recipients it names.
        let recipients = (!listing.recipients.is_empty())
            .then(|| mailferry::crypt::Recipients::parse(&listing.recipients))
            .transpose()
            .map_err(|(_, e)| mailferry::archive::ArchiveError::Invalid {
                path: dir.clone(),
                detail: e.to_string(),
            })?;
        let mut w = mailferry::archive::ArchiveWriter::open(
            &dir,
            listing.format,
            mailferry::profile::DEFAULT_COMPRESSION_LEVEL,
            recipients.as_ref(),
        )?;
        w.prune(id, cutoff, dry_run)
    })
    .await??;
    if json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(0);
    }
    let w = name_width(report.removed.iter().map(|m| m.folder.as_str()));
    for m in &report.removed {
        println!(
            "  {}  #{:<6} {:>10}  {}",
            pad(&m.folder, w),
            m.id,
            human_bytes(m.size),
            m.gone_since
        );
    }
    let verb = t(if dry_run {
        "prune-would-remove"
    } else {
        "prune-removed"
    });
    println!(
        "{}",
        ta(
            "prune-summary",
            &[
                ("count", report.removed.len().to_string()),
                ("cutoff", report.cutoff.clone()),
                ("verb", verb),
                ("bytes", human_bytes(report.bytes_removed)),
                ("kept", report.deleted_kept.to_string()),
            ],
        )
    );
    Ok(0)
}
