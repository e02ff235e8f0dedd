//! The target side of a run: append workers (MULTIAPPEND where offered), and the settling of
//! an APPEND whose answer was lost.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{
    Fetched, MAX_ATTEMPTS, MULTI_MESSAGES, Shared, TargetFolder, backoff, ensure_connected,
    reconnect,
};
use crate::checkpoint;
use crate::error::{Error, Result};
use crate::fingerprint::{self, Fingerprint, Hash12};
use crate::imap::Session;
use crate::imap::bodystructure::Summary;
use crate::plan::{self, Decision};
use crate::progress::Event;

pub(super) async fn append_worker(
    shared: Arc<Shared>,
    mut session: Option<Session>,
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Vec<Fetched>>>>,
) {
    loop {
        // Take one fetched batch, and whatever else is already waiting up to a MULTIAPPEND's
        // bytes: a whole batch per command keeps round trips per batch, not per message.
        let batch = {
            let mut rx = rx.lock().await;
            let Some(mut batch) = rx.recv().await else {
                break;
            };
            let mut bytes: u64 = batch.iter().map(|m| m.body.len() as u64).sum();
            while bytes < shared.append_bytes() {
                match rx.try_recv() {
                    Ok(more) => {
                        bytes += more.iter().map(|m| m.body.len() as u64).sum::<u64>();
                        batch.extend(more);
                    }
                    Err(_) => break,
                }
            }
            batch
        };
        if shared.failed() {
            // Drain without writing: the run is ending with a fatal error.
            continue;
        }
        append_batch(&shared, &mut session, batch).await;
    }
    if let Some(s) = session {
        s.logout().await;
    }
}

/// Splits one folder's messages into MULTIAPPEND commands of at most [`MULTI_MESSAGES`]
/// messages and about `max_bytes` bytes, in order.
fn commands(msgs: Vec<Fetched>, max_bytes: u64) -> Vec<Vec<Fetched>> {
    let mut out: Vec<Vec<Fetched>> = Vec::new();
    let mut bytes = 0u64;
    for m in msgs {
        let len = m.body.len() as u64;
        match out.last_mut() {
            Some(cur) if cur.len() < MULTI_MESSAGES && bytes + len <= max_bytes => {
                bytes += len;
                cur.push(m);
            }
            _ => {
                bytes = len;
                out.push(vec![m]);
            }
        }
    }
    out
}

/// Decides a message the attachment filter could not decide from BODYSTRUCTURE; true when
/// it is filtered out (and counted as such).
pub(super) fn filtered_after_download(shared: &Shared, msg: &Fetched) -> bool {
    if !msg.meta.undecided {
        return false;
    }
    let folder = &shared.folders[msg.folder];
    let summary = Summary::from_message(&msg.body);
    if plan::decide_attachments(&shared.filters, &summary) != Decision::Skip {
        return false;
    }
    if let Ok(mut r) = folder.report.lock() {
        r.filtered += 1;
    }
    shared.progress.event(Event::Filtered {
        folder: folder.plan.source.clone(),
        uid: msg.meta.uid,
    });
    shared.finish_one(msg.folder);
    true
}

/// The flags the target folder can store; the rest are reported once per folder.
fn flags_for_target(shared: &Shared, msg: &Fetched) -> Vec<String> {
    let folder = &shared.folders[msg.folder];
    let tf = &folder.target;
    let mut flags = Vec::new();
    for f in &crate::flags::canonical_set(&msg.flags) {
        if tf.state.keeps_flag(f)
            || tf.state.permanent_flags.is_empty() && tf.state.flags.is_empty()
        {
            flags.push(f.clone());
        } else if let Ok(mut nk) = folder.flags_not_kept.lock() {
            nk.insert(f.clone());
        }
    }
    flags
}

/// Appends messages, several per command (MULTIAPPEND) where the server allows: one
/// server-side transaction instead of one per message.
async fn append_batch(shared: &Shared, session: &mut Option<Session>, batch: Vec<Fetched>) {
    let batch: Vec<Fetched> = batch
        .into_iter()
        .filter(|m| !filtered_after_download(shared, m))
        .collect();
    // Group by target folder, keeping order.
    let mut groups: Vec<(Arc<TargetFolder>, Vec<Fetched>)> = Vec::new();
    for m in batch {
        let tf = shared.folders[m.folder].target.clone();
        match groups.iter_mut().find(|(t, _)| Arc::ptr_eq(t, &tf)) {
            Some((_, v)) => v.push(m),
            None => groups.push((tf, vec![m])),
        }
    }
    let commands = groups.into_iter().flat_map(|(tf, msgs)| {
        commands(msgs, shared.append_bytes())
            .into_iter()
            .map(move |c| (tf.clone(), c))
    });
    for (tf, msgs) in commands {
        let multi = msgs.len() > 1
            && session
                .as_ref()
                .is_some_and(|s| !s.is_broken() && s.has("MULTIAPPEND"));
        if !multi {
            for m in msgs {
                append_one(shared, session, m, false).await;
            }
            continue;
        }
        let flags: Vec<Vec<String>> = msgs.iter().map(|m| flags_for_target(shared, m)).collect();
        for m in &msgs {
            tf.begin(&m.meta.id.fingerprint);
        }
        let result = match session.as_mut() {
            Some(s) => s.append_many(&tf.wire, &append_items(&msgs, &flags)).await,
            None => Err(Error::Invalid("no target connection".into())),
        };
        settle_command(shared, session, &tf, msgs, &flags, result).await;
    }
}

