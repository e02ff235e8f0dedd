//! Carrying out a plan: IMAP -> IMAP with concurrent fetch and append workers.
//!
//! Shape: the planner decides per folder which source messages still need copying (checkpoint
//! first, then content fingerprints of what the target already holds). The work is cut into
//! batches bounded in count and bytes. `workers` fetch tasks take batches, each with its own
//! source connection, and hand whole messages to `workers` append tasks with their own target
//! connections. A byte budget (a semaphore counted in KiB) bounds the messages in flight, so
//! memory follows the budget, not the mailbox; one message larger than the budget still passes
//! alone. Fetch and append overlap, so neither side idles.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

mod prepare;

use crate::archive::{ArchiveWriter, MessageMeta, MessageStore};
use crate::checkpoint::{self, Checkpoint};
use crate::error::{Error, Result, Side};
use crate::fingerprint::{self, Fingerprint};
use crate::imap::bodystructure::Summary;
use crate::imap::{Endpoint, Session, uidset};
use crate::plan::{self, Decision, FolderPlan, SourceMessage};
use crate::profile::Profile;
use crate::progress::{Event, Progress};
use crate::report::{Failure, FolderReport, Report};
pub use crate::sides::{SourceSide, TargetSide, job_label};

/// Bytes of messages in flight between fetch and append, across all workers.
pub const DEFAULT_BUDGET: u64 = 16 * 1024 * 1024;
const BATCH_MESSAGES: usize = 50;
const BATCH_BYTES: u64 = 4 * 1024 * 1024;
const MAX_ATTEMPTS: u32 = 6;
/// Messages larger than this are fetched in parts of this size.
const PART_BYTES: u64 = 2 * 1024 * 1024;
/// Messages and bytes per MULTIAPPEND.
const MULTI_MESSAGES: usize = 32;
const MULTI_BYTES: u64 = 8 * 1024 * 1024;

/// Set by Ctrl-C: workers stop taking new work, finish what is in flight, and the checkpoint
/// is flushed.
#[derive(Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
pub struct RunOptions {
    pub dry_run: bool,
    pub cancel: Cancel,
    pub budget: u64,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            dry_run: false,
            cancel: Cancel::default(),
            budget: DEFAULT_BUDGET,
        }
    }
}

/// Per target folder, shared by the workers.
struct TargetFolder {
    /// Decoded name, as the folder plan and the checkpoint know it.
    name: String,
    wire: String,
    /// Flags the folder keeps (from SELECT), to filter APPEND flags.
    state: crate::imap::MailboxState,
    /// Highest UID present when the run began: messages above it are ours.
    max_uid_before: u32,
    /// Appends this run has settled, by content key, to settle an APPEND whose answer was
    /// lost.
    appended: Mutex<HashMap<String, u32>>,
    /// Appends sent and not yet settled, by content key: while another copy of the same
    /// content is in flight, a lost answer cannot be settled by counting, and is resent.
    in_flight: Mutex<HashMap<String, u32>>,
}

impl TargetFolder {
    fn new(name: String, wire: String, state: crate::imap::MailboxState, max_uid: u32) -> Self {
        TargetFolder {
            name,
            wire,
            state,
            max_uid_before: max_uid,
            appended: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
        }
    }
}

/// Per source folder, shared by the workers.
struct FolderRun {
    plan: FolderPlan,
    target: Arc<TargetFolder>,
    report: Mutex<FolderReport>,
    flags_not_kept: Mutex<BTreeSet<String>>,
    remaining: AtomicU64,
    started: Instant,
}

struct Batch {
    folder: usize,
    messages: Vec<SourceMessage>,
}

struct Fetched {
    folder: usize,
    meta: SourceMessage,
    flags: Vec<String>,
    internaldate: Option<String>,
    body: Vec<u8>,
    _permit: Option<OwnedSemaphorePermit>,
}

struct Shared {
    folders: Vec<FolderRun>,
    queue: Mutex<VecDeque<Batch>>,
    budget: Arc<Semaphore>,
    budget_kib: u32,
    checkpoint: Checkpoint,
    progress: Arc<dyn Progress>,
    cancel: Cancel,
    source: SourceSide,
    /// The IMAP target; `None` when writing an archive.
    target: Option<Endpoint>,
    failures: Mutex<Vec<Failure>>,
    filters: crate::profile::Filters,
    /// A fatal error (e.g. the target refuses logins now) stops every worker.
    fatal: Mutex<Option<Error>>,
}

