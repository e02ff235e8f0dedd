//! The manifest: an append-only JSONL log, one per archive (`manifest.jsonl`).
//!
//! Each run writes `run`, then `folder` / `msg` / `flags` records, then a `commit` record once
//! its data is on disk. Replaying keeps only committed runs: whatever follows the last commit
//! (a run killed mid-way, a torn last line) is ignored by readers and cut off by the next
//! writer. Layout and fields: docs/archive-format.md.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::common::{corrupt, invalid, io_error};
use super::{ArchiveError, MessageMeta};
use crate::profile::ArchiveFormat;
use crate::providers::Role;

/// Version of the manifest and data layout written by this build.
pub const FORMAT_VERSION: u32 = 1;
pub(crate) const MANIFEST: &str = "manifest.jsonl";
pub(crate) const MBOX_DIR: &str = "mbox";
pub(crate) const VOLUME_DIR: &str = "volumes";
pub(crate) const SEALED_DIR: &str = "sealed";

/// Where a message's stored bytes are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Loc {
    /// Data file, relative to the archive directory.
    pub file: String,
    /// Compressed offset of the zstd frame holding the message.
    pub frame: u64,
    /// Decompressed offset (in the file's whole stream) where that frame starts.
    pub frame_pos: u64,
    /// Decompressed offset of the stored bytes (mboxrd-quoted for mbox, raw for tar).
    pub offset: u64,
    /// Stored length.
    pub length: u64,
}

/// A data file's committed end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileEnd {
    /// Bytes on disk.
    pub len: u64,
    /// Decompressed bytes.
    pub raw_len: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MsgRecord {
    pub run: u32,
    /// Position in its folder.
    pub id: u64,
    #[serde(flatten)]
    pub meta: MessageMeta,
    pub loc: Loc,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
pub(crate) enum Record {
    Archive {
        version: u32,
        format: ArchiveFormat,
        created: String,
        generator: String,
        /// Set in encrypted archives.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encryption: Option<Sealing>,
    },
    Run {
        run: u32,
        started: String,
    },
    Folder {
        run: u32,
        folder: String,
        role: Option<Role>,
        /// mbox: the folder's data file; tar: the folder's directory inside volumes.
        path: String,
    },
    Msg(MsgRecord),
    Flags {
        run: u32,
        folder: String,
        id: u64,
        sha256: String,
        flags: Vec<String>,
    },
    /// Messages the source no longer held when run `run` began at `at` (retention counts
    /// from the first such record).
    Gone {
        run: u32,
        folder: String,
        ids: Vec<u64>,
        at: String,
    },
    /// Messages marked gone that the source holds again.
    Back {
        run: u32,
        folder: String,
        ids: Vec<u64>,
    },
    /// A prune rewrote the file holding this message: its bytes are now at `loc`.
    Moved {
        run: u32,
        folder: String,
        id: u64,
        loc: Loc,
    },
    /// A prune removed this message (its id stays taken).
    Drop {
        run: u32,
        folder: String,
        id: u64,
        sha256: String,
    },
    Commit {
        run: u32,
        finished: String,
        added: u64,
        bytes: u64,
        stored: u64,
        flag_updates: u64,
        files: BTreeMap<String, FileEnd>,
    },
}

/// How an archive is encrypted. Its `folder`, `msg` and `flags` records (the manifest
/// proper, naming folders) are in one age-encrypted file per run, `sealed/run-NNNNNN.jsonl.age`;
/// `manifest.jsonl` holds copies with each folder name and path replaced by a salted key and
/// the received date, Message-ID and labels left out: enough for a backup run, holding only
/// the recipients, to know what the archive has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Sealing {
    pub recipients: Vec<String>,
    pub salt: String,
}

