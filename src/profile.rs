//! The YAML profile: one job's source, target, folder rules and filters.
//!
//! Parsing is strict (unknown keys, wrong types and impossible values are errors naming the
//! file, line, key and nearest valid key) and needs no network. The reference is
//! docs/profiles.md.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveDate;
use serde::Serialize;

use crate::providers::{Provider, TlsMode};
use crate::secret::Secret;

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
}

#[derive(Debug, Clone)]
pub enum Source {
    Imap(ImapAccount),
    /// One of our archives.
    Archive { path: PathBuf },
    /// A foreign mbox file, or a folder of `.mbox` / `.mbox.zst` files.
    Mbox { path: PathBuf },
    /// A folder tree of `.eml` files.
    EmlDir { path: PathBuf },
    Maildir { path: PathBuf },
}

#[derive(Debug, Clone)]
pub enum Target {
    Imap(ImapAccount),
    Archive(ArchiveTarget),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
}

/// Where a password comes from. A plain string in the profile is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    Env(String),
    File(PathBuf),
    Command(String),
}

#[derive(Debug, Clone)]
pub struct ImapAccount {
    /// The preset named by `provider:`, if any.
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
}

#[derive(Debug, Clone, Default)]
pub struct FolderRules {
    /// Globs on decoded folder names; empty means everything.
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// Explicit renames, source name -> target name (decoded, `/`-separated).
    pub map: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
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

// Keep the types above in sync with docs/profiles.md.
#[allow(dead_code)]
fn _uses(_: Secret) {}
