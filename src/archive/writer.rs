//! [`ArchiveWriter`]: the one writer of a backup archive.
//!
//! Data files only grow: each message goes into a zstd frame (a new frame every few MiB, so a
//! message can be read without decoding the whole file), its manifest record follows, and a
//! run ends with fsyncs of the data files and then a `commit` record. Opening an archive cuts
//! off whatever an interrupted run left (manifest tail, bytes past each file's committed end,
//! files only that run created), so a killed run costs nothing but its own work.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::common::{
    Digest, date_header, invalid, io_error, normalize_flags, now_rfc3339, parse_internaldate,
};
use super::manifest::{
    Access, Entry, FORMAT_VERSION, FileEnd, FolderState, Loc, MANIFEST, MBOX_DIR, MsgRecord,
    Record, Replay, RunState, Sealing, folder_rel_path, sealed_name, volume_name,
};
use super::mbox::{from_line, write_quoted};
use super::{ArchiveError, MessageMeta};
use crate::crypt::{Recipients, StreamWriter};

mod prune;
use crate::profile::ArchiveFormat;
use crate::providers::Role;
pub use prune::{PruneReport, PrunedMessage, cutoff};

/// A new zstd frame starts once the current one holds this many decompressed bytes: reading
/// one message decodes at most about this much.
pub(crate) const FRAME_TARGET: u64 = 4 * 1024 * 1024;
/// mbox files with an open encoder at once (each holds a few MiB of zstd state); the least
/// recently used one is closed when a run touches more folders.
const MAX_OPEN_FILES: usize = 8;

/// A message already in the archive, as [`ArchiveWriter::known`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KnownMessage {
    /// Position in its folder: what [`ArchiveWriter::update_flags`] and
    /// [`super::MessageStore::read`] take.
    pub id: u64,
    pub fingerprint: String,
    pub sha256: String,
    pub size: u64,
    /// Latest recorded flags.
    pub flags: Vec<String>,
    pub message_id: Option<String>,
    pub source_uidvalidity: Option<u32>,
    pub source_uid: Option<u32>,
    /// A backup found the source without it (retention may drop it later).
    pub gone: bool,
}

/// What one committed run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    pub run: u32,
    pub started: String,
    pub finished: String,
    /// Messages added.
    pub added: u64,
    /// Raw bytes of the added messages.
    pub bytes: u64,
    /// Compressed bytes written to data files.
    pub stored_bytes: u64,
    pub flag_updates: u64,
    /// Folders that received messages.
    pub folders: Vec<String>,
    /// Data files written (relative to the archive directory).
    pub files: Vec<String>,
}

/// Where a data file's bytes go: the file, or an age stream into it.
enum Sink {
    Plain(BufWriter<File>),
    Sealed(Option<StreamWriter<BufWriter<File>>>),
}

impl Sink {
    fn new(file: File, seal: Option<&Recipients>) -> io::Result<Sink> {
        let out = BufWriter::with_capacity(256 * 1024, file);
        Ok(match seal {
            None => Sink::Plain(out),
            Some(r) => Sink::Sealed(Some(r.encrypt(out)?)),
        })
    }

    /// Makes everything written durable. A sealed stream is ended (it takes no more writes);
    /// its length on disk is returned.
    fn sync(&mut self) -> io::Result<Option<u64>> {
        match self {
            Sink::Plain(w) => {
                w.flush()?;
                w.get_ref().sync_data()?;
                Ok(None)
            }
            Sink::Sealed(stream) => {
                let mut w = stream.take().ok_or_else(poisoned)?.finish()?;
                w.flush()?;
                w.get_ref().sync_data()?;
                Ok(Some(w.get_ref().metadata()?.len()))
            }
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Sealed(Some(w)) => w.write(buf),
            Sink::Sealed(None) => Err(poisoned()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Sealed(Some(w)) => w.flush(),
            Sink::Sealed(None) => Ok(()),
        }
    }
}

/// Counts bytes on their way to the file (for a sealed file: before encryption, so frame
/// offsets are positions in the decrypted stream).
struct Counting {
    inner: Sink,
    count: u64,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

enum FwState {
    Idle(Counting),
    Active(zstd::stream::write::Encoder<'static, Counting>),
}

/// Appends zstd frames to one data file, tracking compressed and decompressed positions.
pub(crate) struct FrameWriter {
    path: PathBuf,
    level: i32,
    state: Option<FwState>,
    start_len: u64,
    /// Decompressed position at the end of what was written.
    pos: u64,
    frame: u64,
    frame_pos: u64,
}

fn poisoned() -> io::Error {
    io::Error::other("writer unusable after an earlier error")
}

impl FrameWriter {
    /// Opens `path` for appending at its committed `end` (or anew with `truncate`).
    fn open(
        path: &Path,
        level: i32,
        end: FileEnd,
        truncate: bool,
        seal: Option<&Recipients>,
    ) -> io::Result<FrameWriter> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(truncate)
            .open(path)?;
        let end = if truncate { FileEnd::default() } else { end };
        let len = file.metadata()?.len();
        if len != end.len {
            return Err(io::Error::other(format!(
                "holds {len} bytes but the manifest records {}; another program changed it",
                end.len
            )));
        }
        file.seek(SeekFrom::Start(end.len))?;
        Ok(FrameWriter {
            path: path.to_path_buf(),
            level,
            state: Some(FwState::Idle(Counting {
                inner: Sink::new(file, seal)?,
                count: 0,
            })),
            start_len: end.len,
            pos: end.raw_len,
            frame: end.len,
            frame_pos: end.raw_len,
        })
    }

