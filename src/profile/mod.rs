//! The YAML profile: one job's source, target, folder rules and filters.
//!
//! Parsing is strict (unknown keys, wrong types and impossible values are errors naming the
//! file, line, key and nearest valid key) and needs no network. The reference is
//! docs/profiles.md.
//!
//! Two stages, as in ripgrep's LowArgs/HiArgs: serde reads the text into `Raw*` structs that
//! mirror the YAML (`deny_unknown_fields`), then [`Profile::parse`] checks them and fills in
//! defaults from the provider presets. Serde's errors are rewritten into [`ProfileError`];
//! the semantic checks find their line with a small locator over the YAML text.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

mod locate;
mod password;

use locate::{locate, strip_comment};

pub use password::{Credential, PasswordCommand, PasswordSource, SecretError};

use crate::providers::{self, Provider, Role, TlsMode};

/// A validated profile.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The file it was read from.
    pub path: PathBuf,
    pub source: Source,
    pub target: Target,
    pub folders: FolderRules,
    pub filters: Filters,
    /// Concurrent connections per side, after the presets' caps.
    pub workers: usize,
    /// Where checkpoints live (absolute, or relative to the current directory).
    pub state_dir: PathBuf,
    /// What a rerun does to the flags of copies already on the target.
    pub flags: crate::flags::FlagPolicy,
    /// A Gmail source: one copy per message, or one per label, and which labels come first.
    pub gmail: GmailRules,
    /// When `mailferry schedule install` runs this profile, and what to do after a failure.
    pub schedule: Option<Schedule>,
    /// Decisions made for the user that the CLI prints before running ("workers capped at 4
    /// for QQ Mail").
    pub notes: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum Source {
    Imap(ImapAccount),
    /// A POP3 mailbox (INBOX only), read and never changed.
    Pop3(Pop3Account),
    /// One of our archives; an encrypted one needs the identity (an age secret key).
    Archive {
        path: PathBuf,
        identity: Option<PasswordSource>,
    },
    /// A foreign mbox file, or a folder of `.mbox` / `.mbox.zst` files.
    Mbox {
        path: PathBuf,
    },
    /// A folder tree of `.eml` files.
    EmlDir {
        path: PathBuf,
    },
    Maildir {
        path: PathBuf,
    },
}

#[derive(Debug, Clone)]
pub enum Target {
    Imap(ImapAccount),
    Archive(ArchiveTarget),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArchiveFormat {
    Mbox,
    Tar,
}

#[derive(Debug, Clone)]
pub struct ArchiveTarget {
    pub path: PathBuf,
    pub format: ArchiveFormat,
    pub compression_level: i32,
    /// A backup is committed each time this many bytes were added (and at least every
    /// minute), so a run stopped late keeps what it had written.
    pub commit_every: u64,
    /// Encrypt to these public keys (tar format): the backup host needs no secret.
    pub encryption: Option<crate::crypt::Recipients>,
    /// `retention.keep_deleted_for`: after each backup, messages the source deleted longer
    /// ago than this leave the archive. None: the archive only grows.
    pub keep_deleted_for: Option<std::time::Duration>,
}

/// The default of `target.archive.commit_every`.
pub const DEFAULT_COMMIT_EVERY: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ImapAccount {
    /// The preset named by `provider:`, or recognised from `host:`, if any.
    pub provider: Option<&'static Provider>,
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// Extra trusted CA certificates (PEM), for self-hosted servers.
    pub ca_file: Option<PathBuf>,
    pub user: String,
    pub password: PasswordSource,
    /// Set when the profile opted out of encryption to a non-loopback host.
    pub allow_insecure: bool,
    /// How the login proves itself (`auth:`): a password, or an OAuth2 token.
    pub auth: crate::sasl::AuthMethod,
}

/// A POP3 source: the account (same keys as `imap`, POP3 hosts and ports) and what to do
/// with copies, which POP3 gives no flags for.
#[derive(Debug, Clone)]
pub struct Pop3Account {
    pub account: ImapAccount,
    /// Mark every copy `\Seen`.
    pub seen: bool,
}

/// `gmail: { labels: ... }`: how a Gmail source's labels become folders (see the `gmail`
/// module of the domain layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GmailLabels {
    /// One copy per message, in the first folder of the order (Sent, Drafts, labels, INBOX,
    /// Archive).
    #[default]
    One,
    /// A copy in every label folder.
    All,
}

/// `schedule:` in a profile.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// systemd calendar syntax: `daily`, `hourly`, `Mon..Fri 02:30`.
    pub when: String,
    /// `schedule status` exits non-zero when the last good run is older than this.
    pub alert_after: Option<std::time::Duration>,
    /// Run (no shell) after a run that did not end with exit code 0.
    pub on_failure: Option<Vec<String>>,
}

/// `36h`, `2d`, `90m`, `1w`: a duration, as `schedule.alert_after` takes it.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("'{text}' is not a duration; write e.g. 36h, 2d or 90m"))?;
    let secs = match unit.trim() {
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "'{text}': the unit must be m, h, d or w (e.g. 36h, 2d)"
            ));
        }
    };
    Ok(std::time::Duration::from_secs(n.saturating_mul(secs)))
}

/// `gmail:` in a profile.
#[derive(Debug, Clone, Default)]
pub struct GmailRules {
    pub labels: GmailLabels,
    /// User labels that take a message first, in this order; the others follow in the
    /// plan's (alphabetical) order.
    pub order: Vec<String>,
}

/// Which protocol an account's host and port defaults follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Imap,
    Pop3,
}

/// A `folders:` rule that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("folders.{list}: pattern {pattern:?} is not a valid glob: {detail}")]
    BadGlob {
        list: &'static str,
        pattern: String,
        detail: String,
    },
    #[error(
        "folders.map: {key:?} -> {target:?}: {reason}. Write target folders as decoded names separated by '/', e.g. \"Projects/Work\""
    )]
    BadTarget {
        key: String,
        target: String,
        reason: &'static str,
    },
    #[error(
        "folders.map: unknown role key {key:?}; role keys are \\Inbox, \\Sent, \\Drafts, \\Trash, \\Junk, \\Archive, \\All, \\Flagged"
    )]
    UnknownRole { key: String },
}

