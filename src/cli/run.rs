//! `mailferry run PROFILE`

use std::sync::Arc;

use mailferry::engine::{self, RunOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    profile: super::ProfileArg,
    /// Show what would be done (folders to create, messages to copy, already present)
    /// without writing anything.
    #[arg(long)]
    dry_run: bool,
    /// JSON lines of progress on stdout; the last line is the final report.
    #[arg(long)]
    json: bool,
    /// After copying, check message by message that the target holds everything
    /// (as `mailferry verify`), and include the verdict in the report.
    #[arg(long)]
    verify: bool,
}

pub async fn execute(args: Args) -> anyhow::Result<i32> {
    let profile = super::load_profile(&args.profile.profile)?;
    let dry_run = args.dry_run;
    let outcome = run_job(args, &profile).await;
    if !dry_run {
        after_run(&profile, &outcome);
    }
    outcome.map(|(code, _)| code)
}

/// Every run leaves its status in the state dir (for `schedule status` and monitoring), and
/// a failed one runs the profile's `schedule.on_failure` command.
fn after_run(
    profile: &mailferry::profile::Profile,
    outcome: &anyhow::Result<(i32, (u64, u64, u64))>,
) {
    use mailferry::schedule::{Status, next_status, status_path};
    let path = status_path(&profile.state_dir);
    let before: Option<Status> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let (code, counts, error) = match outcome {
        Ok((code, counts)) => (*code, *counts, None),
        Err(e) => (2, (0, 0, 0), Some(format!("{e:#}"))),
    };
    let profile_path =
        std::fs::canonicalize(&profile.path).unwrap_or_else(|_| profile.path.clone());
    let status = next_status(
        before.as_ref(),
        &profile_path,
        code,
        counts,
        error,
        chrono::Utc::now(),
    );
    let written =
        std::fs::create_dir_all(&profile.state_dir).and_then(|_| write_json(&path, &status));
    if let Err(e) = written {
        eprintln!("{}: {}: {e}", mailferry::i18n::t("warning"), path.display());
    }
    if let mailferry::profile::Target::Archive(a) = &profile.target
        && a.path.is_dir()
    {
        let copy = mailferry::schedule::archive_status(&status, a.encryption.is_some());
        let beside = mailferry::schedule::status_path(&a.path);
        if let Err(e) = write_json(&beside, &copy) {
            eprintln!(
                "{}: {}: {e}",
                mailferry::i18n::t("warning"),
                beside.display()
            );
        }
    }
    if code != 0
        && let Some(argv) = profile
            .schedule
            .as_ref()
            .and_then(|s| s.on_failure.as_ref())
        && let Some((program, rest)) = argv.split_first()
    {
        let ran = std::process::Command::new(program)
            .args(rest)
            .env("MAILFERRY_EXIT_CODE", code.to_string())
            .env("MAILFERRY_PROFILE", &profile_path)
            .status();
        if let Err(e) = ran {
            eprintln!(
                "{}: on_failure {program}: {e}",
                mailferry::i18n::t("warning")
            );
        }
    }
}

/// `retention.keep_deleted_for`: a backup that went well ends by pruning its archive.
pub(super) async fn prune_after_backup(
    profile: &mailferry::profile::Profile,
    report: &mut mailferry::report::Report,
) {
    use mailferry::profile::Target;
    let Target::Archive(a) = &profile.target else {
        return;
    };
    let Some(keep) = a.keep_deleted_for else {
        return;
    };
    let (dir, format, level) = (a.path.clone(), a.format, a.compression_level);
    let cutoff = mailferry::archive::cutoff(chrono::Utc::now(), keep);
    let pruned = tokio::task::spawn_blocking(move || {
        mailferry::archive::ArchiveWriter::open(&dir, format, level, None)?
            .prune(None, cutoff, false)
    })
    .await;
    match pruned {
        Ok(Ok(p)) => {
            report.pruned = Some(p.removed.len() as u64);
            report.pruned_before = p.cutoff;
        }
        Ok(Err(e)) => report.warnings.push(format!("retention: {e}")),
        Err(e) => report.warnings.push(format!("retention: {e}")),
    }
}

/// Replaces a small JSON file whole (temp file, then rename).
fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(value).unwrap_or_default())?;
    std::fs::rename(&tmp, path)
}

async fn run_job(
    args: Args,
    profile: &mailferry::profile::Profile,
) -> anyhow::Result<(i32, (u64, u64, u64))> {
    let profile = profile.clone();
    let source = super::source_side(&profile).await?;
    let target = super::target_side(&profile)?;
    let opts = RunOptions {
        dry_run: args.dry_run,
        ..Default::default()
    };
    let cancel = opts.cancel.clone();
    let display = Arc::new(super::display::Display::new(args.json));
    let shown = display.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            shown.say(&mailferry::i18n::t("progress-stopping"));
            cancel.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(2);
            }
        }
    });
    let sides = (source.clone(), target.clone());
    let result = engine::run(&profile, source, target, display.clone(), opts).await;
    let mut report = match result {
        Ok(r) => r,
        Err(e) => {
            display.finish();
            return Err(e.into());
        }
    };
    if args.verify && !args.dry_run && !report.cancelled {
        use mailferry::verify::verify;
        // Folders paired by the plan this run just stored, as `mailferry verify` does.
        let opts = super::verify_options(&profile, &sides.0, &sides.1, false)?;
        let (vs, vt) = super::verify_locations(&sides.0, &sides.1).await?;
        let verdict = verify(&profile, &vs, &vt, display.as_ref(), &opts).await?;
        report.verify = Some(verdict);
    }
    sides.0.close().await;
    if !args.dry_run && !report.cancelled && report.exit_code() == 0 {
        prune_after_backup(&profile, &mut report).await;
    }
    display.finish();
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok((
        report.exit_code(),
        (report.copied, report.already_present, report.failed),
    ))
}