    /// Starts a frame unless one is open; returns (compressed, decompressed) frame start.
    fn ensure_frame(&mut self) -> io::Result<(u64, u64)> {
        match self.state.take() {
            Some(FwState::Idle(c)) => {
                self.frame = self.start_len + c.count;
                self.frame_pos = self.pos;
                let mut enc = zstd::stream::write::Encoder::new(c, self.level)?;
                // A damaged frame is then detected even where no message's SHA-256 covers it.
                enc.include_checksum(true)?;
                self.state = Some(FwState::Active(enc));
            }
            Some(active) => self.state = Some(active),
            None => return Err(poisoned()),
        }
        Ok((self.frame, self.frame_pos))
    }

    fn frame_len(&self) -> u64 {
        self.pos - self.frame_pos
    }

    fn end_frame(&mut self) -> io::Result<()> {
        match self.state.take() {
            Some(FwState::Active(enc)) => {
                let c = enc.finish()?;
                self.state = Some(FwState::Idle(c));
                Ok(())
            }
            Some(idle) => {
                self.state = Some(idle);
                Ok(())
            }
            None => Err(poisoned()),
        }
    }

    /// Ends the frame and makes everything durable; returns the file's new end.
    fn sync(&mut self) -> io::Result<FileEnd> {
        self.end_frame()?;
        match self.state.as_mut() {
            Some(FwState::Idle(c)) => {
                let on_disk = c.inner.sync()?;
                Ok(FileEnd {
                    len: on_disk.unwrap_or(self.start_len + c.count),
                    raw_len: self.pos,
                })
            }
            _ => Err(poisoned()),
        }
    }
}

impl Write for FrameWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.ensure_frame()?;
        let n = match self.state.as_mut() {
            Some(FwState::Active(enc)) => enc.write(buf)?,
            _ => return Err(poisoned()),
        };
        self.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.state.as_mut() {
            Some(FwState::Active(enc)) => enc.flush(),
            Some(FwState::Idle(c)) => c.flush(),
            None => Err(poisoned()),
        }
    }
}

struct RunProgress {
    run: u32,
    started: String,
    added: u64,
    bytes: u64,
    flag_updates: u64,
    /// Each touched file's length when the run first touched it.
    start_lens: BTreeMap<String, u64>,
    /// Ends of files closed during the run.
    touched: BTreeMap<String, FileEnd>,
    /// Directories whose entries changed (new files or directories): fsynced at commit.
    dirs: BTreeSet<PathBuf>,
    folders: BTreeSet<String>,
    /// Data files this run replaces (a prune): committed with an end of zero, then deleted.
    removed: BTreeSet<String>,
}

/// The writer of one backup archive. Synchronous and blocking: run it on its own thread.
///
/// ```text
/// open -> (begin_run -> known / add / update_flags ... -> commit_run)*
/// ```
/// After any error the writer refuses further work; drop it and [`ArchiveWriter::open`] again,
/// which discards the unfinished run and keeps every committed one.
pub struct ArchiveWriter {
    dir: PathBuf,
    format: ArchiveFormat,
    level: i32,
    manifest_path: PathBuf,
    /// Holds the exclusive lock on the manifest for the writer's life.
    _lock: File,
    manifest: BufWriter<File>,
    state: Replay,
    run: Option<RunProgress>,
    /// mbox: open data files, least recently used first.
    open: Vec<(String, FrameWriter)>,
    /// tar: this run's volume.
    volume: Option<(String, tar::Builder<FrameWriter>)>,
    /// Encrypted archives: how, and the run's sealed records (file, stream, bytes written).
    sealing: Option<(Sealing, Recipients)>,
    sealed: Option<(String, Counting)>,
    /// Folder paths in use, lowercased (sealed: their keys): two names differing only in
    /// case would share a file on case-insensitive disks.
    taken: HashSet<String>,
    /// Sealed archives: folders whose path is still its key (resolved on first use).
    unresolved: HashSet<usize>,
    failed: Option<String>,
}

impl std::fmt::Debug for ArchiveWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveWriter")
            .field("dir", &self.dir)
            .field("format", &self.format)
            .field("run", &self.run.as_ref().map(|r| r.run))
            .field("failed", &self.failed)
            .finish()
    }
}

