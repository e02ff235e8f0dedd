//! Job state: the folder plan, which source messages were copied where (with the flags each
//! copy was given), and which failed. SQLite (WAL) under `state_dir`; the format is in
//! docs/checkpoints.md.
//!
//! A row is a hint, never proof: presence is decided by what the target holds (see
//! `reconcile`). Rows are keyed on the target folder and its UIDVALIDITY, so a target folder
//! deleted or recreated, a changed `folders.map` or another profile sharing the state dir
//! finds no row that would hide missing mail.
//!
//! Writes go through one writer thread that commits in small batches, so the hot path never
//! waits for a disk sync. A `kill -9` can lose the last batch; those messages are found on the
//! target by content at the next run, so they are neither lost nor copied twice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

use crate::error::{Error, Result};
use crate::fingerprint::Fingerprint;
use crate::flags::FlagSet;

pub const FORMAT_VERSION: i64 = 2;
const BATCH: usize = 200;
const BATCH_AGE: Duration = Duration::from_millis(250);

/// One message copied (or found already on the target).
#[derive(Debug, Clone)]
pub struct Done {
    pub folder: String,
    pub uidvalidity: u32,
    pub uid: u32,
    pub fingerprint: String,
    pub target_folder: String,
    pub target_uidvalidity: u32,
    pub target_uid: Option<u32>,
    /// The flags the copy was given (or had when found): what later runs compare the source
    /// with, to add only what the source gained since.
    pub flags: Vec<String>,
}

/// What a copy's row says, read back: see [`Checkpoint::copies`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyRow {
    pub fingerprint: Fingerprint,
    pub target_uid: Option<u32>,
    /// Which of [`Copies`]' flag sets: see [`Copies::flags`].
    flags: u32,
}

/// The rows of one target folder, by source message (folder, UIDVALIDITY, UID). Compact, as
/// a large folder has a row per message: names and flag sets are kept once and numbered, and
/// rows sit in one sorted list.
#[derive(Debug, Default)]
pub struct Copies {
    folders: Vec<String>,
    flag_sets: Vec<FlagSet>,
    rows: Vec<((u32, u32, u32), CopyRow)>,
}

impl Copies {
    pub fn get(&self, folder: &str, uidvalidity: u32, uid: u32) -> Option<&CopyRow> {
        let f = self.folders.iter().position(|n| n == folder)? as u32;
        let at = self
            .rows
            .binary_search_by_key(&(f, uidvalidity, uid), |(k, _)| *k)
            .ok()?;
        Some(&self.rows[at].1)
    }

    /// The flags the copy was given (or had when found), as in [`Done::flags`].
    pub fn flags(&self, row: &CopyRow) -> &[String] {
        self.flag_sets
            .get(row.flags as usize)
            .map_or(&[], |f| &f[..])
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The number standing for a flag set; sets are shared ([`crate::flags::intern`]), so
    /// a pointer comparison finds most.
    fn flags_index(&mut self, flags: FlagSet) -> u32 {
        let known = self
            .flag_sets
            .iter()
            .position(|f| Arc::ptr_eq(f, &flags) || *f == flags);
        let at = known.unwrap_or_else(|| {
            self.flag_sets.push(flags);
            self.flag_sets.len() - 1
        });
        at as u32
    }

    /// The number standing for a source folder's name (a target folder has a few sources).
    fn folder_index(&mut self, name: &str) -> u32 {
        let at = match self.folders.iter().position(|n| n == name) {
            Some(at) => at,
            None => {
                self.folders.push(name.to_string());
                self.folders.len() - 1
            }
        };
        at as u32
    }
}

/// A job's stored folder plan: source folder -> target folder, and the rules it was made under.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredPlan {
    pub rules_key: String,
    pub targets: BTreeMap<String, String>,
}

/// One message that could not be copied, with the server's words.
#[derive(Debug, Clone)]
pub struct Failed {
    pub folder: String,
    pub uidvalidity: u32,
    pub uid: u32,
    pub message_id: Option<String>,
    pub reason: String,
}

enum Op {
    Done(Done),
    Failed(Failed),
    Flush(mpsc::Sender<()>),
}

/// Handle to the store. Reads go straight to SQLite; writes go through the writer thread.
pub struct Checkpoint {
    path: PathBuf,
    job: String,
    tx: Option<mpsc::Sender<Op>>,
    writer: Option<JoinHandle<std::result::Result<(), String>>>,
    /// The writer's error, as soon as it stops on one (a full disk): the run stops at once
    /// with it instead of going on for hours without a record.
    failure: Arc<Mutex<Option<String>>>,
    /// Opened for a dry run: reads what is there, creates and writes nothing.
    read_only: bool,
}