impl Record {
    /// What `manifest.jsonl` holds of a sealed record: folder names and paths as keys, no
    /// received date, Message-ID or labels. Other records are copied as they are.
    pub(crate) fn index_copy(&self, salt: &str) -> Record {
        use crate::crypt::key;
        match self {
            Record::Folder {
                run,
                folder,
                role,
                path,
            } => Record::Folder {
                run: *run,
                folder: key(salt, "folder", folder),
                role: *role,
                path: key(salt, "path", &path.to_lowercase()),
            },
            Record::Msg(m) => {
                let mut m = m.clone();
                m.meta.folder = key(salt, "folder", &m.meta.folder);
                m.meta.internaldate = None;
                m.meta.message_id = None;
                m.meta.labels.clear();
                Record::Msg(m)
            }
            other => {
                let mut copy = other.clone();
                if let Record::Flags { folder, .. }
                | Record::Gone { folder, .. }
                | Record::Back { folder, .. }
                | Record::Moved { folder, .. }
                | Record::Drop { folder, .. } = &mut copy
                {
                    *folder = key(salt, "folder", folder);
                }
                copy
            }
        }
    }
}

/// How to read an encrypted archive's manifest.
#[derive(Clone, Copy)]
pub(crate) enum Access<'a> {
    /// The writer's view: folders by their keys, from the plaintext copies.
    Index,
    /// Folders by name, from the sealed records: needs the identity.
    Read(Option<&'a crate::crypt::Identity>),
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub meta: MessageMeta,
    pub loc: Loc,
    /// When a backup first found the source without it (RFC 3339), while it stays so.
    pub gone_since: Option<String>,
    /// Removed by a prune: no longer listed or readable.
    pub dropped: bool,
}