impl Shared {
    fn stop_requested(&self) -> bool {
        self.cancel.is_cancelled() || self.fatal.lock().map(|f| f.is_some()).unwrap_or(true)
    }

    fn set_fatal(&self, e: Error) {
        if let Ok(mut f) = self.fatal.lock()
            && f.is_none()
        {
            *f = Some(e);
        }
    }

    fn fail(&self, folder: usize, meta: &SourceMessage, reason: String) {
        let f = &self.folders[folder];
        if let Ok(mut r) = f.report.lock() {
            r.failed += 1;
        }
        self.checkpoint.record_failed(checkpoint::Failed {
            folder: f.plan.source.clone(),
            uidvalidity: f.plan.uidvalidity,
            uid: meta.uid,
            message_id: meta.message_id.clone(),
            reason: reason.clone(),
        });
        self.progress.event(Event::Failed {
            folder: f.plan.source.clone(),
            uid: meta.uid,
            reason: reason.clone(),
        });
        if let Ok(mut all) = self.failures.lock() {
            all.push(Failure {
                folder: f.plan.source.clone(),
                uid: meta.uid,
                message_id: meta.message_id.clone(),
                reason,
            });
        }
        self.finish_one(folder);
    }

    fn finish_one(&self, folder: usize) {
        let f = &self.folders[folder];
        if f.remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
            if let Ok(mut r) = f.report.lock() {
                r.seconds = f.started.elapsed().as_secs_f64();
            }
            self.progress.event(Event::FolderDone {
                source: f.plan.source.clone(),
            });
        }
    }

    fn permits_for(&self, bytes: u64) -> u32 {
        (bytes.div_ceil(1024) as u32).clamp(1, self.budget_kib)
    }
}

/// Backoff with jitter: 0.5 s, 1 s, 2 s, ... capped at 30 s.
fn backoff(attempt: u32) -> Duration {
    let base = 500u64.saturating_mul(1 << attempt.min(6)).min(30_000);
    Duration::from_millis(base / 2 + fastrand::u64(0..=base / 2))
}

async fn reconnect(
    endpoint: &Endpoint,
    attempt: u32,
    reason: &str,
    progress: &dyn Progress,
) -> Result<Session> {
    progress.event(Event::Reconnecting {
        side: endpoint.side,
        attempt,
        reason: reason.to_string(),
    });
    tokio::time::sleep(backoff(attempt)).await;
    Session::connect(endpoint).await
}

fn blocking_err(e: tokio::task::JoinError) -> Error {
    Error::Invalid(format!("a background task failed: {e}"))
}

/// Runs a whole job: IMAP or a store to IMAP or an archive. A connection lost while
/// planning (scanning a large mailbox is where drops happen) starts the job over after a
/// pause; once copying has begun, the workers reconnect on their own.
pub async fn run(
    profile: &Profile,
    source_side: SourceSide,
    target_side: TargetSide,
    progress: Arc<dyn Progress>,
    opts: RunOptions,
) -> Result<Report> {
    let mut attempt = 0u32;
    loop {
        let mut side = Side::Source;
        let result = run_once(
            profile,
            source_side.clone(),
            target_side.clone(),
            progress.clone(),
            opts.clone(),
            &mut side,
        )
        .await;
        match result {
            Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS && !opts.cancel.is_cancelled() => {
                attempt += 1;
                progress.event(Event::Reconnecting {
                    side,
                    attempt,
                    reason: format!("{e}; planning starts over"),
                });
                tokio::time::sleep(backoff(attempt)).await;
            }
            other => return other,
        }
    }
}

