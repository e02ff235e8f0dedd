//! Backups and restores end to end: the real binary backs accounts of the test Dovecot up into
//! archives (`format: mbox` and `format: tar`), restores archives and foreign exports
//! (Thunderbird mboxo, mboxrd, `.eml` trees, Maildir) into empty accounts, and the result is
//! read back with the harness's own IMAP client (never mailferry's code).
//!
//! Each test makes its own users and a work dir holding the profiles, the archive and the
//! state dir. Dovecot prints every INTERNALDATE in +0800 on both sides, so dates compare as
//! strings; it serves messages appended with bare LF with CRLF, so foreign LF files are
//! compared after that conversion.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value as Json;
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_mailferry");
const FORMATS: [&str; 2] = ["mbox", "tar"];

// ---------------------------------------------------------------------------------------------
// Jobs: profiles in a work dir, and the binary run on them.

/// Where a job reads from.
#[derive(Clone, Copy)]
enum Source<'a> {
    Imap(&'a TestUser),
    Archive(&'a Path),
    Mbox(&'a Path),
    EmlDir(&'a Path),
    Maildir(&'a Path),
}

/// Where a job writes to.
#[derive(Clone, Copy)]
enum Target<'a> {
    Imap(&'a TestUser),
    /// Archive dir and format (`mbox` or `tar`).
    Archive(&'a Path, &'a str),
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn y(s: impl AsRef<str>) -> String {
    serde_json::to_string(s.as_ref()).unwrap()
}

fn yp(p: &Path) -> String {
    y(p.to_str().unwrap())
}

fn imap_yaml(user: &TestUser, var: &str) -> String {
    format!(
        "  imap: {{ host: 127.0.0.1, port: {}, tls: none, user: {}, password: {{ env: {var} }} }}\n",
        dovecot().plain_port(),
        y(&user.name)
    )
}

/// What one `mailferry run --json` did.
struct Outcome {
    code: i32,
    report: Json,
    stderr: String,
    seconds: f64,
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {} after {:.1}s\n--- report ---\n{:#}\n--- stderr ---\n{}",
            self.code,
            self.seconds,
            self.report,
            self.stderr.trim_end()
        )
    }
}

impl Outcome {
    fn n(&self, key: &str) -> u64 {
        self.report[key]
            .as_u64()
            .unwrap_or_else(|| panic!("report has no number {key:?}: {self:?}"))
    }

    /// Exit 0, nothing failed, and `copied` / `already_present` as given.
    #[track_caller]
    fn assert_clean(&self, copied: u64, already_present: u64) {
        assert_eq!(self.code, 0, "{self:?}");
        self.assert_counts(copied, already_present);
    }

    /// Exit 1 for bytes of the input that could not be carried, each listed with its file
    /// and offset in the report; everything else copied as counted.
    fn assert_not_carried(&self, copied: u64, already_present: u64, listed: &[&str]) {
        assert_eq!(self.code, 1, "{self:?}");
        self.assert_counts(copied, already_present);
        let not_carried = self.report["not_carried"].to_string();
        for l in listed {
            assert!(not_carried.contains(l), "{l:?} not listed: {self:?}");
        }
    }

    fn assert_counts(&self, copied: u64, already_present: u64) {
        assert_eq!(
            (
                self.n("copied"),
                self.n("already_present"),
                self.n("failed")
            ),
            (copied, already_present, 0),
            "(copied, already_present, failed): {self:?}"
        );
    }

    /// The report's folder rows as `source -> target`.
    fn mapping(&self) -> BTreeMap<String, String> {
        self.report["folders"]
            .as_array()
            .unwrap_or_else(|| panic!("no folders: {self:?}"))
            .iter()
            .map(|f| {
                (
                    f["source"].as_str().unwrap().to_string(),
                    f["target"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

/// A work dir: profiles, archives, exports and the state dir of one test.
struct Work {
    dir: tempfile::TempDir,
    profiles: std::cell::Cell<u32>,
}

impl Work {
    fn new() -> Work {
        Work {
            dir: tempfile::tempdir().unwrap(),
            profiles: std::cell::Cell::new(0),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn state_dir(&self) -> PathBuf {
        self.path("state")
    }

    /// Writes a profile for `from -> to` and returns its path and the passwords to export.
    fn profile(&self, from: Source, to: Target) -> (PathBuf, Vec<(&'static str, String)>) {
        let mut env = Vec::new();
        let source = match from {
            Source::Imap(u) => {
                env.push(("MF_SRC_PW", u.password.clone()));
                imap_yaml(u, "MF_SRC_PW")
            }
            Source::Archive(p) => format!("  archive: {{ path: {} }}\n", yp(p)),
            Source::Mbox(p) => format!("  mbox: {}\n", yp(p)),
            Source::EmlDir(p) => format!("  eml_dir: {}\n", yp(p)),
            Source::Maildir(p) => format!("  maildir: {}\n", yp(p)),
        };
        let target = match to {
            Target::Imap(u) => {
                env.push(("MF_DST_PW", u.password.clone()));
                imap_yaml(u, "MF_DST_PW")
            }
            Target::Archive(p, format) => {
                format!("  archive: {{ path: {}, format: {format} }}\n", yp(p))
            }
        };
        let n = self.profiles.get() + 1;
        self.profiles.set(n);
        let path = self.path(&format!("job-{n}.yaml"));
        let yaml = format!(
            "source:\n{source}target:\n{target}workers: 2\nstate_dir: {}\n",
            yp(&self.state_dir())
        );
        fs::write(&path, yaml).unwrap();
        (path, env)
    }

    fn command(&self, from: Source, to: Target, args: &[&str]) -> Command {
        let (profile, env) = self.profile(from, to);
        let mut cmd = Command::new(BIN);
        cmd.arg("run")
            .arg(profile)
            .arg("--json")
            .args(args)
            .envs(env)
            .env_remove("MAILFERRY_LOG")
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        cmd
    }

    fn run_with(&self, from: Source, to: Target, args: &[&str]) -> Outcome {
        let begun = Instant::now();
        let out = self.command(from, to, args).output().unwrap();
        let seconds = begun.elapsed().as_secs_f64();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let code = out.status.code().unwrap_or(-1);
        let last = stdout.lines().rev().find(|l| !l.trim().is_empty());
        let report = match last.map(serde_json::from_str::<Json>) {
            Some(Ok(r)) if r.get("folders").is_some() => r,
            _ => panic!(
                "mailferry run printed no report (exit {code})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
            ),
        };
        Outcome {
            code,
            report,
            stderr,
            seconds,
        }
    }

    fn run(&self, from: Source, to: Target) -> Outcome {
        self.run_with(from, to, &[])
    }

    /// `mailferry verify PROFILE --json`: exit code and verdict.
    fn verify(&self, from: Source, to: Target) -> (i32, Json) {
        let (profile, env) = self.profile(from, to);
        let out = Command::new(BIN)
            .arg("verify")
            .arg(profile)
            .arg("--json")
            .envs(env)
            .env_remove("MAILFERRY_LOG")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let verdict = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "verify --json: {e}\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), verdict)
    }
}

/// `mailferry archive ARGS...`: exit code, stdout, stderr.
fn archive_cmd(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(BIN)
        .arg("archive")
        .args(args)
        .arg(dir)
        .env_remove("MAILFERRY_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `mailferry archive ls DIR --json`.
fn archive_ls(dir: &Path) -> Json {
    let (code, stdout, stderr) = archive_cmd(&["ls", "--json"], dir);
    assert_eq!(code, 0, "archive ls: {stdout}\n{stderr}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// `(run, added, flag_updates)` of each committed run listed by `archive ls --json`.
fn runs(listing: &Json) -> Vec<(u64, u64, u64)> {
    listing["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["run"].as_u64().unwrap(),
                r["added"].as_u64().unwrap(),
                r["flag_updates"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// `mailferry archive check DIR --json`: exit code and the parsed report.
fn archive_check(dir: &Path) -> (i32, Json) {
    let (code, stdout, stderr) = archive_cmd(&["check", "--json"], dir);
    let report = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("archive check --json (exit {code}): {e}\n{stdout}\n{stderr}"));
    (code, report)
}

// ---------------------------------------------------------------------------------------------
// Messages: seeding and reading back.

fn seed(raw: Vec<u8>, flags: &[&str], date: &str) -> Seed {
    Seed::new(raw, flags, date.to_string())
}

/// A plain message, unique by `tag` and `i`, about `body_len` bytes long.
fn generated(tag: &str, i: usize, body_len: usize) -> Vec<u8> {
    let mut m = format!(
        "From: sender{i}@163.com\r\nTo: alice@qq.com\r\nSubject: {tag} #{i} 备份\r\n\
         Date: Mon, 4 Mar 2024 10:{:02}:{:02} +0800\r\nMessage-ID: <{tag}-{i}@backup.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n",
        (i / 60) % 60,
        i % 60
    )
    .into_bytes();
    let mut line = 0;
    while m.len() < body_len {
        m.extend_from_slice(format!("{tag} {i} line {line}: 内容 lorem ipsum\r\n").as_bytes());
        line += 1;
    }
    m
}

/// A message with a body of random base64 lines, about `len` bytes long.
fn noisy(tag: &str, i: usize, len: usize) -> Vec<u8> {
    let mut m = format!(
        "From: noise@163.com\r\nSubject: {tag} #{i}\r\nMessage-ID: <{tag}-{i}@noise.test>\r\n\r\n"
    )
    .into_bytes();
    while m.len() < len {
        let line: String = (0..76).map(|_| fastrand::alphanumeric()).collect();
        m.extend_from_slice(line.as_bytes());
        m.extend_from_slice(b"\r\n");
    }
    m
}

/// An IMAP date-time `k` weeks and some hours after 2020-09-13, printed in `zone` hours.
fn date(k: usize, zone: i32) -> String {
    let unix = 1_600_000_000 + k as i64 * 86_400 * 7 + (k as i64 * 3_607) % 86_400;
    let zone = chrono::FixedOffset::east_opt(zone * 3600).unwrap();
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap()
        .with_timezone(&zone)
        .format("%d-%b-%Y %H:%M:%S %z")
        .to_string()
}

/// Flags and keywords the seeds cycle through: every system flag and some keywords.
const FLAG_SETS: &[&[&str]] = &[
    &[],
    &["\\Seen"],
    &["\\Seen", "\\Answered"],
    &["\\Flagged", "$Label1"],
    &["\\Draft"],
    &["\\Seen", "\\Deleted"],
    &["$Forwarded", "Work"],
    &["\\Seen", "\\Answered", "\\Flagged", "$Forwarded", "$Label1"],
];

fn migrate_fixtures() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/migrate");
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 10, "fixtures missing in {}", dir.display());
    paths.iter().map(|p| fs::read(p).unwrap()).collect()
}

/// The folders of the backup tests: INBOX, a special-use Sent with a Chinese name, a Chinese
/// user folder, nested folders with a space and an ampersand.
const FOLDERS: [&str; 5] = [
    "INBOX",
    "已发送",
    "工作",
    "其他文件夹/客户 & 项目",
    "Archive/2023/Q4",
];

/// Seeds every folder with varied mail (the migrate fixtures: 8-bit, GBK, LF-only, no final
/// newline, a `From ` line in a body, ...), cycling flags and dates in three zones.
/// Returns the number of messages.
fn seed_varied(user: &TestUser, per_folder: usize) -> usize {
    let fixtures = migrate_fixtures();
    let mut k = 0;
    let mut total = 0;
    for (fi, folder) in FOLDERS.iter().enumerate() {
        let mut seeds = Vec::new();
        for (i, raw) in fixtures.iter().enumerate() {
            if fi == 0 || i % 3 == fi % 3 {
                k += 1;
                seeds.push(seed(
                    raw.clone(),
                    FLAG_SETS[k % FLAG_SETS.len()],
                    &date(k, [8, -5, 0][k % 3]),
                ));
            }
        }
        for i in 0..per_folder {
            k += 1;
            seeds.push(seed(
                generated(&format!("f{fi}"), i, 300 + i * 41),
                FLAG_SETS[k % FLAG_SETS.len()],
                &date(k, [8, -5, 0][k % 3]),
            ));
        }
        total += seeds.len();
        bulk_append(user, folder, &seeds);
    }
    total
}

/// A folder's messages as a sorted multiset (UIDs differ between accounts).
fn content(user: &TestUser, folder: &str) -> Vec<Msg> {
    let mut v: Vec<Msg> = user
        .messages(folder)
        .into_iter()
        .map(|m| (m.body, m.flags, m.internaldate))
        .collect();
    v.sort();
    v
}

/// Folders that can hold mail (not `\Noselect` containers), sorted.
fn selectable(user: &TestUser) -> Vec<String> {
    let mut v: Vec<String> = user
        .mailboxes()
        .into_iter()
        .filter(|m| !m.has("\\Noselect") && !m.has("\\NonExistent"))
        .map(|m| m.name)
        .collect();
    v.sort();
    v
}

/// Every non-empty folder with its messages.
fn snapshot(user: &TestUser) -> BTreeMap<String, Vec<Msg>> {
    selectable(user)
        .into_iter()
        .map(|f| {
            let c = content(user, &f);
            (f, c)
        })
        .filter(|(_, c)| !c.is_empty())
        .collect()
}

/// The `Subject:` of a raw message, for readable failure messages.
fn subject(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .lines()
        .take_while(|l| !l.trim_end().is_empty())
        .find_map(|l| {
            l.strip_prefix("Subject: ")
                .map(|s| s.trim_end().to_string())
        })
        .unwrap_or_else(|| format!("({} bytes, no subject)", raw.len()))
}

/// Both accounts hold the same folders with the same messages (bytes, flags, dates, counts).
#[track_caller]
fn assert_same_mail(want: &BTreeMap<String, Vec<Msg>>, got: &BTreeMap<String, Vec<Msg>>) {
    let names = |m: &BTreeMap<String, Vec<Msg>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(got), names(want), "folders differ");
    for (folder, w) in want {
        let g = &got[folder];
        if g == w {
            continue;
        }
        let mut extra: Vec<&Msg> = g.iter().collect();
        let mut missing = Vec::new();
        for m in w {
            match extra.iter().position(|x| *x == m) {
                Some(i) => {
                    extra.remove(i);
                }
                None => missing.push(m),
            }
        }
        let show = |v: &[&Msg]| {
            v.iter()
                .map(|(b, f, d)| format!("  {} [{} B] {f:?} {d}\n", subject(b), b.len()))
                .collect::<String>()
        };
        panic!(
            "{folder}: want {}, got {}\nmissing or different:\n{}extra or different:\n{}",
            w.len(),
            g.len(),
            show(&missing),
            show(&extra)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 1. backup -> restore into an empty account gives the source back exactly

#[test]
fn backup_then_restore_gives_the_source_back_exactly() {
    let d = dovecot();
    let src = d.new_user("rt-src");
    let total = seed_varied(&src, 6);
    let want = snapshot(&src);
    assert_eq!(want.len(), FOLDERS.len());
    for format in FORMATS {
        let work = Work::new();
        let archive = work.path("backup");
        let backup = work.run(Source::Imap(&src), Target::Archive(&archive, format));
        backup.assert_clean(total as u64, 0);

        let listing = archive_ls(&archive);
        assert_eq!(listing["format"], format, "{listing:#}");
        assert_eq!(listing["messages"], total as u64, "{listing:#}");
        let sent = listing["folders"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "已发送")
            .unwrap_or_else(|| panic!("no 已发送 in {listing:#}"));
        assert_eq!(sent["role"], "sent", "{listing:#}");

        // An empty account, with the Sent folder every provider account has (Dovecot here
        // declares 已发送 as \Sent but creates it only on demand).
        let dst = d.new_user("rt-dst");
        dst.create_mailbox("已发送");
        let restore = work.run(Source::Archive(&archive), Target::Imap(&dst));
        restore.assert_clean(total as u64, 0);
        assert_same_mail(&want, &snapshot(&dst));
    }
}

#[test]
fn restore_into_an_account_without_a_sent_folder_keeps_the_name_of_the_sent_folder() {
    let d = dovecot();
    let src = d.new_user("nosent-src");
    bulk_append(
        &src,
        "已发送",
        &[seed(generated("nosent", 0, 300), &["\\Seen"], &date(1, 8))],
    );
    let work = Work::new();
    let archive = work.path("backup");
    work.run(Source::Imap(&src), Target::Archive(&archive, "mbox"))
        .assert_clean(1, 0);
    // Truly empty: Dovecot here would make a folder named 已发送 its \Sent folder.
    let dst = d.new_user("nosent-dst");
    let out = work.run(Source::Archive(&archive), Target::Imap(&dst));
    out.assert_clean(1, 0);
    // The source's empty INBOX is kept in the archive and restored too.
    assert_eq!(
        out.mapping(),
        BTreeMap::from([
            ("INBOX".to_string(), "INBOX".to_string()),
            ("已发送".to_string(), "已发送".to_string())
        ]),
        "the archive's folder name is the only name this account has for it"
    );
    assert_same_mail(&snapshot(&src), &snapshot(&dst));
}

/// Sizes of every data file below `dir/mbox` and `dir/volumes`, by relative path.
fn data_files(dir: &Path) -> BTreeMap<String, u64> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, u64>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                out.insert(rel, fs::metadata(&p).unwrap().len());
            }
        }
    }
    let mut out = BTreeMap::new();
    for sub in ["mbox", "volumes"] {
        walk(dir, &dir.join(sub), &mut out);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// 2. Incremental backups: only what is new, flag changes recorded

#[test]
fn incremental_backup_adds_only_new_mail_and_records_flag_changes() {
    let d = dovecot();
    for format in FORMATS {
        let src = d.new_user("inc-src");
        let inbox: Vec<Seed> = (0..40)
            .map(|i| {
                seed(
                    generated("inc", i, 500 + i * 30),
                    FLAG_SETS[i % 4],
                    &date(i, 8),
                )
            })
            .collect();
        bulk_append(&src, "INBOX", &inbox);
        bulk_append(
            &src,
            "已发送",
            &[seed(
                generated("inc-sent", 0, 400),
                &["\\Seen"],
                &date(50, 0),
            )],
        );
        let work = Work::new();
        let archive = work.path("backup");
        let to = Target::Archive(&archive, format);

        let first = work.run(Source::Imap(&src), to);
        first.assert_clean(41, 0);
        let files_after_first = data_files(&archive);
        assert!(!files_after_first.is_empty());

        // Nothing new: nothing stored, quickly.
        let second = work.run(Source::Imap(&src), to);
        second.assert_clean(0, 41);
        assert!(
            second.seconds < 5.0,
            "{format}: an empty incremental run took {:.1}s",
            second.seconds
        );
        assert_eq!(
            runs(&archive_ls(&archive)),
            [(1, 41, 0), (2, 0, 0)],
            "{format}"
        );
        assert_eq!(
            data_files(&archive),
            files_after_first,
            "{format}: an empty run wrote data"
        );

        // Two new messages and one flag change on the source.
        bulk_append(
            &src,
            "INBOX",
            &[seed(generated("inc-new", 1, 700), &[], &date(60, 8))],
        );
        bulk_append(
            &src,
            "已发送",
            &[seed(
                generated("inc-new", 2, 900),
                &["\\Seen", "$Forwarded"],
                &date(61, -5),
            )],
        );
        let changed = src.messages("INBOX")[3].uid;
        src.set_flags("INBOX", changed, &["\\Answered", "\\Flagged", "Urgent"]);
        let third = work.run_with(Source::Imap(&src), to, &["--verify"]);
        third.assert_clean(2, 41);
        assert_eq!(third.report["verify"]["ok"], true, "{format}: {third:?}");
        let listing = archive_ls(&archive);
        assert_eq!(
            runs(&listing),
            [(1, 41, 0), (2, 0, 0), (3, 2, 1)],
            "{format}: {listing:#}"
        );
        assert_eq!(listing["messages"], 43, "{format}");

        // A restore has today's flags.
        let dst = d.new_user("inc-dst");
        dst.create_mailbox("已发送");
        work.run(Source::Archive(&archive), Target::Imap(&dst))
            .assert_clean(43, 0);
        assert_same_mail(&snapshot(&src), &snapshot(&dst));
    }
}

// ---------------------------------------------------------------------------------------------
// 3. kill -9 during a backup: the archive stays readable, the next run completes it

/// Starts a run and SIGKILLs it once `ready()` holds. False when the run ended first.
fn run_and_kill(work: &Work, from: Source, to: Target, ready: impl Fn() -> bool) -> bool {
    let mut child = work
        .command(from, to, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let begun = Instant::now();
    while !ready() {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(
            begun.elapsed() < Duration::from_secs(60),
            "no progress in 60 s"
        );
        thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    true
}

/// After a kill: `archive check` passes and sees the 12 messages of the committed first run
/// only; `archive ls` shows the interrupted run.
#[track_caller]
fn assert_only_first_run_committed(archive: &Path, format: &str) {
    let (code, check) = archive_check(archive);
    assert_eq!(code, 0, "{format}: {check:#}");
    assert_eq!(check["ok"], true, "{format}: {check:#}");
    assert_eq!(
        (&check["messages_total"], &check["messages_ok"]),
        (&Json::from(12), &Json::from(12)),
        "{format}: {check:#}"
    );
    let listing = archive_ls(archive);
    assert_eq!(runs(&listing), [(1, 12, 0)], "{format}: {listing:#}");
    assert_eq!(listing["interrupted_run"], 2, "{format}: {listing:#}");
}

#[test]
fn kill_9_during_backup_leaves_a_checkable_archive_and_the_next_run_completes_it() {
    let d = dovecot();
    for format in FORMATS {
        let src = d.new_user("kill-src");
        bulk_append(
            &src,
            "INBOX",
            &(0..12)
                .map(|i| seed(generated("early", i, 600), FLAG_SETS[i % 8], &date(i, 8)))
                .collect::<Vec<_>>(),
        );
        let work = Work::new();
        let archive = work.path("backup");
        let to = Target::Archive(&archive, format);
        work.run(Source::Imap(&src), to).assert_clean(12, 0);

        // 1500 more, part in a folder only the killed run would create. Random text
        // compresses poorly, so data reaches the disk early in the run.
        let many = |tag: &str, n: usize| -> Vec<Seed> {
            (0..n)
                .map(|i| {
                    seed(
                        noisy(tag, i, 1500 + (i * 13) % 700),
                        FLAG_SETS[i % 8],
                        &date(i + 100, 0),
                    )
                })
                .collect()
        };
        bulk_append(&src, "INBOX", &many("bulk", 1000));
        bulk_append(&src, "批量/2024", &many("batch", 500));

        // Kill 1: as soon as the run's data has reached the disk.
        let files_before = data_files(&archive);
        let has_new_data = || {
            data_files(&archive)
                .iter()
                .any(|(f, len)| *len > files_before.get(f).copied().unwrap_or(0))
        };
        let killed = run_and_kill(&work, Source::Imap(&src), to, has_new_data);
        assert!(
            killed,
            "{format}: the backup finished before it could be killed"
        );
        assert_only_first_run_committed(&archive, format);

        // Kill 2: the resumed run, once it has reached the folder only it creates.
        let in_new_folder = || {
            fs::read_to_string(archive.join("manifest.jsonl"))
                .is_ok_and(|m| m.contains("\"folder\":\"批量/2024\""))
        };
        let killed_again = run_and_kill(&work, Source::Imap(&src), to, in_new_folder);
        if killed_again {
            assert_only_first_run_committed(&archive, format);
        }

        // The next run completes it: everything once, nothing twice.
        let rerun = work.run(Source::Imap(&src), to);
        let listing = archive_ls(&archive);
        if killed_again {
            rerun.assert_clean(1500, 12);
            assert_eq!(runs(&listing), [(1, 12, 0), (2, 1500, 0)], "{format}");
        } else {
            eprintln!("{format}: the resumed run finished before the second kill");
            rerun.assert_clean(0, 1512);
            assert_eq!(
                runs(&listing),
                [(1, 12, 0), (2, 1500, 0), (3, 0, 0)],
                "{format}"
            );
        }
        assert_eq!(listing["interrupted_run"], Json::Null, "{format}");
        let (code, check) = archive_check(&archive);
        assert_eq!(
            (code, &check["messages_ok"]),
            (0, &Json::from(1512)),
            "{check:#}"
        );

        let dst = d.new_user("kill-dst");
        work.run(Source::Archive(&archive), Target::Imap(&dst))
            .assert_clean(1512, 0);
        assert_same_mail(&snapshot(&src), &snapshot(&dst));
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Restoring twice adds nothing, with or without the state dir

#[test]
fn restoring_twice_adds_zero_copies_even_without_the_state_dir() {
    let d = dovecot();
    let src = d.new_user("twice-src");
    let total = seed_varied(&src, 3) as u64;
    let want = snapshot(&src);
    for format in FORMATS {
        let work = Work::new();
        let archive = work.path("backup");
        work.run(Source::Imap(&src), Target::Archive(&archive, format))
            .assert_clean(total, 0);
        let dst = d.new_user("twice-dst");
        dst.create_mailbox("已发送");
        let from = Source::Archive(&archive);
        work.run(from, Target::Imap(&dst)).assert_clean(total, 0);
        work.run(from, Target::Imap(&dst)).assert_clean(0, total);
        fs::remove_dir_all(work.state_dir()).unwrap();
        work.run(from, Target::Imap(&dst)).assert_clean(0, total);
        assert_same_mail(&want, &snapshot(&dst));
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Foreign exports restore with their messages, folder names and flags

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/backup")
}

/// Copies a fixture tree into the work dir, so nothing can touch the repository's copy.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_tree(&p, &dest);
        } else {
            fs::copy(&p, &dest).unwrap();
        }
    }
}

/// Every file below `dir` with its bytes: to prove a run wrote nothing there.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Bare LF line ends as CRLF: how Dovecot serves a message appended with LF.
fn crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 30);
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// The messages of a fixture mbox, split at its From_ lines (`From <sender> <weekday> ...`
/// after an empty line): each without its From_ line and without the empty line that ends
/// it. Only for these fixtures, whose separators are all of that shape.
fn split_fixture_mbox(text: &str) -> Vec<Vec<u8>> {
    let weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let is_sep = |l: &str| {
        l.starts_with("From ") && l.split(' ').nth(2).is_some_and(|w| weekdays.contains(&w))
    };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out: Vec<Vec<u8>> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if is_sep(line) && (i == 0 || lines[i - 1] == "\n") {
            if let Some(last) = out.last_mut() {
                assert_eq!(
                    last.pop(),
                    Some(b'\n'),
                    "the empty line before a From_ line"
                );
            }
            out.push(Vec::new());
        } else {
            out.last_mut().unwrap().extend_from_slice(line.as_bytes());
        }
    }
    if let Some(last) = out.last_mut()
        && last.ends_with(b"\n\n")
    {
        last.pop();
    }
    out
}

/// A folder's messages by subject (raw header text): (body, flags, INTERNALDATE).
fn by_subject(user: &TestUser, folder: &str) -> BTreeMap<String, Msg> {
    user.messages(folder)
        .into_iter()
        .map(|m| (subject(&m.body), (m.body, m.flags, m.internaldate)))
        .collect()
}

/// Non-empty folders of an account and how many messages each holds.
fn counts(user: &TestUser) -> BTreeMap<String, usize> {
    snapshot(user)
        .into_iter()
        .map(|(f, m)| (f, m.len()))
        .collect()
}

fn flags(m: &Msg) -> Vec<&str> {
    m.1.iter().map(String::as_str).collect()
}

/// An empty account that, like every provider account, has its Sent folder.
fn restore_target(prefix: &str) -> TestUser {
    let dst = dovecot().new_user(prefix);
    dst.create_mailbox("已发送");
    dst
}

#[test]
fn thunderbird_mboxo_restores_with_folders_flags_and_from_lines_intact() {
    let work = Work::new();
    let tb = work.path("Local Folders");
    copy_tree(&fixtures().join("thunderbird"), &tb);
    let before = tree(&tb);
    let dst = restore_target("tb-dst");
    let out = work.run(Source::Mbox(&tb), Target::Imap(&dst));
    out.assert_clean(6, 0);
    assert_eq!(
        counts(&dst),
        BTreeMap::from([
            ("INBOX".to_string(), 4),
            ("已发送".to_string(), 1),
            ("工作/客户".to_string(), 1),
        ]),
        "{:?}",
        out.mapping()
    );

    // The empty `工作` file is a folder of its own too.
    assert_eq!(selectable(&dst), ["INBOX", "工作", "工作/客户", "已发送"]);
    let inbox = by_subject(&dst, "INBOX");
    let raw = fs::read_to_string(tb.join("Inbox")).unwrap();
    let expected = split_fixture_mbox(&raw);
    assert_eq!(expected.len(), 4);
    let plan = &inbox["Plan"];
    assert_eq!(
        plan.0,
        crlf(&expected[0]),
        "byte-exact, body From lines kept"
    );
    let text = String::from_utf8_lossy(&plan.0);
    assert!(text.contains("\r\nFrom the start, this line"), "{text}");
    assert!(
        text.contains("\r\n>From here on,"),
        "mboxo `>From` is ambiguous and kept as written: {text}"
    );
    assert_eq!(flags(plan), ["\\Seen"]);
    // The From_ line's date, in UTC, is the INTERNALDATE.
    assert_eq!(plan.2, "08-Jan-2024 17:15:00 +0800");
    let labelled = &inbox["Flagged and labelled"];
    assert_eq!(labelled.0, crlf(&expected[1]));
    assert_eq!(flags(labelled), ["$label1", "Work", "\\Flagged", "\\Seen"]);
    let replied = &inbox["Replied and forwarded"];
    assert_eq!(flags(replied), ["$Forwarded", "\\Answered", "\\Seen"]);
    let unread = &inbox["=?UTF-8?B?5pyq6K+7?="];
    assert_eq!(
        unread.0,
        crlf(&expected[3]),
        "the last message, without the final empty line"
    );
    assert!(flags(unread).is_empty());
    assert_eq!(unread.2, "11-Jan-2024 20:00:00 +0800");

    let sent = content(&dst, "已发送");
    assert_eq!(flags(&sent[0]), ["\\Seen"]);
    let client = content(&dst, "工作/客户");
    assert_eq!(flags(&client[0]), ["\\Answered", "\\Seen"]);
    assert_eq!(tree(&tb), before, "the export was not touched");
    // Foreign input has no UIDs: a rerun recognises the messages by content.
    work.run(Source::Mbox(&tb), Target::Imap(&dst))
        .assert_clean(0, 6);
}

#[test]
fn foreign_mboxrd_restores_with_status_flags() {
    let work = Work::new();
    let file = work.path("Lists.mbox");
    fs::copy(fixtures().join("mboxrd/Lists.mbox"), &file).unwrap();
    let dst = restore_target("rd-dst");
    work.run(Source::Mbox(&file), Target::Imap(&dst))
        .assert_clean(2, 0);
    assert_eq!(counts(&dst), BTreeMap::from([("Lists".to_string(), 2)]));
    let msgs = by_subject(&dst, "Lists");
    let expected = split_fixture_mbox(&fs::read_to_string(&file).unwrap());
    let one = &msgs["rd one"];
    assert_eq!(one.0, crlf(&expected[0]));
    assert_eq!(flags(one), ["\\Answered", "\\Flagged", "\\Seen"]);
    assert_eq!(one.2, "02-Mar-2024 16:00:00 +0800");
    let two = &msgs["rd two"];
    assert_eq!(two.0, crlf(&expected[1]));
    assert!(flags(two).is_empty(), "Status: O is read-not-seen");
}

#[test]
fn eml_tree_restores_into_folders_named_by_its_directories() {
    let work = Work::new();
    let emls = work.path("emls");
    copy_tree(&fixtures().join("eml"), &emls);
    let dst = restore_target("eml-dst");
    work.run(Source::EmlDir(&emls), Target::Imap(&dst))
        .assert_clean(3, 0);
    assert_eq!(
        counts(&dst),
        BTreeMap::from([
            ("INBOX".to_string(), 1),
            ("已发送".to_string(), 1),
            ("项目/2024".to_string(), 1),
        ])
    );
    let root = &content(&dst, "INBOX")[0];
    assert_eq!(root.0, crlf(&fs::read(emls.join("root.eml")).unwrap()));
    assert_eq!(root.2, "05-Jul-2024 14:30:00 +0800", "from the Date header");
    let sent = &content(&dst, "已发送")[0];
    assert_eq!(sent.0, fs::read(emls.join("Sent/s.eml")).unwrap());
    let report = &content(&dst, "项目/2024")[0];
    assert_eq!(
        report.0,
        crlf(&fs::read(emls.join("项目/2024/报告.eml")).unwrap())
    );
    assert_eq!(report.2, "07-Jul-2024 18:00:00 +0800");
}

#[test]
fn maildir_restores_with_its_flag_letters_and_folders() {
    let work = Work::new();
    let md = work.path("Maildir");
    copy_tree(&fixtures().join("maildir"), &md);
    // INTERNALDATE comes from the file's mtime (git does not keep it): 2023-11-14 22:13:20 UTC.
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for path in tree(&md).keys() {
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
    let dst = restore_target("md-dst");
    work.run(Source::Maildir(&md), Target::Imap(&dst))
        .assert_clean(4, 0);
    assert_eq!(
        counts(&dst),
        BTreeMap::from([
            ("INBOX".to_string(), 2),
            ("Work/Clients".to_string(), 1),
            ("已发送".to_string(), 1),
        ])
    );
    let inbox = by_subject(&dst, "INBOX");
    let fs_msg = &inbox["flagged seen"];
    assert_eq!(flags(fs_msg), ["\\Flagged", "\\Seen"], ":2,FS");
    assert_eq!(fs_msg.2, "15-Nov-2023 06:13:20 +0800");
    assert_eq!(
        fs_msg.0,
        crlf(&fs::read(md.join("cur/1700000000.M1P1.host,S=58:2,FS")).unwrap())
    );
    assert!(flags(&inbox["new unseen"]).is_empty());
    let client = &content(&dst, "Work/Clients")[0];
    assert_eq!(
        flags(client),
        ["ProjectX", "\\Answered", "\\Seen"],
        ":2,RSa with keyword a = ProjectX"
    );
    assert_eq!(flags(&content(&dst, "已发送")[0]), ["\\Seen"]);
}

// ---------------------------------------------------------------------------------------------
// 6. Bad input: named with file and offset, the rest restored, nothing written outside

/// The `failures` of a report as `(folder, reason)`.
fn failures(out: &Outcome) -> Vec<(String, String)> {
    out.report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["folder"].as_str().unwrap().to_string(),
                f["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Top-level names in the work dir, to prove a run created nothing but its state.
fn top_level(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "state" && !n.starts_with("job-"))
        .collect();
    v.sort();
    v
}

#[test]
fn truncated_archive_data_file_is_named_and_earlier_mail_still_restores() {
    let d = dovecot();
    let src = d.new_user("trunc-src");
    let work = Work::new();
    let archive = work.path("backup");
    let to = Target::Archive(&archive, "mbox");
    // Run 1: 20 messages; run 2: 300 (about 1 MB, a frame of several zstd blocks).
    let batch = |from: usize| -> Vec<Seed> {
        (from..from + if from == 0 { 20 } else { 300 })
            .map(|i| seed(noisy("trunc", i, 3000), FLAG_SETS[i % 8], &date(i, 8)))
            .collect()
    };
    bulk_append(&src, "INBOX", &batch(0));
    work.run(Source::Imap(&src), to).assert_clean(20, 0);
    let first_run = content(&src, "INBOX");
    let file = archive.join("mbox/INBOX.mbox.zst");
    let committed_first = fs::metadata(&file).unwrap().len();
    bulk_append(&src, "INBOX", &batch(20));
    work.run(Source::Imap(&src), to).assert_clean(300, 20);
    let full = fs::metadata(&file).unwrap().len();
    // Cut in the middle of the second run's frame.
    let cut = committed_first + (full - committed_first) / 2;
    fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(cut)
        .unwrap();
    let before = tree(&archive);

    let dst = restore_target("trunc-dst");
    let out = work.run(Source::Archive(&archive), Target::Imap(&dst));
    let named = format!("INBOX.mbox.zst at byte {cut}");
    assert!(
        out.stderr.contains("warning:") && out.stderr.contains(&named),
        "no warning naming {named}: {out:?}"
    );
    assert_eq!(
        out.code, 1,
        "messages past the damage are failures: {out:?}"
    );
    let failed = failures(&out);
    assert!(!failed.is_empty() && failed.len() < 300, "{out:?}");
    for (folder, reason) in &failed {
        assert_eq!(folder, "INBOX");
        assert!(
            reason.contains("INBOX.mbox.zst at byte "),
            "a failure names file and offset: {reason}"
        );
    }
    let restored = content(&dst, "INBOX");
    assert_eq!(restored.len() as u64, out.n("copied"));
    assert_eq!(restored.len() + failed.len(), 320, "{out:?}");
    // The damaged frame is decoded up to the cut: some of the second run comes back too.
    assert!(restored.len() > 20, "{out:?}");
    for m in &first_run {
        assert!(
            restored.contains(m),
            "a message of the intact first run is missing: {}",
            subject(&m.0)
        );
    }
    let all = content(&src, "INBOX");
    assert!(
        restored.iter().all(|m| all.contains(m)),
        "only source mail, byte-exact"
    );
    assert_eq!(
        tree(&archive),
        before,
        "a restore never writes into the archive"
    );
    assert_eq!(top_level(work.dir.path()), ["backup"]);
}

/// A GNU tar entry for `name` (written raw, so `../` gets through) with its data, padded.
fn tar_entry(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

#[test]
fn tar_entry_escaping_with_dotdot_is_refused_and_nothing_lands_outside() {
    let d = dovecot();
    let src = d.new_user("tar-src");
    bulk_append(
        &src,
        "INBOX",
        &(0..3)
            .map(|i| seed(generated("tar", i, 400), &["\\Seen"], &date(i, 8)))
            .collect::<Vec<_>>(),
    );
    let work = Work::new();
    let archive = work.path("backup");
    work.run(Source::Imap(&src), Target::Archive(&archive, "tar"))
        .assert_clean(3, 0);

    // Run 2, written by hand as a hostile archive would be: a good entry, one escaping the
    // archive with `../`, another good one.
    let raws = [
        b"Message-ID: <good-1@x>\r\nSubject: good after\r\n\r\nfine\r\n".to_vec(),
        b"Message-ID: <evil@x>\r\nSubject: evil\r\n\r\nescape\r\n".to_vec(),
        b"Message-ID: <good-2@x>\r\nSubject: good last\r\n\r\nfine\r\n".to_vec(),
    ];
    let names = ["INBOX/000003.eml", "../../evil.eml", "INBOX/000005.eml"];
    let mut volume = Vec::new();
    let mut records = vec![serde_json::json!(
        {"t": "run", "run": 2, "started": "2026-01-01T00:00:00Z"}
    )];
    let mut evil_at = 0;
    for (i, (raw, name)) in raws.iter().zip(names).enumerate() {
        if name.contains("..") {
            evil_at = volume.len();
        }
        let offset = volume.len() + 512;
        volume.extend(tar_entry(name, raw));
        let mut meta = mailferry::archive::MessageMeta::from_raw(
            "INBOX",
            Some(mailferry::providers::Role::Inbox),
            raw,
        );
        meta.flags = vec!["\\Seen".into()];
        meta.internaldate = Some("01-Jan-2026 08:00:00 +0800".into());
        let mut rec = serde_json::json!({"t": "msg", "run": 2, "id": 3 + i});
        rec.as_object_mut().unwrap().extend(
            serde_json::to_value(&meta)
                .unwrap()
                .as_object()
                .unwrap()
                .clone(),
        );
        rec["loc"] = serde_json::json!({"file": "volumes/run-000002.tar.zst", "frame": 0,
            "frame_pos": 0, "offset": offset, "length": raw.len()});
        records.push(rec);
    }
    volume.extend([0u8; 1024]);
    let packed = zstd::encode_all(&volume[..], 3).unwrap();
    fs::write(archive.join("volumes/run-000002.tar.zst"), &packed).unwrap();
    records.push(serde_json::json!({"t": "commit", "run": 2,
        "finished": "2026-01-01T00:00:01Z", "added": 3, "bytes": 0, "stored": packed.len(),
        "flag_updates": 0, "files": {"volumes/run-000002.tar.zst":
            {"len": packed.len(), "raw_len": volume.len()}}}));
    let mut manifest = fs::read_to_string(archive.join("manifest.jsonl")).unwrap();
    for r in records {
        manifest.push_str(&format!("{r}\n"));
    }
    fs::write(archive.join("manifest.jsonl"), manifest).unwrap();
    let before = tree(&archive);

    let dst = restore_target("tar-dst");
    let out = work.run(Source::Archive(&archive), Target::Imap(&dst));
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!((out.n("copied"), out.n("failed")), (5, 1), "{out:?}");
    let failed = failures(&out);
    let reason = &failed[0].1;
    assert!(
        reason.contains("run-000002.tar.zst") && reason.contains("escapes"),
        "the failure names the volume and what is wrong: {reason}"
    );
    assert!(
        reason.contains(&format!(
            "at byte 0: entry at decompressed offset {evil_at}:"
        )),
        "and where (the frame, and the entry in it): {reason}"
    );
    let mut got: Vec<String> = content(&dst, "INBOX")
        .iter()
        .map(|m| subject(&m.0))
        .collect();
    got.sort();
    assert!(got.contains(&"good after".to_string()) && got.contains(&"good last".to_string()));
    assert!(!got.contains(&"evil".to_string()), "{got:?}");
    // Nothing was extracted anywhere.
    assert_eq!(tree(&archive), before);
    assert_eq!(top_level(work.dir.path()), ["backup"]);
    for p in [work.path("evil.eml"), archive.join("evil.eml")] {
        assert!(!p.exists(), "{} was written", p.display());
    }

    let (code, check) = archive_check(&archive);
    assert_eq!(code, 1, "{check:#}");
    assert!(check.to_string().contains("../../evil.eml"), "{check:#}");
}

#[test]
fn garbage_between_mbox_messages_is_named_and_the_messages_around_it_restore() {
    let work = Work::new();
    let file = work.path("garbage.mbox");
    fs::copy(fixtures().join("bad/garbage.mbox"), &file).unwrap();
    let bytes = fs::read(&file).unwrap();
    let nul = bytes.iter().position(|&b| b == 0).unwrap();
    let dst = restore_target("garbage-dst");
    let out = work.run(Source::Mbox(&file), Target::Imap(&dst));
    let named = format!("garbage.mbox at byte {nul}");
    out.assert_not_carried(2, 0, &[&named]);
    assert!(
        out.stderr.contains(&named),
        "no warning naming {named}: {out:?}"
    );
    let got = by_subject(&dst, "garbage");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        ["after the garbage", "before the garbage"]
    );
    assert_eq!(fs::read(&file).unwrap(), bytes, "the input was not touched");
    assert_eq!(top_level(work.dir.path()), ["garbage.mbox"]);
}

#[test]
fn zero_byte_files_are_named_and_the_rest_restores() {
    let work = Work::new();
    let exports = work.path("exports");
    copy_tree(&fixtures().join("bad/exports"), &exports);
    let emls = work.path("emls");
    copy_tree(&fixtures().join("bad/emls"), &emls);
    let before = (tree(&exports), tree(&emls));

    let dst = restore_target("zero-dst");
    let out = work.run(Source::Mbox(&exports), Target::Imap(&dst));
    out.assert_not_carried(1, 0, &["Empty.mbox.zst at byte 0: empty file"]);
    assert!(
        out.stderr.contains("Empty.mbox.zst at byte 0: empty file"),
        "{out:?}"
    );
    assert_eq!(content(&dst, "Good").len(), 1);

    let out = work.run(Source::EmlDir(&emls), Target::Imap(&dst));
    out.assert_not_carried(1, 0, &["at byte 0"]);
    assert!(
        out.stderr.contains("empty.eml at byte 0") && out.stderr.contains("empty file"),
        "{out:?}"
    );
    assert_eq!(subject(&content(&dst, "INBOX")[0].0), "ok eml");
    assert_eq!((tree(&exports), tree(&emls)), before);
    assert_eq!(top_level(work.dir.path()), ["emls", "exports"]);
}

#[test]
fn an_empty_mbox_file_as_the_source_is_reported_as_empty() {
    let work = Work::new();
    let file = work.path("Inbox.mbox");
    fs::write(&file, b"").unwrap();
    let dst = restore_target("empty-dst");
    let (profile, env) = work.profile(Source::Mbox(&file), Target::Imap(&dst));
    let out = Command::new(BIN)
        .arg("run")
        .arg(profile)
        .envs(env)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Inbox.mbox at byte 0: empty file"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("folders.include/exclude"),
        "the profile has no folder rules; the error should say the source is empty: {stderr}"
    );
    assert!(content(&dst, "INBOX").is_empty());
}

// ---------------------------------------------------------------------------------------------
// 7. `archive check` finds a flipped byte

#[test]
fn archive_check_passes_when_intact_and_names_the_range_of_a_flipped_byte() {
    let d = dovecot();
    let src = d.new_user("check-src");
    bulk_append(
        &src,
        "INBOX",
        &(0..30)
            .map(|i| seed(noisy("check", i, 2500), FLAG_SETS[i % 8], &date(i, 8)))
            .collect::<Vec<_>>(),
    );
    for format in FORMATS {
        let work = Work::new();
        let archive = work.path("backup");
        work.run(Source::Imap(&src), Target::Archive(&archive, format))
            .assert_clean(30, 0);
        let (code, stdout, stderr) = archive_cmd(&["check"], &archive);
        assert_eq!(code, 0, "{format}: {stdout}{stderr}");
        assert!(stdout.contains("30/30 messages intact"), "{stdout}");
        assert_eq!(stdout.lines().last(), Some("OK"), "{stdout}");

        let rel = match format {
            "mbox" => "mbox/INBOX.mbox.zst",
            _ => "volumes/run-000001.tar.zst",
        };
        let file = archive.join(rel);
        let mut bytes = fs::read(&file).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x20;
        fs::write(&file, &bytes).unwrap();

        let (code, stdout, stderr) = archive_cmd(&["check"], &archive);
        assert_eq!(code, 1, "{format}: {stdout}{stderr}");
        assert!(
            stdout.contains(&format!("damaged: {rel} bytes ")),
            "{format}: {stdout}"
        );
        assert_eq!(stdout.lines().last(), Some("DAMAGED"), "{stdout}");
        let (code, report) = archive_check(&archive);
        assert_eq!(code, 1);
        assert_eq!(report["ok"], false);
        let damage = &report["damaged"][0];
        assert_eq!(damage["file"], rel, "{report:#}");
        let (start, end) = (
            damage["start"].as_u64().unwrap(),
            damage["end"].as_u64().unwrap(),
        );
        assert!(
            start <= at as u64 && (at as u64) < end,
            "{format}: flipped byte {at} outside the reported range {start}..{end}"
        );
        assert!(
            report["messages_ok"].as_u64().unwrap() < 30,
            "{format}: {report:#}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 8. `run --verify` after a backup

#[test]
fn run_verify_after_a_backup_reports_ok() {
    let d = dovecot();
    let src = d.new_user("verify-src");
    let total = seed_varied(&src, 2) as u64;
    for format in FORMATS {
        let work = Work::new();
        let archive = work.path("backup");
        let out = work.run_with(
            Source::Imap(&src),
            Target::Archive(&archive, format),
            &["--verify"],
        );
        out.assert_clean(total, 0);
        let verdict = &out.report["verify"];
        assert_eq!(verdict["ok"], true, "{format}: {out:?}");
        assert!(
            verdict["problems"].as_array().unwrap().is_empty(),
            "{format}: {verdict:#}"
        );
        let (code, again) = work.verify(Source::Imap(&src), Target::Archive(&archive, format));
        assert_eq!((code, &again["ok"]), (0, &Json::Bool(true)), "{again:#}");

        // The verdict is real: a flag changed on the source since is found.
        let uid = src.messages("工作")[0].uid;
        let before = src.messages("工作")[0].flags.clone();
        src.set_flags("工作", uid, &["\\Flagged", "Changed"]);
        let (code, changed) = work.verify(Source::Imap(&src), Target::Archive(&archive, format));
        let flags: Vec<&str> = before.iter().map(String::as_str).collect();
        src.set_flags("工作", uid, &flags);
        assert_eq!(
            (code, &changed["ok"]),
            (1, &Json::Bool(false)),
            "{changed:#}"
        );
        assert!(
            changed["problems"].to_string().contains("工作"),
            "{changed:#}"
        );
    }
}