impl ArchiveWriter {
    /// Opens the archive in `dir` (created if missing) for writing, after recovering from any
    /// interrupted run. Fails if another process writes it, if it holds the other `format`,
    /// or if a data file is shorter than committed (damage: see `check`).
    /// Opens (or creates) the archive in `dir`. With `seal`, it is an encrypted archive
    /// (tar format only) and only these public recipients are needed to write it.
    pub fn open(
        dir: &Path,
        format: ArchiveFormat,
        level: i32,
        seal: Option<&Recipients>,
    ) -> Result<ArchiveWriter, ArchiveError> {
        if seal.is_some() && format != ArchiveFormat::Tar {
            return Err(invalid(
                dir,
                "an encrypted backup is written as tar volumes: set format: tar",
            ));
        }
        if !zstd::compression_level_range().contains(&level) {
            return Err(invalid(
                dir,
                format!("compression level {level} is outside zstd's range (1..=22 usual)"),
            ));
        }
        fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let manifest_path = dir.join(MANIFEST);
        let io = |e: io::Error| io_error(&manifest_path, e);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&manifest_path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(invalid(
                    dir,
                    "archive is in use by another mailferry process (manifest.jsonl is locked)",
                ));
            }
            Err(fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        if file.metadata().map_err(io)?.len() == 0 {
            let header = Record::Archive {
                version: FORMAT_VERSION,
                format,
                created: now_rfc3339(),
                generator: format!("mailferry {}", crate::VERSION),
                encryption: seal.map(|r| Sealing {
                    recipients: r.as_strings().to_vec(),
                    salt: crate::crypt::new_salt(),
                }),
            };
            let mut line = serde_json::to_vec(&header)
                .map_err(io::Error::other)
                .map_err(io)?;
            line.push(b'\n');
            file.write_all(&line).map_err(io)?;
            file.sync_all().map_err(io)?;
            sync_dir(dir)?;
        }
        let mut state = Replay::load(dir, Access::Index)?;
        match (&state.sealing, seal) {
            (Some(_), None) => {
                return Err(invalid(
                    dir,
                    "this archive is encrypted: give the profile's target.archive.encryption.recipients (or back up to a new path)",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    dir,
                    "this archive is not encrypted; an encrypted backup needs a new path (the old backups here stay readable)",
                ));
            }
            _ => {}
        }
        if state.format != format {
            return Err(invalid(
                dir,
                format!(
                    "this archive holds {} backups but the profile asks for {}; use another path or format: {}",
                    format_name(state.format),
                    format_name(format),
                    format_name(state.format)
                ),
            ));
        }
        for p in &state.problems {
            tracing::warn!("{p}");
        }
        recover(dir, &mut state, &file)?;
        let mut manifest = file.try_clone().map_err(io)?;
        manifest
            .seek(SeekFrom::Start(state.committed_len))
            .map_err(io)?;
        let sealing = match (state.sealing.clone(), seal) {
            (Some(s), Some(r)) => Some((s, r.clone())),
            _ => None,
        };
        let taken = state
            .folders
            .iter()
            .map(|f| match sealing {
                Some(_) => f.path.clone(),
                None => f.path.to_lowercase(),
            })
            .collect();
        let unresolved = match sealing {
            Some(_) => (0..state.folders.len()).collect(),
            None => HashSet::new(),
        };
        Ok(ArchiveWriter {
            dir: dir.to_path_buf(),
            format,
            level,
            manifest_path: manifest_path.clone(),
            _lock: file,
            manifest: BufWriter::new(manifest),
            state,
            run: None,
            open: Vec::new(),
            volume: None,
            sealing,
            sealed: None,
            taken,
            unresolved,
            failed: None,
        })
    }

    /// What the state knows a folder by: its name, or in a sealed archive its key.
    fn slot(&self, name: &str) -> String {
        match &self.sealing {
            Some((s, _)) => crate::crypt::key(&s.salt, "folder", name),
            None => name.to_string(),
        }
    }

