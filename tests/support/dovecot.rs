//! A private Dovecot per test binary, started on first use and shared by its tests.
//!
//! [`dovecot()`] writes its own config into a temp dir (loopback ports picked at random, a
//! freshly minted CA and server certificate, passwd-file users, maildir with `/` as separator)
//! and runs `dovecot -F` under a tiny `sh` watchdog. The watchdog holds the read end of a pipe
//! whose write end lives in this process: when the test binary exits, however it exits, the pipe
//! closes and the watchdog stops Dovecot and deletes the temp dir. Nothing outlives `cargo test`.
//! Set `MAILFERRY_TEST_KEEP_DOVECOT=1` to keep the dir (config, logs, maildirs) for debugging,
//! `MAILFERRY_TEST_DOVECOT_BIN=/path/to/dovecot` to use another Dovecot build.
//!
//! The server prints INTERNALDATE in +0800 (it runs with `TZ=CST-8`, like the Chinese
//! providers), so a date appended as `"07-Jul-2021 02:44:25 +0800"` reads back identically.
//! Messages come back with CRLF line ends even if appended with bare LF: Dovecot normalises.
//!
//! Folders declared in the namespace (they exist only once created, e.g. by
//! [`TestUser::create_mailbox`] or a tool under test):
//! `已发送` \Sent, `草稿箱` \Drafts, `已删除` \Trash, `垃圾邮件` \Junk (NetEase-like), and
//! `Sent Messages`, `Deleted Messages`, `Junk`, `Drafts` with no special-use (QQ-like).

#![allow(dead_code)] // Each test binary uses a different part of the support code.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use super::imap_client::{ImapClient, Status, Value, mutf7_decode, mutf7_encode, quote};

const INSTALL_HINT: &str = "Dovecot is required by the integration tests and is not installed. \
     Install it with `sudo apt-get install -y dovecot-imapd dovecot-pop3d` \
     (or run `scripts/test.sh`, which installs it and then runs the tests).";

/// Domain of every test user; nothing is ever delivered there.
pub const USER_DOMAIN: &str = "example.test";

/// The running server. Get it with [`dovecot()`].
pub struct Dovecot {
    dir: PathBuf,
    conf: PathBuf,
    ca: PathBuf,
    doveadm_bin: PathBuf,
    plain_port: u16,
    tls_port: u16,
    pop3_ports: (u16, u16),
    mail_uid: u32,
    mail_gid: u32,
    next_user: AtomicU32,
    startup: Duration,
    /// The watchdog; its stdin pipe is what keeps Dovecot alive. Never dropped (static).
    _watchdog: Mutex<Child>,
}

impl fmt::Debug for Dovecot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dovecot")
            .field("dir", &self.dir)
            .field("plain_port", &self.plain_port)
            .field("tls_port", &self.tls_port)
            .finish_non_exhaustive()
    }
}

static DOVECOT: OnceLock<Result<Dovecot, String>> = OnceLock::new();

/// The Dovecot of this test binary, started on first call (about a tenth of a second).
/// Panics with install instructions when Dovecot is missing: these tests never skip.
pub fn dovecot() -> &'static Dovecot {
    match DOVECOT.get_or_init(Dovecot::start) {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    }
}

impl Dovecot {
    /// Port of plain-text IMAP (no STARTTLS needed: plaintext auth is allowed).
    pub fn plain_port(&self) -> u16 {
        self.plain_port
    }

    /// Port of implicit-TLS IMAP; its certificate verifies for `127.0.0.1` and `localhost`
    /// against [`Dovecot::ca_pem`].
    pub fn tls_port(&self) -> u16 {
        self.tls_port
    }

    /// Port of plain POP3 (STLS offered, plaintext login allowed).
    pub fn pop3_port(&self) -> u16 {
        self.pop3_ports.0
    }

    /// Port of implicit-TLS POP3, with the same certificate as IMAP.
    pub fn pop3s_port(&self) -> u16 {
        self.pop3_ports.1
    }

