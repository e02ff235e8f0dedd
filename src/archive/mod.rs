//! Archives: our own backups (zstd mbox per folder, or tar.zst volumes of `.eml` files, with a
//! manifest) and foreign exports (mbox, `.eml` folders, Maildir) read as message sources.
//!
//! The engine sees two things here: [`MessageStore`], anything messages can be read from, and
//! [`ArchiveWriter`], the one writer of a backup. Formats: docs/archive-format.md.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::providers::Role;

/// What is known of one stored message besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageMeta {
    /// Decoded folder name, `/`-separated.
    pub folder: String,
    pub role: Option<Role>,
    /// System flags and keywords, e.g. `\Seen`, `$Forwarded` (no `\Recent`).
    pub flags: Vec<String>,
    /// INTERNALDATE in IMAP form (`07-Jul-2021 02:44:25 +0800`), when known.
    pub internaldate: Option<String>,
    /// Size of the raw bytes as stored.
    pub size: u64,
    /// SHA-256 of the raw bytes, hex.
    pub sha256: String,
    /// [`crate::fingerprint::Fingerprint`] of the message (its `.0`).
    pub fingerprint: String,
    pub message_id: Option<String>,
    pub source_uidvalidity: Option<u32>,
    pub source_uid: Option<u32>,
}

/// One folder of a store, with its messages' metadata in a stable order.
#[derive(Debug, Clone)]
pub struct StoredFolder {
    pub name: String,
    pub role: Option<Role>,
    pub messages: Vec<StoredMessage>,
}

#[derive(Debug, Clone)]
pub struct StoredMessage {
    /// Position of the message in its folder; what [`MessageStore::read`] takes.
    pub id: u64,
    pub meta: MessageMeta,
}

/// Errors reading or writing archives: always the file, and the byte offset when it matters.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{}: {detail}", .path.display())]
    Io { path: PathBuf, detail: String },
    #[error("{} at byte {offset}: {detail}", .path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        detail: String,
    },
    #[error("{}: {detail}", .path.display())]
    Invalid { path: PathBuf, detail: String },
}

/// Anything messages can be read from: our archives and foreign exports.
pub trait MessageStore: Send + Sync {
    /// Every folder and its messages' metadata. Damage is reported as an error naming file and
    /// offset, after which messages before the damage are still listed by
    /// [`MessageStore::folders_lossy`].
    fn folders(&self) -> Result<Vec<StoredFolder>, ArchiveError>;
    /// The raw bytes of one message, exactly as stored.
    fn read(&self, folder: &str, id: u64) -> Result<Vec<u8>, ArchiveError>;
}