#[derive(Debug, Clone, Default)]
pub struct FolderRules {
    /// Globs on decoded folder names; empty means everything.
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// Explicit renames, source name -> target name (decoded, `/`-separated).
    pub map: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachmentFilter {
    #[default]
    Any,
    Only,
    None,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Filters {
    /// INTERNALDATE >= since (date in the INTERNALDATE's own zone, as IMAP SEARCH compares).
    pub since: Option<NaiveDate>,
    /// INTERNALDATE < before.
    pub before: Option<NaiveDate>,
    pub attachments: AttachmentFilter,
    pub max_attachment_size: Option<u64>,
    pub max_size: Option<u64>,
}

impl Filters {
    /// No date, size or attachment rule: every message of a folder is selected.
    pub fn selects_everything(&self) -> bool {
        self.since.is_none()
            && self.before.is_none()
            && self.attachments == AttachmentFilter::Any
            && self.max_attachment_size.is_none()
            && self.max_size.is_none()
    }
}

// Keep the types above in sync with docs/profiles.md.

/// Workers per side when no preset says otherwise.
pub const DEFAULT_WORKERS: usize = 4;
/// zstd level for archives when the profile names none.
pub const DEFAULT_COMPRESSION_LEVEL: i32 = 3;
const COMPRESSION_LEVELS: std::ops::RangeInclusive<i64> = 1..=22;

const ENCRYPTION_HINT: &str = "e.g. encryption: { recipients: [\"age1...\"] }: the public key printed by `age-keygen -o key.txt` (keep key.txt off the backup host; restore needs it)";
const PASSWORD_HINT: &str =
    "use password: { env: VAR }, { file: path } or { command: \"pass show mail/163\" }";
const SIZE_HINT: &str = "write e.g. 50MB, 68 MB, 1.5GB, 512KiB or 100000 (bytes); KB/MB/GB are powers of 1000, KiB/MiB/GiB powers of 1024";
const DATE_HINT: &str = "write dates as YYYY-MM-DD, e.g. 2020-01-01";
const SOURCE_KINDS: &[&str] = &["imap", "pop3", "archive", "mbox", "eml_dir", "maildir"];
const TARGET_KINDS: &[&str] = &["imap", "archive"];

// ---------------------------------------------------------------------------------------------
// Errors

/// A profile that cannot be used: where, which key, what is wrong and what to do.
///
/// Displays as `profiles/x.yaml line 4: source.imap.hots: unknown key; did you mean 'host'?
/// (valid keys: ...)`. Never contains a password value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ProfileError {
    /// The profile file.
    pub file: PathBuf,
    /// 1-based line the problem is on, when known.
    pub line: Option<usize>,
    /// Dotted key path (`source.imap.host`, `folders.include[1]`); `None` for YAML syntax
    /// errors and unreadable files.
    pub key: Option<String>,
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl ProfileError {
    fn render(&self) -> String {
        let mut out = self.file.display().to_string();
        if let Some(line) = self.line {
            out.push(' ');
            out.push_str(&crate::i18n::ta(
                "profile-line",
                &[("line", line.to_string())],
            ));
        }
        out.push_str(": ");
        if let Some(key) = &self.key {
            out.push_str(key);
            out.push_str(": ");
        }
        out.push_str(&self.message);
        if let Some(hint) = &self.hint {
            out.push_str("; ");
            out.push_str(hint);
        }
        out
    }
}

/// A password source that did not yield a password. Names the variable, file or command;
/// never contains the password.
// ---------------------------------------------------------------------------------------------
// Raw structs: the YAML as written

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    source: Option<RawSource>,
    target: Option<RawTarget>,
    folders: Option<RawFolders>,
    filters: Option<RawFilters>,
    workers: Option<usize>,
    state_dir: Option<String>,
    flags: Option<crate::flags::FlagPolicy>,
    gmail: Option<RawGmail>,
    schedule: Option<RawSchedule>,
}

/// `schedule: daily`, or the whole mapping.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawSchedule {
    When(String),
    Full(RawScheduleMap),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScheduleMap {
    when: Option<String>,
    alert_after: Option<String>,
    on_failure: Option<RawHook>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHook {
    command: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGmail {
    labels: Option<GmailLabels>,
    #[serde(default)]
    order: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    imap: Option<RawImap>,
    pop3: Option<RawPop3>,
    archive: Option<ArchiveSpec>,
    mbox: Option<PathSpec>,
    eml_dir: Option<PathSpec>,
    maildir: Option<PathSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    imap: Option<RawImap>,
    archive: Option<RawArchiveTarget>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImap {
    provider: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    tls: Option<TlsMode>,
    ca_file: Option<String>,
    user: Option<String>,
    password: Option<RawPassword>,
    allow_insecure: Option<bool>,
    auth: Option<crate::sasl::AuthMethod>,
}

/// `source.pop3`: the `imap` keys and `seen`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPop3 {
    provider: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    tls: Option<TlsMode>,
    ca_file: Option<String>,
    user: Option<String>,
    password: Option<RawPassword>,
    allow_insecure: Option<bool>,
    auth: Option<crate::sasl::AuthMethod>,
    seen: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArchiveTarget {
    path: Option<String>,
    format: Option<ArchiveFormat>,
    compression_level: Option<i64>,
    commit_every: Option<String>,
    encryption: Option<RawEncryption>,
    retention: Option<RawRetention>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    keep_deleted_for: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEncryption {
    #[serde(default)]
    recipients: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFolders {
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    map: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFilters {
    since: Option<String>,
    before: Option<String>,
    attachments: Option<AttachmentFilter>,
    max_attachment_size: Option<String>,
    max_size: Option<String>,
}

#[derive(Default)]
struct RawPasswordMap {
    env: Option<String>,
    file: Option<String>,
    command: Option<RawCommand>,
}

/// `command: "a shell line"` or `command: [program, arg, ...]` (no shell).
#[derive(Deserialize)]
#[serde(untagged)]
enum RawCommand {
    Line(String),
    Argv(Vec<String>),
}

const PASSWORD_KEYS: &[&str] = &["env", "file", "command"];

/// `password:` as written. A scalar is refused here, inside serde, so that serde's own
/// "invalid type: string \"...\"" message, which would quote the password, never exists.
struct RawPassword(RawPasswordMap);

impl<'de> Deserialize<'de> for RawPassword {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PasswordVisitor;

        impl PasswordVisitor {
            fn plain<E: de::Error>(self) -> Result<RawPassword, E> {
                Err(custom_error(
                    "a password written in the profile is refused (it would sit in a file in plain text)",
                    PASSWORD_HINT,
                ))
            }
        }

        impl<'de> Visitor<'de> for PasswordVisitor {
            type Value = RawPassword;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("{ env: VAR }, { file: path } or { command: \"...\" }")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<RawPassword, E> {
                self.plain()
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<RawPassword, E> {
                self.plain()
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<RawPassword, E> {
                self.plain()
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<RawPassword, E> {
                self.plain()
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<RawPassword, E> {
                self.plain()
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawPassword, A::Error> {
                let mut out = RawPasswordMap::default();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "command" {
                        if out.command.is_some() {
                            return Err(de::Error::duplicate_field("command"));
                        }
                        out.command = Some(
                            map.next_value::<Option<RawCommand>>()?
                                .unwrap_or(RawCommand::Line(String::new())),
                        );
                        continue;
                    }
                    let (name, slot) = match key.as_str() {
                        "env" => ("env", &mut out.env),
                        "file" => ("file", &mut out.file),
                        // `password: { hunter2 }` makes the password a key: name it only
                        // when it is plainly a typo of a real key.
                        other if nearest(other, PASSWORD_KEYS).is_some() => {
                            return Err(de::Error::unknown_field(other, PASSWORD_KEYS));
                        }
                        _ => {
                            return Err(custom_error(
                                "unknown key in the password map (not repeated here, in case it is the password itself)",
                                PASSWORD_HINT,
                            ));
                        }
                    };
                    if slot.is_some() {
                        return Err(de::Error::duplicate_field(name));
                    }
                    // A key without a value reads as empty, refused later with the key's name.
                    *slot = Some(map.next_value::<Option<String>>()?.unwrap_or_default());
                }
                Ok(RawPassword(out))
            }
        }

        deserializer.deserialize_any(PasswordVisitor)
    }
}

/// `archive: PATH` or `archive: { path: PATH, identity: { file: KEY.txt } }`.
struct ArchiveSpec {
    path: String,
    identity: Option<RawPassword>,
}

impl<'de> Deserialize<'de> for ArchiveSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            path: String,
            identity: Option<RawPassword>,
        }

        struct ArchiveVisitor;

        impl<'de> Visitor<'de> for ArchiveVisitor {
            type Value = ArchiveSpec;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a path, or { path: ..., identity: { file: ... } }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ArchiveSpec, E> {
                Ok(ArchiveSpec {
                    path: v.to_owned(),
                    identity: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ArchiveSpec, A::Error> {
                Full::deserialize(de::value::MapAccessDeserializer::new(map)).map(|f| ArchiveSpec {
                    path: f.path,
                    identity: f.identity,
                })
            }
        }

        deserializer.deserialize_any(ArchiveVisitor)
    }
}

/// A path given as `key: PATH` or `key: { path: PATH }`.
struct PathSpec(String);

impl<'de> Deserialize<'de> for PathSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct WithPath {
            path: String,
        }

        struct PathVisitor;

        impl<'de> Visitor<'de> for PathVisitor {
            type Value = PathSpec;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a path, or { path: ... }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PathSpec, E> {
                Ok(PathSpec(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PathSpec, A::Error> {
                WithPath::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|w| PathSpec(w.path))
            }
        }

        deserializer.deserialize_any(PathVisitor)
    }
}

// Our own serde messages carry a hint; these characters mark and split them so that
// `from_yaml_error` can tell them from serde's.
const OWN_MESSAGE: char = '\u{1e}';
const HINT_SEPARATOR: char = '\u{1f}';

fn custom_error<E: de::Error>(message: &str, hint: &str) -> E {
    E::custom(format!("{OWN_MESSAGE}{message}{HINT_SEPARATOR}{hint}"))
}

// ---------------------------------------------------------------------------------------------
// Loading and validation

impl Profile {
    /// Reads and validates the profile at `path`.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ProfileError {
            file: path.to_path_buf(),
            line: None,
            key: None,
            message: format!("cannot read the profile: {e}"),
            hint: None,
        })?;
        Profile::parse(&text, path)
    }

    /// Validates profile `text`; `path` names it in errors and is the base of relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Profile, ProfileError> {
        let ctx = Ctx {
            file: path,
            text,
            base: path.parent().unwrap_or(Path::new("")).to_path_buf(),
        };
        if text.lines().all(|l| strip_comment(l).trim().is_empty()) {
            return Err(ProfileError {
                file: path.to_path_buf(),
                line: None,
                key: None,
                message: "the profile is empty".into(),
                hint: Some("see docs/profiles.md, or start from a file in profiles/".into()),
            });
        }
        let raw: RawProfile = serde_yaml::from_str(text).map_err(|e| from_yaml_error(&e, path))?;
        ctx.validate(raw)
    }
}

struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
    /// The profile's directory, the base of relative paths.
    base: PathBuf,
}

impl Ctx<'_> {
    fn err(&self, key: &str, message: impl Into<String>, hint: Option<String>) -> ProfileError {
        ProfileError {
            file: self.file.to_path_buf(),
            line: locate(self.text, key),
            key: Some(key.to_owned()),
            message: message.into(),
            hint,
        }
    }

    /// `~/` is the home directory; other relative paths are relative to the profile.
    fn path(&self, key: &str, value: &str) -> Result<PathBuf, ProfileError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(self.err(key, "the path is empty", None));
        }
        if let Some(rest) = value.strip_prefix("~/")
            && let Some(home) = std::env::var_os("HOME")
        {
            return Ok(PathBuf::from(home).join(rest));
        }
        Ok(self.base.join(value))
    }

    fn validate(&self, raw: RawProfile) -> Result<Profile, ProfileError> {
        let mut notes = Vec::new();
        let source = self.source(raw.source, &mut notes)?;
        let target = self.target(raw.target, &mut notes)?;
        if let (Source::Archive { .. }, Target::Archive(_)) = (&source, &target) {
            return Err(self.err(
                "target.archive",
                "source and target are both archives: nothing to do",
                Some("to restore an archive use target: imap; to back up use source: imap".into()),
            ));
        }
        let folders = self.folders(raw.folders.unwrap_or_default())?;
        let filters = self.filters(raw.filters.unwrap_or_default())?;
        let workers = self.workers(raw.workers, &source, &target, &mut notes)?;
        let state_dir = match raw.state_dir {
            Some(dir) => self.path("state_dir", &dir)?,
            None => self.base.join(".mailferry"),
        };
        Ok(Profile {
            path: self.file.to_path_buf(),
            source,
            target,
            folders,
            filters,
            workers,
            state_dir,
            flags: raw.flags.unwrap_or_default(),
            schedule: self.schedule(raw.schedule)?,
            gmail: raw
                .gmail
                .map(|g| GmailRules {
                    labels: g.labels.unwrap_or_default(),
                    order: g.order,
                })
                .unwrap_or_default(),
            notes,
        })
    }

    fn source(
        &self,
        raw: Option<RawSource>,
        notes: &mut Vec<String>,
    ) -> Result<Source, ProfileError> {
        let hint = || Some(format!("give exactly one of {}", SOURCE_KINDS.join(", ")));
        let Some(raw) = raw else {
            return Err(self.err("source", "no source given", hint()));
        };
        let given: Vec<&str> = [
            ("imap", raw.imap.is_some()),
            ("pop3", raw.pop3.is_some()),
            ("archive", raw.archive.is_some()),
            ("mbox", raw.mbox.is_some()),
            ("eml_dir", raw.eml_dir.is_some()),
            ("maildir", raw.maildir.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        if given.len() != 1 {
            let message = if given.is_empty() {
                "no source given".to_owned()
            } else {
                format!("more than one source given ({})", given.join(" and "))
            };
            return Err(self.err("source", message, hint()));
        }
        Ok(if let Some(imap) = raw.imap {
            Source::Imap(self.imap("source.imap", imap, notes)?)
        } else if let Some(pop3) = raw.pop3 {
            let seen = pop3.seen.unwrap_or(false);
            let raw = RawImap {
                provider: pop3.provider,
                host: pop3.host,
                port: pop3.port,
                tls: pop3.tls,
                ca_file: pop3.ca_file,
                user: pop3.user,
                password: pop3.password,
                allow_insecure: pop3.allow_insecure,
                auth: pop3.auth,
            };
            Source::Pop3(Pop3Account {
                account: self.account("source.pop3", raw, Protocol::Pop3, notes)?,
                seen,
            })
        } else if let Some(p) = raw.archive {
            Source::Archive {
                path: self.path("source.archive", &p.path)?,
                identity: p
                    .identity
                    .map(|raw| self.password("source.archive.identity", raw.0))
                    .transpose()?,
            }
        } else if let Some(p) = raw.mbox {
            Source::Mbox {
                path: self.path("source.mbox", &p.0)?,
            }
        } else if let Some(p) = raw.eml_dir {
            Source::EmlDir {
                path: self.path("source.eml_dir", &p.0)?,
            }
        } else if let Some(p) = raw.maildir {
            Source::Maildir {
                path: self.path("source.maildir", &p.0)?,
            }
        } else {
            return Err(self.err("source", "no source given", hint()));
        })
    }

    fn target(
        &self,
        raw: Option<RawTarget>,
        notes: &mut Vec<String>,
    ) -> Result<Target, ProfileError> {
        let hint = || Some(format!("give exactly one of {}", TARGET_KINDS.join(", ")));
        let Some(raw) = raw else {
            return Err(self.err("target", "no target given", hint()));
        };
        match (raw.imap, raw.archive) {
            (Some(imap), None) => Ok(Target::Imap(self.imap("target.imap", imap, notes)?)),
            (None, Some(archive)) => Ok(Target::Archive(self.archive_target(archive)?)),
            (Some(_), Some(_)) => Err(self.err(
                "target",
                "more than one target given (imap and archive)",
                hint(),
            )),
            (None, None) => Err(self.err("target", "no target given", hint())),
        }
    }

    fn schedule(&self, raw: Option<RawSchedule>) -> Result<Option<Schedule>, ProfileError> {
        let (when, alert_after, on_failure) = match raw {
            None => return Ok(None),
            Some(RawSchedule::When(w)) => (Some(w), None, None),
            Some(RawSchedule::Full(m)) => (m.when, m.alert_after, m.on_failure),
        };
        let when = match when.map(|w| w.trim().to_string()) {
            Some(w) if !w.is_empty() && !w.chars().any(char::is_control) => w,
            _ => {
                return Err(self.err(
                    "schedule.when",
                    "no time given",
                    Some("e.g. schedule: daily, or schedule: { when: \"Mon..Fri 02:30\" } (systemd calendar syntax)".into()),
                ));
            }
        };
        let alert_after = match alert_after {
            Some(t) => Some(parse_duration(&t).map_err(|m| {
                self.err(
                    "schedule.alert_after",
                    m,
                    Some("e.g. alert_after: 36h".into()),
                )
            })?),
            None => None,
        };
        let on_failure = match on_failure {
            Some(h) if h.command.first().is_some_and(|p| !p.trim().is_empty()) => Some(h.command),
            Some(_) => {
                return Err(self.err(
                    "schedule.on_failure.command",
                    "the command is empty",
                    Some(
                        "e.g. on_failure: { command: [\"notify-send\", \"backup failed\"] }".into(),
                    ),
                ));
            }
            None => None,
        };
        Ok(Some(Schedule {
            when,
            alert_after,
            on_failure,
        }))
    }

    fn archive_target(&self, raw: RawArchiveTarget) -> Result<ArchiveTarget, ProfileError> {
        let Some(path) = raw.path else {
            return Err(self.err(
                "target.archive.path",
                "no path given",
                Some("e.g. archive: { path: backups/alice }".into()),
            ));
        };
        let path = self.path("target.archive.path", &path)?;
        let compression_level = match raw.compression_level {
            None => DEFAULT_COMPRESSION_LEVEL,
            Some(level) if COMPRESSION_LEVELS.contains(&level) => level as i32,
            Some(level) => {
                return Err(self.err(
                    "target.archive.compression_level",
                    format!("compression level {level} is out of range"),
                    Some(format!(
                        "use a zstd level from 1 (fastest) to 22 (smallest); the default is {DEFAULT_COMPRESSION_LEVEL}"
                    )),
                ));
            }
        };
        let commit_every = match raw.commit_every {
            None => DEFAULT_COMMIT_EVERY,
            Some(text) => parse_size(&text).map_err(|message| {
                self.err(
                    "target.archive.commit_every",
                    message,
                    Some(SIZE_HINT.into()),
                )
            })?,
        };
        let encryption = match raw.encryption {
            None => None,
            Some(e) => Some(
                crate::crypt::Recipients::parse(&e.recipients).map_err(|(i, e)| {
                    let key = if i == 0 && e.0.starts_with("no recipient") {
                        "target.archive.encryption.recipients".to_string()
                    } else {
                        format!("target.archive.encryption.recipients[{i}]")
                    };
                    self.err(&key, e.0, Some(ENCRYPTION_HINT.into()))
                })?,
            ),
        };
        let format = match (raw.format, &encryption) {
            (Some(ArchiveFormat::Mbox), Some(_)) => {
                return Err(self.err(
                    "target.archive.format",
                    "an encrypted backup is written as tar volumes",
                    Some("remove format: mbox, or set format: tar".into()),
                ));
            }
            (Some(f), _) => f,
            (None, Some(_)) => ArchiveFormat::Tar,
            (None, None) => ArchiveFormat::Mbox,
        };
        let keep_deleted_for = match raw.retention.and_then(|r| r.keep_deleted_for) {
            None => None,
            Some(text) => {
                let keep = parse_duration(&text).map_err(|m| {
                    self.err(
                        "target.archive.retention.keep_deleted_for",
                        m,
                        Some("e.g. retention: { keep_deleted_for: 90d }".into()),
                    )
                })?;
                if encryption.is_some() {
                    return Err(self.err(
                        "target.archive.retention",
                        "pruning an encrypted archive needs its identity, which the backup host should not hold",
                        Some("remove retention here and run `mailferry archive prune DIR --keep-deleted-for 90d --identity key.txt` where the key is".into()),
                    ));
                }
                Some(keep)
            }
        };
        Ok(ArchiveTarget {
            path,
            format,
            compression_level,
            commit_every,
            encryption,
            keep_deleted_for,
        })
    }

    fn imap(
        &self,
        key: &str,
        raw: RawImap,
        notes: &mut Vec<String>,
    ) -> Result<ImapAccount, ProfileError> {
        self.account(key, raw, Protocol::Imap, notes)
    }

    /// An IMAP or POP3 account: the presets give host, TLS mode and port for the protocol.
    fn account(
        &self,
        key: &str,
        raw: RawImap,
        protocol: Protocol,
        notes: &mut Vec<String>,
    ) -> Result<ImapAccount, ProfileError> {
        let named = match raw.provider.as_deref().map(str::trim) {
            None => None,
            Some(id) => Some(providers::lookup(id).ok_or_else(|| {
                self.err(
                    &format!("{key}.provider"),
                    format!("unknown provider '{id}'"),
                    Some(suggest(id, &providers::ids(), "known providers")),
                )
            })?),
        };
        let host = match (raw.host.as_deref().map(str::trim), named) {
            (Some(""), _) => {
                return Err(self.err(&format!("{key}.host"), "the host is empty", None));
            }
            (Some(host), _) => host.to_owned(),
            (None, Some(preset)) => match protocol {
                Protocol::Imap => preset.host.to_owned(),
                Protocol::Pop3 => preset.pop3_host.to_owned(),
            },
            (None, None) => {
                return Err(self.err(
                    &format!("{key}.host"),
                    "no host given",
                    Some(format!(
                        "set host: (e.g. host: imap.example.com) or provider: (one of {})",
                        providers::ids().join(", ")
                    )),
                ));
            }
        };
        let preset = named.or_else(|| providers::by_host(&host));
        if let (None, Some(p)) = (named, preset) {
            notes.push(format!(
                "{key}: {host} is {}; its preset and quirks apply",
                p.display
            ));
        }
        let tls = raw
            .tls
            .or(preset.map(|p| p.tls))
            .unwrap_or(TlsMode::Implicit);
        let port = match raw.port {
            Some(0) => {
                return Err(self.err(
                    &format!("{key}.port"),
                    "port 0 is not a port",
                    Some("e.g. port: 993".into()),
                ));
            }
            Some(port) => port,
            // The preset's port only fits the preset's TLS mode.
            None if protocol == Protocol::Pop3 => match tls {
                TlsMode::Implicit => providers::POP3_TLS_PORT,
                _ => providers::POP3_PLAIN_PORT,
            },
            None => preset
                .filter(|p| p.tls == tls)
                .map(|p| p.port)
                .unwrap_or(if tls == TlsMode::Implicit { 993 } else { 143 }),
        };
        let allow_insecure = raw.allow_insecure.unwrap_or(false);
        if tls == TlsMode::None && !allow_insecure && !is_loopback(&host) {
            return Err(self.err(
                &format!("{key}.tls"),
                format!("tls: none would send the password unencrypted to {host}"),
                Some(format!(
                    "use tls: implicit or starttls; to accept the risk, add allow_insecure: true under {key}"
                )),
            ));
        }
        let user = match raw.user.as_deref().map(str::trim) {
            Some(user) if !user.is_empty() => user.to_owned(),
            _ => {
                return Err(self.err(
                    &format!("{key}.user"),
                    "no user given",
                    Some("e.g. user: alice@163.com (usually the full address)".into()),
                ));
            }
        };
        let password_key = format!("{key}.password");
        let password = match raw.password {
            Some(p) => self.password(&password_key, p.0)?,
            None => {
                return Err(self.err(
                    &password_key,
                    "no password source given",
                    Some(PASSWORD_HINT.into()),
                ));
            }
        };
        let ca_file = match raw.ca_file {
            Some(f) => Some(self.path(&format!("{key}.ca_file"), &f)?),
            None => None,
        };
        Ok(ImapAccount {
            provider: preset,
            host,
            port,
            tls,
            ca_file,
            user,
            password,
            allow_insecure,
            auth: raw.auth.unwrap_or_default(),
        })
    }

    fn password(&self, key: &str, raw: RawPasswordMap) -> Result<PasswordSource, ProfileError> {
        let given: Vec<&str> = [
            ("env", raw.env.is_some()),
            ("file", raw.file.is_some()),
            ("command", raw.command.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        if given.len() != 1 {
            let message = if given.is_empty() {
                "the password map names no source".to_owned()
            } else {
                format!(
                    "give only one password source (found {})",
                    given.join(" and ")
                )
            };
            return Err(self.err(key, message, Some(PASSWORD_HINT.into())));
        }
        if let Some(var) = raw.env {
            let var = var.trim();
            if var.is_empty() || var.contains(['=', '\0']) {
                return Err(self.err(
                    &format!("{key}.env"),
                    format!("'{var}' is not an environment variable name"),
                    Some("e.g. password: { env: QQ_AUTH_CODE }".into()),
                ));
            }
            Ok(PasswordSource::Env(var.to_owned()))
        } else if let Some(file) = raw.file {
            Ok(PasswordSource::File(
                self.path(&format!("{key}.file"), &file)?,
            ))
        } else if let Some(command) = raw.command {
            let command = match command {
                RawCommand::Line(line) if !line.trim().is_empty() => PasswordCommand::Shell(line),
                RawCommand::Argv(argv) if argv.first().is_some_and(|p| !p.trim().is_empty()) => {
                    PasswordCommand::Argv(argv)
                }
                _ => {
                    return Err(self.err(
                        &format!("{key}.command"),
                        "the command is empty",
                        Some(
                            "e.g. password: { command: [\"pass\", \"show\", \"mail/163\"] } or { command: \"pass show mail/163\" }"
                                .into(),
                        ),
                    ));
                }
            };
            Ok(PasswordSource::Command(command))
        } else {
            Err(self.err(
                key,
                "the password map names no source",
                Some(PASSWORD_HINT.into()),
            ))
        }
    }

    fn folders(&self, raw: RawFolders) -> Result<FolderRules, ProfileError> {
        for (list, globs) in [("include", &raw.include), ("exclude", &raw.exclude)] {
            for (i, glob) in globs.iter().enumerate() {
                if let Err(problem) = check_glob(glob) {
                    return Err(self.err(
                        &format!("folders.{list}[{i}]"),
                        format!("bad glob '{glob}': {problem}"),
                        Some(
                            "globs use * ? and {a,b}; [ ] are literal (for [Gmail]/...); escape a literal { } * ? with \\"
                                .into(),
                        ),
                    ));
                }
            }
        }
        for (from, to) in &raw.map {
            let key = format!("folders.map.{from}");
            let example = || {
                Some("e.g. map: { \"工作\": \"Projects/Work\", \"\\\\Sent\": \"已发送\" }".into())
            };
            let name = from.trim().trim_end_matches('/');
            if name.is_empty() {
                return Err(self.err(&key, "the source folder name is empty", example()));
            }
            if name.starts_with('\\') && Role::from_attribute(name).is_none() {
                let roles: Vec<&str> = Role::ALL.iter().map(|r| r.attribute()).collect();
                return Err(self.err(
                    &key,
                    format!("unknown role '{name}'"),
                    Some(format!("role keys are {}", roles.join(", "))),
                ));
            }
            if to.trim().is_empty() || to.split('/').any(|c| c.trim().is_empty()) {
                return Err(self.err(
                    &key,
                    format!("target folder '{to}' is empty or has an empty path component"),
                    Some("write target folders as decoded names separated by '/', e.g. \"Projects/Work\"".into()),
                ));
            }
        }
        Ok(FolderRules {
            include: raw.include,
            exclude: raw.exclude,
            map: raw.map,
        })
    }

    fn filters(&self, raw: RawFilters) -> Result<Filters, ProfileError> {
        let date = |key: &str, value: Option<String>| -> Result<Option<NaiveDate>, ProfileError> {
            let Some(value) = value else { return Ok(None) };
            parse_date(value.trim()).map(Some).ok_or_else(|| {
                self.err(
                    key,
                    format!("'{value}' is not a date"),
                    Some(DATE_HINT.into()),
                )
            })
        };
        let size = |key: &str, value: Option<String>| -> Result<Option<u64>, ProfileError> {
            let Some(value) = value else { return Ok(None) };
            match parse_size(&value) {
                Ok(0) => Err(self.err(
                    key,
                    "a size of 0 would leave out every message",
                    Some("remove the key to have no limit".into()),
                )),
                Ok(n) => Ok(Some(n)),
                Err(message) => Err(self.err(key, message, Some(SIZE_HINT.into()))),
            }
        };
        let since = date("filters.since", raw.since)?;
        let before = date("filters.before", raw.before)?;
        if let (Some(s), Some(b)) = (since, before)
            && s >= b
        {
            return Err(self.err(
                "filters.before",
                format!("before ({b}) must be later than since ({s}): no message could match"),
                Some(
                    "since is inclusive, before exclusive: since: 2020-01-01, before: 2021-01-01 is the year 2020"
                        .into(),
                ),
            ));
        }
        Ok(Filters {
            since,
            before,
            attachments: raw.attachments.unwrap_or_default(),
            max_attachment_size: size("filters.max_attachment_size", raw.max_attachment_size)?,
            max_size: size("filters.max_size", raw.max_size)?,
        })
    }

    fn workers(
        &self,
        raw: Option<usize>,
        source: &Source,
        target: &Target,
        notes: &mut Vec<String>,
    ) -> Result<usize, ProfileError> {
        let mut accounts = Vec::new();
        if let Source::Imap(a) = source {
            accounts.push(a);
        }
        if let Target::Imap(a) = target {
            accounts.push(a);
        }
        let default = accounts
            .iter()
            .map(|a| a.provider.map_or(DEFAULT_WORKERS, |p| p.default_workers))
            .min()
            .unwrap_or(DEFAULT_WORKERS);
        let mut workers = match raw {
            Some(0) => {
                return Err(self.err(
                    "workers",
                    "workers must be at least 1",
                    Some(format!("remove the key for the default ({default})")),
                ));
            }
            Some(n) => n,
            None => default,
        };
        for p in accounts.iter().filter_map(|a| a.provider) {
            if workers > p.max_workers {
                workers = p.max_workers;
                notes.push(format!(
                    "workers capped at {} for {} (more connections trigger its limits)",
                    p.max_workers, p.display
                ));
            }
        }
        Ok(workers.max(1))
    }
}

/// Whether `pattern` compiles as a folder glob (the one compiler the folder rules use).
fn check_glob(pattern: &str) -> Result<(), String> {
    crate::globs::folder_glob(pattern.trim(), false).map(|_| ())
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    let host = host.strip_suffix('.').unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `YYYY-MM-DD`, nothing looser: `2020-1-1` is refused so that every profile reads alike.
fn parse_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// A size in bytes: `100000`, `50MB`, `68 MB`, `1.5GB`, `512KiB`. KB/MB/GB/TB are powers of
/// 1000 (as mail providers quote limits), KiB/MiB/GiB/TiB powers of 1024; units are
/// case-insensitive. Fractions of a unit round down to whole bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let bad = || format!("'{s}' is not a size");
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = (&s[..split], s[split..].trim());
    let multiplier: u128 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(format!("'{s}': unknown unit '{unit}'")),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty())
        || fraction.contains('.')
        || fraction.len() > 12
        || whole.len() > 20
    {
        return Err(bad());
    }
    if !fraction.is_empty() && multiplier == 1 {
        return Err(format!("'{s}': a number of bytes must be whole"));
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let scale = 10u128.pow(fraction.len() as u32);
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| bad())?
    };
    let bytes = whole
        .checked_mul(multiplier)
        .and_then(|b| b.checked_add(fraction * multiplier / scale))
        .ok_or_else(|| format!("'{s}' is too large"))?;
    u64::try_from(bytes).map_err(|_| format!("'{s}' is too large"))
}

/// "did you mean 'x'? (known providers: a, b)" or just the list.
fn suggest(given: &str, valid: &[&str], what: &str) -> String {
    let list = valid.join(", ");
    match nearest(given, valid) {
        Some(best) => crate::i18n::ta(
            "profile-did-you-mean",
            &[
                ("best", best.to_string()),
                ("what", what.to_string()),
                ("list", list.clone()),
            ],
        ),
        None => format!("{what}: {list}"),
    }
}

fn nearest<'a>(given: &str, valid: &[&'a str]) -> Option<&'a str> {
    let given = given.to_lowercase();
    let limit = match given.chars().count() {
        0..=3 => 1,
        4..=6 => 2,
        _ => 3,
    };
    valid
        .iter()
        .map(|v| (strsim::damerau_levenshtein(&given, &v.to_lowercase()), *v))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

// ---------------------------------------------------------------------------------------------
// serde_yaml errors -> ProfileError

/// How serde and serde_yaml start the messages we rewrite. serde_yaml writes
/// `path.to.key: message at line L column C`, or `message` alone at the top level.
const SERDE_PHRASES: &[&str] = &[
    "unknown field `",
    "unknown variant `",
    "invalid type: ",
    "invalid value: ",
    "missing field `",
    "duplicate field `",
    "invalid length ",
    "\u{1e}",
];

fn from_yaml_error(err: &serde_yaml::Error, file: &Path) -> ProfileError {
    let line = err.location().map(|l| l.line());
    let full = err.to_string();
    let mut error = ProfileError {
        file: file.to_path_buf(),
        line,
        key: None,
        message: String::new(),
        hint: None,
    };
    let Some((path, rest)) = split_serde_path(&full) else {
        // A libyaml syntax error: "did not find expected key at line 4 column 4, while ...".
        let problem = full.split(" at line ").next().unwrap_or(&full);
        error.message = format!("YAML syntax error: {problem}");
        error.hint = Some(
            "check the indentation (spaces, not tabs) and quoting on this line or the one above"
                .into(),
        );
        return error;
    };
    let rest = strip_position(rest);
    let join = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    let at_path = (!path.is_empty()).then(|| path.to_owned());

    if let Some(own) = rest.strip_prefix(OWN_MESSAGE) {
        let (message, hint) = own.split_once(HINT_SEPARATOR).unwrap_or((own, ""));
        error.key = at_path;
        error.message = message.to_owned();
        error.hint = (!hint.is_empty()).then(|| hint.to_owned());
    } else if let Some(r) = rest.strip_prefix("unknown field `") {
        let (name, after) = r.split_once('`').unwrap_or((r, ""));
        let valid = backticked(after);
        error.key = Some(join(name));
        error.message = crate::i18n::t("profile-unknown-key");
        error.hint = Some(suggest(name, &valid, &crate::i18n::t("profile-valid-keys")));
    } else if let Some(r) = rest.strip_prefix("unknown variant `") {
        let (name, after) = r.split_once('`').unwrap_or((r, ""));
        let valid = backticked(after);
        error.key = at_path;
        error.message = format!("unknown value '{name}'");
        error.hint = Some(suggest(name, &valid, "valid values"));
    } else if let Some(r) = rest.strip_prefix("missing field `") {
        let name = r.split('`').next().unwrap_or(r);
        error.key = Some(join(name));
        error.message = "required key is missing".into();
        error.hint = example_hint(name);
    } else if let Some(r) = rest.strip_prefix("duplicate field `") {
        let name = r.split('`').next().unwrap_or(r);
        error.key = Some(join(name));
        error.message = "key given twice".into();
    } else if let Some(r) = rest
        .strip_prefix("invalid type: ")
        .or_else(|| rest.strip_prefix("invalid value: "))
    {
        let (found, expected) = r.rsplit_once(", expected ").unwrap_or((r, "?"));
        error.message = format!("expected {}, found {found}", plain_type(expected));
        error.hint = example_hint(last_key(path));
        error.key = at_path;
    } else {
        error.key = at_path;
        error.message = rest.to_owned();
    }
    error
}

/// Splits serde_yaml's `path: message` at the message's known start.
fn split_serde_path(full: &str) -> Option<(&str, &str)> {
    if SERDE_PHRASES.iter().any(|p| full.starts_with(p)) {
        return Some(("", full));
    }
    SERDE_PHRASES
        .iter()
        .filter_map(|p| full.find(&format!(": {p}")))
        .min()
        .map(|i| (&full[..i], &full[i + 2..]))
}

/// Drops serde_yaml's trailing " at line L column C"; the line is kept separately.
fn strip_position(message: &str) -> &str {
    if let Some(i) = message.rfind(" at line ") {
        let tail = &message[i + " at line ".len()..];
        let mut parts = tail.split(" column ");
        if let (Some(l), Some(c), None) = (parts.next(), parts.next(), parts.next())
            && l.chars().all(|c| c.is_ascii_digit())
            && c.chars().all(|c| c.is_ascii_digit())
        {
            return &message[..i];
        }
    }
    message
}

/// The words between backticks: serde's "expected one of `a`, `b`" lists.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

fn plain_type(expected: &str) -> &str {
    match expected {
        "u16" => "a number from 1 to 65535",
        "usize" | "u64" | "u32" | "u8" | "i64" | "i32" => "a whole number",
        "a boolean" => "true or false",
        "a sequence" => "a list",
        "a string" => "text",
        e if e.starts_with("struct ") || e == "a map" || e == "map" => "a mapping (key: value)",
        e => e,
    }
}

fn last_key(path: &str) -> &str {
    let last = path.rsplit('.').next().unwrap_or(path);
    last.split('[').next().unwrap_or(last)
}

fn example_hint(key: &str) -> Option<String> {
    let hint = match key {
        "port" => "e.g. port: 993",
        "workers" => "e.g. workers: 4",
        "flags" => "add (the default), mirror or never",
        "allow_insecure" => "write true or false",
        "compression_level" => "a zstd level from 1 to 22, e.g. compression_level: 3",
        "include" | "exclude" => "a list of globs, e.g. include: [\"*\"]",
        "map" => "source folder: target folder pairs, e.g. map: { \"工作\": \"Projects/Work\" }",
        "password" => PASSWORD_HINT,
        "user" => "e.g. user: alice@163.com",
        "source" => "give one of imap, archive, mbox, eml_dir, maildir",
        "target" => "give imap or archive",
        "since" | "before" => DATE_HINT,
        "max_size" | "max_attachment_size" | "commit_every" => SIZE_HINT,
        "path" => "e.g. path: backups/alice",
        _ => return None,
    };
    Some(hint.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "profiles/x.yaml";

    fn parse(text: &str) -> Result<Profile, ProfileError> {
        Profile::parse(text, Path::new(FILE))
    }

    fn parse_err(text: &str) -> ProfileError {
        match parse(text) {
            Ok(p) => panic!("expected an error, got {p:?}"),
            Err(e) => e,
        }
    }

    fn assert_err(e: &ProfileError, line: usize, key: &str, hint_has: &str) {
        assert_eq!(e.file, Path::new(FILE), "{e}");
        assert_eq!(e.line, Some(line), "{e}");
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        let hint = e.hint.as_deref().unwrap_or("");
        assert!(
            hint.contains(hint_has),
            "hint {hint:?} lacks {hint_has:?}: {e}"
        );
    }

    const QQ_TARGET: &str = "target:\n  imap: { provider: qq, user: \"123456@qq.com\", password: { env: QQ_AUTH_CODE } }\n";

    fn with_source(source: &str) -> String {
        format!("{source}{QQ_TARGET}")
    }

    const GOOD_SOURCE: &str = "source:\n  imap:\n    provider: \"163\"\n    user: alice@163.com\n    password: { env: SRC_PASSWORD }\n";

    #[test]
    fn minimal_163_to_qq_takes_the_presets() {
        let p = parse(&with_source(GOOD_SOURCE)).unwrap();
        let Source::Imap(src) = &p.source else {
            panic!("{:?}", p.source)
        };
        assert_eq!(src.host, "imap.163.com");
        assert_eq!(src.port, 993);
        assert_eq!(src.tls, TlsMode::Implicit);
        assert_eq!(src.provider.map(|p| p.id), Some("163"));
        assert_eq!(src.password, PasswordSource::Env("SRC_PASSWORD".into()));
        let Target::Imap(dst) = &p.target else {
            panic!("{:?}", p.target)
        };
        assert_eq!(dst.host, "imap.qq.com");
        assert_eq!(dst.user, "123456@qq.com");
        assert_eq!(p.state_dir, Path::new("profiles/.mailferry"));
        let expected = src
            .provider
            .unwrap()
            .default_workers
            .min(dst.provider.unwrap().default_workers);
        assert_eq!(p.workers, expected);
        assert!(p.notes.is_empty(), "{:?}", p.notes);
    }

    #[test]
    fn unknown_key_names_the_nearest_valid_one() {
        let e = parse_err(&with_source(
            "source:\n  imap:\n    provider: \"163\"\n    hots: imap.163.com\n",
        ));
        assert_err(&e, 4, "source.imap.hots", "did you mean 'host'?");
        assert!(
            e.hint
                .as_deref()
                .unwrap()
                .contains("valid keys: provider, host")
        );
        assert_eq!(e.message, "unknown key");
        assert!(
            e.to_string().starts_with(
                "profiles/x.yaml line 4: source.imap.hots: unknown key; did you mean 'host'? (valid keys: provider, host,"
            ),
            "{e}"
        );
    }

    #[test]
    fn unknown_key_in_flow_style_and_at_the_top() {
        let e = parse_err(
            "source:\n  mbox: a.mbox\ntarget:\n  imap: { provider: qq, usr: a, password: { env: X } }\n",
        );
        assert_err(&e, 4, "target.imap.usr", "did you mean 'user'?");
        let e = parse_err(&format!("{}workres: 3\n", with_source(GOOD_SOURCE)));
        assert_err(&e, 8, "workres", "did you mean 'workers'?");
    }

    #[test]
    fn wrong_types_name_key_and_line() {
        let e = parse_err(&with_source(
            "source:\n  imap:\n    provider: \"163\"\n    port: abc\n",
        ));
        assert_err(&e, 4, "source.imap.port", "port: 993");
        assert!(e.message.contains("a number"), "{e}");
        let e = parse_err(&format!("{}workers: many\n", with_source(GOOD_SOURCE)));
        assert_err(&e, 8, "workers", "workers: 4");
        assert!(e.message.contains("\"many\""), "{e}");
    }

    #[test]
    fn unknown_enum_value_suggests_the_nearest() {
        let e = parse_err(&with_source(
            "source:\n  imap:\n    provider: \"163\"\n    tls: implict\n",
        ));
        assert_err(&e, 4, "source.imap.tls", "did you mean 'implicit'?");
        assert!(e.hint.unwrap().contains("starttls"));
    }

    #[test]
    fn yaml_syntax_error_has_a_line() {
        let e = parse_err("source:\n  imap:\n    user: a\n   bad: [\n");
        assert_eq!(e.line, Some(4), "{e}");
        assert_eq!(e.key, None);
        assert!(e.message.starts_with("YAML syntax error"), "{e}");
        assert!(e.hint.unwrap().contains("indentation"));
    }

    #[test]
    fn plain_password_is_refused_without_repeating_it() {
        for value in ["\"hunter2-secret\"", "hunter2-secret", "123456789"] {
            let text = with_source(&format!(
                "source:\n  imap:\n    provider: \"163\"\n    user: a@163.com\n    password: {value}\n"
            ));
            let e = parse_err(&text);
            assert_err(&e, 5, "source.imap.password", "{ env: VAR }");
            let all = format!("{e} {e:?}");
            assert!(
                all.contains("{ file: path }") && all.contains("{ command:"),
                "{all}"
            );
            assert!(!all.contains("hunter2"), "{all}");
            assert!(!all.contains("123456789"), "{all}");
        }
    }

    #[test]
    fn password_map_needs_exactly_one_source() {
        let e = parse_err(&with_source(
            "source:\n  imap:\n    provider: \"163\"\n    user: a@163.com\n    password: { env: A, file: b }\n",
        ));
        assert_err(&e, 5, "source.imap.password", "{ command:");
        assert!(e.message.contains("env and file"), "{e}");
        let e = parse_err(&with_source(
            "source:\n  imap:\n    provider: \"163\"\n    user: a@163.com\n    password: {}\n",
        ));
        assert_err(&e, 5, "source.imap.password", "{ env: VAR }");
        let e = parse_err(&with_source(
            "source:\n  imap:\n    provider: \"163\"\n    user: a@163.com\n    password:\n      evn: X\n",
        ));
        assert_err(&e, 6, "source.imap.password.evn", "did you mean 'env'?");
        for (written, line) in [
            ("{ hunter2 }", 5),
            ("{ hunter2: }", 5),
            ("\n      hunter2: x", 6),
        ] {
            let e = parse_err(&with_source(&format!(
                "source:\n  imap:\n    provider: \"163\"\n    user: a@163.com\n    password: {written}\n"
            )));
            assert_err(&e, line, "source.imap.password", "{ env: VAR }");
            let all = format!("{e} {e:?}");
            assert!(!all.contains("hunter2"), "{all}");
        }
        let e = parse_err(&with_source(
            "source:\n  imap:\n    provider: \"163\"\n    user: a@163.com\n    password: { env: }\n",
        ));
        assert_err(&e, 5, "source.imap.password.env", "QQ_AUTH_CODE");
    }

    #[test]
    fn missing_password_and_user() {
        let e = parse_err(&with_source(
            "source:\n  imap:\n    provider: \"163\"\n    user: a@163.com\n",
        ));
        assert_err(&e, 2, "source.imap.password", "{ env: VAR }");
        let e = parse_err(&with_source(
            "source:\n  imap:\n    provider: \"163\"\n    password: { env: X }\n",
        ));
        assert_err(&e, 2, "source.imap.user", "user: alice@163.com");
    }

    #[test]
    fn impossible_values() {
        let e = parse_err(&format!(
            "{}filters:\n  since: 2024-01-01\n  before: 2020-01-01\n",
            with_source(GOOD_SOURCE)
        ));
        assert_err(&e, 10, "filters.before", "since is inclusive");
        let e = parse_err(&format!(
            "{}filters: {{ since: 2024-01-01, before: 2024-01-01 }}\n",
            with_source(GOOD_SOURCE)
        ));
        assert_err(&e, 8, "filters.before", "since is inclusive");
        let e = parse_err(&format!("{}workers: 0\n", with_source(GOOD_SOURCE)));
        assert_err(&e, 8, "workers", "default");
        let e = parse_err(&format!(
            "{GOOD_SOURCE}target:\n  archive:\n    path: b\n    compression_level: 23\n"
        ));
        assert_err(
            &e,
            9,
            "target.archive.compression_level",
            "1 (fastest) to 22",
        );
        let e = parse_err(&format!(
            "{}filters:\n  max_size: 50XB\n",
            with_source(GOOD_SOURCE)
        ));
        assert_err(&e, 9, "filters.max_size", "KiB");
        assert!(e.message.contains("'50XB'"), "{e}");
        let e = parse_err(&format!(
            "{}filters:\n  since: 2020-13-01\n",
            with_source(GOOD_SOURCE)
        ));
        assert_err(&e, 9, "filters.since", "YYYY-MM-DD");
        let e = parse_err(&format!(
            "{}filters:\n  since: 2020-1-1\n",
            with_source(GOOD_SOURCE)
        ));
        assert_err(&e, 9, "filters.since", "YYYY-MM-DD");
    }

    #[test]
    fn plain_imap_to_a_remote_host_needs_an_explicit_opt_out() {
        let src = "source:\n  imap:\n    host: mail.example.com\n    tls: none\n    user: a\n    password: { env: X }\n";
        let e = parse_err(&with_source(src));
        assert_err(&e, 4, "source.imap.tls", "allow_insecure: true");
        assert!(e.message.contains("mail.example.com"), "{e}");

        let opted = src.replace("tls: none\n", "tls: none\n    allow_insecure: true\n");
        let p = parse(&with_source(&opted)).unwrap();
        let Source::Imap(a) = p.source else { panic!() };
        assert_eq!(
            (a.port, a.tls, a.allow_insecure),
            (143, TlsMode::None, true)
        );

        for host in [
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "[::1]",
            "localhost",
            "LOCALHOST",
        ] {
            let text = src.replace("mail.example.com", &format!("\"{host}\""));
            assert!(parse(&with_source(&text)).is_ok(), "{host}");
        }
        let text = src.replace("mail.example.com", "128.0.0.1");
        assert!(parse(&with_source(&text)).is_err());
    }

    #[test]
    fn unknown_provider_lists_the_known_ones() {
        let e = parse_err(&with_source(
            "source:\n  imap:\n    provider: \"1633\"\n    user: a\n    password: { env: X }\n",
        ));
        assert_err(&e, 3, "source.imap.provider", "did you mean '163'?");
        let hint = e.hint.unwrap();
        for id in [
            "qq", "foxmail", "exmail", "163", "126", "yeah", "gmail", "outlook",
        ] {
            assert!(hint.contains(id), "{hint}");
        }
    }

    #[test]
    fn missing_host_without_provider() {
        let e = parse_err(&with_source(
            "source:\n  imap:\n    user: a\n    password: { env: X }\n",
        ));
        assert_err(&e, 2, "source.imap.host", "provider:");
    }

    #[test]
    fn a_pop3_source_takes_the_pop3_presets() {
        let p = parse(&with_source(
            "source:\n  pop3: { provider: qq, user: \"123@qq.com\", password: { env: P }, seen: true }\n",
        ))
        .unwrap();
        let Source::Pop3(pop) = &p.source else {
            panic!("{:?}", p.source)
        };
        assert_eq!(
            (pop.account.host.as_str(), pop.account.port, pop.seen),
            ("pop.qq.com", 995, true)
        );
        let p = parse(&with_source(
            "source:\n  pop3: { host: pop.126.com, tls: starttls, user: a@126.com, password: { env: P } }\n",
        ))
        .unwrap();
        let Source::Pop3(pop) = &p.source else {
            panic!("{:?}", p.source)
        };
        assert_eq!(pop.account.port, 110);
        assert_eq!(pop.account.provider.map(|p| p.id), Some("126"));
        let e = parse_err(&with_source(
            "source:\n  pop3:\n    provider: qq\n    user: a@qq.com\n    password: { env: P }\n    sen: true\n",
        ));
        assert_eq!(e.line, Some(6), "{e}");
        assert!(e.to_string().contains("seen"), "{e}");
    }

    #[test]
    fn host_alone_finds_the_preset_and_ports_follow_tls() {
        let p = parse(&with_source(
            "source:\n  imap:\n    provider: 126\n    user: a\n    password: { env: X }\n",
        ))
        .unwrap();
        let Source::Imap(a) = &p.source else { panic!() };
        assert_eq!(a.host, "imap.126.com", "an unquoted provider number works");
        let p = parse(&with_source(
            "source:\n  imap:\n    host: imap.126.com\n    user: a\n    password: { env: X }\n",
        ))
        .unwrap();
        let Source::Imap(a) = &p.source else { panic!() };
        assert_eq!(a.provider.map(|p| p.id), Some("126"));
        assert_eq!(a.port, 993);
        assert!(
            p.notes.iter().any(|n| n.contains("imap.126.com")),
            "{:?}",
            p.notes
        );

        let p = parse(&with_source(
            "source:\n  imap:\n    provider: \"163\"\n    tls: starttls\n    user: a\n    password: { env: X }\n",
        ))
        .unwrap();
        let Source::Imap(a) = &p.source else { panic!() };
        assert_eq!((a.host.as_str(), a.port), ("imap.163.com", 143));

        let p = parse(&with_source(
            "source:\n  imap:\n    host: mail.example.org\n    user: a\n    password: { env: X }\n",
        ))
        .unwrap();
        let Source::Imap(a) = &p.source else { panic!() };
        assert_eq!(
            (a.port, a.tls, a.provider.is_none()),
            (993, TlsMode::Implicit, true)
        );
    }

    #[test]
    fn source_and_target_need_exactly_one_kind() {
        let e = parse_err(&with_source("source:\n  mbox: a.mbox\n  maildir: m\n"));
        assert_err(
            &e,
            1,
            "source",
            "imap, pop3, archive, mbox, eml_dir, maildir",
        );
        assert!(e.message.contains("mbox and maildir"), "{e}");
        let e = parse_err(&with_source("source: {}\n"));
        assert_err(&e, 1, "source", "exactly one");
        let e = parse_err(
            "source:\n  mbox: a.mbox\ntarget:\n  archive: { path: x }\n  imap: { provider: qq, user: a, password: { env: X } }\n",
        );
        assert_err(&e, 3, "target", "imap, archive");
        let e = parse_err("source:\n  mbox: a.mbox\ntarget: {}\n");
        assert_err(&e, 3, "target", "imap, archive");
        assert!(e.message.contains("no target"), "{e}");
        let e = parse_err("source:\n  archive: { path: old }\ntarget:\n  archive: { path: new }\n");
        assert_err(&e, 4, "target.archive", "target: imap");
        assert!(e.message.contains("nothing to do"), "{e}");
    }

    #[test]
    fn glob_check_matches_the_mapper() {
        for ok in ["*", "[Gmail]/*", "[abc", "病毒*", "{a,b}/x", "a\\{b"] {
            assert_eq!(check_glob(ok), Ok(()), "{ok}");
        }
        for bad in ["a{b", "x\\"] {
            assert!(check_glob(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_glob_names_the_list_item() {
        let e = parse_err(&format!(
            "{}folders:\n  include:\n    - \"*\"\n    - \"{{abc\"\n",
            with_source(GOOD_SOURCE)
        ));
        assert_err(&e, 11, "folders.include[1]", "globs use");
        assert!(e.message.contains("{abc"), "{e}");
        let e = parse_err(&format!(
            "{}folders:\n  exclude: [\"垃圾邮件\", \"a{{b\"]\n",
            with_source(GOOD_SOURCE)
        ));
        assert_err(&e, 9, "folders.exclude[1]", "globs use");
    }

    #[test]
    fn folder_map_keys_and_targets_are_checked() {
        let e = parse_err(&format!(
            "{}folders:\n  map:\n    \"\\\\Snet\": Sent\n",
            with_source(GOOD_SOURCE)
        ));
        assert_err(&e, 10, "folders.map.\\Snet", "\\Sent");
        let e = parse_err(&format!(
            "{}folders:\n  map: {{ \"工作\": \"Projects//Work\" }}\n",
            with_source(GOOD_SOURCE)
        ));
        assert_err(&e, 9, "folders.map.工作", "Projects/Work");
        let p = parse(&format!(
            "{}folders:\n  map: {{ \"\\\\Sent\": \"已发送\", 工作: Projects/Work }}\n",
            with_source(GOOD_SOURCE)
        ))
        .unwrap();
        assert_eq!(p.folders.map.len(), 2);
    }

    #[test]
    fn paths_resolve_against_the_profile_directory() {
        let text = "source:\n  mbox: { path: takeout/All.mbox }\ntarget:\n  archive: { path: /abs/backup, format: tar }\nstate_dir: state\n";
        let p = parse(text).unwrap();
        let Source::Mbox { path } = &p.source else {
            panic!()
        };
        assert_eq!(path, Path::new("profiles/takeout/All.mbox"));
        let Target::Archive(a) = &p.target else {
            panic!()
        };
        assert_eq!(a.path, Path::new("/abs/backup"));
        assert_eq!((a.format, a.compression_level), (ArchiveFormat::Tar, 3));
        assert_eq!(p.state_dir, Path::new("profiles/state"));
        assert_eq!(p.workers, DEFAULT_WORKERS);

        let p =
            parse("source:\n  maildir: ../Maildir\ntarget:\n  archive:\n    path: b\n").unwrap();
        let Source::Maildir { path } = &p.source else {
            panic!()
        };
        assert_eq!(path, Path::new("profiles/../Maildir"));
        let Target::Archive(a) = &p.target else {
            panic!()
        };
        assert_eq!(a.format, ArchiveFormat::Mbox);
    }

    #[test]
    fn workers_above_a_presets_cap_are_capped_with_a_note() {
        let qq_max = providers::lookup("qq").unwrap().max_workers;
        let p = parse(&format!("{}workers: 64\n", with_source(GOOD_SOURCE))).unwrap();
        assert!(p.workers <= qq_max);
        assert!(
            p.notes.iter().any(|n| n.contains("workers capped at")),
            "{:?}",
            p.notes
        );
        let p = parse(&format!("{}workers: 1\n", with_source(GOOD_SOURCE))).unwrap();
        assert_eq!(p.workers, 1);
        assert!(p.notes.is_empty());
    }

    #[test]
    fn full_example_parses() {
        let text = r#"
source:
  imap:
    provider: "163"
    host: imap.163.com
    port: 993
    tls: implicit
    ca_file: certs/ca.pem
    user: alice@163.com
    password: { env: SRC_PASSWORD }   # the authorization code
    allow_insecure: false
target:
  imap: { provider: qq, user: "123456@qq.com", password: { command: "pass show mail/qq" } }
folders:
  include: ["*"]
  exclude: ["垃圾邮件", "病毒*"]
  map: { "工作": "Projects/Work" }
filters:
  since: 2020-01-01
  before: 2024-01-01
  attachments: only
  max_attachment_size: 50MB
  max_size: 68 MB
workers: 2
state_dir: .mailferry
"#;
        let p = parse(text).unwrap();
        let Source::Imap(a) = &p.source else { panic!() };
        assert_eq!(
            a.ca_file.as_deref(),
            Some(Path::new("profiles/certs/ca.pem"))
        );
        assert_eq!(p.folders.exclude, ["垃圾邮件", "病毒*"]);
        assert_eq!(
            p.folders.map.get("工作").map(String::as_str),
            Some("Projects/Work")
        );
        assert_eq!(p.filters.since, NaiveDate::from_ymd_opt(2020, 1, 1));
        assert_eq!(p.filters.attachments, AttachmentFilter::Only);
        assert_eq!(p.filters.max_attachment_size, Some(50_000_000));
        assert_eq!(p.filters.max_size, Some(68_000_000));
        assert_eq!(p.workers, 2);
        let Target::Imap(t) = &p.target else { panic!() };
        assert_eq!(
            t.password,
            PasswordSource::Command(PasswordCommand::Shell("pass show mail/qq".into()))
        );
    }

    #[test]
    fn empty_profile_and_unreadable_file() {
        let e = parse_err("# nothing here\n\n");
        assert!(e.message.contains("empty"), "{e}");
        let e = Profile::load(Path::new("/nonexistent/mailferry/profile.yaml")).unwrap_err();
        assert_eq!(e.line, None);
        assert!(
            e.to_string()
                .starts_with("/nonexistent/mailferry/profile.yaml: cannot read")
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100000"), Ok(100_000));
        assert_eq!(parse_size("50MB"), Ok(50_000_000));
        assert_eq!(parse_size("68 MB"), Ok(68_000_000));
        assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_size("512KiB"), Ok(524_288));
        assert_eq!(parse_size("1MiB"), Ok(1_048_576));
        assert_eq!(parse_size("50mb"), Ok(50_000_000));
        assert_eq!(parse_size("0.5KiB"), Ok(512));
        assert!(parse_size("50XB").is_err());
        assert!(parse_size("1.5").is_err());
        assert!(parse_size("MB").is_err());
        assert!(parse_size("1.2.3MB").is_err());
        assert!(parse_size("99999999999999999999TB").is_err());
        assert!(parse_size("-5MB").is_err());
    }

    #[test]
    fn locator_handles_block_flow_sequences_and_comments() {
        let text = "# comment: with colon\nsource:\n  imap: { provider: qq, password: { env: X } }\nfolders:\n  include:\n  - a\n  - \"b # not a comment\"\n  exclude: [x, y]\n  map:\n    \"工作\": W   # trailing\nfilters:\n  since: |\n    fake: 1\n  before: x\n";
        assert_eq!(locate(text, "source.imap.password.env"), Some(3));
        assert_eq!(locate(text, "source.imap.host"), Some(3));
        assert_eq!(locate(text, "folders.include[1]"), Some(7));
        assert_eq!(locate(text, "folders.exclude[1]"), Some(8));
        assert_eq!(locate(text, "folders.map.工作"), Some(10));
        assert_eq!(locate(text, "filters.before"), Some(14));
        assert_eq!(locate(text, "filters.fake"), Some(11));
        assert_eq!(locate(text, "target.imap"), None);
    }
}
