//! Provider presets and quirks, in one table.
//!
//! Facts and their sources: docs/providers.md. Code asks this table instead of checking host
//! names, so a provider's quirk lives in exactly one place.

use serde::{Deserialize, Serialize};

/// The special-use role of a folder (RFC 6154), plus INBOX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Inbox,
    Sent,
    Drafts,
    Trash,
    Junk,
    Archive,
    All,
    Flagged,
}

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (port 993).
    Implicit,
    /// Plain connection upgraded with STARTTLS (port 143); refused if the server does not offer it.
    Starttls,
    /// No encryption. Only to loopback, or with `allow_insecure: true`.
    None,
}

/// One provider's preset and quirks.
#[derive(Debug)]
pub struct Provider {
    /// The key used in profiles (`provider: qq`).
    pub id: &'static str,
    /// Name shown to users.
    pub display: &'static str,
    pub host: &'static str,
    pub port: u16,
    pub tls: TlsMode,
    /// The server refuses SELECT until the client sends IMAP ID (NetEase "Unsafe Login").
    pub requires_id: bool,
    /// Names (decoded UTF-8) of this provider's special folders: where mail of each role goes
    /// when this provider is the target, and how folders are recognised when LIST carries no
    /// special-use attributes.
    pub special_folders: &'static [(Role, &'static str)],
    /// Folders user folders must live under when this provider is the target (QQ: `其他文件夹`).
    pub user_folder_parent: Option<&'static str>,
    /// Folders a migration leaves out unless the profile includes them by name (virus folders).
    pub skip_by_default: &'static [&'static str],
    pub default_workers: usize,
    pub max_workers: usize,
    /// Largest message the server accepts by APPEND, when known.
    pub append_limit: Option<u64>,
    /// Whether PERMANENTFLAGS lets keywords persist (NetEase: no `\*`).
    pub keeps_keywords: bool,
    /// Substrings of the provider's catch-all login failure, which also covers rate limiting:
    /// retried a few times before being reported as bad credentials.
    pub ambiguous_login_errors: &'static [&'static str],
    /// What to tell the user when login fails.
    pub login_hint: &'static str,
}
