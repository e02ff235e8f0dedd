//! The source side of a run: fetch workers that read batches (from IMAP, or a message store)
//! and hand whole messages on within the byte budget.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{
    BATCH_MESSAGES, Batch, Fetched, MAX_ATTEMPTS, PART_BYTES, Shared, SourceSide, blocking_err,
    reconnect,
};
use crate::archive::MessageStore;
use crate::error::Result;
use crate::imap::{Endpoint, Session, uidset};
use crate::plan::SourceMessage;

pub(super) async fn fetch_worker(
    shared: Arc<Shared>,
    mut session: Option<Session>,
    tx: mpsc::UnboundedSender<Fetched>,
) {
    loop {
        if shared.stop_requested() {
            break;
        }
        let batch = match shared.queue.lock() {
            Ok(mut q) => q.pop_front(),
            Err(_) => None,
        };
        let Some(batch) = batch else { break };
        match &shared.source {
            SourceSide::Imap(ep) => fetch_batch(&shared, ep, &mut session, batch, &tx).await,
            SourceSide::Store { store, .. } => read_batch(&shared, store.clone(), batch, &tx).await,
        }
    }
    if let Some(s) = session {
        s.logout().await;
    }
}

/// Reads a batch from a message store, off the async threads.
async fn read_batch(
    shared: &Shared,
    store: Arc<dyn MessageStore>,
    batch: Batch,
    tx: &mpsc::UnboundedSender<Fetched>,
) {
    let folder = &shared.folders[batch.folder];
    for meta in batch.messages {
        if shared.stop_requested() {
            return;
        }
        let permits = shared.permits_for(meta.size as u64);
        let Ok(permit) = shared.budget.clone().acquire_many_owned(permits).await else {
            return;
        };
        let (st, name, id) = (
            store.clone(),
            folder.plan.source_wire.clone(),
            meta.uid as u64,
        );
        match tokio::task::spawn_blocking(move || st.read(&name, id)).await {
            Ok(Ok(body)) => {
                let _ = tx.send(Fetched {
                    folder: batch.folder,
                    flags: meta.flags.clone(),
                    internaldate: meta.internaldate.clone(),
                    meta,
                    body,
                    _permit: Some(permit),
                });
            }
            Ok(Err(e)) => shared.fail(batch.folder, &meta, e.to_string()),
            Err(e) => shared.fail(batch.folder, &meta, blocking_err(e).to_string()),
        }
    }
}

/// One message in `PART_BYTES` pieces (`BODY.PEEK[]<offset.length>`), with its flags and
/// INTERNALDATE. `None` when the server no longer has it.
async fn fetch_in_parts(
    s: &mut Session,
    uid: u32,
    size: u64,
) -> Result<Option<(Vec<u8>, Option<Vec<String>>, Option<String>)>> {
    let mut body: Vec<u8> = Vec::with_capacity(size as usize);
    let mut flags = None;
    let mut internaldate = None;
    loop {
        let offset = body.len();
        let items = if offset == 0 {
            format!("(UID FLAGS INTERNALDATE BODY.PEEK[]<0.{PART_BYTES}>)")
        } else {
            format!("(UID BODY.PEEK[]<{offset}.{PART_BYTES}>)")
        };
        let mut got: Option<usize> = None;
        s.uid_fetch(&uid.to_string(), &items, &mut |rec| {
            if rec.uid != Some(uid) {
                return Ok(());
            }
            if offset == 0 {
                flags = rec.flags;
                internaldate = rec.internaldate;
            }
            if let Some(part) = rec.body {
                got = Some(part.len());
                body.extend_from_slice(&part);
            }
            Ok(())
        })
        .await?;
        match got {
            None if offset == 0 => return Ok(None),
            // A short (or empty) part is the end of the message.
            None => break,
            Some(n) if (n as u64) < PART_BYTES => break,
            Some(_) => {}
        }
    }
    Ok(Some((body, flags, internaldate)))
}

