//! The source side of a run: fetch workers that read batches (from IMAP, or a message store)
//! and hand whole messages on within the byte budget.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{
    BATCH_MESSAGES, Batch, Fetched, MAX_ATTEMPTS, PART_BYTES, Shared, SourceSide, backoff,
    blocking_err, ensure_connected,
};
use crate::archive::MessageStore;
use crate::error::{Error, Result};
use crate::flags::FlagSet;
use crate::imap::{Endpoint, Session, uidset};
use crate::plan::SourceMessage;

pub(super) async fn fetch_worker(
    shared: Arc<Shared>,
    mut session: Option<Session>,
    tx: mpsc::UnboundedSender<Vec<Fetched>>,
) {
    loop {
        if shared.stop_requested() {
            break;
        }
        let batch = match shared.queue.lock() {
            Ok(mut q) => take_work(&mut q, shared.fetch_bytes),
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

/// The next batch, joined with the ones queued after it in the same folder while the whole
/// stays within `max_bytes` and one FETCH's message count. A large message (fetched in
/// parts) still goes alone.
fn take_work(queue: &mut VecDeque<Batch>, max_bytes: u64) -> Option<Batch> {
    let mut batch = queue.pop_front()?;
    let bytes = |b: &Batch| b.messages.iter().map(|m| u64::from(m.size)).sum::<u64>();
    let alone = |b: &Batch| b.messages.iter().any(|m| u64::from(m.size) > PART_BYTES);
    if batch.split || alone(&batch) {
        return Some(batch);
    }
    let mut total = bytes(&batch);
    while let Some(next) = queue.front() {
        let fits = next.folder == batch.folder
            && !next.split
            && !alone(next)
            && batch.messages.len() + next.messages.len() <= BATCH_MESSAGES
            && total + bytes(next) <= max_bytes;
        if !fits {
            break;
        }
        let Some(mut next) = queue.pop_front() else {
            break;
        };
        total += bytes(&next);
        batch.messages.append(&mut next.messages);
    }
    Some(batch)
}

/// Reads a batch from a message store, off the async threads.
async fn read_batch(
    shared: &Shared,
    store: Arc<dyn MessageStore>,
    batch: Batch,
    tx: &mpsc::UnboundedSender<Vec<Fetched>>,
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
                let _ = shared.deliver(
                    tx,
                    vec![Fetched {
                        folder: batch.folder,
                        flags: meta.flags.clone(),
                        internaldate: meta.internaldate.clone(),
                        meta,
                        body,
                        _permit: Some(permit),
                    }],
                );
            }
            Ok(Err(e)) => shared.fail(batch.folder, &meta, e.to_string()),
            Err(e) => shared.fail(batch.folder, &meta, blocking_err(e).to_string()),
        }
    }
}
/// What a large message's parts must add up to, checked as they come: each part starts where
/// the last ended and is no longer than asked, and the whole is exactly the size the server
/// announced. A server that ignores the range, answers another one, or sends more or less
/// than it announced fails this message with its numbers, never with a corrupted copy.
#[derive(Debug)]
struct Parts {
    size: u64,
    body: Vec<u8>,
}

impl Parts {
    fn new(size: u64) -> Parts {
        // Sized from the announcement only up to one part: the rest grows as bytes arrive.
        Parts {
            size,
            body: Vec::with_capacity(size.min(PART_BYTES) as usize),
        }
    }

    fn offset(&self) -> u64 {
        self.body.len() as u64
    }

    /// Adds a part; Ok(true) when the message is complete.
    fn add(&mut self, origin: Option<u32>, part: &[u8]) -> std::result::Result<bool, String> {
        let offset = self.offset();
        if let Some(o) = origin
            && u64::from(o) != offset
        {
            return Err(format!(
                "asked for bytes from {offset}, the server sent bytes from {o}"
            ));
        }
        if part.len() as u64 > PART_BYTES {
            return Err(format!(
                "asked for at most {PART_BYTES} bytes, the server sent {}",
                part.len()
            ));
        }
        let total = offset + part.len() as u64;
        if total > self.size {
            return Err(format!(
                "the server announced {} bytes (RFC822.SIZE) and sent more",
                self.size
            ));
        }
        self.body.extend_from_slice(part);
        let complete = (part.len() as u64) < PART_BYTES || total == self.size;
        if complete && total != self.size {
            return Err(format!(
                "the server announced {} bytes (RFC822.SIZE) and sent {total}",
                self.size
            ));
        }
        Ok(complete)
    }
}