fn db_err(path: &Path, e: impl std::fmt::Display) -> Error {
    let mut detail = e.to_string();
    if crate::disk::is_full(&detail) {
        let dir = path.parent().unwrap_or(path);
        detail = format!("{detail}; {}", crate::disk::full_hint(dir));
    }
    Error::Checkpoint {
        path: path.to_path_buf(),
        detail,
    }
}

fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|e| db_err(path, e))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(|e| db_err(path, e))?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL;
         PRAGMA synchronous=NORMAL;
         CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS copies (
             job TEXT NOT NULL, target_folder TEXT NOT NULL, target_uidvalidity INTEGER NOT NULL,
             folder TEXT NOT NULL, uidvalidity INTEGER NOT NULL, uid INTEGER NOT NULL,
             fingerprint TEXT NOT NULL, target_uid INTEGER, flags TEXT NOT NULL,
             at INTEGER NOT NULL,
             PRIMARY KEY (job, target_folder, target_uidvalidity, folder, uidvalidity, uid));
         CREATE TABLE IF NOT EXISTS folder_plan (
             job TEXT NOT NULL, source TEXT NOT NULL, target TEXT NOT NULL,
             rules_key TEXT NOT NULL, PRIMARY KEY (job, source));
         CREATE TABLE IF NOT EXISTS failed (
             job TEXT NOT NULL, folder TEXT NOT NULL, uidvalidity INTEGER NOT NULL,
             uid INTEGER NOT NULL, message_id TEXT, reason TEXT NOT NULL, at INTEGER NOT NULL,
             PRIMARY KEY (job, folder, uidvalidity, uid));",
    )
    .map_err(|e| db_err(path, e))?;
    let version: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key='format'", [], |r| {
            r.get(0)
        })
        .ok();
    match version {
        None => {
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('format', ?1)",
                params![FORMAT_VERSION.to_string()],
            )
            .map_err(|e| db_err(path, e))?;
        }
        Some(v) if v == FORMAT_VERSION.to_string() => {}
        // Format 1 kept rows by source folder only; they are hints, so a format 2 store
        // simply starts without them (content on the target still decides presence).
        Some(v) if v == "1" => {
            conn.execute(
                "UPDATE meta SET value=?1 WHERE key='format'",
                params![FORMAT_VERSION.to_string()],
            )
            .map_err(|e| db_err(path, e))?;
        }
        Some(v) => {
            return Err(db_err(
                path,
                format!(
                    "written by a newer mailferry (format {v}, this one reads {FORMAT_VERSION}); upgrade mailferry or use another state_dir"
                ),
            ));
        }
    }
    Ok(conn)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn writer_loop(
    conn: Connection,
    job: String,
    rx: mpsc::Receiver<Op>,
) -> std::result::Result<(), String> {
    let mut pending: Vec<Op> = Vec::new();
    let mut oldest = Instant::now();
    let commit = |conn: &Connection, ops: &mut Vec<Op>| -> std::result::Result<(), String> {
        if ops.is_empty() {
            return Ok(());
        }
        let tx = conn.unchecked_transaction().map_err(|e| e.to_string())?;
        for op in ops.drain(..) {
            match op {
                Op::Done(d) => {
                    tx.execute(
                        "INSERT OR REPLACE INTO copies VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                        params![
                            job,
                            d.target_folder,
                            d.target_uidvalidity,
                            d.folder,
                            d.uidvalidity,
                            d.uid,
                            d.fingerprint,
                            d.target_uid,
                            d.flags.join(" "),
                            now()
                        ],
                    )
                    .map_err(|e| e.to_string())?;
                    tx.execute(
                        "DELETE FROM failed WHERE job=?1 AND folder=?2 AND uidvalidity=?3 AND uid=?4",
                        params![job, d.folder, d.uidvalidity, d.uid],
                    )
                    .map_err(|e| e.to_string())?;
                }
                Op::Failed(f) => {
                    tx.execute(
                        "INSERT OR REPLACE INTO failed VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![
                            job,
                            f.folder,
                            f.uidvalidity,
                            f.uid,
                            f.message_id,
                            f.reason,
                            now()
                        ],
                    )
                    .map_err(|e| e.to_string())?;
                }
                Op::Flush(_) => {}
            }
        }
        tx.commit().map_err(|e| e.to_string())
    };
    loop {
        let timeout = BATCH_AGE.saturating_sub(oldest.elapsed());
        match rx.recv_timeout(if pending.is_empty() {
            Duration::from_secs(3600)
        } else {
            timeout
        }) {
            Ok(Op::Flush(ack)) => {
                commit(&conn, &mut pending)?;
                let _ = ack.send(());
            }
            Ok(op) => {
                if pending.is_empty() {
                    oldest = Instant::now();
                }
                pending.push(op);
                if pending.len() >= BATCH {
                    commit(&conn, &mut pending)?;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => commit(&conn, &mut pending)?,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                commit(&conn, &mut pending)?;
                return Ok(());
            }
        }
    }
}

