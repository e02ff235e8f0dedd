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
    /// Gmail labels of the message (`X-GM-LABELS`), when the source was Gmail.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
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
    /// Every folder and the messages that could be read. Damage found while opening does not
    /// fail this: it is listed by the store's `problems()` and by [`open_store_with_problems`],
    /// each naming file and byte offset.
    fn folders(&self) -> Result<Vec<StoredFolder>, ArchiveError>;
    /// The raw bytes of one message, exactly as stored.
    fn read(&self, folder: &str, id: u64) -> Result<Vec<u8>, ArchiveError>;
    /// Things the user should know about what [`MessageStore::folders`] found (a POP3
    /// server's 30-day window), for the plan's notes.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
    /// Ends what the store holds open (a POP3 session is ended with QUIT).
    fn close(&self) {}
}

mod common;
mod export;
mod files;
mod inspect;
mod manifest;
mod mbox;
#[cfg(test)]
mod sealed_tests;
mod store;
mod writer;

pub use export::{ExportFormat, ExportOptions, ExportSummary, export};
pub use files::FileStore;
pub use inspect::{
    CheckReport, Damage, FolderListing, Listing, MessageRef, RunListing, check, list,
};
pub use manifest::FORMAT_VERSION;
pub use mbox::{MboxStore, OUR_SENDER};
pub use store::ArchiveStore;
pub use writer::{ArchiveWriter, KnownMessage, PruneReport, PrunedMessage, RunSummary, cutoff};

use crate::profile::Source;

impl MessageMeta {
    /// Metadata computed from the raw bytes (size, SHA-256, fingerprint, Message-ID), with no
    /// flags, INTERNALDATE or source UIDs yet.
    pub fn from_raw(folder: &str, role: Option<Role>, raw: &[u8]) -> MessageMeta {
        let d = common::Digest::of(raw);
        MessageMeta {
            folder: folder.to_string(),
            role,
            flags: Vec::new(),
            internaldate: None,
            size: d.size,
            sha256: d.sha256,
            fingerprint: d.fingerprint,
            message_id: d.message_id,
            source_uidvalidity: None,
            source_uid: None,
            labels: Vec::new(),
        }
    }
}

// Problems are kept by stores and handed out as copies.
impl Clone for ArchiveError {
    fn clone(&self) -> Self {
        match self {
            ArchiveError::Io { path, detail } => ArchiveError::Io {
                path: path.clone(),
                detail: detail.clone(),
            },
            ArchiveError::Corrupt {
                path,
                offset,
                detail,
            } => ArchiveError::Corrupt {
                path: path.clone(),
                offset: *offset,
                detail: detail.clone(),
            },
            ArchiveError::Invalid { path, detail } => ArchiveError::Invalid {
                path: path.clone(),
                detail: detail.clone(),
            },
        }
    }
}

/// Reads an age identity from where the profile (or `--identity`) says; `key` names it in
/// errors. The secret itself never appears in one.
pub fn load_identity(
    archive: &std::path::Path,
    source: &crate::profile::PasswordSource,
    key: &str,
) -> Result<crate::crypt::Identity, ArchiveError> {
    let secret = source.resolve().map_err(|e| ArchiveError::Invalid {
        path: archive.to_path_buf(),
        detail: format!("{key}: {e}"),
    })?;
    crate::crypt::Identity::parse(secret).map_err(|e| ArchiveError::Invalid {
        path: archive.to_path_buf(),
        detail: format!("{key}: {e}"),
    })
}

/// Opens a profile's file source (`archive`, `mbox`, `eml_dir`, `maildir`) as a store.
/// Everything readable is listed by [`MessageStore::folders`]; see [`open_store_with_problems`]
/// for what was not.
pub fn open_store(source: &Source) -> Result<Box<dyn MessageStore>, ArchiveError> {
    open_store_with_problems(source).map(|(store, _)| store)
}

/// [`open_store`], plus the damage found while opening (each naming file and offset): bad
/// input does not stop the store from serving the messages before and around it.
pub fn open_store_with_problems(
    source: &Source,
) -> Result<(Box<dyn MessageStore>, Vec<ArchiveError>), ArchiveError> {
    Ok(match source {
        Source::Archive { path, identity } => {
            let identity = identity
                .as_ref()
                .map(|i| load_identity(path, i, "source.archive.identity"))
                .transpose()?;
            let s = ArchiveStore::open_with(path, identity)?;
            let p = s.problems();
            (Box::new(s), p)
        }
        Source::Mbox { path } => {
            let s = MboxStore::open(path)?;
            let p = s.problems();
            (Box::new(s), p)
        }
        Source::EmlDir { path } => {
            let s = FileStore::open_eml_dir(path)?;
            let p = s.problems();
            (Box::new(s), p)
        }
        Source::Maildir { path } => {
            let s = FileStore::open_maildir(path)?;
            let p = s.problems();
            (Box::new(s), p)
        }
        Source::Imap(a) | Source::Pop3(crate::profile::Pop3Account { account: a, .. }) => {
            return Err(ArchiveError::Invalid {
                path: PathBuf::from(a.host.clone()),
                detail: "a mail server is not a file store".to_string(),
            });
        }
    })
}
