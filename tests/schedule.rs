//! Scheduled backups: `schedule install` writes a service and timer that
//! `systemd-analyze verify` accepts, or a crontab line; every run leaves its status; `schedule
//! status` reports a failed last run and exits non-zero once the last good run is older than
//! `alert_after`; a failed run calls the `on_failure` command.

mod support;

use std::process::Command;

use support::*;

/// `mailferry schedule ARGS...`: exit code and output.
fn schedule(args: &[&str]) -> (i32, String) {
    output_of(Command::new(BIN).arg("schedule").args(args))
}

fn profile(dir: &std::path::Path, source: &str, schedule: &str) -> std::path::PathBuf {
    let path = write_profile(dir, source, "  archive: { path: backup }\n");
    let text = std::fs::read_to_string(&path).unwrap() + schedule;
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn install_writes_units_systemd_accepts_or_a_crontab_line() {
    let dir = tempfile::tempdir().unwrap();
    let src = dovecot().new_user("sched");
    let p = profile(
        dir.path(),
        &imap_yaml(&src, "MF_SRC"),
        "schedule: { when: \"Mon..Fri 02:30\", alert_after: 36h }\n",
    );
    let units = dir.path().join("units");
    let (code, text) = schedule(&[
        "install",
        p.to_str().unwrap(),
        "--units-dir",
        units.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{text}");
    let mut files: Vec<_> = std::fs::read_dir(&units)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    let timer = std::fs::read_to_string(&files[1]).unwrap();
    assert!(timer.contains("OnCalendar=Mon..Fri 02:30") && timer.contains("Persistent=true"));
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&files)
        .output()
        .expect("systemd-analyze is needed by this test (scripts/test.sh installs systemd)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Cron: simple schedules only, absolute paths.
    let p = profile(
        dir.path(),
        &imap_yaml(&src, "MF_SRC"),
        "schedule: \"02:30\"\n",
    );
    let (code, text) = schedule(&["install", p.to_str().unwrap(), "--cron"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.starts_with("30 2 * * * '/"), "{text}");
    assert!(text.contains(" run '/"), "{text}");
}

#[test]
fn status_tells_a_failed_run_and_an_overdue_backup() {
    let dir = tempfile::tempdir().unwrap();
    let src = dovecot().new_user("schedst");
    src.append("INBOX", b"Subject: one\r\n\r\nbody\r\n", &[], None);
    let hook_out = dir.path().join("hook.txt");
    let rules = format!(
        "schedule: {{ when: daily, alert_after: 1h, on_failure: {{ command: [\"sh\", \"-c\", \"echo $MAILFERRY_EXIT_CODE > {}\"] }} }}\n",
        hook_out.display()
    );
    let p = profile(dir.path(), &imap_yaml(&src, "MF_SRC"), &rules);
    let status = |p: &std::path::Path| schedule(&["status", p.to_str().unwrap()]);
    // No run yet: not good.
    assert_eq!(status(&p).0, 1);
    // A good run.
    let r = run_profile(&p, &[("MF_SRC", &src.password)]);
    assert_eq!(r.code, 0, "{}", r.output);
    let (code, text) = status(&p);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("1 copied"), "{text}");
    assert!(text.contains("next run:"), "{text}");
    assert!(!hook_out.exists(), "the hook ran after a good run");
    // The same status beside the archive, for whoever watches the backup disk.
    let beside: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("backup/status.json")).unwrap())
            .unwrap();
    assert_eq!(beside["copied"], 1, "{beside}");
    // A failed run (wrong code): reported, the hook called, the last good run kept.
    let r = run_profile(&p, &[("MF_SRC", "wrong")]);
    assert_eq!(r.code, 2, "{}", r.output);
    let (code, text) = status(&p);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("exit 2"), "{text}");
    assert!(text.contains("last good run"), "{text}");
    assert_eq!(std::fs::read_to_string(&hook_out).unwrap().trim(), "2");
    // The last good run two hours ago: overdue past alert_after (1h).
    let state = dir.path().join("state/status.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    v["exit_code"] = 0.into();
    v["last_good"] = (chrono::Utc::now() - chrono::Duration::hours(2))
        .to_rfc3339()
        .into();
    std::fs::write(&state, v.to_string()).unwrap();
    let (code, text) = status(&p);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("ALERT"), "{text}");
}