fn append_items<'a>(
    msgs: &'a [Fetched],
    flags: &'a [Vec<String>],
) -> Vec<crate::imap::session::AppendItem<'a>> {
    msgs.iter()
        .zip(flags)
        .map(|(m, f)| crate::imap::session::AppendItem {
            flags: f,
            internaldate: m.internaldate.as_deref(),
            body: &m.body,
        })
        .collect()
}

/// What one MULTIAPPEND's answer means for its messages.
async fn settle_command(
    shared: &Shared,
    session: &mut Option<Session>,
    tf: &Arc<TargetFolder>,
    msgs: Vec<Fetched>,
    flags: &[Vec<String>],
    result: Result<Vec<Option<(u32, u32)>>>,
) {
    match result {
        Ok(uids) => {
            for ((m, uid), f) in msgs.iter().zip(uids).zip(flags) {
                record_copied(shared, m, uid, f);
            }
        }
        // Refused as a whole (one bad message spoils the transaction), or the server
        // answered NO: nothing was stored. One by one, so only the culprit fails.
        Err(e) if !e.poisons_connection() => {
            for m in msgs {
                tf.end(&m.meta.id.fingerprint);
                append_one(shared, session, m, false).await;
            }
        }
        // The answer was lost: none or all were stored; look once, then send the rest.
        Err(_) => match settle_lost_batch(shared, session, tf, msgs, flags).await {
            Ok(left) => {
                for m in left {
                    append_one(shared, session, m, false).await;
                }
            }
            Err(in_doubt) => {
                for m in in_doubt {
                    append_one(shared, session, m, true).await;
                }
            }
        },
    }
}

async fn append_one(
    shared: &Shared,
    session: &mut Option<Session>,
    msg: Fetched,
    mut in_doubt: bool,
) {
    let tf = &shared.folders[msg.folder].target;
    let flags = flags_for_target(shared, &msg);
    let Some(endpoint) = shared.target.as_ref() else {
        shared.set_fatal(Error::Invalid("no IMAP target to append to".into()));
        return;
    };
    let mut attempt = 0u32;
    let mut last_error = String::new();
    loop {
        if attempt >= MAX_ATTEMPTS {
            if in_doubt {
                // It may have been stored: its arrival explains no other lost answer. The
                // next run finds it on the target, or copies it.
                tf.settle(&msg.meta.id.fingerprint);
                shared.fail(
                    msg.folder,
                    &msg.meta,
                    format!(
                        "the target's answer was lost {attempt} times and whether it was stored is unknown; a rerun copies it if it is missing: {last_error}"
                    ),
                );
                return;
            }
            shared.fail(
                msg.folder,
                &msg.meta,
                format!("could not be written to the target after {attempt} tries: {last_error}"),
            );
            return;
        }
        if let Err(e) = ensure_connected(shared, endpoint, session, attempt, &last_error).await {
            if !e.is_retryable() {
                if in_doubt {
                    tf.end(&msg.meta.id.fingerprint);
                }
                shared.set_fatal(e);
                return;
            }
            last_error = e.to_string();
            attempt += 1;
            continue;
        }
        let Some(s) = session.as_mut() else { continue };
        if in_doubt {
            // The last APPEND's answer was lost with the connection: look before writing again.
            match landed(s, tf, &msg.meta.id.fingerprint).await {
                Ok(true) => {
                    record_copied(shared, &msg, None, &flags);
                    return;
                }
                Ok(false) => tf.end(&msg.meta.id.fingerprint),
                Err(e) => {
                    last_error = e.to_string();
                    attempt += 1;
                    if !e.poisons_connection() {
                        // Refused or throttled with the connection fine: pause first.
                        tokio::time::sleep(backoff(attempt, e.server_text())).await;
                    }
                    continue;
                }
            }
            in_doubt = false;
        }
        tf.begin(&msg.meta.id.fingerprint);
        match s
            .append(&tf.wire, &flags, msg.internaldate.as_deref(), &msg.body)
            .await
        {
            Ok(done) => {
                record_copied(shared, &msg, done.uid, &flags);
                return;
            }
            // The server answered: nothing was stored, so nothing is in doubt.
            Err(e) if !e.poisons_connection() => {
                tf.end(&msg.meta.id.fingerprint);
                if !e.is_retryable() {
                    // The target refused this message: record its words and go on.
                    shared.fail(msg.folder, &msg.meta, e.to_string());
                    return;
                }
                last_error = e.to_string();
                attempt += 1;
                tokio::time::sleep(backoff(attempt, e.server_text())).await;
            }
            Err(e) => {
                last_error = e.to_string();
                in_doubt = true;
                attempt += 1;
            }
        }
    }
}

