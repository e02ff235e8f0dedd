//! `mailferry batch BATCH.yaml` (also `batch run|plan|verify|report`): many accounts, each an
//! ordinary job with its own state dir, a few at a time, within per-host connection budgets.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mailferry::batch::{
    Account, AccountResult, Batch, BatchSummary, FailureKind, Status, classify, parse_shard,
    summarize,
};
use mailferry::engine::{self, RunOptions};
use mailferry::imap::limit::HostLimits;
use mailferry::progress::{Event, Progress};
use mailferry::text::{human_bytes, name_width, pad};

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<BatchCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, clap::Subcommand)]
enum BatchCommand {
    /// Run every account of the batch (the default): finished ones are skipped, interrupted
    /// ones resume, failed ones are tried again. Exit 0 all done, 1 some accounts or messages
    /// failed (listed), 2 the batch file is wrong.
    Run(RunArgs),
    /// Show per account the folders, messages and bytes to copy; list the accounts that
    /// cannot log in, with the fix. Read-only.
    Plan(RunArgs),
    /// Check account by account that each target holds everything (as `mailferry verify`).
    Verify(RunArgs),
    /// Merge the results of one or more state dirs (one per shard) into one table.
    Report {
        /// Batch state dirs (`state_dir` of the batch file), e.g. one per shard.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, clap::Args)]
struct RunArgs {
    /// The batch file (see docs/batch.md).
    batch: Option<PathBuf>,
    /// Only the accounts of shard I of N (I from 0, as Kubernetes counts); without it,
    /// JOB_COMPLETION_INDEX gives I.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// N when the shard index comes from JOB_COMPLETION_INDEX (else `shards:` of the file).
    #[arg(long, value_name = "N")]
    shards: Option<u32>,
    /// Run accounts that are already done too (a rerun adds no copy either way).
    #[arg(long)]
    again: bool,
    /// JSON lines on stdout: one per account as it ends, the summary last.
    #[arg(long)]
    json: bool,
}

pub async fn execute(args: Args) -> anyhow::Result<i32> {
    match args.command {
        None => run(args.run).await,
        Some(BatchCommand::Run(a)) => run(a).await,
        Some(BatchCommand::Plan(a)) => plan(a).await,
        Some(BatchCommand::Verify(a)) => verify(a).await,
        Some(BatchCommand::Report { dirs, json }) => report(&dirs, json),
    }
}

/// The batch and this process's share of its accounts.
fn load(args: &RunArgs) -> anyhow::Result<(Batch, u32, u32)> {
    let Some(path) = &args.batch else {
        anyhow::bail!("give the batch file: mailferry batch BATCH.yaml (see docs/batch.md)");
    };
    let batch = Batch::load(path)?;
    let (index, count) = match (&args.shard, std::env::var("JOB_COMPLETION_INDEX")) {
        (Some(s), _) => parse_shard(s).map_err(anyhow::Error::msg)?,
        (None, Ok(i)) => {
            let Some(n) = args.shards.or(batch.shards) else {
                anyhow::bail!(
                    "JOB_COMPLETION_INDEX is set ({i}) but not how many shards there are: give --shards N or shards: in the batch file"
                );
            };
            parse_shard(&format!("{}/{n}", i.trim())).map_err(anyhow::Error::msg)?
        }
        (None, Err(_)) => (0, 1),
    };
    Ok((batch, index, count))
}

/// Counts shared by the accounts running at once, for the overall line.
#[derive(Default)]
struct Totals {
    messages: AtomicU64,
    bytes: AtomicU64,
    running: AtomicUsize,
    done: AtomicUsize,
    failed: AtomicUsize,
}

/// One account's engine events: counted into the batch's totals, and what a person would
/// want to read later (folders done, failures, reconnects, warnings) kept in its `log.txt`.
struct AccountProgress {
    totals: Arc<Totals>,
    dir: PathBuf,
}

impl Progress for AccountProgress {
    fn event(&self, event: Event) {
        if let Event::Copied { bytes, .. } = event {
            self.totals.messages.fetch_add(1, Ordering::Relaxed);
            self.totals.bytes.fetch_add(bytes, Ordering::Relaxed);
            return;
        }
        if let Some(line) = super::display::event_line(&event) {
            append_log(&self.dir, &line);
        }
    }
}

/// Adds a timed line to an account's `log.txt` (a log that cannot be written is reported
/// once per line on stderr, and the run goes on).
fn append_log(dir: &Path, line: &str) {
    use std::io::Write;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("log.txt"))
        .and_then(|mut f| writeln!(f, "{now} {line}"));
    if let Err(e) = written {
        tracing::warn!("{}: {e}", dir.display());
    }
}

/// An account's status in a word, for the table and the per-account lines.
fn status_word(r: &AccountResult) -> &'static str {
    match (r.status, r.failure) {
        (Status::Done, _) => "done",
        (Status::Partial, _) => "partial",
        (Status::Failed, Some(FailureKind::Permanent)) => "permanent",
        (Status::Failed, _) => "transient",
    }
}