impl Entry {
    pub fn new(meta: MessageMeta, loc: Loc) -> Entry {
        Entry {
            meta,
            loc,
            gone_since: None,
            dropped: false,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct FolderState {
    pub name: String,
    pub role: Option<Role>,
    pub path: String,
    pub messages: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunState {
    pub run: u32,
    pub started: String,
    pub finished: String,
    pub added: u64,
    pub bytes: u64,
    pub stored: u64,
    pub flag_updates: u64,
    pub files: Vec<String>,
}

/// A run that began but has no commit record.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub run: u32,
    pub records: usize,
    /// Data files this run created (removed by the next writer unless committed before).
    pub paths: Vec<String>,
}

/// The committed state of an archive.
#[derive(Debug)]
pub(crate) struct Replay {
    pub format: ArchiveFormat,
    pub sealing: Option<Sealing>,
    pub version: u32,
    pub created: String,
    pub folders: Vec<FolderState>,
    pub index: HashMap<String, usize>,
    pub runs: Vec<RunState>,
    /// Latest committed end of each data file.
    pub ends: BTreeMap<String, FileEnd>,
    /// Manifest bytes up to the end of the last commit record.
    pub committed_len: u64,
    pub manifest_len: u64,
    pub pending: Option<Pending>,
    /// Damage in the committed part of the manifest; the rest still applies.
    pub problems: Vec<ArchiveError>,
}

/// A relative path of normal components only, safe to join to the archive directory.
pub(crate) fn safe_rel_path(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('/')
        && !s.contains(['\\', '\0'])
        && s.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

/// A folder name as a relative path: `/`-separated components made safe for file systems and
/// tar (no `.`/`..`/empty components, no control characters, `%` escaped, bounded length).
pub(crate) fn folder_rel_path(name: &str) -> String {
    name.split('/')
        .map(safe_component)
        .collect::<Vec<_>>()
        .join("/")
}

fn safe_component(c: &str) -> String {
    match c {
        "" => return "_".to_string(),
        "." => return "%2E".to_string(),
        ".." => return "%2E%2E".to_string(),
        _ => {}
    }
    let mut out = String::with_capacity(c.len());
    for ch in c.chars() {
        if ch == '%' || ch == '\\' || ch.is_control() {
            let mut buf = [0u8; 4];
            for b in ch.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(ch);
        }
    }
    // Most file systems cap a name at 255 bytes; keep room for `.mbox.zst` and a suffix.
    const MAX: usize = 200;
    if out.len() > MAX {
        let mut cut = 180;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        let hash = super::common::sha256_hex(c.as_bytes());
        out = format!("{}~{}", &out[..cut], &hash[..8]);
    }
    out
}

/// The longest manifest line read whole; a longer one is damage (records are a few hundred
/// bytes), read past without holding it.
const MAX_LINE: usize = 1024 * 1024;

/// Reads one line of at most [`MAX_LINE`] bytes into `buf`; a longer one is consumed to its
/// end without being kept. Returns the bytes consumed and whether the line was too long.
fn read_line_capped(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
) -> std::io::Result<(usize, bool)> {
    let n = reader
        .by_ref()
        .take(MAX_LINE as u64)
        .read_until(b'\n', buf)?;
    if n < MAX_LINE || buf.ends_with(b"\n") {
        return Ok((n, false));
    }
    // Skip the rest of the line, a buffer at a time.
    let mut total = n;
    loop {
        let (done, used) = {
            let chunk = reader.fill_buf()?;
            if chunk.is_empty() {
                (true, 0)
            } else {
                match chunk.iter().position(|&b| b == b'\n') {
                    Some(i) => (true, i + 1),
                    None => (false, chunk.len()),
                }
            }
        };
        reader.consume(used);
        total += used;
        if done {
            buf.truncate(0);
            return Ok((total, true));
        }
    }
}

/// Keeps only flags and a date that can be sent to a server as they are (an edited or rotted
/// manifest must not reach an IMAP command line); says what was dropped.
fn sanitize(flags: &mut Vec<String>, date: &mut Option<String>) -> Option<String> {
    let (ok, dropped) = crate::imap::wire::flags(flags);
    *flags = ok;
    let bad_date = date
        .as_deref()
        .filter(|d| crate::imap::wire::internaldate(d).is_none())
        .map(str::to_string);
    if bad_date.is_some() {
        *date = None;
    }
    match (dropped.is_empty(), bad_date) {
        (true, None) => None,
        (false, None) => Some(format!("invalid flags {dropped:?} dropped")),
        (true, Some(d)) => Some(format!("invalid received date {d:?} dropped")),
        (false, Some(d)) => Some(format!(
            "invalid flags {dropped:?} and received date {d:?} dropped"
        )),
    }
}

/// Whether a message's location can be true of any file: no arithmetic on it overflows, it
/// lies after its frame's start, and a tar entry has room for its header.
fn sane_location(loc: &Loc, format: ArchiveFormat) -> bool {
    let header = if format == ArchiveFormat::Tar { 512 } else { 0 };
    loc.offset.checked_add(loc.length).is_some()
        && loc.offset >= loc.frame_pos
        && loc.offset >= header
        && loc.length.checked_add(header).is_some()
}

pub(crate) fn volume_name(run: u32, sealed: bool) -> String {
    let age = if sealed { ".age" } else { "" };
    format!("{VOLUME_DIR}/run-{run:06}.tar.zst{age}")
}

/// An encrypted archive's sealed records of one run.
pub(crate) fn sealed_name(run: u32) -> String {
    format!("{SEALED_DIR}/run-{run:06}.jsonl.age")
}

impl Replay {
    /// Reads `dir/manifest.jsonl`. Fails only when there is no readable manifest of ours;
    /// damage inside it is listed in `problems`.
    pub fn load(dir: &Path, access: Access) -> Result<Replay, ArchiveError> {
        let path = dir.join(MANIFEST);
        let file = File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => invalid(
                dir,
                "not a mailferry archive (no manifest.jsonl); give the directory a backup wrote",
            ),
            _ => io_error(&path, e),
        })?;
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        let mut pos = 0u64;
        let mut replay: Option<Replay> = None;
        // Records of the run in progress, applied when its commit record is read.
        let mut pending: Vec<(u64, Result<Record, String>)> = Vec::new();
        loop {
            line.clear();
            let (n, too_long) =
                read_line_capped(&mut reader, &mut line).map_err(|e| io_error(&path, e))?;
            if n == 0 {
                break;
            }
            let start = pos;
            pos += n as u64;
            let complete = line.ends_with(b"\n");
            let text = line.trim_ascii();
            if text.is_empty() && !too_long {
                continue;
            }
            let parsed: Result<Record, String> = if too_long {
                Err(format!(
                    "line of {n} bytes, longer than any record ({MAX_LINE} bytes at most)"
                ))
            } else if complete {
                serde_json::from_slice(text).map_err(|e| e.to_string())
            } else {
                Err("line cut short (no newline)".to_string())
            };
            let Some(r) = replay.as_mut() else {
                match parsed {
                    Ok(Record::Archive {
                        version,
                        format,
                        created,
                        encryption,
                        ..
                    }) => {
                        if version > FORMAT_VERSION {
                            return Err(invalid(
                                &path,
                                format!(
                                    "archive format version {version} is newer than this mailferry understands ({FORMAT_VERSION}); upgrade mailferry"
                                ),
                            ));
                        }
                        if encryption.is_some()
                            && let Access::Read(None) = access
                        {
                            return Err(invalid(
                                dir,
                                "this archive is encrypted: give the identity that opens it (identity: { file: KEY.txt } under source.archive, or --identity KEY.txt)",
                            ));
                        }
                        replay = Some(Replay {
                            format,
                            sealing: encryption,
                            version,
                            created,
                            folders: Vec::new(),
                            index: HashMap::new(),
                            runs: Vec::new(),
                            ends: BTreeMap::new(),
                            committed_len: pos,
                            manifest_len: 0,
                            pending: None,
                            problems: Vec::new(),
                        });
                        continue;
                    }
                    _ => {
                        return Err(invalid(
                            &path,
                            "not a mailferry archive manifest (the first line is not an archive record)",
                        ));
                    }
                }
            };
            match parsed {
                Ok(Record::Commit {
                    run,
                    finished,
                    added,
                    bytes,
                    stored,
                    flag_updates,
                    files,
                }) => {
                    let records = std::mem::take(&mut pending);
                    let mut started = String::new();
                    let sealed = match access {
                        Access::Read(Some(id)) if r.sealing.is_some() => Some(id),
                        _ => None,
                    };
                    for (offset, rec) in records {
                        match rec {
                            Ok(Record::Run { started: s, .. }) => started = s,
                            // Copies without names: the sealed file has the records.
                            Ok(_) if sealed.is_some() => {}
                            Ok(rec) => r.apply(&path, offset, rec),
                            Err(e) => r.problems.push(corrupt(
                                &path,
                                offset,
                                format!("unreadable manifest line, skipped: {e}"),
                            )),
                        }
                    }
                    // A run that wrote no folder, message or flag record has no sealed file.
                    if let Some(id) = sealed
                        && files.contains_key(&sealed_name(run))
                    {
                        r.apply_sealed(dir, run, id)?;
                    }
                    let mut names = Vec::new();
                    for (file, end) in files {
                        if safe_rel_path(&file) {
                            names.push(file.clone());
                            r.ends.insert(file, end);
                        } else {
                            r.problems.push(corrupt(
                                &path,
                                start,
                                format!("commit record names an unsafe path {file:?}, ignored"),
                            ));
                        }
                    }
                    r.runs.push(RunState {
                        run,
                        started,
                        finished,
                        added,
                        bytes,
                        stored,
                        flag_updates,
                        files: names,
                    });
                    r.committed_len = pos;
                }
                Ok(Record::Run { .. }) => {
                    // A run without commit before this one was abandoned (a writer always cuts
                    // such tails off, so this only happens in hand-edited manifests).
                    pending.clear();
                    pending.push((start, parsed));
                }
                other => pending.push((start, other)),
            }
        }
        let Some(mut r) = replay else {
            return Err(invalid(&path, "empty manifest: not a mailferry archive"));
        };
        r.manifest_len = pos;
        if !pending.is_empty() {
            let mut run = r.next_run();
            let mut paths = Vec::new();
            for (_, rec) in &pending {
                match rec {
                    Ok(Record::Run { run: n, .. }) => {
                        run = *n;
                        let sealed = r.sealing.is_some();
                        if r.format == ArchiveFormat::Tar {
                            paths.push(volume_name(*n, sealed));
                        }
                        if sealed {
                            paths.push(sealed_name(*n));
                        }
                    }
                    Ok(Record::Folder { path, .. })
                        if r.format == ArchiveFormat::Mbox && safe_rel_path(path) =>
                    {
                        paths.push(path.clone())
                    }
                    _ => {}
                }
            }
            r.pending = Some(Pending {
                run,
                records: pending.len(),
                paths,
            });
        }
        Ok(r)
    }

    /// Applies the sealed records of one committed run. An identity that does not open the
    /// file fails the whole load; damage inside it is listed, as in the manifest.
    fn apply_sealed(
        &mut self,
        dir: &Path,
        run: u32,
        id: &crate::crypt::Identity,
    ) -> Result<(), ArchiveError> {
        let path = dir.join(sealed_name(run));
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                // The run's messages cannot be named; the other runs still can.
                self.problems.push(io_error(&path, e));
                return Ok(());
            }
        };
        let reader = id
            .decrypt(BufReader::new(file))
            .map_err(|e| invalid(&path, e.to_string()))?;
        let mut reader = BufReader::new(reader);
        let mut line = Vec::new();
        let mut pos = 0u64;
        loop {
            line.clear();
            let (n, too_long) = match read_line_capped(&mut reader, &mut line) {
                Ok(x) => x,
                Err(e) => {
                    self.problems.push(corrupt(
                        &path,
                        pos,
                        format!("cannot decrypt further (decrypted offset): {e}"),
                    ));
                    return Ok(());
                }
            };
            if n == 0 {
                return Ok(());
            }
            let start = pos;
            pos += n as u64;
            let text = line.trim_ascii();
            if text.is_empty() && !too_long {
                continue;
            }
            match serde_json::from_slice::<Record>(text) {
                Ok(Record::Archive { .. } | Record::Run { .. } | Record::Commit { .. }) => self
                    .problems
                    .push(corrupt(&path, start, "unexpected record, skipped")),
                Ok(rec) => self.apply(&path, start, rec),
                Err(e) => self.problems.push(corrupt(
                    &path,
                    start,
                    format!("unreadable sealed line (decrypted offset), skipped: {e}"),
                )),
            }
        }
    }