fn read_plan(conn: &Connection, path: &Path, job: &str) -> Result<Option<StoredPlan>> {
    let mut stmt = conn
        .prepare("SELECT source, target, rules_key FROM folder_plan WHERE job=?1")
        .map_err(|e| db_err(path, e))?;
    let rows = stmt
        .query_map(params![job], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(|e| db_err(path, e))?;
    let mut plan = StoredPlan::default();
    for row in rows {
        let (source, target, key) = row.map_err(|e| db_err(path, e))?;
        plan.rules_key = key;
        plan.targets.insert(source, target);
    }
    Ok((!plan.targets.is_empty()).then_some(plan))
}

/// A job's stored folder plan, read without creating any state (for `plan` and `verify`).
pub fn read_stored_plan(state_dir: &Path, job: &str) -> Result<Option<StoredPlan>> {
    let path = state_dir.join("checkpoint.sqlite");
    if !path.exists() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| db_err(&path, e))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(|e| db_err(&path, e))?;
    let has_table: bool = conn
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name='folder_plan')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| db_err(&path, e))?;
    if !has_table {
        return Ok(None);
    }
    read_plan(&conn, &path, job)
}

impl Checkpoint {
    /// Opens (creating) the store `state_dir/checkpoint.sqlite` for one job.
    pub fn open(state_dir: &Path, job: &str) -> Result<Checkpoint> {
        std::fs::create_dir_all(state_dir).map_err(|source| Error::Io {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let path = state_dir.join("checkpoint.sqlite");
        let conn = open(&path)?;
        let (tx, rx) = mpsc::channel();
        let job_owned = job.to_string();
        let failure = Arc::new(Mutex::new(None));
        let slot = failure.clone();
        let writer = std::thread::Builder::new()
            .name("checkpoint".into())
            .spawn(move || {
                let result = writer_loop(conn, job_owned, rx);
                if let (Err(e), Ok(mut slot)) = (&result, slot.lock()) {
                    *slot = Some(e.clone());
                }
                result
            })
            .map_err(|e| db_err(&path, e))?;
        Ok(Checkpoint {
            path,
            job: job.to_string(),
            tx: Some(tx),
            writer: Some(writer),
            failure,
            read_only: false,
        })
    }

    /// The job's state for a dry run: read if it exists, never created or written (records
    /// are dropped).
    pub fn open_read_only(state_dir: &Path, job: &str) -> Checkpoint {
        Checkpoint {
            path: state_dir.join("checkpoint.sqlite"),
            job: job.to_string(),
            tx: None,
            writer: None,
            failure: Arc::new(Mutex::new(None)),
            read_only: true,
        }
    }

    /// A connection to read from; `None` when a read-only store has nothing to read yet.
    fn reader(&self) -> Result<Option<Connection>> {
        if !self.read_only {
            return open(&self.path).map(Some);
        }
        if !self.path.exists() {
            return Ok(None);
        }
        let conn =
            Connection::open_with_flags(&self.path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(|e| db_err(&self.path, e))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(|e| db_err(&self.path, e))?;
        let current: bool = conn
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name='copies')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| db_err(&self.path, e))?;
        Ok(current.then_some(conn))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The error the writer stopped on, if it did.
    pub fn error(&self) -> Option<Error> {
        let detail = self.failure.lock().ok()?.clone()?;
        Some(db_err(&self.path, detail))
    }

    /// What this job recorded about one target folder at one UIDVALIDITY, by source message.
    pub fn copies(&self, target_folder: &str, target_uidvalidity: u32) -> Result<Copies> {
        let mut out = Copies::default();
        let Some(conn) = self.reader()? else {
            return Ok(out);
        };
        let mut stmt = conn
            .prepare(
                "SELECT folder, uidvalidity, uid, fingerprint, target_uid, flags FROM copies
                 WHERE job=?1 AND target_folder=?2 AND target_uidvalidity=?3",
            )
            .map_err(|e| db_err(&self.path, e))?;
        let mut rows = stmt
            .query(params![self.job, target_folder, target_uidvalidity])
            .map_err(|e| db_err(&self.path, e))?;
        // Rows are read one at a time into compact entries: a 100,000-message folder's rows
        // never sit in memory as strings.
        while let Some(r) = rows.next().map_err(|e| db_err(&self.path, e))? {
            let read = |i| r.get_ref(i).map_err(|e| db_err(&self.path, e));
            let text = |i| -> Result<&str> { read(i)?.as_str().map_err(|e| db_err(&self.path, e)) };
            let folder = out.folder_index(text(0)?);
            let key = (
                folder,
                r.get(1).map_err(|e| db_err(&self.path, e))?,
                r.get(2).map_err(|e| db_err(&self.path, e))?,
            );
            let flags =
                crate::flags::intern(text(5)?.split_whitespace().map(str::to_string).collect());
            let copy = CopyRow {
                fingerprint: Fingerprint::from_stored(text(3)?),
                target_uid: r.get(4).map_err(|e| db_err(&self.path, e))?,
                flags: out.flags_index(flags),
            };
            out.rows.push((key, copy));
        }
        out.rows.sort_unstable_by_key(|(k, _)| *k);
        out.rows.shrink_to_fit();
        Ok(out)
    }

    /// Whether this source folder has records under another UIDVALIDITY (the server
    /// renumbered it) and none under this one.
    pub fn renumbered(&self, folder: &str, uidvalidity: u32) -> Result<bool> {
        let Some(conn) = self.reader()? else {
            return Ok(false);
        };
        conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM copies WHERE job=?1 AND folder=?2 AND uidvalidity<>?3)
                AND NOT EXISTS(SELECT 1 FROM copies WHERE job=?1 AND folder=?2 AND uidvalidity=?3)",
            params![self.job, folder, uidvalidity],
            |r| r.get::<_, bool>(0),
        )
        .map_err(|e| db_err(&self.path, e))
    }