/// A large message, fetched in parts so no response is larger than a part.
async fn fetch_in_parts(
    s: &mut Session,
    uid: u32,
    size: u64,
) -> Result<Option<(Vec<u8>, Option<FlagSet>, Option<String>)>> {
    let mut parts = Parts::new(size);
    let mut flags = None;
    let mut internaldate = None;
    loop {
        let offset = parts.offset();
        let items = if offset == 0 {
            format!("(UID FLAGS INTERNALDATE BODY.PEEK[]<0.{PART_BYTES}>)")
        } else {
            format!("(UID BODY.PEEK[]<{offset}.{PART_BYTES}>)")
        };
        let mut got: Option<std::result::Result<bool, String>> = None;
        s.expect_bytes(PART_BYTES);
        s.uid_fetch(&uid.to_string(), &items, &mut |rec| {
            // One answer per request: a repeated response is not a second part.
            if rec.uid != Some(uid) || got.is_some() {
                return Ok(());
            }
            if offset == 0 {
                flags = rec.flags;
                internaldate = rec.internaldate;
            }
            if let Some(part) = rec.body {
                got = Some(parts.add(rec.body_origin, &part));
            }
            Ok(())
        })
        .await?;
        match got {
            None if offset == 0 => return Ok(None),
            None => {
                return Err(Error::Message(format!(
                    "the server stopped sending this message at byte {offset} of {size}"
                )));
            }
            Some(Err(detail)) => {
                return Err(Error::Message(format!(
                    "reading the message in parts: {detail}"
                )));
            }
            Some(Ok(true)) => break,
            Some(Ok(false)) => {}
        }
    }
    Ok(Some((parts.body, flags, internaldate)))
}

