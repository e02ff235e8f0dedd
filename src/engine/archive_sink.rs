//! The archive side of a run: one writer, on its own thread, off the network path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::append::filtered_after_download;
use super::{Fetched, Shared, SourceSide, record_copied};
use crate::archive::{ArchiveWriter, MessageMeta};
use crate::error::Result;

/// The longest a backup goes without a commit.
const COMMIT_AGE: Duration = Duration::from_secs(60);

/// Writes fetched messages into the archive, one at a time. The run is committed every
/// `commit_every` bytes or [`COMMIT_AGE`] (each commit closes one archive run and opens the
/// next), and at the end, also when stopped early: a backup killed at 99% keeps what was
/// committed, and the next run adds only the rest.
pub(super) fn archive_writer(
    shared: Arc<Shared>,
    mut writer: ArchiveWriter,
    mut rx: mpsc::UnboundedReceiver<Vec<Fetched>>,
    commit_every: u64,
) -> Result<Option<crate::archive::RunSummary>> {
    let mut since_commit = 0u64;
    let mut last_commit = Instant::now();
    // Messages come a fetched batch at a time; they are written one by one, in order.
    let mut pending = std::collections::VecDeque::new();
    while let Some(msg) = pending.pop_front().or_else(|| {
        let batch = rx.blocking_recv()?;
        pending.extend(batch);
        pending.pop_front()
    }) {
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
            flags: msg.flags.to_vec(),
            internaldate: msg.internaldate.clone(),
            size: 0,
            sha256: String::new(),
            fingerprint: msg.meta.id.fingerprint.to_string(),
            message_id: msg.meta.message_id.clone(),
            source_uidvalidity: uidvalidity,
            source_uid: uid,
            labels: msg.meta.labels.clone(),
        };
        match writer.add(meta, &msg.body) {
            Ok(_) => record_copied(&shared, &msg, None, &msg.flags),
            Err(e) => shared.set_fatal(e.into()),
        }
        since_commit += msg.body.len() as u64;
        if since_commit >= commit_every || last_commit.elapsed() >= COMMIT_AGE {
            let committed = writer.commit_run().and_then(|s| {
                tracing::info!(run = s.run, added = s.added, "archive run committed");
                writer.begin_run()
            });
            if let Err(e) = committed {
                shared.set_fatal(e.into());
            }
            since_commit = 0;
            last_commit = Instant::now();
        }
    }
    // Commit what was written even after a failure: those messages are whole and readable.
    Ok(Some(writer.commit_run()?))
}
