//! Scheduled runs: the systemd service and timer (or the crontab line) that run a profile,
//! and the status every run leaves in the job's state dir for `schedule status` and for
//! monitoring. The unit texts and the status rules are pure; the command line writes them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What the last run did, written by every `run` to `STATE_DIR/status.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub profile: PathBuf,
    pub finished: DateTime<Utc>,
    pub exit_code: i32,
    pub copied: u64,
    pub already_present: u64,
    pub failed: u64,
    /// The error that ended the run, if one did (no secret: the core's errors carry none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When a run last ended with exit code 0 (this one or an earlier one).
    pub last_good: Option<DateTime<Utc>>,
}

/// Where a job's status lives.
pub fn status_path(state_dir: &Path) -> PathBuf {
    state_dir.join("status.json")
}

/// The copy a backup leaves beside its archive, so whoever watches the backup disk sees how
/// the last run went. An encrypted archive's copy has no error text (it may name a folder).
pub fn archive_status(status: &Status, encrypted: bool) -> Status {
    let mut s = status.clone();
    if encrypted {
        s.error = s
            .error
            .map(|_| "see the state dir's status.json".to_string());
    }
    s
}

/// The `Next elapse:` of `systemd-analyze calendar` output, e.g. `Sun 2026-12-06 00:00:00 UTC`.
pub fn next_elapse(calendar_output: &str) -> Option<String> {
    calendar_output.lines().find_map(|l| {
        l.trim()
            .strip_prefix("Next elapse:")
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    })
}

/// The status after a run: `last_good` carried over from `before` unless this run is good.
pub fn next_status(
    before: Option<&Status>,
    profile: &Path,
    exit_code: i32,
    counts: (u64, u64, u64),
    error: Option<String>,
    now: DateTime<Utc>,
) -> Status {
    Status {
        profile: profile.to_path_buf(),
        finished: now,
        exit_code,
        copied: counts.0,
        already_present: counts.1,
        failed: counts.2,
        error,
        last_good: if exit_code == 0 {
            Some(now)
        } else {
            before.and_then(|b| b.last_good)
        },
    }
}

/// Whether the last good run is older than `alert_after` (or there was none).
pub fn overdue(status: Option<&Status>, alert_after: Duration, now: DateTime<Utc>) -> bool {
    match status.and_then(|s| s.last_good) {
        Some(good) => (now - good).to_std().is_ok_and(|age| age > alert_after),
        None => true,
    }
}

pub use crate::profile::parse_duration;

/// A name for the units, from the profile's file name: `mailferry-backup-alice`.
pub fn unit_name(profile: &Path) -> String {
    let stem = profile
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "job".into());
    let clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("mailferry-{clean}")
}

/// The service and timer that run `exe run PROFILE` on `when` (systemd calendar syntax:
/// `daily`, `hourly`, `Mon..Fri 02:30`). Passwords given as environment variables come from
/// `env_file`, a file the user owns, never from the unit.
pub fn systemd_units(
    name: &str,
    exe: &Path,
    profile: &Path,
    when: &str,
    env_file: &Path,
) -> (String, String) {
    let service = format!(
        "[Unit]\n\
         Description=mailferry: {profile}\n\
         Wants=network-online.target\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         EnvironmentFile=-{env}\n\
         ExecStart={exe} run {profile}\n",
        profile = systemd_quote(&profile.display().to_string()),
        env = env_file.display(),
        exe = systemd_quote(&exe.display().to_string()),
    );
    let timer = format!(
        "[Unit]\n\
         Description=mailferry schedule: {name}\n\
         \n\
         [Timer]\n\
         OnCalendar={when}\n\
         Persistent=true\n\
         RandomizedDelaySec=10min\n\
         Unit={name}.service\n\
         \n\
         [Install]\n\
         WantedBy=timers.target\n"
    );
    (service, timer)
}