fn overall_line(t: &Totals, total: usize, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let bytes = t.bytes.load(Ordering::Relaxed);
    format!(
        "accounts {}/{total} done, {} running, {} failed; {} messages, {}, {}/s",
        t.done.load(Ordering::Relaxed),
        t.running.load(Ordering::Relaxed),
        t.failed.load(Ordering::Relaxed),
        t.messages.load(Ordering::Relaxed),
        human_bytes(bytes),
        human_bytes((bytes as f64 / secs) as u64),
    )
}

async fn run(args: RunArgs) -> anyhow::Result<i32> {
    let (batch, index, count) = load(&args)?;
    let batch = Arc::new(batch);
    let mine: Vec<Account> = batch.shard(index, count).into_iter().cloned().collect();
    let total = mine.len();
    let limits = Arc::new(HostLimits::new(
        batch.max_connections_per_host,
        batch.new_connections_per_minute,
    ));
    // Each running account may need two connections to one host at once (source and target
    // on one server, or planning beside a worker): more accounts than half the host's budget
    // could all hold one and wait for a second.
    let parallel = batch
        .accounts_in_parallel
        .min((batch.max_connections_per_host / 2).max(1));
    let gate = Arc::new(tokio::sync::Semaphore::new(parallel));
    let totals = Arc::new(Totals::default());
    // One byte budget for all accounts: memory follows it, not how many run at once.
    let budget = engine::shared_budget(engine::DEFAULT_BUDGET);
    let started = Instant::now();
    if !args.json {
        eprintln!(
            "batch {}: {} accounts in shard {index}/{count}, {} at a time",
            batch.path.display(),
            total,
            parallel
        );
    }
    let ticker = (!args.json).then(|| {
        let t = totals.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                eprintln!("{}", overall_line(&t, total, started));
            }
        })
    });
    let mut results = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for a in mine {
        let dir = batch.account_dir(&a);
        if !args.again
            && let Some(r) = read_result(&dir).filter(|r| r.status == Status::Done)
        {
            totals.done.fetch_add(1, Ordering::Relaxed);
            results.push(r);
            continue;
        }
        let (batch, limits, gate, totals, budget) = (
            batch.clone(),
            limits.clone(),
            gate.clone(),
            totals.clone(),
            budget.clone(),
        );
        tasks.spawn(async move {
            let _turn = gate.acquire_owned().await;
            totals.running.fetch_add(1, Ordering::Relaxed);
            let r = run_account(&batch, &a, &limits, totals.clone(), budget).await;
            totals.running.fetch_sub(1, Ordering::Relaxed);
            let counter = if r.status == Status::Failed {
                &totals.failed
            } else {
                &totals.done
            };
            counter.fetch_add(1, Ordering::Relaxed);
            r
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let r = joined?;
        if args.json {
            println!(
                "{}",
                serde_json::json!({ "event": "account", "result": &r })
            );
        } else {
            eprintln!("{}", account_line(&r));
        }
        results.push(r);
    }
    if let Some(t) = ticker {
        t.abort();
    }
    let summary = summarize(results);
    let file = batch
        .state_dir
        .join(format!("summary-shard-{index}-of-{count}.json"));
    std::fs::create_dir_all(&batch.state_dir)?;
    std::fs::write(&file, serde_json::to_vec_pretty(&summary)?)?;
    print_summary(&summary, args.json)?;
    Ok(summary.exit_code())
}

/// Runs one account as `mailferry run` would, and keeps its result and report in its dir.
async fn run_account(
    batch: &Batch,
    a: &Account,
    limits: &HostLimits,
    totals: Arc<Totals>,
    budget: Arc<tokio::sync::Semaphore>,
) -> AccountResult {
    let begun = Instant::now();
    let dir = batch.account_dir(a);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::warn!("{}: {e}", dir.display());
    }
    let outcome = async {
        let profile = batch.profile(a)?;
        let source = super::source_side_limited(&profile, Some(limits)).await?;
        let target = super::target_side_limited(&profile, Some(limits))?;
        let progress: Arc<dyn Progress> = Arc::new(AccountProgress {
            totals,
            dir: dir.clone(),
        });
        let opts = RunOptions {
            shared_budget: Some(budget),
            ..RunOptions::default()
        };
        let run = engine::run(&profile, source.clone(), target, progress, opts).await;
        source.close().await;
        let mut report = run?;
        // As `mailferry run` does: a good backup with `retention:` prunes its archive.
        if report.exit_code() == 0 {
            super::run::prune_after_backup(&profile, &mut report).await;
        }
        anyhow::Ok(report)
    }
    .await;
    let mut r = AccountResult {
        id: a.id.clone(),
        status: Status::Failed,
        failure: None,
        exit_code: 2,
        copied: 0,
        already_present: 0,
        failed: 0,
        bytes: 0,
        seconds: begun.elapsed().as_secs_f64(),
        error: None,
        finished: chrono::Utc::now(),
    };
    match outcome {
        Ok(report) => {
            r.exit_code = report.exit_code();
            r.status = if r.exit_code == 0 {
                Status::Done
            } else {
                Status::Partial
            };
            (r.copied, r.already_present, r.failed, r.bytes) = (
                report.copied,
                report.already_present,
                report.failed,
                report.bytes,
            );
            let _ = std::fs::write(dir.join("report.json"), to_json(&report));
        }
        Err(e) => {
            r.failure = Some(failure_kind(&e));
            r.error = Some(format!("{e:#}"));
            append_log(&dir, &format!("{e:#}"));
        }
    }
    let _ = std::fs::write(dir.join("result.json"), to_json(&r));
    r
}

