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
    display.finish();
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(report.exit_code())
}
