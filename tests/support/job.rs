//! Running the real binary on a job: a profile in a temp dir (both sides on the test
//! Dovecot, or a proxy in front of it) and `mailferry run --json` on it, with its report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value as Json;

use super::{Proxy, TestUser, dovecot};

pub const BIN: &str = env!("CARGO_BIN_EXE_mailferry");

/// Where one side of a job connects: Dovecot's plain port, or a [`Proxy`] in front of it.
#[derive(Debug, Clone, Copy)]
pub struct Server {
    pub port: u16,
    pub provider: Option<&'static str>,
}

pub fn direct() -> Server {
    Server {
        port: dovecot().plain_port(),
        provider: None,
    }
}

pub fn via(proxy: &Proxy) -> Server {
    Server {
        port: proxy.port(),
        provider: None,
    }
}

pub struct Job {
    pub dir: tempfile::TempDir,
    pub src: (String, String),
    pub dst: (String, String),
    pub source: Server,
    pub target: Server,
    pub workers: usize,
    pub extra: String,
}

/// What one `mailferry run --json` did.
pub struct Outcome {
    pub code: i32,
    pub report: Json,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Progress lines worth seeing when a test fails: reconnects and failures.
        let events: Vec<&str> = self
            .stdout
            .lines()
            .filter(|l| {
                l.contains("\"event\":\"reconnecting\"") || l.contains("\"event\":\"failed\"")
            })
            .collect();
        write!(
            f,
            "exit {}\n--- report ---\n{:#}\n--- events ---\n{}\n--- stderr ---\n{}",
            self.code,
            self.report,
            events.join("\n"),
            self.stderr.trim_end()
        )
    }
}

impl Outcome {
    pub fn n(&self, key: &str) -> u64 {
        self.report[key]
            .as_u64()
            .unwrap_or_else(|| panic!("report has no number {key:?}: {self:?}"))
    }

    /// The report's folder rows as `source -> (target, row)`.
    pub fn folders(&self) -> BTreeMap<String, (String, Json)> {
        self.report["folders"]
            .as_array()
            .unwrap_or_else(|| panic!("report has no folders: {self:?}"))
            .iter()
            .map(|f| {
                (
                    f["source"].as_str().unwrap().to_string(),
                    (f["target"].as_str().unwrap().to_string(), f.clone()),
                )
            })
            .collect()
    }