    /// PEM file of the CA that signed the server certificate.
    pub fn ca_pem(&self) -> &Path {
        &self.ca
    }

    /// The temp dir holding config, logs and maildirs (deleted when the test binary exits).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How long the first [`dovecot()`] call took, certificate minting included.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// A new user with an empty mailbox: `PREFIX-N@example.test`, N unique in this binary,
    /// with a random password. `prefix` is letters, digits, `.`, `_` or `-`.
    pub fn new_user(&self, prefix: &str) -> TestUser {
        assert!(
            !prefix.is_empty()
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')),
            "user prefix must be non-empty [A-Za-z0-9._-]: {prefix:?}"
        );
        let n = self.next_user.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{n}@{USER_DOMAIN}");
        let password: String = (0..16).map(|_| fastrand::alphanumeric()).collect();
        let home = self.dir.join("mail").join(&name);
        let line = format!(
            "{name}:{{PLAIN}}{password}:{}:{}::{}::",
            self.mail_uid,
            self.mail_gid,
            home.display()
        );
        // One passwd-file per user: Dovecot re-reads a changed file at most once a second,
        // but opens a file it has not seen yet at once, so the user can log in immediately.
        let file = self.dir.join("users").join(&name);
        fs::write(&file, line + "\n").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        TestUser {
            name,
            password,
            port: self.plain_port,
            conf: self.conf.clone(),
            doveadm_bin: self.doveadm_bin.clone(),
            conn: Mutex::new(None),
        }
    }

    /// Runs `doveadm -c CONF ARGS...` and returns its output, whatever the exit status.
    pub fn doveadm(&self, args: &[&str]) -> Output {
        doveadm(&self.doveadm_bin, &self.conf, args)
    }

    /// Dovecot's log (plus anything it printed on stderr), for failure messages.
    pub fn log(&self) -> String {
        read_logs(&self.dir)
    }

    fn start() -> Result<Dovecot, String> {
        let begun = Instant::now();
        let dovecot_bin = match std::env::var_os("MAILFERRY_TEST_DOVECOT_BIN") {
            Some(path) => Some(PathBuf::from(path)).filter(|p| p.is_file()),
            None => find_binary("dovecot", &["/usr/sbin", "/usr/local/sbin", "/sbin"]),
        }
        .ok_or_else(|| INSTALL_HINT.to_string())?;
        let doveadm_bin = find_binary("doveadm", &["/usr/bin", "/usr/local/bin", "/usr/sbin"])
            .ok_or_else(|| INSTALL_HINT.to_string())?;
        let openssl_bin = find_binary("openssl", &["/usr/bin", "/usr/local/bin"])
            .ok_or("the tests need the `openssl` command to mint a certificate")?;

        let dir = tempfile::Builder::new()
            .prefix("mailferry-dovecot-")
            .tempdir()
            .map_err(|e| format!("cannot create a temp dir: {e}"))?
            .keep();
        let result = Self::start_in(&dir, begun, &dovecot_bin, &doveadm_bin, &openssl_bin);
        if result.is_err() && std::env::var_os("MAILFERRY_TEST_KEEP_DOVECOT").is_none() {
            let _ = fs::remove_dir_all(&dir);
        }
        result
    }

