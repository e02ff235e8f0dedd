//! The archive side of a run: one writer, on its own thread, off the network path.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::append::filtered_after_download;
use super::{Fetched, Shared, SourceSide, record_copied};
use crate::archive::{ArchiveWriter, MessageMeta};
use crate::error::Result;

/// Writes fetched messages into the archive, one at a time, and commits the run at the end
/// (also when stopped early, so what was written is kept).
pub(super) fn archive_writer(
    shared: Arc<Shared>,
    mut writer: ArchiveWriter,
    mut rx: mpsc::UnboundedReceiver<Fetched>,
) -> Result<Option<crate::archive::RunSummary>> {
    while let Some(msg) = rx.blocking_recv() {
        if shared.failed() {
            continue;
        }
        if filtered_after_download(&shared, &msg) {
            continue;
        }
        let folder = &shared.folders[msg.folder];
        let (uidvalidity, uid) = match shared.source {
            SourceSide::Imap(_) => (Some(folder.plan.uidvalidity), Some(msg.meta.uid)),
            SourceSide::Store { .. } => (None, None),
        };
        let meta = MessageMeta {
            folder: folder.plan.target.clone(),
            role: folder.plan.role,
            flags: msg.flags.clone(),
            internaldate: msg.internaldate.clone(),
            size: 0,
            sha256: String::new(),
            fingerprint: msg.meta.fingerprint.0.clone(),
            message_id: msg.meta.message_id.clone(),
            source_uidvalidity: uidvalidity,
            source_uid: uid,
        };
        match writer.add(meta, &msg.body) {
            Ok(_) => record_copied(&shared, &msg, None, &msg.flags),
            Err(e) => shared.set_fatal(e.into()),
        }
    }
    // Commit what was written even after a failure: those messages are whole and readable.
    Ok(Some(writer.commit_run()?))
}