    /// The folder plan stored by an earlier run of this job.
    pub fn stored_plan(&self) -> Result<Option<StoredPlan>> {
        let Some(conn) = self.reader()? else {
            return Ok(None);
        };
        read_plan(&conn, &self.path, &self.job)
    }

    /// Stores the job's folder plan (replacing the one stored).
    pub fn save_plan(&self, plan: &StoredPlan) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        let mut conn = open(&self.path)?;
        let tx = conn.transaction().map_err(|e| db_err(&self.path, e))?;
        tx.execute("DELETE FROM folder_plan WHERE job=?1", params![self.job])
            .map_err(|e| db_err(&self.path, e))?;
        for (source, target) in &plan.targets {
            tx.execute(
                "INSERT INTO folder_plan VALUES (?1, ?2, ?3, ?4)",
                params![self.job, source, target, plan.rules_key],
            )
            .map_err(|e| db_err(&self.path, e))?;
        }
        tx.commit().map_err(|e| db_err(&self.path, e))
    }

    /// Messages recorded as failed by earlier runs (a rerun retries exactly these and the new).
    pub fn failed(&self) -> Result<Vec<Failed>> {
        let Some(conn) = self.reader()? else {
            return Ok(Vec::new());
        };
        let mut stmt = conn
            .prepare("SELECT folder, uidvalidity, uid, message_id, reason FROM failed WHERE job=?1 ORDER BY folder, uid")
            .map_err(|e| db_err(&self.path, e))?;
        let rows = stmt
            .query_map(params![self.job], |r| {
                Ok(Failed {
                    folder: r.get(0)?,
                    uidvalidity: r.get(1)?,
                    uid: r.get(2)?,
                    message_id: r.get(3)?,
                    reason: r.get(4)?,
                })
            })
            .map_err(|e| db_err(&self.path, e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| db_err(&self.path, e))
    }

    pub fn record_done(&self, d: Done) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Op::Done(d));
        }
    }

    pub fn record_failed(&self, f: Failed) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Op::Failed(f));
        }
    }

    /// Commits everything recorded so far.
    pub fn flush(&self) -> Result<()> {
        if self.tx.is_none() {
            return Ok(());
        }
        let (ack_tx, ack_rx) = mpsc::channel();
        let stopped = || {
            self.error()
                .unwrap_or_else(|| db_err(&self.path, "the checkpoint writer stopped"))
        };
        if let Some(tx) = &self.tx
            && tx.send(Op::Flush(ack_tx)).is_err()
        {
            return Err(stopped());
        }
        ack_rx.recv().map_err(|_| stopped())
    }

    /// Flushes and stops the writer, reporting any write error it met.
    pub fn close(mut self) -> Result<()> {
        self.tx.take();
        match self.writer.take().map(|w| w.join()) {
            Some(Ok(Ok(()))) | None => Ok(()),
            Some(Ok(Err(e))) => Err(db_err(&self.path, e)),
            Some(Err(_)) => Err(db_err(&self.path, "checkpoint writer panicked")),
        }
    }
}

