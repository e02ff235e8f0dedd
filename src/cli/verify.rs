//! `mailferry verify PROFILE`

use std::path::PathBuf;

use anyhow::Context as _;
use mailferry::progress::{Event, Progress, Silent};
use mailferry::verify;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    profile: super::ProfileArg,
    /// Compare whole messages (SHA-256 of BODY.PEEK[] on both sides) instead of fingerprints
    /// (size plus a hash of a few header fields). Downloads every message on both sides.
    #[arg(long)]
    deep: bool,
    /// Examples shown for each kind of problem.
    #[arg(long, value_name = "N", default_value_t = verify::DEFAULT_EXAMPLES)]
    examples: usize,
    /// Print the whole result, every problem included, as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Write every missing message's identity to FILE, one JSON object per line (folder,
    /// uid, message_id, subject, date, size, fingerprint).
    #[arg(long, value_name = "FILE")]
    list_missing: Option<PathBuf>,
}

/// Progress lines on stderr: a folder done, warnings, reconnections. A bar would have no
/// total to show: message counts are only known once a folder has been read.
struct Lines;

impl Progress for Lines {
    fn event(&self, event: Event) {
        match &event {
            Event::FolderDone { source } => eprintln!(
                "{}",
                mailferry::i18n::ta("progress-checked", &[("folder", source.clone())])
            ),
            Event::Warning { .. } | Event::Reconnecting { .. } => {
                if let Some(line) = super::display::event_line(&event) {
                    eprintln!("{line}");
                }
            }
            _ => {}
        }
    }
}

pub async fn execute(args: Args) -> anyhow::Result<i32> {
    let profile = super::load_profile(&args.profile.profile)?;
    let (source_side, target_side) = (
        super::source_side(&profile).await?,
        super::target_side(&profile)?,
    );
    let opts = super::verify_options(&profile, &source_side, &target_side, args.deep)?;
    let (source, target) = super::verify_locations(&source_side, &target_side).await?;
    // With --json, stdout carries the one result object and nothing else.
    let progress: &dyn Progress = if args.json { &Silent } else { &Lines };
    let verdict = verify::verify(&profile, &source, &target, progress, &opts).await;
    source_side.close().await;
    let verdict = verdict?;
    if let Some(path) = &args.list_missing {
        std::fs::write(path, verdict.missing_lines())
            .with_context(|| format!("writing the missing-message list to {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&verdict)?);
    } else {
        print!("{}", verdict.render(args.examples));
    }
    Ok(verdict.exit_code())
}