fn to_json(v: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec_pretty(v).unwrap_or_default()
}

/// A failure's kind from the first typed error in its chain; a bad row or an unreadable
/// password is permanent (fixing it takes a person).
fn failure_kind(e: &anyhow::Error) -> FailureKind {
    e.chain()
        .find_map(|c| c.downcast_ref::<mailferry::error::Error>())
        .map(classify)
        .unwrap_or(FailureKind::Permanent)
}

fn read_result(dir: &Path) -> Option<AccountResult> {
    serde_json::from_slice(&std::fs::read(dir.join("result.json")).ok()?).ok()
}

fn account_line(r: &AccountResult) -> String {
    let status = match status_word(r) {
        "partial" => format!("{} messages failed (a rerun retries them)", r.failed),
        "permanent" => "FAILED (permanent: fix it, then rerun)".to_string(),
        "transient" => "FAILED (transient: a rerun retries it)".to_string(),
        word => word.to_string(),
    };
    let mut line = format!(
        "{}: {status}; {} copied, {} already there, {:.1} s",
        r.id, r.copied, r.already_present, r.seconds
    );
    if let Some(e) = &r.error {
        line.push_str(&format!("\n    {e}"));
    }
    line
}

fn print_summary(s: &BatchSummary, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(s)?);
        return Ok(());
    }
    let w = name_width(s.results.keys().map(String::as_str));
    println!(
        "{}  {:<10} {:>8} {:>8} {:>6} {:>10}",
        pad("account", w),
        "status",
        "copied",
        "present",
        "failed",
        "bytes"
    );
    for r in s.results.values() {
        println!(
            "{}  {:<10} {:>8} {:>8} {:>6} {:>10}",
            pad(&r.id, w),
            status_word(r),
            r.copied,
            r.already_present,
            r.failed,
            human_bytes(r.bytes)
        );
    }
    println!(
        "{} accounts: {} done, {} partial, {} failed permanently (fix, then rerun), {} failed transiently (rerun); {} copied, {} already there, {}",
        s.accounts,
        s.done,
        s.partial,
        s.failed_permanent,
        s.failed_transient,
        s.copied,
        s.already_present,
        human_bytes(s.bytes)
    );
    for r in s.results.values().filter(|r| r.error.is_some()) {
        println!("  {}: {}", r.id, r.error.as_deref().unwrap_or_default());
    }
    Ok(())
}