async fn run_once(
    profile: &Profile,
    source_side: SourceSide,
    target_side: TargetSide,
    progress: Arc<dyn Progress>,
    opts: RunOptions,
    side: &mut Side,
) -> Result<Report> {
    let started = Instant::now();
    let prepared =
        prepare::prepare(profile, &source_side, &target_side, &progress, &opts, side).await?;
    let prepare::Prepared {
        mut report,
        folders,
        queue,
        checkpoint,
        mut source,
        mut writer,
        left: total_left,
        bytes: total_bytes,
        present: total_present,
    } = prepared;
    progress.event(Event::Planned {
        folders: folders.len(),
        messages: total_left,
        bytes: total_bytes,
        already_present: total_present,
    });

    if opts.dry_run {
        if let Some(s) = source.take() {
            s.logout().await;
        }
        checkpoint.close()?;
        report.folders = folders
            .into_iter()
            .map(|f| f.report.into_inner().unwrap_or_default())
            .collect();
        report.add_up();
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }

    for f in &folders {
        if f.remaining.load(Ordering::SeqCst) > 0 {
            progress.event(Event::FolderStarted {
                source: f.plan.source.clone(),
                target: f.plan.target.clone(),
                messages: f.remaining.load(Ordering::SeqCst),
                bytes: 0,
            });
        }
    }

    let budget_kib = (opts.budget.div_ceil(1024)).clamp(1, u32::MAX as u64 / 2) as u32;
    let shared = Arc::new(Shared {
        folders,
        queue: Mutex::new(queue),
        budget: Arc::new(Semaphore::new(budget_kib as usize)),
        budget_kib,
        checkpoint,
        progress: progress.clone(),
        cancel: opts.cancel.clone(),
        source: source_side.clone(),
        target: match &target_side {
            TargetSide::Imap(ep) => Some(ep.clone()),
            TargetSide::Archive(_) => None,
        },
        failures: Mutex::new(Vec::new()),
        filters: profile.filters.clone(),
        fatal: Mutex::new(None),
    });

    let workers = profile.workers.max(1);
    let (tx, rx) = mpsc::unbounded_channel::<Fetched>();
    let mut tasks = tokio::task::JoinSet::new();
    // The planner's source connection becomes the first fetcher's.
    let mut first = source.take();
    for _ in 0..workers {
        let s = shared.clone();
        let tx = tx.clone();
        let session = first.take();
        tasks.spawn(async move { fetch_worker(s, session, tx).await });
    }
    drop(tx);
    let mut archive_task = None;
    match writer.take() {
        None => {
            let rx = Arc::new(tokio::sync::Mutex::new(rx));
            for _ in 0..workers {
                let s = shared.clone();
                let rx = rx.clone();
                tasks.spawn(async move { append_worker(s, rx).await });
            }
        }
        Some(w) => {
            // One writer: compression runs on its own thread, off the network path.
            let s = shared.clone();
            archive_task = Some(tokio::task::spawn_blocking(move || {
                archive_writer(s, w, rx)
            }));
        }
    }
    while let Some(res) = tasks.join_next().await {
        if let Err(e) = res {
            shared.set_fatal(Error::Invalid(format!(
                "a worker stopped unexpectedly: {e}"
            )));
        }
    }
    if let Some(task) = archive_task {
        match task.await {
            Ok(Ok(summary)) => {
                if let Some(s) = summary {
                    tracing::info!(run = s.run, added = s.added, "archive run committed");
                }
            }
            Ok(Err(e)) => shared.set_fatal(e),
            Err(e) => shared.set_fatal(blocking_err(e)),
        }
    }

    let shared = Arc::try_unwrap(shared)
        .map_err(|_| Error::Invalid("workers still running after the run".into()))?;
    shared.checkpoint.flush()?;
    let fatal = shared.fatal.into_inner().ok().flatten();
    shared.checkpoint.close()?;
    if let Some(e) = fatal {
        return Err(e);
    }
    report.cancelled = opts.cancel.is_cancelled();
    report.failures = shared.failures.into_inner().unwrap_or_default();
    report.folders = shared
        .folders
        .into_iter()
        .map(|f| {
            let mut r = f.report.into_inner().unwrap_or_default();
            r.flags_not_kept = f
                .flags_not_kept
                .into_inner()
                .unwrap_or_default()
                .into_iter()
                .collect();
            if r.seconds == 0.0 {
                r.seconds = f.started.elapsed().as_secs_f64();
            }
            r
        })
        .collect();
    report.add_up();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Writes fetched messages into the archive, one at a time, and commits the run at the end
/// (also when stopped early, so what was written is kept).
fn archive_writer(
    shared: Arc<Shared>,
    mut writer: ArchiveWriter,
    mut rx: mpsc::UnboundedReceiver<Fetched>,
) -> Result<Option<crate::archive::RunSummary>> {
    while let Some(msg) = rx.blocking_recv() {
        if shared.fatal.lock().map(|f| f.is_some()).unwrap_or(true) {
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

async fn fetch_worker(
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

async fn append_worker(
    shared: Arc<Shared>,
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Fetched>>>,
) {
    let mut session: Option<Session> = None;
    loop {
        // Take one message, and whatever else is already waiting up to a MULTIAPPEND's worth.
        let batch = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { break };
            let mut bytes = first.body.len() as u64;
            let mut batch = vec![first];
            while batch.len() < MULTI_MESSAGES && bytes < MULTI_BYTES {
                match rx.try_recv() {
                    Ok(m) => {
                        bytes += m.body.len() as u64;
                        batch.push(m);
                    }
                    Err(_) => break,
                }
            }
            batch
        };
        if shared.fatal.lock().map(|f| f.is_some()).unwrap_or(true) {
            // Drain without writing: the run is ending with a fatal error.
            continue;
        }
        append_batch(&shared, &mut session, batch).await;
    }
    if let Some(s) = session {
        s.logout().await;
    }
}

/// Decides a message the attachment filter could not decide from BODYSTRUCTURE; true when
/// it is filtered out (and counted as such).
fn filtered_after_download(shared: &Shared, msg: &Fetched) -> bool {
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
    for (tf, msgs) in groups {
        if msgs.len() > 1
            && session
                .as_ref()
                .is_some_and(|s| !s.is_broken() && s.has("MULTIAPPEND"))
        {
            let flags: Vec<Vec<String>> =
                msgs.iter().map(|m| flags_for_target(shared, m)).collect();
            let items: Vec<crate::imap::session::AppendItem<'_>> = msgs
                .iter()
                .zip(&flags)
                .map(|(m, f)| crate::imap::session::AppendItem {
                    flags: f,
                    internaldate: m.internaldate.as_deref(),
                    body: &m.body,
                })
                .collect();
            for m in &msgs {
                tf.begin(&m.meta.fingerprint);
            }
            let result = match session.as_mut() {
                Some(s) => s.append_many(&tf.wire, &items).await,
                None => Err(Error::Invalid("no target connection".into())),
            };
            drop(items);
            match result {
                Ok(uids) => {
                    for ((m, uid), f) in msgs.iter().zip(uids).zip(&flags) {
                        record_copied(shared, m, uid, f);
                    }
                }
                // Refused as a whole (one bad message spoils the transaction), or the server
                // answered NO: nothing was stored. One by one, so only the culprit fails.
                Err(e) if !e.poisons_connection() => {
                    for m in msgs {
                        tf.end(&m.meta.fingerprint);
                        append_one(shared, session, m, false).await;
                    }
                }
                // The answer was lost: none or all were stored; look once, then send the rest.
                Err(_) => match settle_lost_batch(shared, session, &tf, msgs, &flags).await {
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
        } else {
            for m in msgs {
                append_one(shared, session, m, false).await;
            }
        }
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
                tf.end(&msg.meta.fingerprint);
            }
            shared.fail(
                msg.folder,
                &msg.meta,
                format!("could not be written to the target after {attempt} tries: {last_error}"),
            );
            return;
        }
        if session.as_ref().is_none_or(|s| s.is_broken()) {
            let connected = if attempt == 0 && session.is_none() {
                Session::connect(endpoint).await
            } else {
                reconnect(endpoint, attempt, &last_error, shared.progress.as_ref()).await
            };
            match connected {
                Ok(s) => *session = Some(s),
                Err(e) => {
                    if !e.is_retryable() {
                        if in_doubt {
                            tf.end(&msg.meta.fingerprint);
                        }
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
        if in_doubt {
            // The last APPEND's answer was lost with the connection: look before writing again.
            match landed(s, tf, &msg.meta.fingerprint).await {
                Ok(true) => {
                    record_copied(shared, &msg, None, &flags);
                    return;
                }
                Ok(false) => tf.end(&msg.meta.fingerprint),
                Err(e) => {
                    last_error = e.to_string();
                    attempt += 1;
                    continue;
                }
            }
            in_doubt = false;
        }
        tf.begin(&msg.meta.fingerprint);
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
                tf.end(&msg.meta.fingerprint);
                if !e.is_retryable() {
                    // The target refused this message: record its words and go on.
                    shared.fail(msg.folder, &msg.meta, e.to_string());
                    return;
                }
                last_error = e.to_string();
                attempt += 1;
                tokio::time::sleep(backoff(attempt)).await;
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
fn content_key(fp: &Fingerprint) -> String {
    fp.0.split_once(':')
        .map_or(fp.0.as_str(), |(_, rest)| rest)
        .to_string()
}

impl TargetFolder {
    fn count(map: &Mutex<HashMap<String, u32>>, fp: &Fingerprint) -> u32 {
        map.lock()
            .map(|m| m.get(&content_key(fp)).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// An APPEND of this content is about to be sent.
    fn begin(&self, fp: &Fingerprint) {
        if let Ok(mut m) = self.in_flight.lock() {
            *m.entry(content_key(fp)).or_insert(0) += 1;
        }
    }

    /// An APPEND of this content is settled (stored, refused or given up).
    fn end(&self, fp: &Fingerprint) {
        if let Ok(mut m) = self.in_flight.lock()
            && let Some(n) = m.get_mut(&content_key(fp))
        {
            *n = n.saturating_sub(1);
        }
    }

    /// Whether the copies of this content above the pre-run UIDs can only be explained by
    /// this message having arrived: more than this run has settled plus every other copy
    /// still in flight (which may have landed too). In doubt: no, and it is sent again.
    fn explains(&self, seen: &HashMap<String, u32>, fp: &Fingerprint) -> bool {
        let others = Self::count(&self.in_flight, fp).saturating_sub(1);
        let arrived = seen.get(&content_key(fp)).copied().unwrap_or(0);
        arrived > Self::count(&self.appended, fp) + others
    }
}

/// Whether this message arrived although the answer to its APPEND was lost.
async fn landed(s: &mut Session, tf: &TargetFolder, fp: &Fingerprint) -> Result<bool> {
    let seen = arrived(s, tf).await?;
    Ok(tf.explains(&seen, fp))
}

/// How many messages of each content key sit above the UIDs present when the run began:
/// what this run has put there, whether or not it heard the server's answer.
async fn arrived(s: &mut Session, tf: &TargetFolder) -> Result<HashMap<String, u32>> {
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
        if tf.explains(&seen, &m.meta.fingerprint) {
            record_copied(shared, &m, None, f);
        } else {
            tf.end(&m.meta.fingerprint);
            left.push(m);
        }
    }
    Ok(left)
}

/// Settles a stored copy: counted, recorded with the flags it was given, no longer in flight.
fn record_copied(shared: &Shared, msg: &Fetched, target_uid: Option<(u32, u32)>, flags: &[String]) {
    let folder = &shared.folders[msg.folder];
    let tf = &folder.target;
    if let Ok(mut m) = tf.appended.lock() {
        *m.entry(content_key(&msg.meta.fingerprint)).or_insert(0) += 1;
    }
    tf.end(&msg.meta.fingerprint);
    shared.checkpoint.record_done(checkpoint::Done {
        folder: folder.plan.source.clone(),
        uidvalidity: folder.plan.uidvalidity,
        uid: msg.meta.uid,
        fingerprint: msg.meta.fingerprint.0.clone(),
        target_folder: tf.name.clone(),
        target_uidvalidity: target_uid
            .map(|t| t.0)
            .or(tf.state.uidvalidity)
            .unwrap_or(0),
        target_uid: target_uid.map(|t| t.1),
        flags: crate::flags::canonical_set(flags),
    });
    let bytes = msg.body.len() as u64;
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

    fn folder() -> TargetFolder {
        TargetFolder::new("INBOX".into(), "INBOX".into(), Default::default(), 0)
    }

    fn seen(n: u32) -> HashMap<String, u32> {
        [("abc".to_string(), n)].into()
    }

    #[test]
    fn a_lost_answer_counts_identical_copies_in_flight() {
        // The same message twice (two source folders into one target), sent by two workers.
        let tf = folder();
        let fp = Fingerprint("100:abc".into());
        tf.begin(&fp);
        tf.begin(&fp);
        // One copy arrived, the other worker has not heard back: it may be the other's.
        assert!(!tf.explains(&seen(1), &fp));
        // Both arrived: this one is there.
        assert!(tf.explains(&seen(2), &fp));
        // The other worker settles its copy; one arrival is then only its own.
        if let Ok(mut m) = tf.appended.lock() {
            m.insert("abc".into(), 1);
        }
        tf.end(&fp);
        assert!(!tf.explains(&seen(1), &fp));
        assert!(tf.explains(&seen(2), &fp));
    }

    #[test]
    fn a_copy_the_server_changed_still_settles_a_lost_answer() {
        let tf = folder();
        tf.begin(&Fingerprint("100:abc".into()));
        // Stored one byte shorter: the same content key.
        assert!(tf.explains(&seen(1), &Fingerprint("100:abc".into())));
        assert_eq!(content_key(&Fingerprint("99:abc".into())), "abc");
    }
}