    /// The entries of `folder` with these ids; an unknown one is listed as a problem.
    fn entries(&mut self, path: &Path, offset: u64, folder: &str, ids: &[u64]) -> Vec<&mut Entry> {
        let Some(&fi) = self.index.get(folder) else {
            self.problems.push(corrupt(
                path,
                offset,
                format!("record for unknown folder {folder:?}, skipped"),
            ));
            return Vec::new();
        };
        let len = self.folders[fi].messages.len() as u64;
        if let Some(bad) = ids.iter().find(|&&id| id >= len) {
            self.problems.push(corrupt(
                path,
                offset,
                format!("record for unknown message {bad} of {folder:?}, skipped"),
            ));
        }
        let wanted: std::collections::HashSet<u64> = ids.iter().copied().collect();
        self.folders[fi]
            .messages
            .iter_mut()
            .enumerate()
            .filter(|(id, _)| wanted.contains(&(*id as u64)))
            .map(|(_, e)| e)
            .collect()
    }

    pub fn next_run(&self) -> u32 {
        self.runs.iter().map(|r| r.run).max().unwrap_or(0) + 1
    }

    pub fn folder(&self, name: &str) -> Option<&FolderState> {
        self.index.get(name).map(|&i| &self.folders[i])
    }

    fn apply(&mut self, path: &Path, offset: u64, rec: Record) {
        match rec {
            Record::Folder {
                folder,
                role,
                path: p,
                ..
            } => {
                if !safe_rel_path(&p) {
                    self.problems.push(corrupt(
                        path,
                        offset,
                        format!("folder {folder:?} has an unsafe path {p:?}, ignored"),
                    ));
                    return;
                }
                match self.index.get(&folder) {
                    Some(&i) => {
                        // A prune moves an mbox folder to a new file.
                        self.folders[i].role = role;
                        self.folders[i].path = p;
                    }
                    None => {
                        self.index.insert(folder.clone(), self.folders.len());
                        self.folders.push(FolderState {
                            name: folder,
                            role,
                            path: p,
                            messages: Vec::new(),
                        });
                    }
                }
            }
            Record::Msg(m) => {
                let Some(&i) = self.index.get(&m.meta.folder) else {
                    self.problems.push(corrupt(
                        path,
                        offset,
                        format!("message of unknown folder {:?}, skipped", m.meta.folder),
                    ));
                    return;
                };
                let f = &mut self.folders[i];
                if m.id != f.messages.len() as u64
                    || !safe_rel_path(&m.loc.file)
                    || !sane_location(&m.loc, self.format)
                {
                    self.problems.push(corrupt(
                        path,
                        offset,
                        format!(
                            "message {} of {:?} is out of sequence or has an unsafe location, skipped",
                            m.id, m.meta.folder
                        ),
                    ));
                    return;
                }
                let mut meta = m.meta;
                meta.role = f.role;
                if let Some(what) = sanitize(&mut meta.flags, &mut meta.internaldate) {
                    self.problems.push(corrupt(
                        path,
                        offset,
                        format!("message {} of {:?}: {what}", m.id, meta.folder),
                    ));
                }
                f.messages.push(Entry::new(meta, m.loc));
            }
            Record::Flags {
                folder,
                id,
                sha256,
                flags,
                ..
            } => {
                let entry = self
                    .index
                    .get(&folder)
                    .and_then(|&i| self.folders[i].messages.get_mut(id as usize))
                    .filter(|e| e.meta.sha256 == sha256);
                let mut flags = flags;
                let unsafe_flags = sanitize(&mut flags, &mut None);
                match entry {
                    Some(e) => {
                        e.meta.flags = flags;
                        if let Some(what) = unsafe_flags {
                            self.problems.push(corrupt(
                                path,
                                offset,
                                format!("flag update for message {id} of {folder:?}: {what}"),
                            ));
                        }
                    }
                    None => self.problems.push(corrupt(
                        path,
                        offset,
                        format!("flag update for unknown message {id} of {folder:?}, skipped"),
                    )),
                }
            }
            Record::Gone {
                folder, ids, at, ..
            } => {
                for e in self.entries(path, offset, &folder, &ids) {
                    e.gone_since.get_or_insert_with(|| at.clone());
                }
            }
            Record::Back { folder, ids, .. } => {
                for e in self.entries(path, offset, &folder, &ids) {
                    e.gone_since = None;
                }
            }
            Record::Moved {
                folder, id, loc, ..
            } => {
                let format = self.format;
                let sane = safe_rel_path(&loc.file) && sane_location(&loc, format);
                let moved = match self.entries(path, offset, &folder, &[id]).pop() {
                    Some(e) if sane => {
                        e.loc = loc;
                        true
                    }
                    _ => false,
                };
                if !moved {
                    self.problems.push(corrupt(
                        path,
                        offset,
                        format!("new location of message {id} of {folder:?} is unusable, skipped"),
                    ));
                }
            }
            Record::Drop {
                folder, id, sha256, ..
            } => {
                if let Some(e) = self
                    .entries(path, offset, &folder, &[id])
                    .pop()
                    .filter(|e| e.meta.sha256 == sha256)
                {
                    e.dropped = true;
                }
            }
            Record::Archive { .. } | Record::Run { .. } | Record::Commit { .. } => {
                self.problems
                    .push(corrupt(path, offset, "unexpected record, skipped"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_paths_never_escape() {
        assert_eq!(folder_rel_path("INBOX"), "INBOX");
        assert_eq!(folder_rel_path("Work/Clients"), "Work/Clients");
        assert_eq!(
            folder_rel_path("其他文件夹/报告 2024"),
            "其他文件夹/报告 2024"
        );
        for evil in [
            "../x",
            "/abs",
            "a/../../b",
            "..",
            "a//b",
            "a\\..\\b",
            "%2E%2E",
            "a\0b",
        ] {
            let p = folder_rel_path(evil);
            assert!(safe_rel_path(&p), "{evil:?} -> {p:?}");
        }
        assert_eq!(folder_rel_path("../x"), "%2E%2E/x");
        assert_eq!(folder_rel_path("100%"), "100%25");
        let long = "长".repeat(100);
        let p = folder_rel_path(&long);
        assert!(p.len() <= 200 && safe_rel_path(&p));
    }

    #[test]
    fn unsafe_paths_rejected() {
        for p in ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a\\b"] {
            assert!(!safe_rel_path(p), "{p:?}");
        }
        assert!(safe_rel_path("mbox/INBOX.mbox.zst"));
    }
}
