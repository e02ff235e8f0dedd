//! Where a password comes from, and reading it: an environment variable, a file, or the
//! output of a command (the user's own `pass`, `security`, `oama`...). Nothing read here, and
//! no argument of the command (which may hold a secret), ever reaches an error or a log.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::secret::Secret;

/// How long a password command may run.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// The most a password command may print; a password is far shorter.
pub const COMMAND_OUTPUT_CAP: usize = 64 * 1024;

/// Where a password comes from. A plain string in the profile is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    Env(String),
    File(PathBuf),
    Command(PasswordCommand),
    /// Read already, from a batch's accounts file that only its owner can read (never from
    /// a profile, which refuses a written password).
    Given(Secret),
}

/// A password command: a line for `sh -c`, or a program and its arguments run without a shell.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordCommand {
    Shell(String),
    Argv(Vec<String>),
}

impl std::fmt::Debug for PasswordCommand {
    // The arguments may hold a secret (`--password-file`, a token): only the program shows.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PasswordCommand({})", self.program())
    }
}

impl PasswordCommand {
    /// What to call the command in messages: its program, never its arguments.
    pub fn program(&self) -> String {
        match self {
            PasswordCommand::Shell(_) => "the password command (sh -c)".to_string(),
            PasswordCommand::Argv(argv) => format!(
                "password command {:?}",
                argv.first().map(String::as_str).unwrap_or("")
            ),
        }
    }

    fn command(&self) -> Command {
        match self {
            PasswordCommand::Shell(line) => {
                let mut c = Command::new("sh");
                c.arg("-c").arg(line);
                c
            }
            PasswordCommand::Argv(argv) => {
                let mut c = Command::new(argv.first().map(String::as_str).unwrap_or(""));
                c.args(argv.iter().skip(1));
                c
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {var} is not set (export it in the shell that runs mailferry)")]
    EnvMissing { var: String },
    #[error("environment variable {var} is empty")]
    EnvEmpty { var: String },
    #[error("environment variable {var} is not valid UTF-8")]
    EnvNotUnicode { var: String },
    #[error("cannot read password file {}: {source}", path.display())]
    FileUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("password file {} is not valid UTF-8", path.display())]
    FileNotUtf8 { path: PathBuf },
    #[error("password file {} is empty", path.display())]
    FileEmpty { path: PathBuf },
    #[error("cannot run {program}: {source}")]
    CommandSpawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} failed ({status})")]
    CommandFailed { program: String, status: String },
    #[error(
        "{program} did not finish within {}s and was stopped; check that it does not wait for input it cannot get",
        .after.as_secs()
    )]
    CommandTimeout { program: String, after: Duration },
    #[error("{program} printed more than {cap} bytes; a password command prints the password only")]
    CommandTooMuch { program: String, cap: usize },
    #[error("{program} printed something that is not UTF-8")]
    CommandNotUtf8 { program: String },
    #[error("{program} printed nothing")]
    CommandEmpty { program: String },
}

impl PasswordSource {
    /// Reads the password: the variable's value, the file's contents, or the command's
    /// standard output, each with one trailing newline removed. Blocking (a command may take
    /// a while): call it off the async runtime.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        match self {
            PasswordSource::Env(var) => env_secret(var, std::env::var_os(var)),
            PasswordSource::File(path) => {
                warn_if_shared(path);
                let bytes = std::fs::read(path).map_err(|source| SecretError::FileUnreadable {
                    path: path.clone(),
                    source,
                })?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| SecretError::FileNotUtf8 { path: path.clone() })?;
                let value = trim_one_newline(text);
                if value.is_empty() {
                    return Err(SecretError::FileEmpty { path: path.clone() });
                }
                Ok(Secret::new(value))
            }
            PasswordSource::Given(secret) => Ok(secret.clone()),
            PasswordSource::Command(command) => {
                use std::io::IsTerminal;
                // Unattended (cron, a batch), the command gets its own process group, so a
                // timeout stops whatever it started too. On a terminal it stays in the
                // foreground group: it may read a passphrase there, and the user can Ctrl-C.
                run(command, COMMAND_TIMEOUT, !std::io::stdin().is_terminal())
            }
        }
    }
}

/// A secret that can be read again: an OAuth2 access token lives about an hour, so every new
/// connection asks for one, and a refused one is replaced once. The value is kept while it
/// is good: until a minute before a JWT's `exp`, else for five minutes.
pub struct Credential {
    source: PasswordSource,
    cached: std::sync::Mutex<(Secret, Instant)>,
}

/// How long a token that does not say when it expires is reused.
const TOKEN_REUSE: Duration = Duration::from_secs(300);

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({:?})", self.source)
    }
}