    fn start_in(
        dir: &Path,
        begun: Instant,
        dovecot_bin: &Path,
        doveadm_bin: &Path,
        openssl_bin: &Path,
    ) -> Result<Dovecot, String> {
        let io = |what: &str, e: io::Error| format!("{what}: {e}");
        // The mail owner must reach DIR/mail, so the dir cannot stay 0700.
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
            .map_err(|e| io("chmod temp dir", e))?;
        for sub in ["run", "state", "log", "ssl", "mail", "users"] {
            fs::create_dir(dir.join(sub)).map_err(|e| io("create dir", e))?;
        }
        let me = fs::metadata(dir).map_err(|e| io("stat temp dir", e))?;
        let owner = if me.uid() == 0 {
            MailOwner::system_user()?
        } else {
            MailOwner::current(me.uid(), me.gid())?
        };
        std::os::unix::fs::chown(dir.join("mail"), Some(owner.uid), Some(owner.gid))
            .map_err(|e| io("chown mail dir", e))?;
        fs::set_permissions(dir.join("mail"), fs::Permissions::from_mode(0o700))
            .map_err(|e| io("chmod mail dir", e))?;
        let ca = mint_certificates(openssl_bin, &dir.join("ssl"))?;
        write_oauth2_key(dir).map_err(|e| io("write the OAuth2 key", e))?;

        let conf = dir.join("dovecot.conf");
        let mut last_error = String::new();
        for _attempt in 0..5 {
            let (plain_port, tls_port) = free_port_pair().map_err(|e| io("pick ports", e))?;
            let pop3_ports = free_port_pair().map_err(|e| io("pick ports", e))?;
            fs::write(
                &conf,
                config(dir, (plain_port, tls_port), pop3_ports, &owner),
            )
            .map_err(|e| io("write dovecot.conf", e))?;
            let mut watchdog = spawn_watchdog(dovecot_bin, &conf, dir)
                .map_err(|e| io("start dovecot under sh", e))?;
            match wait_ready(&mut watchdog, plain_port, tls_port) {
                Ok(()) => {
                    return Ok(Dovecot {
                        dir: dir.to_path_buf(),
                        conf,
                        ca,
                        doveadm_bin: doveadm_bin.to_path_buf(),
                        plain_port,
                        tls_port,
                        pop3_ports,
                        mail_uid: owner.uid,
                        mail_gid: owner.gid,
                        next_user: AtomicU32::new(1),
                        startup: begun.elapsed(),
                        _watchdog: Mutex::new(watchdog),
                    });
                }
                Err(why) => {
                    // Closing the pipe makes the watchdog stop whatever is left of Dovecot.
                    drop(watchdog.stdin.take());
                    let _ = watchdog.wait();
                    let logs = read_logs(dir);
                    last_error = format!("Dovecot did not start: {why}\n{logs}");
                    // Another process took a port between our probe and Dovecot's bind, or a
                    // loaded machine failed a start (seen once: exit 89, nothing logged): a
                    // broken configuration fails every attempt and is reported the same.
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    let _ = fs::remove_file(dir.join("log/dovecot.log"));
                    let _ = fs::remove_file(dir.join("log/stderr.log"));
                }
            }
        }
        Err(last_error)
    }
}

/// Who owns the maildirs and, when not root, who Dovecot runs as.
struct MailOwner {
    uid: u32,
    gid: u32,
    /// `Some((user, group))` when not root: Dovecot must then run everything as us.
    unprivileged: Option<(String, String)>,
}