    /// What marks a folder path as in use: lowercased; in a sealed archive, its key.
    fn path_id(&self, path: &str) -> String {
        match &self.sealing {
            Some((s, _)) => crate::crypt::key(&s.salt, "path", &path.to_lowercase()),
            None => path.to_lowercase(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn format(&self) -> ArchiveFormat {
        self.format
    }

    /// Names of the folders the archive holds (committed, plus this run's).
    /// Folder names the archive holds. An encrypted archive's writer knows folders only by
    /// their keys, so it names none (its folders are matched when the run asks by name).
    pub fn folders(&self) -> Vec<String> {
        if self.sealing.is_some() {
            return Vec::new();
        }
        self.state.folders.iter().map(|f| f.name.clone()).collect()
    }

    /// The messages `folder` already holds, in id order, with their latest flags (this run's
    /// additions and flag updates included). Empty for an unknown folder.
    pub fn known(&self, folder: &str) -> Vec<KnownMessage> {
        let Some(f) = self.state.folder(&self.slot(folder)) else {
            return Vec::new();
        };
        f.messages
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.dropped)
            .map(|(id, e)| KnownMessage {
                id: id as u64,
                fingerprint: e.meta.fingerprint.clone(),
                sha256: e.meta.sha256.clone(),
                size: e.meta.size,
                flags: e.meta.flags.clone(),
                message_id: e.meta.message_id.clone(),
                source_uidvalidity: e.meta.source_uidvalidity,
                source_uid: e.meta.source_uid,
                gone: e.gone_since.is_some(),
            })
            .collect()
    }

    /// Records which messages of a folder the source no longer holds (`gone`) and which it
    /// holds again (`back`), for retention. Ids as [`ArchiveWriter::known`] gives them.
    pub fn mark_seen(
        &mut self,
        folder: &str,
        gone: Vec<u64>,
        back: Vec<u64>,
    ) -> Result<(), ArchiveError> {
        self.usable()?;
        let run = self.open_run()?;
        let slot = self.slot(folder);
        let Some(&fi) = self.state.index.get(&slot) else {
            return Ok(());
        };
        let at = self
            .run
            .as_ref()
            .map(|r| r.started.clone())
            .unwrap_or_else(now_rfc3339);
        if !gone.is_empty() {
            self.record(&Record::Gone {
                run,
                folder: folder.to_string(),
                ids: gone.clone(),
                at: at.clone(),
            })?;
        }
        if !back.is_empty() {
            self.record(&Record::Back {
                run,
                folder: folder.to_string(),
                ids: back.clone(),
            })?;
        }
        let messages = &mut self.state.folders[fi].messages;
        for id in gone {
            if let Some(e) = messages.get_mut(id as usize) {
                e.gone_since.get_or_insert_with(|| at.clone());
            }
        }
        for id in back {
            if let Some(e) = messages.get_mut(id as usize) {
                e.gone_since = None;
            }
        }
        Ok(())
    }

    /// Starts a run; returns its number. A run that adds nothing costs two manifest lines.
    pub fn begin_run(&mut self) -> Result<u32, ArchiveError> {
        self.usable()?;
        if self.run.is_some() {
            return Err(invalid(&self.dir, "a run is already open: commit it first"));
        }
        let run = self.state.next_run();
        let started = now_rfc3339();
        self.record(&Record::Run {
            run,
            started: started.clone(),
        })?;
        self.flush_manifest()?;
        self.run = Some(RunProgress {
            run,
            started,
            added: 0,
            bytes: 0,
            flag_updates: 0,
            start_lens: BTreeMap::new(),
            touched: BTreeMap::new(),
            dirs: BTreeSet::new(),
            folders: BTreeSet::new(),
            removed: BTreeSet::new(),
        });
        Ok(run)
    }

    /// Records a folder, with no message needed (an empty folder, or one that only holds
    /// folders), so a restore creates it.
    pub fn ensure_folder(&mut self, name: &str, role: Option<Role>) -> Result<(), ArchiveError> {
        self.usable()?;
        let run = self.open_run()?;
        if name.is_empty() {
            return Err(invalid(&self.dir, "a folder needs a name"));
        }
        let result = self.folder_for(run, name, role).map(|_| ());
        result.map_err(|e| self.fail(e))
    }

    /// Adds one message to `meta.folder`; returns its id there. `raw` is stored exactly.
    ///
    /// `meta.size` and `meta.sha256` are computed here (a non-empty `sha256` that does not
    /// match `raw` is an error); an empty `fingerprint` and a missing `message_id` are filled
    /// in; flags are normalised (`\Recent` dropped). `meta.role`, when set, becomes the
    /// folder's role.
    pub fn add(&mut self, mut meta: MessageMeta, raw: &[u8]) -> Result<u64, ArchiveError> {
        self.usable()?;
        let run = self.open_run()?;
        if meta.folder.is_empty() {
            return Err(invalid(&self.dir, "a message needs a folder name"));
        }
        let digest = Digest::of(raw);
        if !meta.sha256.is_empty() && !meta.sha256.eq_ignore_ascii_case(&digest.sha256) {
            return Err(invalid(
                &self.dir,
                format!(
                    "message for {:?}: the SHA-256 given ({}) does not match its bytes ({})",
                    meta.folder, meta.sha256, digest.sha256
                ),
            ));
        }
        meta.size = raw.len() as u64;
        meta.sha256 = digest.sha256.clone();
        if meta.fingerprint.is_empty() {
            meta.fingerprint = digest.fingerprint.clone();
        }
        if meta.message_id.is_none() {
            meta.message_id = digest.message_id.clone();
        }
        meta.flags = normalize_flags(std::mem::take(&mut meta.flags));
        let result = self.add_inner(run, meta, raw, &digest);
        result.map_err(|e| self.fail(e))
    }

    fn add_inner(
        &mut self,
        run: u32,
        mut meta: MessageMeta,
        raw: &[u8],
        digest: &Digest,
    ) -> Result<u64, ArchiveError> {
        let fi = self.folder_for(run, &meta.folder, meta.role)?;
        meta.role = self.state.folders[fi].role;
        let id = self.state.folders[fi].messages.len() as u64;
        let date = meta
            .internaldate
            .as_deref()
            .and_then(parse_internaldate)
            .or_else(|| date_header(digest.headers()));
        let loc = match self.format {
            ArchiveFormat::Mbox => self.write_mbox(fi, date, raw)?,
            ArchiveFormat::Tar => self.write_tar(run, fi, id, date, raw)?,
        };
        self.record(&Record::Msg(MsgRecord {
            run,
            id,
            meta: meta.clone(),
            loc: loc.clone(),
        }))?;
        if let Some(p) = self.run.as_mut() {
            p.added += 1;
            p.bytes += meta.size;
            p.folders.insert(meta.folder.clone());
        }
        self.state.folders[fi].messages.push(Entry::new(meta, loc));
        Ok(id)
    }

    /// Records new flags for message `id` of `folder` (a `flags` record), so a restore gets
    /// them. Returns false, writing nothing, when the flags are already these.
    pub fn update_flags(
        &mut self,
        folder: &str,
        id: u64,
        flags: Vec<String>,
    ) -> Result<bool, ArchiveError> {
        self.usable()?;
        let run = self.open_run()?;
        let flags = normalize_flags(flags);
        let slot = self.slot(folder);
        let Some(entry) = self
            .state
            .index
            .get(&slot)
            .and_then(|&i| self.state.folders[i].messages.get(id as usize))
        else {
            return Err(invalid(
                &self.dir,
                format!("no message {id} in archived folder {folder:?}"),
            ));
        };
        let (mut old, mut new) = (entry.meta.flags.clone(), flags.clone());
        old.sort();
        new.sort();
        if old == new {
            return Ok(false);
        }
        let sha256 = entry.meta.sha256.clone();
        let rec = Record::Flags {
            run,
            folder: folder.to_string(),
            id,
            sha256,
            flags: flags.clone(),
        };
        self.record(&rec)?;
        if let Some(e) = self
            .state
            .index
            .get(&slot)
            .and_then(|&i| self.state.folders[i].messages.get_mut(id as usize))
        {
            e.meta.flags = flags;
        }
        if let Some(p) = self.run.as_mut() {
            p.flag_updates += 1;
        }
        Ok(true)
    }

    /// Ends the run: finishes frames (and the tar volume), fsyncs data files and new
    /// directories, then appends and fsyncs the commit record. Only then does the run count.
    pub fn commit_run(&mut self) -> Result<RunSummary, ArchiveError> {
        self.usable()?;
        let Some(mut p) = self.run.take() else {
            return Err(invalid(&self.dir, "no run is open"));
        };
        let result = self.commit_inner(&mut p);
        result.map_err(|e| self.fail(e))
    }

    fn commit_inner(&mut self, p: &mut RunProgress) -> Result<RunSummary, ArchiveError> {
        if let Some((name, mut c)) = self.sealed.take() {
            let path = self.dir.join(&name);
            let len = c.inner.sync().map_err(|e| io_error(&path, e))?;
            let end = FileEnd {
                len: len.unwrap_or(c.count),
                raw_len: c.count,
            };
            p.touched.insert(name, end);
        }
        for (name, mut fw) in std::mem::take(&mut self.open) {
            let end = fw.sync().map_err(|e| io_error(&fw.path, e))?;
            p.touched.insert(name, end);
        }
        if let Some((name, builder)) = self.volume.take() {
            let path = self.dir.join(&name);
            let mut fw = builder.into_inner().map_err(|e| io_error(&path, e))?;
            let end = fw.sync().map_err(|e| io_error(&path, e))?;
            p.touched.insert(name, end);
        }
        for d in &p.dirs {
            sync_dir(d)?;
        }
        for f in &p.removed {
            p.touched.insert(f.clone(), FileEnd::default());
        }
        let stored: u64 = p
            .touched
            .iter()
            .map(|(f, end)| {
                end.len
                    .saturating_sub(p.start_lens.get(f).copied().unwrap_or(0))
            })
            .sum();
        let finished = now_rfc3339();
        self.record(&Record::Commit {
            run: p.run,
            finished: finished.clone(),
            added: p.added,
            bytes: p.bytes,
            stored,
            flag_updates: p.flag_updates,
            files: p.touched.clone(),
        })?;
        self.flush_manifest()?;
        self.manifest
            .get_ref()
            .sync_data()
            .map_err(|e| io_error(&self.manifest_path, e))?;
        let files: Vec<String> = p.touched.keys().cloned().collect();
        self.state
            .ends
            .extend(p.touched.iter().map(|(k, v)| (k.clone(), *v)));
        self.state.runs.push(RunState {
            run: p.run,
            started: p.started.clone(),
            finished: finished.clone(),
            added: p.added,
            bytes: p.bytes,
            stored,
            flag_updates: p.flag_updates,
            files: files.clone(),
        });
        Ok(RunSummary {
            run: p.run,
            started: p.started.clone(),
            finished,
            added: p.added,
            bytes: p.bytes,
            stored_bytes: stored,
            flag_updates: p.flag_updates,
            folders: p.folders.iter().cloned().collect(),
            files,
        })
    }

    fn usable(&self) -> Result<(), ArchiveError> {
        match &self.failed {
            Some(f) => Err(invalid(
                &self.dir,
                format!("an earlier write failed ({f}); open the archive again to recover"),
            )),
            None => Ok(()),
        }
    }

    fn open_run(&self) -> Result<u32, ArchiveError> {
        self.run
            .as_ref()
            .map(|r| r.run)
            .ok_or_else(|| invalid(&self.dir, "no run is open: call begin_run first"))
    }

    fn fail(&mut self, e: ArchiveError) -> ArchiveError {
        self.failed = Some(e.to_string());
        e
    }

    fn record(&mut self, rec: &Record) -> Result<(), ArchiveError> {
        if let Some((sealing, _)) = &self.sealing
            && !matches!(
                rec,
                Record::Archive { .. } | Record::Run { .. } | Record::Commit { .. }
            )
        {
            let copy = rec.index_copy(&sealing.salt);
            self.record_sealed(rec)?;
            return self.record_plain(&copy);
        }
        self.record_plain(rec)
    }

    /// Appends a record to the run's sealed file, which is created on first use.
    fn record_sealed(&mut self, rec: &Record) -> Result<(), ArchiveError> {
        if self.sealed.is_none() {
            let run = self.open_run()?;
            let name = sealed_name(run);
            let path = self.dir.join(&name);
            let recipients = self.sealing.as_ref().map(|(_, r)| r.clone());
            let created = self.create_fresh(&path).and_then(|file| {
                Sink::new(file, recipients.as_ref()).map_err(|e| io_error(&path, e))
            });
            let sink = created.map_err(|e| self.fail(e))?;
            self.sealed = Some((
                name,
                Counting {
                    inner: sink,
                    count: 0,
                },
            ));
        }
        let mut line = serde_json::to_vec(rec).map_err(|e| io_error(&self.manifest_path, e))?;
        line.push(b'\n');
        let Some((name, out)) = self.sealed.as_mut() else {
            return Err(invalid(&self.dir, "sealed records missing"));
        };
        let path = self.dir.join(&*name);
        let r = out.write_all(&line);
        r.map_err(|e| {
            let e = io_error(&path, e);
            self.fail(e)
        })
    }

    /// A new file of this run (its directory made and remembered for the commit's fsync).
    fn create_fresh(&mut self, path: &Path) -> Result<File, ArchiveError> {
        if let Some(parent) = path.parent() {
            if !parent.exists() {
                fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
                if let Some(p) = self.run.as_mut() {
                    p.dirs.insert(self.dir.clone());
                }
            }
            if let Some(p) = self.run.as_mut() {
                p.dirs.insert(parent.to_path_buf());
            }
        }
        if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(invalid(
                path,
                "is a symbolic link; refusing to write through it",
            ));
        }
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| io_error(path, e))
    }

