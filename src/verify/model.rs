//! What `verify` reports: problems, per-folder verdicts, totals, and the items compared.

use std::sync::Arc;

use serde::Serialize;

use crate::archive::MessageStore;
use crate::fingerprint::Fingerprint;
use crate::imap::Endpoint;
use crate::reconcile::{Identified, Identity};

/// How messages are identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Size plus a hash of header fields ([`crate::fingerprint`]): headers only, fast.
    Fingerprint,
    /// SHA-256 of the whole message (`BODY.PEEK[]`), a bare LF counted as CRLF.
    Sha256,
}

#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Compare whole messages ([`Method::Sha256`]) instead of fingerprints.
    pub deep: bool,
    /// The job's stored folder plan, so folders are paired as `run` put them.
    pub stored: Option<crate::checkpoint::StoredPlan>,
}

/// One side of a comparison: an IMAP account, or a message store (an archive, or a foreign
/// export as a source).
#[derive(Clone)]
pub enum Location {
    Imap(Endpoint),
    Store {
        store: Arc<dyn MessageStore>,
        /// What to call it in messages, e.g. the archive's path.
        label: String,
    },
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Imap(e) => f.debug_tuple("Imap").field(&e.label()).finish(),
            Location::Store { label, .. } => f.debug_tuple("Store").field(label).finish(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProblemKind {
    /// On the source, not on the target.
    Missing,
    /// On the target, and its identity is not in the source folder at all.
    Extra,
    /// More target copies than source copies.
    Duplicate,
    /// Present, with different flags.
    Flags,
    /// Present, with a different INTERNALDATE instant.
    Date,
}

impl ProblemKind {
    pub const ALL: [ProblemKind; 5] = [
        ProblemKind::Missing,
        ProblemKind::Extra,
        ProblemKind::Duplicate,
        ProblemKind::Flags,
        ProblemKind::Date,
    ];

    pub(super) fn heading(self) -> &'static str {
        match self {
            ProblemKind::Missing => "missing on the target",
            ProblemKind::Extra => "extra on the target (not on the source)",
            ProblemKind::Duplicate => "duplicates on the target",
            ProblemKind::Flags => "flags differ",
            ProblemKind::Date => "INTERNALDATE differs",
        }
    }
}

/// One message that is not as it should be.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    /// The source folder; for `extra` and `duplicate`, the target folder.
    pub folder: String,
    pub target_folder: String,
    /// Source UID (`missing`, `flags`, `date`); for a store source, the UID it was archived from.
    pub uid: Option<u32>,
    /// Target UID (`extra`, `duplicate`, `flags`, `date`) when the target is IMAP.
    pub target_uid: Option<u32>,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub from: Option<String>,
    /// The message's Date header (RFC 3339).
    pub date: Option<String>,
    pub size: u64,
    pub fingerprint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// `flags`: each side's flags, limited to those the target folder can keep.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_flags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_flags: Option<Vec<String>>,
    /// `date`: each side's INTERNALDATE as printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_internaldate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_internaldate: Option<String>,
}

/// One target folder and the source folder(s) mapped to it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FolderVerdict {
    /// The source folder, or several joined with ` + ` when they share this target.
    pub source: String,
    pub target: String,
    /// False when the target folder does not exist: all its messages are missing.
    pub target_exists: bool,
    /// Selected source messages (after the profile's filters).
    pub source_messages: u64,
    /// Source messages left out by the filters (not expected on the target).
    pub filtered: u64,
    pub target_messages: u64,
    /// Source messages found on the target (including those with flag or date differences).
    pub present: u64,
    pub missing: u64,
    pub extra: u64,
    pub flags_differ: u64,
    pub date_differ: u64,
    pub duplicates: u64,
    /// Present, with bytes the server changed on storing (line ends, stray CRs, trailing
    /// whitespace): not a problem, but named.
    #[serde(skip_serializing_if = "is_zero")]
    pub changed_by_server: u64,
    /// Source flags not compared because the target folder cannot keep them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags_ignored: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The folder could not be read (the server refused it): nothing in it is verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl FolderVerdict {
    pub fn ok(&self) -> bool {
        self.error.is_none()
            && self.missing == 0
            && self.extra == 0
            && self.flags_differ == 0
            && self.date_differ == 0
            && self.duplicates == 0
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VerifyTotals {
    pub folders: u64,
    pub source_messages: u64,
    pub filtered: u64,
    pub target_messages: u64,
    pub present: u64,
    pub missing: u64,
    pub extra: u64,
    pub flags_differ: u64,
    pub date_differ: u64,
    pub duplicates: u64,
    /// Folders that could not be read.
    pub errors: u64,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The target holds every selected source message with its flags and date, and nothing
    /// more, in every compared folder.
    pub ok: bool,
    pub method: Method,
    pub totals: VerifyTotals,
    pub folders: Vec<FolderVerdict>,
    /// Every problem, folder by folder.
    pub problems: Vec<Problem>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub seconds: f64,
}

/// One message on one side, reduced to what is compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Which source folder of the group it is in (always 0 on the target).
    pub folder: usize,
    /// The IMAP UID, or the store's message id: what fetches it again.
    pub handle: u64,
    /// The UID shown to people.
    pub uid: Option<u32>,
    /// Its fingerprint and loose key, and with `deep` its SHA-256s (then the key compared).
    pub id: Identity,
    pub size: u64,
    pub flags: crate::flags::FlagSet,
    /// Shown only for problems, with the Message-ID, which is read then.
    pub internaldate: Option<String>,
}

impl Identified for Item {
    fn identity(&self) -> &Identity {
        &self.id
    }
}

/// What two items must share to be copies of one message: their bytes' SHA-256 where read,
/// else their fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemKey<'a> {
    Bytes(&'a str),
    Fingerprint(Fingerprint),
}

impl Item {
    pub fn key(&self) -> ItemKey<'_> {
        match self.id.sha256() {
            Some(h) => ItemKey::Bytes(h),
            None => ItemKey::Fingerprint(self.id.fingerprint),
        }
    }
}

/// How source and target items of one folder pair up. Indexes point into the slices given
/// to [`compare`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Matched (source, target) pairs.
    pub present: Vec<(usize, usize)>,
    pub missing: Vec<usize>,
    pub extra: Vec<usize>,
    pub duplicates: Vec<usize>,
    /// Matched pairs whose flags differ, with each side's comparable flags.
    pub flags: Vec<(usize, usize, Vec<String>, Vec<String>)>,
    /// Matched pairs whose INTERNALDATE instants differ.
    pub dates: Vec<(usize, usize)>,
    /// Matched pairs the server stored with changed bytes, and the size difference.
    pub changed: Vec<(usize, usize, i64)>,
}
