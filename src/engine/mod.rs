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

mod append;
mod archive_sink;
mod fetch;
mod prepare;

use append::{append_worker, record_copied};
use archive_sink::archive_writer;
use fetch::fetch_worker;

use crate::checkpoint::{self, Checkpoint};
use crate::error::{Error, Result, Side};
use crate::imap::{Endpoint, Session};
use crate::plan::{FolderPlan, SourceMessage};
use crate::profile::Profile;
use crate::progress::{Event, Progress};
use crate::report::{Failure, FolderReport, Report};
use crate::retry::POLICY;
pub use crate::sides::{SourceSide, TargetSide, job_label};

/// Bytes of messages in flight between fetch and append, across all workers.
pub const DEFAULT_BUDGET: u64 = 16 * 1024 * 1024;
/// The most a long path's round trip grows the budget to (see `budget_for`).
const MAX_BUDGET: u64 = 64 * 1024 * 1024;
const BATCH_MESSAGES: usize = 256;
const BATCH_BYTES: u64 = 4 * 1024 * 1024;
/// The most one FETCH carries when the budget is large (a long path): see `fetch_bytes_for`.
const MAX_FETCH_BYTES: u64 = 2 * BATCH_BYTES;
const MAX_ATTEMPTS: u32 = POLICY.attempts;
/// Messages larger than this are fetched in parts of this size.
const PART_BYTES: u64 = 2 * 1024 * 1024;
/// Messages per MULTIAPPEND (its bytes: `Shared::append_bytes`).
const MULTI_MESSAGES: usize = 256;

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
    /// A budget shared with other runs in this process (a batch's accounts), made by
    /// [`shared_budget`]: memory then follows it, not the number of accounts.
    pub shared_budget: Option<Arc<Semaphore>>,
}

/// A byte budget several runs draw from; give each the same `budget` in [`RunOptions`].
pub fn shared_budget(bytes: u64) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(budget_kib(bytes) as usize))
}

/// The bytes in flight for a path with this round trip: `base` on a short one; on a long
/// one each byte is held about two round trips longer (asked for, then written and
/// confirmed), so the budget grows by what the line carries in that time, up to
/// [`MAX_BUDGET`]. Memory then follows the path's bandwidth-delay product, still not the
/// mailbox.
fn budget_for(base: u64, rtt: Duration) -> u64 {
    // Bytes held per second of round trip: measured on loopback with +20 and +100 ms
    // (docs/performance.md), where less leaves the line idle.
    const RATE: u64 = 480 * 1024 * 1024;
    let grown = (RATE as u128 * rtt.as_micros() / 1_000_000) as u64;
    if base != DEFAULT_BUDGET {
        // Set by the caller (a batch's shared budget): kept as given.
        return base;
    }
    base.saturating_add(grown).min(MAX_BUDGET.max(base))
}

/// Bytes one FETCH carries: half the budget shared among the fetchers (the other half is on
/// its way to the target), from [`BATCH_BYTES`] up to [`MAX_FETCH_BYTES`]. On a long path a
/// round trip per FETCH is what limits the rate, so fewer, larger FETCHes go faster.
fn fetch_bytes_for(budget: u64, workers: usize) -> u64 {
    (budget / (2 * workers.max(1) as u64)).clamp(BATCH_BYTES, MAX_FETCH_BYTES)
}

fn budget_kib(bytes: u64) -> u32 {
    (bytes.div_ceil(1024)).clamp(1, u32::MAX as u64 / 2) as u32
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            dry_run: false,
            cancel: Cancel::default(),
            budget: DEFAULT_BUDGET,
            shared_budget: None,
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
    /// By content key: (appends this run has settled as stored, appends sent and not yet
    /// settled). A lost answer is settled by counting against both, read and changed together
    /// under one lock so a copy is never counted in both.
    appends: Mutex<HashMap<crate::fingerprint::Hash12, (u32, u32)>>,
}