    fn record_plain(&mut self, rec: &Record) -> Result<(), ArchiveError> {
        let mut line = serde_json::to_vec(rec).map_err(|e| io_error(&self.manifest_path, e))?;
        line.push(b'\n');
        let r = self.manifest.write_all(&line);
        r.map_err(|e| {
            let e = io_error(&self.manifest_path, e);
            self.fail(e)
        })
    }

    fn sync_manifest(&mut self) -> Result<(), ArchiveError> {
        self.flush_manifest()?;
        let r = self.manifest.get_ref().sync_data();
        r.map_err(|e| {
            let e = io_error(&self.manifest_path, e);
            self.fail(e)
        })
    }

    fn flush_manifest(&mut self) -> Result<(), ArchiveError> {
        let r = self.manifest.flush();
        r.map_err(|e| {
            let e = io_error(&self.manifest_path, e);
            self.fail(e)
        })
    }

    /// The folder's index, creating it (and its data path) on first use.
    fn folder_for(
        &mut self,
        run: u32,
        name: &str,
        role: Option<Role>,
    ) -> Result<usize, ArchiveError> {
        let slot = self.slot(name);
        if let Some(&i) = self.state.index.get(&slot) {
            self.resolve_path(i, name);
            let f = &self.state.folders[i];
            if role.is_some() && role != f.role {
                let rec = Record::Folder {
                    run,
                    folder: name.to_string(),
                    role,
                    path: f.path.clone(),
                };
                self.record(&rec)?;
                self.state.folders[i].role = role;
            }
            return Ok(i);
        }
        let mut n = 1;
        while self
            .taken
            .contains(&self.path_id(&self.candidate_path(name, n)))
        {
            n += 1;
        }
        let path = self.candidate_path(name, n);
        self.taken.insert(self.path_id(&path));
        self.record(&Record::Folder {
            run,
            folder: name.to_string(),
            role,
            path: path.clone(),
        })?;
        // Synced before the data file exists, so a crash, a power loss included, leaves a
        // record of what to remove.
        self.sync_manifest()?;
        self.state
            .index
            .insert(slot.clone(), self.state.folders.len());
        self.state.folders.push(FolderState {
            name: slot,
            role,
            path,
            messages: Vec::new(),
        });
        Ok(self.state.folders.len() - 1)
    }