impl Credential {
    /// A credential whose first value was already read.
    pub fn new(source: PasswordSource, first: Secret) -> Credential {
        Credential {
            source,
            cached: std::sync::Mutex::new((first, Instant::now())),
        }
    }

    /// The value read last, without reading again (a password).
    pub fn current(&self) -> Secret {
        self.lock().0.clone()
    }

    /// A token for a new login: the kept one while it is good, else read again; `force`
    /// reads again whatever (the server refused the kept one). Blocking, like
    /// [`PasswordSource::resolve`].
    pub fn token(&self, force: bool) -> Result<Secret, SecretError> {
        if !force {
            let (value, read_at) = self.lock().clone();
            let good = match crate::sasl::jwt_expiry(value.expose()) {
                Some(exp) => exp - 60 > chrono::Utc::now().timestamp(),
                None => read_at.elapsed() < TOKEN_REUSE,
            };
            if good {
                return Ok(value);
            }
        }
        let fresh = self.source.resolve()?;
        *self.lock() = (fresh.clone(), Instant::now());
        Ok(fresh)
    }

    /// Where the value comes from, for `doctor` (never the value).
    pub fn describe_source(&self) -> String {
        match &self.source {
            PasswordSource::Env(var) => format!("environment variable {var}"),
            PasswordSource::File(path) => format!("file {}", path.display()),
            PasswordSource::Command(c) => c.program(),
            PasswordSource::Given(_) => "the batch's accounts file".to_string(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Secret, Instant)> {
        self.cached.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs a password command: stdin and stderr stay the terminal's (so `pass`/gpg can ask for a
/// passphrase), stdout is read up to [`COMMAND_OUTPUT_CAP`], and the command is stopped after
/// `timeout`.
pub fn run(
    command: &PasswordCommand,
    timeout: Duration,
    own_group: bool,
) -> Result<Secret, SecretError> {
    let program = command.program();
    use std::os::unix::process::CommandExt;
    let mut cmd = command.command();
    if own_group {
        cmd.process_group(0);
    }
    let mut child = cmd
        .stdin(Stdio::inherit())
        .stderr(Stdio::inherit())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|source| SecretError::CommandSpawn {
            program: program.clone(),
            source,
        })?;
    let stdout = child.stdout.take();
    // The output is read on its own thread, so a command that prints without end cannot
    // block the wait below, and at most the cap (plus one byte, to notice) is kept.
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = stdout {
            let _ = s.take(COMMAND_OUTPUT_CAP as u64 + 1).read_to_end(&mut out);
        }
        out
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                if own_group && let Some(group) = rustix::process::Pid::from_raw(child.id() as i32)
                {
                    let _ =
                        rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                }
                let _ = child.kill();
                let _ = child.wait();
                return Err(SecretError::CommandTimeout {
                    program,
                    after: timeout,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(source) => return Err(SecretError::CommandSpawn { program, source }),
        }
    };
    let out = reader.join().unwrap_or_default();
    if out.len() > COMMAND_OUTPUT_CAP {
        return Err(SecretError::CommandTooMuch {
            program,
            cap: COMMAND_OUTPUT_CAP,
        });
    }
    if !status.success() {
        return Err(SecretError::CommandFailed {
            program,
            status: status.to_string(),
        });
    }
    let text = String::from_utf8(out).map_err(|_| SecretError::CommandNotUtf8 {
        program: program.clone(),
    })?;
    let value = trim_one_newline(text);
    if value.is_empty() {
        return Err(SecretError::CommandEmpty { program });
    }
    Ok(Secret::new(value))
}

/// A password file others can read is a password others can read: said, as ssh does for keys.
fn warn_if_shared(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            "password file {} can be read by other users; run: chmod 600 {}",
            path.display(),
            path.display()
        );
    }
}

fn env_secret(var: &str, value: Option<std::ffi::OsString>) -> Result<Secret, SecretError> {
    let value = value.ok_or_else(|| SecretError::EnvMissing { var: var.into() })?;
    let value = value
        .into_string()
        .map_err(|_| SecretError::EnvNotUnicode { var: var.into() })?;
    if value.is_empty() {
        return Err(SecretError::EnvEmpty { var: var.into() });
    }
    Ok(Secret::new(value))
}

/// Drops one trailing `\n` (or `\r\n`): what `echo` and editors add, never part of a password.
fn trim_one_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> PasswordCommand {
        PasswordCommand::Argv(a.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn env_password_resolution() {
        let s = env_secret("X", Some("code".into())).unwrap();
        assert_eq!(s.expose(), "code");
        let e = env_secret("MF_AUTH", Some("".into())).unwrap_err();
        assert!(e.to_string().contains("MF_AUTH"), "{e}");
        let e = PasswordSource::Env("MAILFERRY_TEST_SURELY_UNSET_71".into())
            .resolve()
            .unwrap_err();
        assert!(matches!(e, SecretError::EnvMissing { .. }));
        assert!(
            e.to_string().contains("MAILFERRY_TEST_SURELY_UNSET_71"),
            "{e}"
        );
    }

    #[test]
    fn file_and_command_password_resolution_never_show_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("code");
        std::fs::write(&file, "topsecret-code\n").unwrap();
        let s = PasswordSource::File(file.clone()).resolve().unwrap();
        assert_eq!(s.expose(), "topsecret-code");
        assert_eq!(format!("{s:?}"), "[REDACTED]");

        let missing = dir.path().join("missing");
        let e = PasswordSource::File(missing.clone()).resolve().unwrap_err();
        assert!(e.to_string().contains(&*missing.to_string_lossy()), "{e}");

        let cat = format!("cat '{}'", file.display());
        let s = PasswordSource::Command(PasswordCommand::Shell(cat.clone()))
            .resolve()
            .unwrap();
        assert_eq!(s.expose(), "topsecret-code");
        let s = PasswordSource::Command(PasswordCommand::Shell("printf 'a b\\n\\n'".into()))
            .resolve()
            .unwrap();
        assert_eq!(s.expose(), "a b\n", "only one newline is trimmed");

        let failing = format!("{cat}; exit 3");
        let e = PasswordSource::Command(PasswordCommand::Shell(failing.clone()))
            .resolve()
            .unwrap_err();
        let all = format!("{e} {e:?}");
        // The command line may hold a secret: the error names the kind and the exit, not it.
        assert!(all.contains("sh -c") && all.contains('3'), "{all}");
        assert!(!all.contains("cat '"), "{all}");
        assert!(!all.contains("topsecret"), "{all}");

        let e = PasswordSource::Command(PasswordCommand::Shell("true".into()))
            .resolve()
            .unwrap_err();
        assert!(matches!(e, SecretError::CommandEmpty { .. }));
    }

    #[test]
    fn a_password_file_others_can_read_is_still_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("code");
        std::fs::write(&file, "c\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        // Read (a warning says chmod 600), not refused.
        assert_eq!(PasswordSource::File(file).resolve().unwrap().expose(), "c");
    }

    #[test]
    fn an_argv_command_runs_without_a_shell() {
        // `$HOME` stays literal: no shell expands it.
        let s = run(&argv(&["printf", "%s\\n", "$HOME"]), COMMAND_TIMEOUT, true).unwrap();
        assert_eq!(s.expose(), "$HOME");
        let s = run(
            &PasswordCommand::Shell("printf 'pw\\n'".into()),
            COMMAND_TIMEOUT,
            true,
        )
        .unwrap();
        assert_eq!(s.expose(), "pw");
    }

    #[test]
    fn a_hanging_command_is_stopped_and_its_arguments_never_shown() {
        let started = Instant::now();
        let e = run(
            &argv(&["sh", "-c", "sleep 30", "s3cr3t"]),
            Duration::from_millis(300),
            true,
        )
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        let text = e.to_string();
        assert!(text.contains("did not finish"), "{text}");
        assert!(text.contains("\"sh\""), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
        let e = run(
            &PasswordCommand::Shell("exit 3 # s3cr3t".into()),
            COMMAND_TIMEOUT,
            true,
        )
        .unwrap_err();
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
        assert!(!format!("{:?}", argv(&["pass", "s3cr3t"])).contains("s3cr3t"));
    }

    #[test]
    fn a_timeout_stops_what_the_command_started_too() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("grandchild-ran");
        // The shell starts a grandchild that would write the marker after the timeout.
        let line = format!("(sleep 2; touch '{}') & sleep 30", marker.display());
        let e = run(
            &PasswordCommand::Shell(line),
            Duration::from_millis(300),
            true,
        )
        .unwrap_err();
        assert!(e.to_string().contains("did not finish"), "{e}");
        std::thread::sleep(Duration::from_secs(3));
        assert!(!marker.exists(), "the grandchild outlived the timeout");
    }

    #[test]
    fn endless_output_is_cut_off() {
        let e = run(&argv(&["yes"]), COMMAND_TIMEOUT, true).unwrap_err();
        assert!(e.to_string().contains("printed more than"), "{e}");
    }

    #[test]
    fn a_missing_program_is_named() {
        let e = run(&argv(&["/nonexistent/pw-tool", "x"]), COMMAND_TIMEOUT, true).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/pw-tool"), "{e}");
    }
}