async fn plan(args: RunArgs) -> anyhow::Result<i32> {
    let (batch, index, count) = load(&args)?;
    let limits = HostLimits::new(
        batch.max_connections_per_host,
        batch.new_connections_per_minute,
    );
    let mut failing = 0;
    let mut rows = Vec::new();
    for a in batch.shard(index, count) {
        let planned = async {
            let profile = batch.profile(a)?;
            let source = super::source_side_limited(&profile, Some(&limits)).await?;
            let target = super::target_side_limited(&profile, Some(&limits))?;
            let plan = mailferry::plan::for_sides(&profile, &source, &target).await;
            source.close().await;
            anyhow::Ok(plan?)
        }
        .await;
        match planned {
            Ok(p) => {
                let (messages, bytes) = p
                    .folders
                    .iter()
                    .fold((0u64, 0u64), |(m, b), f| (m + f.messages, b + f.bytes));
                let row = serde_json::json!({
                    "id": a.id, "folders": p.folders.len(), "messages": messages, "bytes": bytes
                });
                if !args.json {
                    println!(
                        "{}: {} folders, {} messages, {}",
                        a.id,
                        p.folders.len(),
                        messages,
                        human_bytes(bytes)
                    );
                }
                rows.push(row);
            }
            Err(e) => {
                failing += 1;
                if !args.json {
                    println!("{}: CANNOT RUN: {e:#}", a.id);
                }
                rows.push(serde_json::json!({ "id": a.id, "error": format!("{e:#}") }));
            }
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "accounts": rows, "failing": failing })
        );
    } else {
        println!("{} accounts, {failing} cannot run", rows.len());
    }
    Ok(if failing == 0 { 0 } else { 1 })
}

async fn verify(args: RunArgs) -> anyhow::Result<i32> {
    let (batch, index, count) = load(&args)?;
    let limits = HostLimits::new(
        batch.max_connections_per_host,
        batch.new_connections_per_minute,
    );
    let mut bad = 0;
    let mut rows = Vec::new();
    for a in batch.shard(index, count) {
        let checked = async {
            let profile = batch.profile(a)?;
            let source = super::source_side_limited(&profile, Some(&limits)).await?;
            let target = super::target_side_limited(&profile, Some(&limits))?;
            let opts = super::verify_options(&profile, &source, &target, false)?;
            let (vs, vt) = super::verify_locations(&source, &target).await?;
            let verdict =
                mailferry::verify::verify(&profile, &vs, &vt, &mailferry::progress::Silent, &opts)
                    .await;
            source.close().await;
            anyhow::Ok(verdict?)
        }
        .await;
        let (ok, text) = match &checked {
            Ok(v) => (v.exit_code() == 0, v.summary()),
            Err(e) => (false, format!("{e:#}")),
        };
        if !ok {
            bad += 1;
        }
        if !args.json {
            println!("{}: {}", a.id, text);
        }
        rows.push(serde_json::json!({ "id": a.id, "ok": ok, "summary": text }));
    }
    if args.json {
        println!("{}", serde_json::json!({ "accounts": rows, "not_ok": bad }));
    } else {
        println!("{} accounts, {bad} not complete", rows.len());
    }
    Ok(if bad == 0 { 0 } else { 1 })
}

fn report(dirs: &[PathBuf], json: bool) -> anyhow::Result<i32> {
    let mut results = Vec::new();
    for d in dirs {
        let accounts = d.join("accounts");
        let entries = std::fs::read_dir(&accounts).map_err(|e| {
            anyhow::anyhow!(
                "{}: {e}; give the batch's state_dir (it holds accounts/)",
                accounts.display()
            )
        })?;
        for e in entries.flatten() {
            if let Some(r) = read_result(&e.path()) {
                results.push(r);
            }
        }
    }
    let summary = summarize(results);
    print_summary(&summary, json)?;
    Ok(summary.exit_code())
}