async fn fetch_batch(
    shared: &Shared,
    endpoint: &Endpoint,
    session: &mut Option<Session>,
    batch: Batch,
    tx: &mpsc::UnboundedSender<Vec<Fetched>>,
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
        if let Err(e) = ensure_connected(shared, endpoint, session, attempt, &last_error).await {
            if !e.is_retryable() {
                shared.set_fatal(e);
                return;
            }
            last_error = e.to_string();
            attempt += 1;
            continue;
        }
        let Some(s) = session.as_mut() else { continue };
        if s.selected().map(|m| m.wire.as_str()) != Some(folder.plan.source_wire.as_str())
            && let Err(e) = s.examine(&folder.plan.source_wire).await
        {
            if e.poisons_connection() || e.is_retryable() {
                last_error = e.to_string();
                attempt += 1;
                if !e.poisons_connection() {
                    // The server asked for a pause (throttled); the connection is fine.
                    tokio::time::sleep(backoff(attempt, e.server_text())).await;
                }
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
                    let _ = shared.deliver(
                        tx,
                        vec![Fetched {
                            folder: batch.folder,
                            flags: flags.unwrap_or_else(|| meta.flags.clone()),
                            internaldate: internaldate.or_else(|| meta.internaldate.clone()),
                            meta: meta.clone(),
                            body,
                            _permit: permit.take(),
                        }],
                    );
                }
                Ok(None) => {}
                Err(e) => result = Err(e),
            }
        }
        let uids = if large.is_some() { Vec::new() } else { uids };
        for (set, members) in uidset::chunks(&uids, BATCH_MESSAGES) {
            let expected: u64 = members
                .iter()
                .filter_map(|u| pending.get(u))
                .map(|m| u64::from(m.size))
                .sum();
            s.expect_bytes(expected);
            let mut got = Vec::with_capacity(members.len());
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
                    got.push(Fetched {
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
            // Whole messages received before a failure are carried all the same.
            let _ = shared.deliver(tx, got);
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
                // Failing again on the same messages: one of them may be what the server (or
                // the parser) cannot get through. Halve the batch, so that message ends up
                // alone and fails alone, and the others are carried.
                if attempt >= 2 && pending.len() > 1 {
                    let mut left: Vec<SourceMessage> = pending.drain().map(|(_, m)| m).collect();
                    left.sort_by_key(|m| m.uid);
                    let second = left.split_off(left.len() / 2);
                    if let Ok(mut q) = shared.queue.lock() {
                        for messages in [second, left] {
                            q.push_front(Batch {
                                folder: batch.folder,
                                split: true,
                                messages,
                            });
                        }
                    }
                    return;
                }
                if !e.poisons_connection() {
                    tokio::time::sleep(backoff(attempt, e.server_text())).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: usize = PART_BYTES as usize;

    fn batch(folder: usize, sizes: &[u32]) -> Batch {
        let messages = sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| SourceMessage {
                size,
                ..SourceMessage::unreadable(i as u32 + 1)
            })
            .collect();
        Batch {
            folder,
            messages,
            split: false,
        }
    }

    #[test]
    fn queued_batches_of_a_folder_are_joined_up_to_the_fetch_size() {
        const M: u32 = 1024 * 1024;
        let mut q: VecDeque<Batch> = [
            batch(0, &[M, M]),
            batch(0, &[M]),
            batch(0, &[3 * M]),
            batch(0, &[M]),
            batch(1, &[M]),
        ]
        .into();
        // 2 + 1 MiB fit in 4; the 3 MiB message goes alone (it is read in parts).
        let first = take_work(&mut q, 4 * M as u64).expect("work");
        assert_eq!(first.messages.len(), 3);
        assert_eq!(
            take_work(&mut q, 4 * M as u64)
                .expect("work")
                .messages
                .len(),
            1
        );
        // Another folder is never joined.
        let last = take_work(&mut q, 4 * M as u64).expect("work");
        assert_eq!((last.folder, last.messages.len()), (0, 1));
        assert_eq!(take_work(&mut q, 4 * M as u64).expect("work").folder, 1);
        assert!(take_work(&mut q, 4 * M as u64).is_none());
        // Halves of a failed batch stay apart, so a message the server cannot send ends up
        // alone.
        let mut q: VecDeque<Batch> = [
            Batch {
                split: true,
                ..batch(0, &[1, 1])
            },
            Batch {
                split: true,
                ..batch(0, &[1])
            },
        ]
        .into();
        assert_eq!(take_work(&mut q, u64::MAX).expect("work").messages.len(), 2);
        assert_eq!(take_work(&mut q, u64::MAX).expect("work").messages.len(), 1);
        // Never more messages than one FETCH takes.
        let mut q: VecDeque<Batch> = [batch(0, &[1; BATCH_MESSAGES]), batch(0, &[1])].into();
        assert_eq!(
            take_work(&mut q, u64::MAX).expect("work").messages.len(),
            BATCH_MESSAGES
        );
    }

    #[test]
    fn parts_add_up_to_the_announced_size() {
        let mut p = Parts::new(P as u64 + 10);
        assert_eq!(p.add(Some(0), &vec![b'a'; P]), Ok(false));
        assert_eq!(p.add(Some(P as u32), &[b'b'; 10]), Ok(true));
        assert_eq!(p.body.len(), P + 10);
    }

    #[test]
    fn a_server_that_ignores_or_moves_the_range_is_caught() {
        // The whole message each time: more than a part.
        let mut p = Parts::new(3 * P as u64);
        assert!(p.add(Some(0), &vec![0; 3 * P]).is_err());
        // Another range than asked.
        let mut p = Parts::new(3 * P as u64);
        p.add(Some(0), &vec![0; P]).unwrap();
        assert!(p.add(Some(0), &vec![0; P]).unwrap_err().contains("from 0"));
        // Fewer bytes than announced.
        let mut p = Parts::new(3 * P as u64);
        p.add(None, &vec![0; P]).unwrap();
        assert!(p.add(None, &[0; 5]).unwrap_err().contains("sent"));
        // More than announced.
        let mut p = Parts::new(P as u64 + 1);
        p.add(None, &vec![0; P]).unwrap();
        assert!(p.add(None, &[0; 5]).unwrap_err().contains("more"));
    }

    #[test]
    fn a_huge_announcement_does_not_allocate_it() {
        let p = Parts::new(u32::MAX as u64);
        assert!(p.body.capacity() <= P);
    }
}