    /// Opens a data file for this run at its current end (`fresh`: empty it first).
    /// The `n`th choice of path for a folder (`~n` added from the second on).
    fn candidate_path(&self, name: &str, n: u32) -> String {
        let rel = folder_rel_path(name);
        let suffix = if n == 1 {
            String::new()
        } else {
            format!("~{n}")
        };
        match self.format {
            ArchiveFormat::Mbox => format!("{MBOX_DIR}/{rel}{suffix}.mbox.zst"),
            ArchiveFormat::Tar => format!("{rel}{suffix}"),
        }
    }

    /// In a sealed archive a folder read from the index knows only its path's key: the path
    /// is found again from the name, trying the same choices as when it was made.
    fn resolve_path(&mut self, i: usize, name: &str) {
        if !self.unresolved.remove(&i) {
            return;
        }
        let key = self.state.folders[i].path.clone();
        for n in 1..=10_000 {
            let candidate = self.candidate_path(name, n);
            if self.path_id(&candidate) == key {
                self.state.folders[i].path = candidate;
                return;
            }
        }
    }

    fn open_data_file(&mut self, file: &str, fresh: bool) -> Result<FrameWriter, ArchiveError> {
        let path = self.dir.join(file);
        let Some(p) = self.run.as_mut() else {
            return Err(invalid(&self.dir, "no run is open"));
        };
        let end = p
            .touched
            .get(file)
            .or_else(|| self.state.ends.get(file))
            .copied()
            .unwrap_or_default();
        if let Some(parent) = path.parent()
            && !parent.exists()
        {
            fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
            let mut d = parent;
            while d != self.dir {
                if let Some(up) = d.parent() {
                    p.dirs.insert(up.to_path_buf());
                    d = up;
                } else {
                    break;
                }
            }
        }
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(invalid(
                    &path,
                    "is a symbolic link; refusing to write through it",
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent() {
                    p.dirs.insert(parent.to_path_buf());
                }
            }
            Err(e) => return Err(io_error(&path, e)),
        }
        p.start_lens
            .entry(file.to_string())
            .or_insert(if fresh { 0 } else { end.len });
        let seal = self.sealing.as_ref().map(|(_, r)| r);
        FrameWriter::open(&path, self.level, end, fresh, seal).map_err(|e| io_error(&path, e))
    }