impl MailOwner {
    /// Root may not own mail: use the `mail` system user, or `vmail`, creating it if needed.
    fn system_user() -> Result<MailOwner, String> {
        for name in ["mail", "vmail"] {
            if let Some((uid, gid)) = passwd_lookup(name) {
                return Ok(MailOwner {
                    uid,
                    gid,
                    unprivileged: None,
                });
            }
        }
        let out = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                "vmail",
            ])
            .output()
            .map_err(|e| format!("useradd vmail: {e}"))?;
        passwd_lookup("vmail")
            .map(|(uid, gid)| MailOwner {
                uid,
                gid,
                unprivileged: None,
            })
            .ok_or_else(|| {
                format!(
                    "no `mail` or `vmail` user to own test mail, and useradd failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
    }

    fn current(uid: u32, gid: u32) -> Result<MailOwner, String> {
        let id = |flag: &str| -> Result<String, String> {
            let out = Command::new("id")
                .arg(flag)
                .output()
                .map_err(|e| format!("id {flag}: {e}"))?;
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        Ok(MailOwner {
            uid,
            gid,
            unprivileged: Some((id("-un")?, id("-gn")?)),
        })
    }
}

fn passwd_lookup(name: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 4 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

fn find_binary(name: &str, extra_dirs: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra_dirs.iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A tiny CA and a leaf signed by it: webpki refuses a CA certificate as the server's own, and
/// mbsync wants `127.0.0.1` as a DNS name too. EC keys keep minting to a few milliseconds.
fn mint_certificates(openssl: &Path, ssl: &Path) -> Result<PathBuf, String> {
    let ext = "basicConstraints=critical,CA:FALSE\n\
               keyUsage=critical,digitalSignature,keyEncipherment\n\
               extendedKeyUsage=serverAuth\n\
               subjectAltName=DNS:127.0.0.1,DNS:localhost,IP:127.0.0.1\n";
    fs::write(ssl.join("leaf.ext"), ext).map_err(|e| format!("write leaf.ext: {e}"))?;
    let serial = format!("0x{:016x}", fastrand::u64(1..));
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3650",
            "-subj",
            "/CN=mailferry test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            &serial,
            "-days",
            "3650",
            "-extfile",
            "leaf.ext",
            "-out",
            "cert.pem",
        ],
    ];
    for args in steps {
        let out = Command::new(openssl)
            .args(args)
            .current_dir(ssl)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("openssl: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "openssl {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(ssl.join("ca.pem"))
}

/// Two distinct free loopback ports (held together while probing so they differ).
/// The HS256 key Dovecot validates test tokens with (stored base64-encoded, as it wants).
const OAUTH2_KEY: &[u8] = b"mailferry-test-oauth2-signing-key-0123456789";

fn write_oauth2_key(dir: &Path) -> io::Result<()> {
    use base64::Engine as _;
    let keys = dir.join("keys/default/HS256");
    fs::create_dir_all(&keys)?;
    fs::write(
        keys.join("default"),
        base64::engine::general_purpose::STANDARD.encode(OAUTH2_KEY),
    )?;
    fs::write(
        dir.join("oauth2.conf.ext"),
        format!(
            "introspection_mode = local\nlocal_validation_key_dict = fs:posix:prefix={}/keys/\nusername_attribute = sub\n",
            dir.display()
        ),
    )
}

/// An HS256 JWT for `user` that Dovecot accepts until `expires` (Unix seconds).
pub fn oauth2_token(user: &str, expires: i64) -> String {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let header = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = b64(format!(r#"{{"sub":"{user}","exp":{expires}}}"#).as_bytes());
    let signing_input = format!("{header}.{claims}");
    // HMAC-SHA256 (RFC 2104), the key being shorter than a block.
    let mut block = [0u8; 64];
    block[..OAUTH2_KEY.len()].copy_from_slice(OAUTH2_KEY);
    let pad = |x: u8| block.iter().map(|b| b ^ x).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(signing_input.as_bytes())
        .finalize();
    let mac = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    format!("{signing_input}.{}", b64(&mac))
}

fn free_port_pair() -> io::Result<(u16, u16)> {
    let a = TcpListener::bind("127.0.0.1:0")?;
    let b = TcpListener::bind("127.0.0.1:0")?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

fn config(
    dir: &Path,
    (plain_port, tls_port): (u16, u16),
    (pop3_port, pop3s_port): (u16, u16),
    owner: &MailOwner,
) -> String {
    let d = dir.display();
    let instance = format!("mailferry-test-{}-{plain_port}", std::process::id());
    // A mailbox block with neither special_use nor auto is inert, but documents the QQ names.
    let mut mailboxes = String::new();
    for (name, special) in [
        ("已发送", "\\Sent"),
        ("草稿箱", "\\Drafts"),
        ("已删除", "\\Trash"),
        ("垃圾邮件", "\\Junk"),
        ("Sent Messages", ""),
        ("Deleted Messages", ""),
        ("Junk", ""),
        ("Drafts", ""),
    ] {
        mailboxes.push_str(&format!("  mailbox \"{name}\" {{\n"));
        if !special.is_empty() {
            mailboxes.push_str(&format!("    special_use = {special}\n"));
        }
        mailboxes.push_str("  }\n");
    }
    let mut unprivileged = String::new();
    if let Some((user, group)) = &owner.unprivileged {
        unprivileged = format!(
            "default_internal_user = {user}\n\
             default_internal_group = {group}\n\
             default_login_user = {user}\n\
             service anvil {{\n  chroot =\n}}\n\
             service imap-login {{\n  chroot =\n}}\n\
             service pop3-login {{\n  chroot =\n}}\n"
        );
    }
    format!(
        "# Written by tests/support/dovecot.rs for one test binary.
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/log/dovecot.log
instance_name = {instance}
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <{d}/ssl/cert.pem
ssl_key = <{d}/ssl/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:~/Maildir
mail_max_userip_connections = 200
imap_max_line_length = 4M
# POP3 reads leave the mailbox as it was (no \\Seen on RETR), so tests can check that.
pop3_no_flag_updates = yes
# Test data is disposable: skipping fsync makes seeding much faster.
mail_fsync = never
{unprivileged}passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {d}/users/%u
}}
# OAuth2 bearer tokens, validated locally: HS256 JWTs signed with the key in {d}/keys.
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {d}/oauth2.conf.ext
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/users/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
{mailboxes}}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {plain_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {pop3s_port}
    ssl = yes
  }}
}}
service doveadm {{
  inet_listener {{
    port = 0
  }}
}}
"
    )
}

/// `sh` runs Dovecot in the foreground and waits on the pipe from us; EOF (this process is
/// gone) stops Dovecot within milliseconds, then the temp dir is removed. Own process group: a Ctrl-C aimed at
/// `cargo test` must not kill Dovecot before the watchdog can clean up.
fn spawn_watchdog(dovecot_bin: &Path, conf: &Path, dir: &Path) -> io::Result<Child> {
    const SCRIPT: &str = r#"
exec 3<&0
# setsid: Dovecot and its children get a process group of their own, so one signal stops
# them all at once (SIGTERM to the master alone takes it about a second to wind down).
if command -v setsid >/dev/null 2>&1; then
  setsid "$1" -c "$2" -F </dev/null >>"$3/log/stderr.log" 2>&1 3<&- &
else
  "$1" -c "$2" -F </dev/null >>"$3/log/stderr.log" 2>&1 3<&- &
fi
dp=$!
( read -r _ <&3; kill -TERM -"$dp" 2>/dev/null || kill -TERM "$dp" ) >/dev/null 2>&1 &
exec 3<&-
wait "$dp"
st=$?
kill -KILL -"$dp" >/dev/null 2>&1
if [ -z "$MAILFERRY_TEST_KEEP_DOVECOT" ]; then rm -rf "$3"; else echo "kept $3" >&2; fi
exit $st
"#;
    Command::new("sh")
        .arg("-c")
        .arg(SCRIPT)
        .arg("mailferry-dovecot-watchdog")
        .arg(dovecot_bin)
        .arg(conf)
        .arg(dir)
        // Chinese providers' servers print dates in +0800; Dovecot passes TZ to its children.
        .env("TZ", "CST-8")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
}

fn wait_ready(watchdog: &mut Child, plain_port: u16, tls_port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = watchdog.try_wait() {
            return Err(format!("dovecot exited with {status}"));
        }
        if ImapClient::connect(plain_port).is_ok()
            && TcpStream::connect(("127.0.0.1", tls_port)).is_ok()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("no IMAP greeting within 30 s".to_string());
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn read_logs(dir: &Path) -> String {
    let mut out = String::new();
    for name in ["stderr.log", "dovecot.log"] {
        if let Ok(text) = fs::read_to_string(dir.join("log").join(name))
            && !text.is_empty()
        {
            out.push_str(&format!("--- {name} ---\n{text}"));
        }
    }
    out
}

fn doveadm(bin: &Path, conf: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .arg("-c")
        .arg(conf)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()))
}

/// A mailbox account on the test Dovecot. Its helper methods reuse one cached IMAP
/// connection (reopened if the server dropped it), so seeding thousands of messages is quick.
pub struct TestUser {
    /// Login name, e.g. `src-3@example.test`.
    pub name: String,
    pub password: String,
    port: u16,
    conf: PathBuf,
    doveadm_bin: PathBuf,
    conn: Mutex<Option<ImapClient>>,
}

impl fmt::Debug for TestUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestUser")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// One message as the server stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub uid: u32,
    /// Flags and keywords, `\Recent` left out, sorted.
    pub flags: Vec<String>,
    /// As the server printed it, e.g. `07-Jul-2021 02:44:25 +0800`.
    pub internaldate: String,
    /// `BODY[]`, byte-exact as served.
    pub body: Vec<u8>,
}

