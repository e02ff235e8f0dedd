//! Disks and crashes.
//!
//! A full disk under the job's state or its archive: the run stops at once with the real cause
//! and what to do, and once space is freed the same command finishes with nothing lost and
//! nothing twice. The disks are small tmpfs mounts (the tests run as root in CI); where
//! mounting is not allowed the tests say so and do nothing.
//!
//! A long backup commits as it goes, so a kill late in it keeps what was committed.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

/// A tmpfs mounted on `dir` for the test's life.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("cannot mount a tmpfs here (not root?): test skipped");
            return None;
        }
        Some(SmallDisk(dir.to_path_buf()))
    }

    fn grow(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap()
            .success();
        assert!(ok, "remount {}", self.0.display());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn seed_many(src: &TestUser, n: usize) {
    let seeds: Vec<Seed> = (0..n)
        .map(|i| {
            Seed::new(
                generated("full", i, 200),
                FLAG_SETS[i % FLAG_SETS.len()],
                imap_date(1_600_000_000 + i as i64 * 60, 8),
            )
        })
        .collect();
    bulk_append(src, "INBOX", &seeds);
}

#[test]
fn a_full_state_disk_stops_the_run_at_once_and_the_rerun_completes() {
    let d = dovecot();
    let (src, dst) = (d.new_user("full-src"), d.new_user("full-dst"));
    seed_many(&src, 3000);
    let job = Job::new(&src, &dst);
    let Some(disk) = SmallDisk::mount(&job.state_dir(), "160k") else {
        return;
    };
    let (code, stdout, stderr) = job.run_raw();
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is full"), "{stderr}");
    assert!(stderr.contains("free some space"), "{stderr}");
    let copied = stdout.lines().filter(|l| l.contains("\"copied\"")).count();
    assert!(
        copied < 3000,
        "the run went on without a record ({copied} copied)"
    );

    disk.grow("20m");
    let again = job.run();
    assert_eq!(again.code, 0, "{again:?}");
    assert_same(&src, "INBOX", &dst, "INBOX");
}

fn noise(i: usize, len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(i as u64);
    let mut m =
        format!("From: a@163.com\r\nSubject: noise {i}\r\nMessage-ID: <noise-{i}@x>\r\n\r\n")
            .into_bytes();
    while m.len() < len {
        let line: String = (0..76).map(|_| rng.alphanumeric()).collect();
        m.extend_from_slice(line.as_bytes());
        m.extend_from_slice(b"\r\n");
    }
    m
}

#[test]
fn a_full_archive_disk_names_the_path_and_the_next_backup_completes() {
    let d = dovecot();
    let src = d.new_user("fullbk-src");
    let seeds: Vec<Seed> = (0..300)
        .map(|i| Seed::new(noise(i, 8_000), &["\\Seen"], imap_date(1_650_000_000, 8)))
        .collect();
    bulk_append(&src, "INBOX", &seeds);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("backup");
    let Some(disk) = SmallDisk::mount(&archive, "1m") else {
        return;
    };
    let profile = dir.path().join("backup.yaml");
    std::fs::write(
        &profile,
        format!(
            "source:\n  imap: {{ host: 127.0.0.1, port: {}, tls: none, user: \"{}\", password: {{ env: SRC }} }}\ntarget:\n  archive: {{ path: backup, format: mbox }}\nstate_dir: state\n",
            d.plain_port(),
            src.name
        ),
    )
    .unwrap();
    let run = |cmd: &str| {
        Command::new(BIN)
            .arg(cmd)
            .arg(&profile)
            .arg("--json")
            .env("SRC", &src.password)
            .env_remove("MAILFERRY_LOG")
            .output()
            .unwrap()
    };
    let out = run("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is full"), "{stderr}");
    assert!(stderr.contains(&archive.display().to_string()), "{stderr}");
    assert!(stderr.contains("free"), "{stderr}");

    disk.grow("20m");
    let out = run("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run("verify");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let check = Command::new(BIN)
        .args(["archive", "check"])
        .arg(&archive)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
}

// ---------------------------------------------------------------------------------------------
// A backup commits as it goes: a kill late in a long first backup keeps what was committed.

#[test]
fn a_killed_backup_keeps_what_it_committed_and_the_next_run_adds_the_rest() {
    let d = dovecot();
    let src = d.new_user("commit-src");
    let total = 3000;
    let seeds: Vec<Seed> = (0..total)
        .map(|i| Seed::new(noise(i, 6_000), &[], imap_date(1_650_000_000, 8)))
        .collect();
    bulk_append(&src, "INBOX", &seeds);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("backup");
    let profile = dir.path().join("backup.yaml");
    std::fs::write(
        &profile,
        format!(
            "source:\n  imap: {{ host: 127.0.0.1, port: {}, tls: none, user: \"{}\", password: {{ env: SRC }} }}\ntarget:\n  archive: {{ path: backup, format: mbox, commit_every: 200KB }}\nworkers: 1\nstate_dir: state\n",
            d.plain_port(),
            src.name
        ),
    )
    .unwrap();
    let command = |cmd: &str| {
        let mut c = Command::new(BIN);
        c.arg(cmd)
            .arg(&profile)
            .arg("--json")
            .env("SRC", &src.password)
            .env_remove("MAILFERRY_LOG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    };
    let manifest = archive.join("manifest.jsonl");
    let commits = || {
        std::fs::read_to_string(&manifest)
            .unwrap_or_default()
            .matches("\"t\":\"commit\"")
            .count()
    };
    let mut child = command("run").spawn().unwrap();
    let started = std::time::Instant::now();
    while commits() < 3 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup ended before it was killed"
        );
        assert!(started.elapsed().as_secs() < 60, "no commit seen");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let ls = Command::new(BIN)
        .args(["archive", "ls", "--json"])
        .arg(&archive)
        .output()
        .unwrap();
    let listing: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    let kept: u64 = listing["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["added"].as_u64().unwrap())
        .sum();
    assert!(kept > 0 && kept < total as u64, "kept {kept} of {total}");

    let out = command("run")
        .stdout(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert!(
        report["copied"].as_u64().unwrap() <= total as u64 - kept,
        "{report:#}"
    );
    let out = command("verify").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
}