    fn write_mbox(
        &mut self,
        fi: usize,
        date: Option<chrono::DateTime<chrono::FixedOffset>>,
        raw: &[u8],
    ) -> Result<Loc, ArchiveError> {
        let file = self.state.folders[fi].path.clone();
        let slot = match self.open.iter().position(|(f, _)| *f == file) {
            Some(i) => {
                let item = self.open.remove(i);
                self.open.push(item);
                self.open.len() - 1
            }
            None => {
                if self.open.len() >= MAX_OPEN_FILES {
                    let (name, mut fw) = self.open.remove(0);
                    let end = fw.sync().map_err(|e| io_error(&fw.path, e))?;
                    if let Some(p) = self.run.as_mut() {
                        p.touched.insert(name, end);
                    }
                }
                let fw = self.open_data_file(&file, false)?;
                self.open.push((file.clone(), fw));
                self.open.len() - 1
            }
        };
        let fw = &mut self.open[slot].1;
        let path = fw.path.clone();
        let io = |e: io::Error| io_error(&path, e);
        let (frame, frame_pos) = fw.ensure_frame().map_err(io)?;
        fw.write_all(from_line(date).as_bytes()).map_err(io)?;
        let offset = fw.pos;
        let length = write_quoted(fw, raw).map_err(io)?;
        fw.write_all(b"\n").map_err(io)?;
        if fw.frame_len() >= FRAME_TARGET {
            fw.end_frame().map_err(io)?;
        }
        Ok(Loc {
            file,
            frame,
            frame_pos,
            offset,
            length,
        })
    }

    fn write_tar(
        &mut self,
        run: u32,
        fi: usize,
        id: u64,
        date: Option<chrono::DateTime<chrono::FixedOffset>>,
        raw: &[u8],
    ) -> Result<Loc, ArchiveError> {
        let entry_path = format!("{}/{id:06}.eml", self.state.folders[fi].path);
        if self.volume.is_none() {
            let name = volume_name(run, self.sealing.is_some());
            let fw = self.open_data_file(&name, true)?;
            self.volume = Some((name, tar::Builder::new(fw)));
        }
        let Some((name, builder)) = self.volume.as_mut() else {
            return Err(invalid(&self.dir, "tar volume missing"));
        };
        let path = self.dir.join(&*name);
        let io = |e: io::Error| io_error(&path, e);
        let (frame, frame_pos) = builder.get_mut().ensure_frame().map_err(io)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(raw.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mtime(date.map(|d| d.timestamp().max(0) as u64).unwrap_or(0));
        builder
            .append_data(&mut header, &entry_path, raw)
            .map_err(io)?;
        let fw = builder.get_mut();
        let len = raw.len() as u64;
        let pad = (512 - len % 512) % 512;
        let offset = fw.pos - pad - len;
        if fw.frame_len() >= FRAME_TARGET {
            fw.end_frame().map_err(io)?;
        }
        Ok(Loc {
            file: name.clone(),
            frame,
            frame_pos,
            offset,
            length: len,
        })
    }
}

fn format_name(f: ArchiveFormat) -> &'static str {
    match f {
        ArchiveFormat::Mbox => "mbox",
        ArchiveFormat::Tar => "tar",
    }
}