/// The part of a fingerprint that a server's byte changes leave alone (headers and body
/// start): lost answers are settled on it, so a copy the server altered still counts.
fn content_key(fp: &Fingerprint) -> Hash12 {
    fp.content
}

impl TargetFolder {
    fn with_counts(&self, fp: &Fingerprint, f: impl FnOnce(&mut (u32, u32))) {
        if let Ok(mut m) = self.appends.lock() {
            f(m.entry(content_key(fp)).or_insert((0, 0)));
        }
    }

    /// An APPEND of this content is about to be sent.
    fn begin(&self, fp: &Fingerprint) {
        self.with_counts(fp, |c| c.1 += 1);
    }

    /// An APPEND of this content is settled as not stored (refused, or sent again).
    fn end(&self, fp: &Fingerprint) {
        self.with_counts(fp, |c| c.1 = c.1.saturating_sub(1));
    }

    /// An APPEND of this content is settled as stored, or may have been (given up in doubt):
    /// its arrival is this run's, and explains no other lost answer.
    fn settle(&self, fp: &Fingerprint) {
        self.with_counts(fp, |c| {
            c.0 += 1;
            c.1 = c.1.saturating_sub(1);
        });
    }

    /// Whether the copies of this content above the pre-run UIDs can only be explained by
    /// this message having arrived: more than this run has settled plus every other copy
    /// still in flight (which may have landed too). In doubt: no, and it is sent again.
    fn explains(&self, seen: &HashMap<Hash12, u32>, fp: &Fingerprint) -> bool {
        let (settled, in_flight) = self
            .appends
            .lock()
            .map(|m| m.get(&content_key(fp)).copied().unwrap_or((0, 0)))
            .unwrap_or((0, 0));
        let arrived = seen.get(&content_key(fp)).copied().unwrap_or(0);
        arrived > settled + in_flight.saturating_sub(1)
    }
}

/// Whether this message arrived although the answer to its APPEND was lost.
async fn landed(s: &mut Session, tf: &TargetFolder, fp: &Fingerprint) -> Result<bool> {
    let seen = arrived(s, tf).await?;
    Ok(tf.explains(&seen, fp))
}

/// How many messages of each content key sit above the UIDs present when the run began:
/// what this run has put there, whether or not it heard the server's answer.
async fn arrived(s: &mut Session, tf: &TargetFolder) -> Result<HashMap<Hash12, u32>> {
    let mut seen = HashMap::new();
    let mut uids = BTreeSet::new();
    let state = s.examine(&tf.wire).await?.clone();
    if state.exists == 0 {
        return Ok(seen);
    }
    let items = format!("(UID RFC822.SIZE {})", fingerprint::fetch_item());
    let from = tf.max_uid_before.saturating_add(1);
    s.uid_fetch(&format!("{from}:*"), &items, &mut |r| {
        if let Some(u) = r.uid.filter(|u| *u >= from)
            && uids.insert(u)
        {
            let f = Fingerprint::from_fetch(
                r.header.as_deref().unwrap_or_default(),
                r.text.as_deref().unwrap_or_default(),
                r.size.unwrap_or(0) as u64,
            );
            *seen.entry(content_key(&f)).or_insert(0) += 1;
        }
        Ok(())
    })
    .await?;
    Ok(seen)
}

/// After a MULTIAPPEND whose answer was lost: one look at the target settles every message of
/// it (all or none were stored), instead of one look per message. `Ok`: those still to send;
/// `Err`: the look failed and every message is still in doubt.
async fn settle_lost_batch(
    shared: &Shared,
    session: &mut Option<Session>,
    tf: &TargetFolder,
    msgs: Vec<Fetched>,
    flags: &[Vec<String>],
) -> std::result::Result<Vec<Fetched>, Vec<Fetched>> {
    let Some(endpoint) = shared.target.as_ref() else {
        return Err(msgs);
    };
    let mut s = match reconnect(
        endpoint,
        1,
        "the answer to an APPEND was lost",
        shared.progress.as_ref(),
    )
    .await
    {
        Ok(s) => s,
        // Each message will reconnect and look for itself.
        Err(_) => return Err(msgs),
    };
    let seen = match arrived(&mut s, tf).await {
        Ok(seen) => seen,
        Err(_) => return Err(msgs),
    };
    *session = Some(s);
    let mut left = Vec::new();
    for (m, f) in msgs.into_iter().zip(flags) {
        if tf.explains(&seen, &m.meta.id.fingerprint) {
            record_copied(shared, &m, None, f);
        } else {
            tf.end(&m.meta.id.fingerprint);
            left.push(m);
        }
    }
    Ok(left)
}