impl StoredMessage {
    /// INTERNALDATE as seconds since the epoch, for comparing dates printed in other zones.
    pub fn internaldate_unix(&self) -> i64 {
        internaldate_unix(&self.internaldate)
            .unwrap_or_else(|| panic!("unparsable INTERNALDATE {:?}", self.internaldate))
    }
}

/// Parses an IMAP date-time (`"07-Jul-2021 02:44:25 +0800"`, day may be space-padded).
pub fn internaldate_unix(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_str(s.trim(), "%d-%b-%Y %H:%M:%S %z")
        .ok()
        .map(|d| d.timestamp())
}

/// One line of `LIST "" "*"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    /// Decoded from modified UTF-7, `/`-separated, e.g. `其他文件夹/客户`.
    pub name: String,
    /// As printed, e.g. `\HasNoChildren`, `\Sent`, `\Noselect`.
    pub attributes: Vec<String>,
}

impl MailboxInfo {
    /// Whether the server gave this attribute (case-insensitive), e.g. `has("\\Sent")`.
    pub fn has(&self, attribute: &str) -> bool {
        self.attributes
            .iter()
            .any(|a| a.eq_ignore_ascii_case(attribute))
    }
}

impl TestUser {
    /// A fresh logged-in connection on the plain port (not the cached one).
    pub fn login(&self) -> ImapClient {
        ImapClient::login(self.port, &self.name, &self.password)
            .unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }

    /// Creates a mailbox (UTF-8 name, `/` between levels) with doveadm. Parents that are
    /// not created themselves show up as `\Noselect`. An existing mailbox is not an error.
    pub fn create_mailbox(&self, name: &str) {
        let out = self.doveadm(&["mailbox", "create", "-u", &self.name, name]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() || stderr.contains("already exists"),
            "doveadm mailbox create {name:?} for {}: {stderr}",
            self.name
        );
    }

    /// APPENDs over IMAP (creating the mailbox on `[TRYCREATE]`) and returns the new UID.
    /// `internaldate` is an IMAP date-time such as `"07-Jul-2021 02:44:25 +0800"`.
    pub fn append(
        &self,
        mailbox: &str,
        raw: &[u8],
        flags: &[&str],
        internaldate: Option<&str>,
    ) -> u32 {
        self.with_client(|c| {
            let mut reply = c.append(mailbox, raw, flags, internaldate)?;
            if reply.status == Status::No && reply.text.contains("[TRYCREATE]") {
                c.command(&format!("CREATE {}", quote(&mutf7_encode(mailbox))))?
                    .expect_ok(&format!("CREATE {mailbox}"));
                reply = c.append(mailbox, raw, flags, internaldate)?;
            }
            let reply = reply.expect_ok(&format!("APPEND to {mailbox}"));
            Ok(appenduid(&reply.text)
                .unwrap_or_else(|| panic!("APPEND reply has no APPENDUID: {}", reply.text)))
        })
    }