async fn fetch_batch(
    shared: &Shared,
    endpoint: &Endpoint,
    session: &mut Option<Session>,
    batch: Batch,
    tx: &mpsc::UnboundedSender<Fetched>,
) {
    let folder = &shared.folders[batch.folder];
    let mut pending: HashMap<u32, SourceMessage> =
        batch.messages.into_iter().map(|m| (m.uid, m)).collect();
    let mut attempt = 0u32;
    let mut last_error = String::new();
    while !pending.is_empty() {
        if shared.stop_requested() {
            return;
        }
        if attempt >= MAX_ATTEMPTS {
            let reason =
                format!("could not be read from the source after {attempt} tries: {last_error}");
            let mut left: Vec<SourceMessage> = pending.drain().map(|(_, m)| m).collect();
            left.sort_by_key(|m| m.uid);
            for m in left {
                shared.fail(batch.folder, &m, reason.clone());
            }
            return;
        }
        // Connect or replace a broken connection.
        if session.as_ref().is_none_or(|s| s.is_broken()) {
            match if attempt == 0 && session.is_none() {
                Session::connect(endpoint).await
            } else {
                reconnect(endpoint, attempt, &last_error, shared.progress.as_ref()).await
            } {
                Ok(s) => *session = Some(s),
                Err(e) => {
                    if !e.is_retryable() {
                        shared.set_fatal(e);
                        return;
                    }
                    last_error = e.to_string();
                    attempt += 1;
                    continue;
                }
            }
        }
        let Some(s) = session.as_mut() else { continue };
        if s.selected().map(|m| m.wire.as_str()) != Some(folder.plan.source_wire.as_str())
            && let Err(e) = s.examine(&folder.plan.source_wire).await
        {
            if e.poisons_connection() || e.is_retryable() {
                last_error = e.to_string();
                attempt += 1;
                continue;
            }
            // The folder itself is refused: every message in it fails with the server's words.
            let reason = e.to_string();
            let mut left: Vec<SourceMessage> = pending.drain().map(|(_, m)| m).collect();
            left.sort_by_key(|m| m.uid);
            for m in left {
                shared.fail(batch.folder, &m, reason.clone());
            }
            return;
        }
        let uids: Vec<u32> = pending.keys().copied().collect();
        let bytes: u64 = pending.values().map(|m| m.size as u64).sum();
        let permits = shared.permits_for(bytes);
        let Ok(permit) = shared.budget.clone().acquire_many_owned(permits).await else {
            return;
        };
        let mut permit = Some(permit);
        let mut delivered = Vec::new();
        let mut result = Ok(());
        let large = match uids[..] {
            [uid] => pending
                .get(&uid)
                .filter(|m| m.size as u64 > PART_BYTES)
                .map(|m| (uid, m.clone())),
            _ => None,
        };
        if let Some((uid, meta)) = &large {
            // A large message comes in parts, so no response (and no buffer behind it) is
            // larger than a part; only the message itself is held whole.
            match fetch_in_parts(s, *uid, meta.size as u64).await {
                Ok(Some((body, flags, internaldate))) => {
                    delivered.push(*uid);
                    let _ = tx.send(Fetched {
                        folder: batch.folder,
                        flags: flags.unwrap_or_else(|| meta.flags.clone()),
                        internaldate: internaldate.or_else(|| meta.internaldate.clone()),
                        meta: meta.clone(),
                        body,
                        _permit: permit.take(),
                    });
                }
                Ok(None) => {}
                Err(e) => result = Err(e),
            }
        }
        let uids = if large.is_some() { Vec::new() } else { uids };
        for (set, _) in uidset::chunks(&uids, BATCH_MESSAGES) {
            let r = s
                .uid_fetch(&set, "(UID FLAGS INTERNALDATE BODY.PEEK[])", &mut |rec| {
                    let Some(uid) = rec.uid else { return Ok(()) };
                    let Some(body) = rec.body else { return Ok(()) };
                    // Taken out at once: a server repeating a UID's data sends it once.
                    let Some(meta) = pending.remove(&uid) else {
                        return Ok(());
                    };
                    // Each message carries its share of the batch's budget until appended;
                    // the last one takes whatever is left.
                    let share = shared.permits_for(body.len() as u64) as usize;
                    let mine = match permit.as_mut() {
                        Some(p) if share < p.num_permits() => p.split(share),
                        _ => permit.take(),
                    };
                    delivered.push(uid);
                    let _ = tx.send(Fetched {
                        folder: batch.folder,
                        flags: rec.flags.unwrap_or_else(|| meta.flags.clone()),
                        internaldate: rec.internaldate.or_else(|| meta.internaldate.clone()),
                        meta,
                        body,
                        _permit: mine,
                    });
                    Ok(())
                })
                .await;
            if r.is_err() {
                result = r;
                break;
            }
        }
        // Whatever permits were not handed to a message go back now; the last delivered
        // message holds the remainder until it is appended.
        drop(permit);
        for uid in &delivered {
            pending.remove(uid);
        }
        match result {
            Ok(()) => {
                // Requested but not returned: gone from the source since the plan was made.
                // async-imap would not tell; we count them as failed with a clear reason.
                if !pending.is_empty() {
                    let mut left: Vec<SourceMessage> = pending.drain().map(|(_, m)| m).collect();
                    left.sort_by_key(|m| m.uid);
                    for m in left {
                        shared.fail(
                            batch.folder,
                            &m,
                            "the source no longer has this message (deleted since the run began?)"
                                .into(),
                        );
                    }
                }
                return;
            }
            Err(e) => {
                last_error = e.to_string();
                if !(e.is_retryable() || e.poisons_connection()) {
                    let mut left: Vec<SourceMessage> = pending.drain().map(|(_, m)| m).collect();
                    left.sort_by_key(|m| m.uid);
                    for m in left {
                        shared.fail(batch.folder, &m, last_error.clone());
                    }
                    return;
                }
                attempt += 1;
            }
        }
    }
}