impl TargetFolder {
    fn new(name: String, wire: String, state: crate::imap::MailboxState, max_uid: u32) -> Self {
        TargetFolder {
            name,
            wire,
            state,
            max_uid_before: max_uid,
            appends: Mutex::new(HashMap::new()),
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
    /// Split off a batch that failed: fetched as it is, never joined with others again (or
    /// the message the server cannot send would never end up alone).
    split: bool,
}

struct Fetched {
    folder: usize,
    meta: SourceMessage,
    /// As the FETCH gave them (shared: see [`crate::flags::FlagSet`]), else as planned.
    flags: crate::flags::FlagSet,
    internaldate: Option<String>,
    body: Vec<u8>,
    _permit: Option<OwnedSemaphorePermit>,
}

struct Shared {
    folders: Vec<FolderRun>,
    queue: Mutex<VecDeque<Batch>>,
    budget: Arc<Semaphore>,
    budget_kib: u32,
    /// Bytes one FETCH may carry (queued batches of a folder are joined up to it).
    fetch_bytes: u64,
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
    /// Bytes downloaded from the source and uploaded to the target in this run, against
    /// the providers' daily limits.
    downloaded: std::sync::atomic::AtomicU64,
    download_limit: Option<u64>,
    uploaded: std::sync::atomic::AtomicU64,
    upload_limit: Option<u64>,
}

impl Shared {
    /// Bytes one MULTIAPPEND may carry: two FETCHes' worth.
    fn append_bytes(&self) -> u64 {
        2 * self.fetch_bytes
    }

    /// Hands fetched messages on (one FETCH's worth together, so the target side can
    /// write them in one command: one round trip per batch, not per message), counting their
    /// bytes against the source's daily download limit (Gmail: 2,500 MB a day over IMAP):
    /// past it, no new work starts and the run ends as a stopped one, resumable the next day.
    fn deliver(
        &self,
        tx: &mpsc::UnboundedSender<Vec<Fetched>>,
        messages: Vec<Fetched>,
    ) -> std::result::Result<(), mpsc::error::SendError<Vec<Fetched>>> {
        if messages.is_empty() {
            return Ok(());
        }
        let bytes: u64 = messages.iter().map(|m| m.body.len() as u64).sum();
        self.count_toward(
            &self.downloaded,
            self.download_limit,
            bytes,
            "source",
            "downloads",
        );
        tx.send(messages)
    }

    /// Counts bytes against a daily limit; the first time it is reached, says so and stops
    /// new work (the run ends as a stopped one).
    fn count_toward(
        &self,
        counter: &std::sync::atomic::AtomicU64,
        limit: Option<u64>,
        bytes: u64,
        side: &str,
        what: &str,
    ) {
        let total = counter.fetch_add(bytes, Ordering::SeqCst) + bytes;
        if let Some(limit) = limit
            && total >= limit
            && total - bytes < limit
        {
            self.progress.event(Event::Warning {
                message: format!(
                    "the {side} allows {} of {what} a day and this run reached it: stopping; run again in 24 hours to go on (nothing is copied twice)",
                    crate::text::human_bytes(limit)
                ),
            });
            self.cancel.cancel();
        }
    }

    /// Whether no new work should start: stopped by the user, or failed.
    fn stop_requested(&self) -> bool {
        self.cancel.is_cancelled() || self.failed()
    }

    /// Whether the run has failed as a whole; nothing more is written then.
    fn failed(&self) -> bool {
        // Without a record of what is copied a run would go on blind: stop with the cause.
        if let Some(e) = self.checkpoint.error() {
            self.set_fatal(e);
        }
        self.fatal.lock().map(|f| f.is_some()).unwrap_or(true)
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

/// The pause before trying again ([`crate::retry`], the one policy).
fn backoff(attempt: u32, server_text: Option<&str>) -> Duration {
    POLICY.delay(attempt, server_text)
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
    tokio::time::sleep(backoff(attempt, None)).await;
    Session::connect(endpoint).await
}

/// Makes sure a worker holds a usable connection: the first try connects at once, a later
/// one after the retry policy's pause (and says it is reconnecting).
async fn ensure_connected(
    shared: &Shared,
    endpoint: &Endpoint,
    session: &mut Option<Session>,
    attempt: u32,
    last_error: &str,
) -> Result<()> {
    if session.as_ref().is_some_and(|s| !s.is_broken()) {
        return Ok(());
    }
    let s = if attempt == 0 && session.is_none() {
        Session::connect(endpoint).await?
    } else {
        reconnect(endpoint, attempt, last_error, shared.progress.as_ref()).await?
    };
    *session = Some(s);
    Ok(())
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
                tokio::time::sleep(backoff(attempt, e.server_text())).await;
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
        mut target,
        mut writer,
        left: total_left,
        bytes: total_bytes,
        present: total_present,
        refused,
    } = prepared;
    progress.event(Event::Planned {
        folders: folders.len(),
        messages: total_left,
        bytes: total_bytes,
        already_present: total_present,
    });

    if opts.dry_run {
        for s in [source.take(), target.take()].into_iter().flatten() {
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

    let rtt = [&source, &target]
        .into_iter()
        .flatten()
        .map(Session::rtt)
        .max()
        .unwrap_or_default();
    let budget = budget_for(opts.budget, rtt);
    let budget_kib = budget_kib(budget);
    let workers = profile.workers.max(1);
    let fetch_bytes = fetch_bytes_for(budget, workers);
    tracing::debug!(
        rtt_ms = rtt.as_millis() as u64,
        budget_kib,
        fetch_bytes,
        "byte budget"
    );
    let shared = Arc::new(Shared {
        folders,
        queue: Mutex::new(queue),
        budget: opts
            .shared_budget
            .clone()
            .unwrap_or_else(|| Arc::new(Semaphore::new(budget_kib as usize))),
        budget_kib,
        fetch_bytes,
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
        downloaded: std::sync::atomic::AtomicU64::new(0),
        download_limit: source_side.provider().and_then(|p| p.daily_download_limit),
        uploaded: std::sync::atomic::AtomicU64::new(0),
        upload_limit: target_side.provider().and_then(|p| p.daily_upload_limit),
    });
    for (folder, m, why) in refused {
        shared.fail(folder, &m, why);
    }

    let (tx, rx) = mpsc::unbounded_channel::<Vec<Fetched>>();
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
                let session = target.take();
                tasks.spawn(async move { append_worker(s, session, rx).await });
            }
        }
        Some(w) => {
            // One writer: compression runs on its own thread, off the network path.
            let s = shared.clone();
            let every = match &target_side {
                TargetSide::Archive(a) => a.commit_every,
                TargetSide::Imap(_) => crate::profile::DEFAULT_COMMIT_EVERY,
            };
            archive_task = Some(tokio::task::spawn_blocking(move || {
                archive_writer(s, w, rx, every)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_path_fetches_more_per_command_within_the_budget() {
        let ms = Duration::from_millis;
        let near = fetch_bytes_for(budget_for(DEFAULT_BUDGET, ms(0)), 4);
        assert_eq!(near, BATCH_BYTES);
        let far = fetch_bytes_for(budget_for(DEFAULT_BUDGET, ms(100)), 4);
        assert_eq!(far, MAX_FETCH_BYTES);
        // Four fetchers' worth stays within half the budget.
        assert!(4 * far <= MAX_BUDGET / 2);
        assert_eq!(fetch_bytes_for(8 << 20, 0), BATCH_BYTES);
    }

    #[test]
    fn the_budget_grows_with_the_round_trip_up_to_its_cap() {
        let ms = Duration::from_millis;
        assert_eq!(budget_for(DEFAULT_BUDGET, ms(0)), DEFAULT_BUDGET);
        let at_20 = budget_for(DEFAULT_BUDGET, ms(20));
        assert!(at_20 > DEFAULT_BUDGET && at_20 < MAX_BUDGET);
        assert_eq!(budget_for(DEFAULT_BUDGET, ms(300)), MAX_BUDGET);
        // A budget set by the caller (a batch's, shared) is kept as given.
        assert_eq!(budget_for(8 << 20, ms(300)), 8 << 20);
    }
}