    /// Every message of the mailbox (UID FETCH 1:* UID FLAGS INTERNALDATE BODY.PEEK[]),
    /// sorted by UID. Read-only: flags are not touched. Panics if the mailbox does not exist.
    pub fn messages(&self, mailbox: &str) -> Vec<StoredMessage> {
        self.with_client(|c| {
            c.command(&format!("EXAMINE {}", quote(&mutf7_encode(mailbox))))?
                .expect_ok(&format!("EXAMINE {mailbox}"));
            let reply = c
                .command("UID FETCH 1:* (UID FLAGS INTERNALDATE BODY.PEEK[])")?
                .expect_ok(&format!("UID FETCH in {mailbox}"));
            c.command("UNSELECT")?.expect_ok("UNSELECT");
            // Merge per sequence number: a FLAGS update may arrive in its own response.
            let mut by_seq: BTreeMap<u32, StoredMessage> = BTreeMap::new();
            for (seq, items) in reply.fetches() {
                let m = by_seq.entry(seq).or_insert_with(|| StoredMessage {
                    uid: 0,
                    flags: Vec::new(),
                    internaldate: String::new(),
                    body: Vec::new(),
                });
                for (key, value) in items {
                    match (key.as_str(), value) {
                        ("UID", v) => m.uid = v.as_u32().unwrap_or(0),
                        ("FLAGS", Value::List(flags)) => {
                            m.flags = flags
                                .iter()
                                .filter_map(Value::as_text)
                                .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                                .collect();
                            m.flags.sort();
                        }
                        ("INTERNALDATE", v) => m.internaldate = v.as_text().unwrap_or_default(),
                        ("BODY[]", Value::Str(body)) => m.body = body,
                        _ => {}
                    }
                }
            }
            let mut messages: Vec<StoredMessage> =
                by_seq.into_values().filter(|m| m.uid != 0).collect();
            messages.sort_by_key(|m| m.uid);
            Ok(messages)
        })
    }

    /// `LIST "" "*"`, in the server's order.
    pub fn mailboxes(&self) -> Vec<MailboxInfo> {
        self.with_client(|c| {
            let reply = c.command("LIST \"\" \"*\"")?.expect_ok("LIST");
            Ok(reply
                .untagged_values()
                .into_iter()
                .filter_map(|v| match v.as_slice() {
                    [
                        Value::Atom(star),
                        Value::Atom(list),
                        Value::List(attrs),
                        _,
                        name,
                    ] if star == "*" && list.eq_ignore_ascii_case("LIST") => {
                        let raw = name.as_text()?;
                        Some(MailboxInfo {
                            name: mutf7_decode(&raw).unwrap_or(raw),
                            attributes: attrs.iter().filter_map(Value::as_text).collect(),
                        })
                    }
                    _ => None,
                })
                .collect())
        })
    }