/// A crontab line for machines without systemd. Only simple schedules map to cron:
/// `hourly`, `daily`, `weekly`, or `HH:MM` (every day at that time).
pub fn cron_line(when: &str, exe: &Path, profile: &Path) -> Result<String, String> {
    // A minute from the profile's name spreads many jobs over the hour.
    let minute = profile
        .display()
        .to_string()
        .bytes()
        .fold(7u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 60;
    let spec = match when.trim() {
        "hourly" => format!("{minute} * * * *"),
        "daily" => format!("{minute} 2 * * *"),
        "weekly" => format!("{minute} 2 * * 1"),
        other => match other.split_once(':') {
            Some((h, m))
                if h.parse::<u32>().is_ok_and(|h| h < 24)
                    && m.parse::<u32>().is_ok_and(|m| m < 60) =>
            {
                format!(
                    "{} {} * * *",
                    m.parse::<u32>().unwrap_or(0),
                    h.parse::<u32>().unwrap_or(0)
                )
            }
            _ => {
                return Err(format!(
                    "'{other}' needs systemd; for cron use hourly, daily, weekly or HH:MM"
                ));
            }
        },
    };
    Ok(format!(
        "{spec} {} run {} >/dev/null 2>&1",
        shell_quote(&exe.display().to_string()),
        shell_quote(&profile.display().to_string())
    ))
}

fn systemd_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+@".contains(c))
    {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_good_survives_a_failed_run() {
        let t0 = Utc::now();
        let good = next_status(None, Path::new("/p.yaml"), 0, (3, 0, 0), None, t0);
        assert_eq!(good.last_good, Some(t0));
        let t1 = t0 + chrono::Duration::hours(30);
        let bad = next_status(
            Some(&good),
            Path::new("/p.yaml"),
            2,
            (0, 0, 0),
            Some("x".into()),
            t1,
        );
        assert_eq!(bad.last_good, Some(t0));
        assert!(overdue(Some(&bad), Duration::from_secs(86_400), t1));
        assert!(!overdue(Some(&bad), Duration::from_secs(2 * 86_400), t1));
        assert!(overdue(None, Duration::from_secs(1), t1));
    }

    #[test]
    fn next_run_from_systemd_analyze() {
        let out = "  Original form: daily\nNormalized form: *-*-* 00:00:00\n    Next elapse: Sun 2026-12-06 00:00:00 UTC\n       From now: 12h left\n";
        assert_eq!(
            next_elapse(out).as_deref(),
            Some("Sun 2026-12-06 00:00:00 UTC")
        );
        assert_eq!(next_elapse("Failed to parse calendar specification"), None);
    }

    #[test]
    fn durations_and_cron_lines() {
        assert_eq!(
            parse_duration("36h").unwrap(),
            Duration::from_secs(36 * 3600)
        );
        assert_eq!(
            parse_duration("2d").unwrap(),
            Duration::from_secs(2 * 86_400)
        );
        assert!(parse_duration("2x").is_err());
        assert!(parse_duration("h").is_err());
        let line = cron_line(
            "02:30",
            Path::new("/usr/bin/mailferry"),
            Path::new("/a b/p.yaml"),
        )
        .unwrap();
        assert!(
            line.starts_with("30 2 * * * '/usr/bin/mailferry' run '/a b/p.yaml'"),
            "{line}"
        );
        assert!(cron_line("Mon..Fri 02:30", Path::new("/m"), Path::new("/p")).is_err());
        assert_eq!(
            unit_name(Path::new("/x/backup alice.yaml")),
            "mailferry-backup-alice"
        );
    }

    #[test]
    fn units_run_the_profile_with_its_environment_file() {
        let (service, timer) = systemd_units(
            "mailferry-p",
            Path::new("/usr/bin/mailferry"),
            Path::new("/home/a/p.yaml"),
            "Mon..Fri 02:30",
            Path::new("/home/a/.config/mailferry/p.env"),
        );
        assert!(service.contains("ExecStart=/usr/bin/mailferry run /home/a/p.yaml"));
        assert!(service.contains("EnvironmentFile=-/home/a/.config/mailferry/p.env"));
        assert!(timer.contains("OnCalendar=Mon..Fri 02:30"));
        assert!(timer.contains("Persistent=true"));
    }
}