    /// How many times the run reconnected on a side (`"source"` or `"target"`).
    pub fn reconnects(&self, side: &str) -> usize {
        self.stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<Json>(l).ok())
            .filter(|e| e["event"] == "reconnecting" && e["side"] == side)
            .count()
    }

    pub fn failures(&self) -> Vec<Json> {
        self.report["failures"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Exit 0, nothing failed, and `copied` / `already_present` as given.
    pub fn assert_clean(&self, copied: u64, already_present: u64) {
        assert_eq!(self.code, 0, "{self:?}");
        assert_eq!(
            (
                self.n("copied"),
                self.n("already_present"),
                self.n("failed")
            ),
            (copied, already_present, 0),
            "(copied, already_present, failed): {self:?}"
        );
        assert!(self.failures().is_empty(), "{self:?}");
    }
}

impl Job {
    pub fn new(src: &TestUser, dst: &TestUser) -> Job {
        Job {
            dir: tempfile::tempdir().unwrap(),
            src: (src.name.clone(), src.password.clone()),
            dst: (dst.name.clone(), dst.password.clone()),
            source: direct(),
            target: direct(),
            workers: 2,
            extra: String::new(),
        }
    }

    pub fn source(mut self, s: Server) -> Job {
        self.source = s;
        self
    }

    pub fn target(mut self, s: Server) -> Job {
        self.target = s;
        self
    }

    pub fn workers(mut self, n: usize) -> Job {
        self.workers = n;
        self
    }

    /// More top-level profile keys (`folders:`, `filters:`).
    pub fn yaml(mut self, extra: &str) -> Job {
        self.extra = extra.to_string();
        self
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn profile(&self) -> PathBuf {
        let account = |s: &Server, user: &str, var: &str| {
            let provider = s
                .provider
                .map(|p| format!("provider: \"{p}\", "))
                .unwrap_or_default();
            format!(
                "  imap: {{ {provider}host: 127.0.0.1, port: {}, tls: none, user: \"{user}\", \
                 password: {{ env: {var} }} }}\n",
                s.port
            )
        };
        let yaml = format!(
            "source:\n{}target:\n{}workers: {}\nstate_dir: state\n{}",
            account(&self.source, &self.src.0, "MF_TEST_SRC_PASSWORD"),
            account(&self.target, &self.dst.0, "MF_TEST_DST_PASSWORD"),
            self.workers,
            self.extra
        );
        let path = self.dir.path().join("job.yaml");
        std::fs::write(&path, yaml).unwrap();
        path
    }

    pub fn command(&self, extra_args: &[&str]) -> Command {
        self.subcommand("run", extra_args)
    }

    /// `mailferry SUB PROFILE --json EXTRA...` with the job's passwords.
    pub fn subcommand(&self, sub: &str, extra_args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg(sub)
            .arg(self.profile())
            .arg("--json")
            .args(extra_args)
            .env("MF_TEST_SRC_PASSWORD", &self.src.1)
            .env("MF_TEST_DST_PASSWORD", &self.dst.1)
            .env_remove("MAILFERRY_LOG")
            .stdin(Stdio::null());
        cmd
    }

    /// `mailferry verify PROFILE --json EXTRA...`: exit code and verdict.
    pub fn verify(&self, extra_args: &[&str]) -> (i32, Json) {
        let out = self.subcommand("verify", extra_args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let verdict = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "verify --json: {e}\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), verdict)
    }

    pub fn run_with(&self, extra_args: &[&str]) -> Outcome {
        let out = self.command(extra_args).output().unwrap();
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
            stdout,
            stderr,
        }
    }

    /// A run that may end without a report (a fatal error): exit code, stdout, stderr.
    pub fn run_raw(&self) -> (i32, String, String) {
        let out = self.command(&[]).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn run(&self) -> Outcome {
        self.run_with(&[])
    }

    /// Starts a run in the background (for kill -9), its output going to `stdout.log` and
    /// `stderr.log` in the job's dir.
    pub fn spawn(&self) -> Child {
        let log = |name: &str| std::fs::File::create(self.dir.path().join(name)).unwrap();
        self.command(&[])
            .stdout(log("stdout.log"))
            .stderr(log("stderr.log"))
            .spawn()
            .unwrap()
    }

    /// What the last [`Job::spawn`]ed run printed.
    pub fn spawned_output(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!(
            "--- stdout (last lines) ---\n{}\n--- stderr ---\n{}",
            read("stdout.log")
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join("\n"),
            read("stderr.log")
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Jobs with any sides (archives, exports): a profile file and the binary run on it.

/// A profile in `dir` with these sides (YAML lines under `source:` and `target:`), state in
/// `dir/state`.
pub fn write_profile(dir: &Path, source: &str, target: &str) -> PathBuf {
    let path = dir.join(format!("job-{}.yaml", fastrand::u32(..)));
    std::fs::write(
        &path,
        format!("source:\n{source}target:\n{target}workers: 2\nstate_dir: state\n"),
    )
    .unwrap();
    path
}

/// The `imap:` side for a test user on Dovecot's plain port, password from env `var`.
pub fn imap_yaml(u: &TestUser, var: &str) -> String {
    format!(
        "  imap: {{ host: 127.0.0.1, port: {}, tls: none, user: \"{}\", password: {{ env: {var} }} }}\n",
        dovecot().plain_port(),
        u.name
    )
}

/// What `mailferry run PROFILE --json` did: exit code, the report (`Null` when it printed
/// none), and everything it printed.
pub struct ProfileRun {
    pub code: i32,
    pub report: Json,
    pub output: String,
}

/// Runs `mailferry run PROFILE --json` in the profile's directory with these variables.
pub fn run_profile(profile: &Path, env: &[(&str, &str)]) -> ProfileRun {
    let out = Command::new(BIN)
        .arg("run")
        .arg(profile)
        .arg("--json")
        .envs(env.iter().copied())
        .env_remove("MAILFERRY_LOG")
        .current_dir(profile.parent().unwrap())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let report = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(Json::Null);
    ProfileRun {
        code: out.status.code().unwrap_or(-1),
        report,
        output: format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// Runs a command with stdin closed and `MAILFERRY_LOG` unset: its exit code and everything
/// it printed, stdout then stderr.
pub fn output_of(cmd: &mut Command) -> (i32, String) {
    let out = cmd
        .env_remove("MAILFERRY_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `mailferry SUB PROFILE ARGS...` with these variables: exit code and output.
pub fn mailferry_on(
    sub: &str,
    profile: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
) -> (i32, String) {
    output_of(
        Command::new(BIN)
            .arg(sub)
            .arg(profile)
            .args(args)
            .envs(envs.iter().copied()),
    )
}