/// Settles a stored copy: counted, recorded with the flags it was given, no longer in flight.
pub(super) fn record_copied(
    shared: &Shared,
    msg: &Fetched,
    target_uid: Option<(u32, u32)>,
    flags: &[String],
) {
    let folder = &shared.folders[msg.folder];
    let tf = &folder.target;
    tf.settle(&msg.meta.id.fingerprint);
    shared.checkpoint.record_done(checkpoint::Done {
        folder: folder.plan.source.clone(),
        uidvalidity: folder.plan.uidvalidity,
        uid: msg.meta.uid,
        fingerprint: msg.meta.id.fingerprint.to_string(),
        target_folder: tf.name.clone(),
        target_uidvalidity: target_uid
            .map(|t| t.0)
            .or(tf.state.uidvalidity)
            .unwrap_or(0),
        target_uid: target_uid.map(|t| t.1),
        flags: crate::flags::canonical_set(flags),
    });
    let bytes = msg.body.len() as u64;
    shared.count_toward(
        &shared.uploaded,
        shared.upload_limit,
        bytes,
        "target",
        "uploads",
    );
    if let Ok(mut r) = folder.report.lock() {
        r.copied += 1;
        r.bytes += bytes;
    }
    shared.progress.event(Event::Copied {
        folder: folder.plan.source.clone(),
        uid: msg.meta.uid,
        bytes,
    });
    shared.finish_one(msg.folder);
}

#[cfg(test)]
mod tests {
    use super::*;
    /// A MULTIAPPEND's bytes on a short path.
    const MULTI_BYTES: u64 = 8 * 1024 * 1024;
    use crate::fingerprint::testing::{fp, h12};
    use crate::plan::SourceMessage;

    fn folder() -> TargetFolder {
        TargetFolder::new("INBOX".into(), "INBOX".into(), Default::default(), 0)
    }

    fn seen(n: u32) -> HashMap<Hash12, u32> {
        [(h12("abc"), n)].into()
    }

    #[test]
    fn a_lost_answer_counts_identical_copies_in_flight() {
        // The same message twice (two source folders into one target), sent by two workers.
        let tf = folder();
        let fp = fp("100:abc");
        tf.begin(&fp);
        tf.begin(&fp);
        // One copy arrived, the other worker has not heard back: it may be the other's.
        assert!(!tf.explains(&seen(1), &fp));
        // Both arrived: this one is there.
        assert!(tf.explains(&seen(2), &fp));
        // The other worker settles its copy; one arrival is then only its own.
        tf.settle(&fp);
        assert!(!tf.explains(&seen(1), &fp));
        assert!(tf.explains(&seen(2), &fp));
    }

    fn fetched(len: usize) -> Fetched {
        Fetched {
            folder: 0,
            meta: SourceMessage::unreadable(1),
            flags: Default::default(),
            internaldate: None,
            body: vec![b'x'; len],
            _permit: None,
        }
    }

    #[test]
    fn commands_keep_order_and_stay_within_their_caps() {
        let big = (MULTI_BYTES / 2) as usize;
        let msgs: Vec<Fetched> = [big, big, 1, big + 1, 1].into_iter().map(fetched).collect();
        let cmds = commands(msgs, MULTI_BYTES);
        let sizes: Vec<Vec<usize>> = cmds
            .iter()
            .map(|c| c.iter().map(|m| m.body.len()).collect())
            .collect();
        assert_eq!(sizes, vec![vec![big, big], vec![1, big + 1, 1]]);
        let many = commands(
            (0..MULTI_MESSAGES + 3).map(|_| fetched(1)).collect(),
            MULTI_BYTES,
        );
        assert_eq!(many.len(), 2);
        assert_eq!(many[0].len(), MULTI_MESSAGES);
        // A message larger than a command's bytes still goes, alone.
        assert_eq!(
            commands(vec![fetched(MULTI_BYTES as usize + 1)], MULTI_BYTES).len(),
            1
        );
    }

    #[test]
    fn a_copy_the_server_changed_still_settles_a_lost_answer() {
        let tf = folder();
        tf.begin(&fp("100:abc"));
        // Stored one byte shorter: the same content key.
        assert!(tf.explains(&seen(1), &fp("100:abc")));
        assert_eq!(content_key(&fp("99:abc")), h12("abc"));
    }
}