fn sync_dir(dir: &Path) -> Result<(), ArchiveError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))
}

/// Undoes an interrupted run: files only it created are removed, the manifest is cut after
/// the last commit record and each data file at its committed end.
fn recover(dir: &Path, state: &mut Replay, manifest: &File) -> Result<(), ArchiveError> {
    if let Some(p) = state.pending.take() {
        let committed: BTreeSet<&str> = state
            .ends
            .keys()
            .map(String::as_str)
            .chain(state.folders.iter().map(|f| f.path.as_str()))
            .collect();
        let mut dirs = BTreeSet::new();
        for path in p.paths.iter().filter(|p| !committed.contains(p.as_str())) {
            let full = dir.join(path);
            match fs::remove_file(&full) {
                Ok(()) => {
                    tracing::info!("removed {} of interrupted run {}", full.display(), p.run);
                    if let Some(parent) = full.parent() {
                        dirs.insert(parent.to_path_buf());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&full, e)),
            }
        }
        // The removals are durable before the manifest is cut below.
        for d in &dirs {
            sync_dir(d)?;
        }
        tracing::info!(
            "{}: discarded interrupted run {} ({} manifest records)",
            dir.display(),
            p.run,
            p.records
        );
    }
    if state.manifest_len > state.committed_len {
        let path = dir.join(MANIFEST);
        manifest
            .set_len(state.committed_len)
            .and_then(|()| manifest.sync_data())
            .map_err(|e| io_error(&path, e))?;
        state.manifest_len = state.committed_len;
    }
    for (file, end) in &state.ends {
        let path = dir.join(file);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(invalid(
                    &path,
                    "is a symbolic link; refusing to write through it",
                ));
            }
            // Replaced by a committed prune that was stopped before deleting it.
            Ok(_) if *end == FileEnd::default() => {
                fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
                tracing::info!("{}: removed, a prune replaced it", path.display());
            }
            Ok(m) if m.len() > end.len => {
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| {
                        f.set_len(end.len)?;
                        f.sync_data()
                    })
                    .map_err(|e| io_error(&path, e))?;
                tracing::info!(
                    "{}: cut {} bytes of an interrupted run",
                    path.display(),
                    m.len() - end.len
                );
            }
            Ok(m) if m.len() < end.len => {
                return Err(super::common::corrupt(
                    &path,
                    m.len(),
                    format!(
                        "file is shorter than the manifest records ({} < {} bytes); refusing to append to a damaged archive. Run `check` on it and back up to a new path",
                        m.len(),
                        end.len
                    ),
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound && end.len == 0 => {}
            Err(e) => {
                return Err(io_error(
                    &path,
                    format!("{e}; a committed data file is missing, refusing to append"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{MessageStore, store::ArchiveStore};

    /// A message's metadata with nothing but its folder (the writer fills in the rest).
    pub(super) fn meta(folder: &str) -> MessageMeta {
        MessageMeta {
            folder: folder.into(),
            role: None,
            flags: Vec::new(),
            internaldate: None,
            size: 0,
            sha256: String::new(),
            fingerprint: String::new(),
            message_id: None,
            source_uidvalidity: None,
            source_uid: None,
            labels: Vec::new(),
        }
    }

    #[test]
    fn leftovers_of_a_run_whose_records_were_lost_need_no_manual_step() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ArchiveWriter::open(dir.path(), ArchiveFormat::Mbox, 3, None).unwrap();
        w.begin_run().unwrap();
        w.add(meta("INBOX"), b"Subject: one\r\n\r\nbody\r\n")
            .unwrap();
        w.commit_run().unwrap();
        let committed = fs::metadata(dir.path().join(MANIFEST)).unwrap().len();
        w.begin_run().unwrap();
        w.add(meta("New"), b"Subject: two\r\n\r\nbody\r\n").unwrap();
        w.flush_manifest().unwrap();
        drop(w);
        // Power loss: the data file reached the disk, the records after the commit did not.
        let manifest = OpenOptions::new()
            .write(true)
            .open(dir.path().join(MANIFEST))
            .unwrap();
        manifest.set_len(committed).unwrap();
        drop(manifest);

        let mut w = ArchiveWriter::open(dir.path(), ArchiveFormat::Mbox, 3, None).unwrap();
        w.begin_run().unwrap();
        w.add(meta("New"), b"Subject: two\r\n\r\nbody\r\n").unwrap();
        w.commit_run().unwrap();
        drop(w);
        let store = ArchiveStore::open(dir.path()).unwrap();
        let folders = store.folders().unwrap();
        let new = folders.iter().find(|f| f.name == "New").unwrap();
        assert_eq!(new.messages.len(), 1);
        assert_eq!(
            store.read("New", 0).unwrap(),
            b"Subject: two\r\n\r\nbody\r\n"
        );
    }
}