    /// Names from [`TestUser::mailboxes`], sorted.
    pub fn mailbox_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.mailboxes().into_iter().map(|m| m.name).collect();
        names.sort();
        names
    }

    /// Makes `tree` (a Maildir++ written by someone else) this user's mail, owned by the mail
    /// user, as if the server had written it. The user must have no session open.
    pub fn install_maildir(&self, tree: &Path) {
        let dir = self.conf.parent().unwrap();
        let owner = fs::metadata(dir.join("mail")).unwrap();
        let home = dir.join("mail").join(&self.name);
        let _ = fs::remove_dir_all(&home);
        fn copy(from: &Path, to: &Path, uid: u32, gid: u32) {
            fs::create_dir_all(to).unwrap();
            std::os::unix::fs::chown(to, Some(uid), Some(gid)).unwrap();
            for e in fs::read_dir(from).unwrap() {
                let e = e.unwrap();
                let dest = to.join(e.file_name());
                if e.file_type().unwrap().is_dir() {
                    copy(&e.path(), &dest, uid, gid);
                } else {
                    fs::copy(e.path(), &dest).unwrap();
                    let mtime = fs::metadata(e.path()).unwrap().modified().unwrap();
                    fs::File::options()
                        .write(true)
                        .open(&dest)
                        .unwrap()
                        .set_modified(mtime)
                        .unwrap();
                    std::os::unix::fs::chown(&dest, Some(uid), Some(gid)).unwrap();
                }
            }
        }
        fs::create_dir_all(&home).unwrap();
        std::os::unix::fs::chown(&home, Some(owner.uid()), Some(owner.gid())).unwrap();
        copy(tree, &home.join("Maildir"), owner.uid(), owner.gid());
    }

    /// Disconnects every IMAP session of this user (`doveadm kick`) and waits until the
    /// server has let them go.
    pub fn kick(&self) {
        if let Some(c) = self.cached_conn().take() {
            c.logout();
        }
        self.doveadm(&["kick", &self.name]);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let who = self.doveadm(&["who", "-1", &self.name]);
            if !String::from_utf8_lossy(&who.stdout).contains(&self.name) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} still connected 10 s after doveadm kick",
                self.name
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Replaces the flags of one message (`UID STORE uid FLAGS (...)`).
    pub fn set_flags(&self, mailbox: &str, uid: u32, flags: &[&str]) {
        self.with_selected(mailbox, |c| {
            let reply = c
                .command(&format!("UID STORE {uid} FLAGS ({})", flags.join(" ")))?
                .expect_ok("UID STORE");
            assert!(
                !reply.fetches().is_empty(),
                "no message with UID {uid} in {mailbox}"
            );
            Ok(())
        })
    }

    /// Deletes one message for good (`\Deleted` + `UID EXPUNGE`).
    pub fn expunge(&self, mailbox: &str, uid: u32) {
        self.with_selected(mailbox, |c| {
            c.command(&format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"))?
                .expect_ok("UID STORE \\Deleted");
            let reply = c
                .command(&format!("UID EXPUNGE {uid}"))?
                .expect_ok("UID EXPUNGE");
            assert!(
                reply.untagged.iter().any(|r| r.ends_with(b"EXPUNGE\r\n")),
                "no message with UID {uid} in {mailbox}"
            );
            Ok(())
        })
    }

    /// `doveadm -c CONF ARGS...` for this server (the user is not added to the arguments).
    pub fn doveadm(&self, args: &[&str]) -> Output {
        doveadm(&self.doveadm_bin, &self.conf, args)
    }

    fn with_selected<T>(
        &self,
        mailbox: &str,
        f: impl FnOnce(&mut ImapClient) -> io::Result<T>,
    ) -> T {
        self.with_client(|c| {
            c.command(&format!("SELECT {}", quote(&mutf7_encode(mailbox))))?
                .expect_ok(&format!("SELECT {mailbox}"));
            let out = f(c)?;
            c.command("UNSELECT")?.expect_ok("UNSELECT");
            Ok(out)
        })
    }

    /// The cached connection; after a panic half-way through a command it is discarded.
    fn cached_conn(&self) -> std::sync::MutexGuard<'_, Option<ImapClient>> {
        match self.conn.lock() {
            Ok(guard) => guard,
            Err(poisoned) => {
                let mut guard = poisoned.into_inner();
                *guard = None;
                self.conn.clear_poison();
                guard
            }
        }
    }

    /// Runs `f` on the cached connection, first checking with NOOP that it is still alive
    /// (a test may have kicked the user), so `f` itself is never retried.
    fn with_client<T>(&self, f: impl FnOnce(&mut ImapClient) -> io::Result<T>) -> T {
        let mut guard = self.cached_conn();
        let alive = match guard.as_mut() {
            Some(c) => c.command("NOOP").is_ok_and(|r| r.status == Status::Ok),
            None => false,
        };
        if !alive {
            *guard = Some(self.login());
        }
        let client = guard.as_mut().unwrap();
        match f(client) {
            Ok(v) => v,
            Err(e) => {
                *guard = None;
                panic!("IMAP as {}: {e}", self.name)
            }
        }
    }
}

fn appenduid(text: &str) -> Option<u32> {
    let start = text.find("[APPENDUID ")? + "[APPENDUID ".len();
    let rest = &text[start..];
    let end = rest.find(']')?;
    rest[..end].split(' ').nth(1)?.parse().ok()
}