impl Drop for Checkpoint {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(uid: u32) -> Done {
        Done {
            folder: "INBOX".into(),
            uidvalidity: 7,
            uid,
            fingerprint: format!("{uid}:00112233445566778899aabb"),
            target_folder: "INBOX".into(),
            target_uidvalidity: 9,
            target_uid: Some(uid + 100),
            flags: vec!["\\Seen".into(), "$Work".into()],
        }
    }

    #[test]
    fn records_survive_reopen_and_are_keyed_on_the_target_folder() {
        let dir = tempfile::tempdir().unwrap();
        let cp = Checkpoint::open(dir.path(), "job").unwrap();
        cp.record_done(done(1));
        cp.record_done(done(2));
        cp.record_failed(Failed {
            folder: "INBOX".into(),
            uidvalidity: 7,
            uid: 3,
            message_id: None,
            reason: "NO too big".into(),
        });
        cp.close().unwrap();
        let cp = Checkpoint::open(dir.path(), "job").unwrap();
        let recorded = cp.copies("INBOX", 9).unwrap();
        assert_eq!(recorded.len(), 2);
        let first = recorded.get("INBOX", 7, 1).expect("a row for UID 1");
        assert_eq!(recorded.flags(first), ["\\Seen", "$Work"]);
        assert_eq!(first.target_uid, Some(101));
        assert_eq!(first.fingerprint.to_string(), done(1).fingerprint);
        assert!(recorded.get("INBOX", 8, 1).is_none());
        assert!(recorded.get("Sent", 7, 1).is_none());
        // The target folder recreated (new UIDVALIDITY) or another one: no rows.
        assert!(cp.copies("INBOX", 10).unwrap().is_empty());
        assert!(cp.copies("Archive", 9).unwrap().is_empty());
        assert!(cp.renumbered("INBOX", 8).unwrap());
        assert!(!cp.renumbered("INBOX", 7).unwrap());
        assert_eq!(cp.failed().unwrap().len(), 1);
        // Another job in the same state_dir sees nothing of this one.
        let other = Checkpoint::open(dir.path(), "other").unwrap();
        assert!(other.copies("INBOX", 9).unwrap().is_empty());
        // A later success clears the failure.
        cp.record_done(done(3));
        cp.flush().unwrap();
        assert!(cp.failed().unwrap().is_empty());
    }

    #[test]
    fn a_dry_run_reads_and_never_writes() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let ro = Checkpoint::open_read_only(&state, "job");
        assert!(ro.copies("INBOX", 9).unwrap().is_empty());
        assert_eq!(ro.stored_plan().unwrap(), None);
        ro.record_done(done(1));
        ro.save_plan(&StoredPlan::default()).unwrap();
        ro.flush().unwrap();
        ro.close().unwrap();
        assert!(!state.exists(), "a dry run created the state dir");

        let cp = Checkpoint::open(&state, "job").unwrap();
        cp.record_done(done(1));
        cp.close().unwrap();
        let ro = Checkpoint::open_read_only(&state, "job");
        assert_eq!(ro.copies("INBOX", 9).unwrap().len(), 1);
    }

    #[test]
    fn the_folder_plan_is_stored_per_job() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_stored_plan(dir.path(), "job").unwrap(), None);
        let cp = Checkpoint::open(dir.path(), "job").unwrap();
        let plan = StoredPlan {
            rules_key: "k".into(),
            targets: [("已发送".to_string(), "Sent".to_string())].into(),
        };
        cp.save_plan(&plan).unwrap();
        assert_eq!(cp.stored_plan().unwrap(), Some(plan.clone()));
        assert_eq!(read_stored_plan(dir.path(), "job").unwrap(), Some(plan));
        assert_eq!(read_stored_plan(dir.path(), "other").unwrap(), None);
    }
}
