//! `mailferry schedule install|remove|status PROFILE`: a systemd timer (or a crontab line)
//! that runs the profile on its `schedule:`, and what the last runs did.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use mailferry::schedule;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ScheduleCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ScheduleCommand {
    /// Write and enable a systemd user timer for the profile (or print a crontab line).
    Install {
        #[command(flatten)]
        profile: super::ProfileArg,
        /// A system unit (in /etc/systemd/system) instead of a user one.
        #[arg(long)]
        system: bool,
        /// Print a crontab line instead (also the choice when systemd is not running).
        #[arg(long)]
        cron: bool,
        /// Write the units into this directory and enable nothing (to check or copy them).
        #[arg(long, value_name = "DIR")]
        units_dir: Option<PathBuf>,
    },
    /// Disable and delete the profile's timer.
    Remove {
        #[command(flatten)]
        profile: super::ProfileArg,
        #[arg(long)]
        system: bool,
    },
    /// The last run's time, result and counts, and how old the last good run is. Exit 1
    /// when the last run failed or the last good run is older than `schedule.alert_after`.
    Status {
        #[command(flatten)]
        profile: super::ProfileArg,
        #[arg(long)]
        json: bool,
    },
}

pub fn execute(args: Args) -> anyhow::Result<i32> {
    match args.command {
        ScheduleCommand::Install {
            profile,
            system,
            cron,
            units_dir,
        } => install(&profile.profile, system, cron, units_dir),
        ScheduleCommand::Remove { profile, system } => remove(&profile.profile, system),
        ScheduleCommand::Status { profile, json } => status(&profile.profile, json),
    }
}

fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

fn unit_dir(system: bool) -> anyhow::Result<PathBuf> {
    if system {
        return Ok(PathBuf::from("/etc/systemd/system"));
    }
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    Ok(PathBuf::from(home).join(".config/systemd/user"))
}

fn install(
    profile_path: &Path,
    system: bool,
    cron: bool,
    units_dir: Option<PathBuf>,
) -> anyhow::Result<i32> {
    let profile = super::load_profile(profile_path)?;
    let Some(when) = profile.schedule.as_ref().map(|s| s.when.clone()) else {
        bail!(
            "{} has no schedule: add e.g. `schedule: daily` (or {{ when: \"Mon..Fri 02:30\", alert_after: 36h }})",
            profile_path.display()
        );
    };
    let exe = std::env::current_exe().context("finding the mailferry binary")?;
    let abs = std::fs::canonicalize(profile_path)
        .with_context(|| format!("resolving {}", profile_path.display()))?;
    if cron || (units_dir.is_none() && !systemd_running()) {
        let line = schedule::cron_line(&when, &exe, &abs).map_err(anyhow::Error::msg)?;
        println!("{line}");
        eprintln!(
            "add this line with `crontab -e`; cron does not read your shell's exports, so give passwords as password: {{ file: ... }} or {{ command: ... }}"
        );
        return Ok(0);
    }
    let name = schedule::unit_name(&abs);
    let env_file = abs.with_extension("env");
    let (service, timer) = schedule::systemd_units(&name, &exe, &abs, &when, &env_file);
    let dir = match &units_dir {
        Some(d) => d.clone(),
        None => unit_dir(system)?,
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (ext, text) in [("service", &service), ("timer", &timer)] {
        let path = dir.join(format!("{name}.{ext}"));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
    }
    eprintln!(
        "passwords given as environment variables are read from {} (KEY=value lines; make it readable by you only: chmod 600)",
        env_file.display()
    );
    if units_dir.is_some() {
        return Ok(0);
    }
    let scope: &[&str] = if system { &[] } else { &["--user"] };
    for args in [
        vec!["daemon-reload"],
        vec!["enable", "--now", &format!("{name}.timer")],
    ] {
        let status = std::process::Command::new("systemctl")
            .args(scope)
            .args(&args)
            .status()
            .context("running systemctl")?;
        if !status.success() {
            bail!("systemctl {} failed ({status})", args.join(" "));
        }
    }
    Ok(0)
}

fn remove(profile_path: &Path, system: bool) -> anyhow::Result<i32> {
    let abs = std::fs::canonicalize(profile_path)
        .with_context(|| format!("resolving {}", profile_path.display()))?;
    let name = schedule::unit_name(&abs);
    let scope: &[&str] = if system { &[] } else { &["--user"] };
    if systemd_running() {
        let _ = std::process::Command::new("systemctl")
            .args(scope)
            .args(["disable", "--now", &format!("{name}.timer")])
            .status();
    }
    let dir = unit_dir(system)?;
    for ext in ["service", "timer"] {
        let path = dir.join(format!("{name}.{ext}"));
        if path.exists() {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            println!("removed {}", path.display());
        }
    }
    Ok(0)
}

/// When the timer fires next, as systemd computes it for the profile's `schedule:`.
fn next_run(when: &str) -> Option<String> {
    let out = std::process::Command::new("systemd-analyze")
        .args(["calendar", "--iterations=1", when])
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    schedule::next_elapse(&String::from_utf8_lossy(&out.stdout))
}

fn status(profile_path: &Path, json: bool) -> anyhow::Result<i32> {
    let profile = super::load_profile(profile_path)?;
    let path = schedule::status_path(&profile.state_dir);
    let last: Option<schedule::Status> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let now = chrono::Utc::now();
    let alert_after = profile.schedule.as_ref().and_then(|s| s.alert_after);
    let overdue = alert_after.is_some_and(|a| schedule::overdue(last.as_ref(), a, now));
    let failed = last.as_ref().is_some_and(|s| s.exit_code != 0);
    let next = profile.schedule.as_ref().and_then(|s| next_run(&s.when));
    if json {
        println!(
            "{}",
            serde_json::json!({ "last_run": last, "overdue": overdue, "failed": failed, "next_run": next })
        );
    } else {
        match &next {
            Some(n) => println!("next run: {n}"),
            None => println!("next run: unknown (no systemd here; see `crontab -l`)"),
        }
        match &last {
            None => println!("no run recorded yet ({})", path.display()),
            Some(s) => {
                println!(
                    "last run: {} (exit {}): {} copied, {} already present, {} failed",
                    s.finished
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    s.exit_code,
                    s.copied,
                    s.already_present,
                    s.failed
                );
                if let Some(e) = &s.error {
                    println!("error: {e}");
                }
                match s.last_good {
                    Some(g) => println!(
                        "last good run: {} ({} h ago)",
                        g.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        (now - g).num_hours()
                    ),
                    None => println!("no good run yet"),
                }
            }
        }
        if overdue {
            let hours = alert_after.unwrap_or_default().as_secs() / 3600;
            println!("ALERT: no good run within {hours} h (schedule.alert_after)");
        }
    }
    Ok(if overdue || failed || last.is_none() {
        1
    } else {
        0
    })
}
