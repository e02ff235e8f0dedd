//! mbox: our mboxrd writer, a splitter for foreign mboxo/mboxrd files, and [`MboxStore`], which
//! reads a file or a folder of them (Thunderbird profiles, Google Takeout, `.mbox.zst`).
//!
//! Our files are mboxrd: every line matching `^>*From ` gets one more `>`, and one `\n`
//! follows each message, so every message reads back byte-exact (also through mail-parser's
//! `MessageIterator`, stripping one trailing `\n`). Their From_ lines name the sender
//! [`OUR_SENDER`], which is how a reader knows a file is ours and may unquote.
//!
//! Foreign files are read as mboxo: a `From ` line starts a message only at the start of the
//! file or after an empty line, and only when it looks like a real From_ line (`From <addr>
//! <asctime date>`), so a body line `From the start...` stays in its message; `>From ` lines
//! are kept as they are, since mboxo quoting cannot be undone.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};

use super::common::{
    CountingReader, CursorPool, Digest, RawDigest, corrupt, date_header, flags_from_headers,
    format_internaldate, header_value, invalid, io_error, named_folder, normalize_flags,
    read_plain,
};
use super::{ArchiveError, MessageMeta, MessageStore, StoredFolder, StoredMessage};
use crate::providers::Role;

/// Envelope sender on the From_ lines we write; marks a file as our mboxrd.
pub const OUR_SENDER: &str = "mboxrd@mailferry.invalid";

/// Longest piece of a line read at once; longer lines are handled in pieces.
const PIECE: u64 = 64 * 1024;

fn is_quoted_from(line: &[u8]) -> bool {
    let i = line.iter().position(|&b| b != b'>').unwrap_or(line.len());
    line[i..].starts_with(b"From ")
}

/// Writes `raw` mboxrd-quoted; returns the number of bytes written. Unquoted stretches go
/// out in one write, so a message without `From ` lines costs one call.
pub(crate) fn write_quoted<W: Write>(w: &mut W, raw: &[u8]) -> io::Result<u64> {
    let mut quotes = 0u64;
    let mut start = 0usize;
    for line_start in line_starts(raw) {
        // Only the start of a line matters, and lines are found by their LF (fast): a
        // backup passes every byte here.
        if is_quoted_from(&raw[line_start..]) {
            w.write_all(&raw[start..line_start])?;
            w.write_all(b">")?;
            quotes += 1;
            start = line_start;
        }
    }
    w.write_all(&raw[start..])?;
    Ok(raw.len() as u64 + quotes)
}

/// Where each line of `data` begins.
fn line_starts(data: &[u8]) -> impl Iterator<Item = usize> + '_ {
    std::iter::once(0)
        .chain(memchr::memchr_iter(b'\n', data).map(|i| i + 1))
        .filter(move |&i| i < data.len())
}

/// Undoes [`write_quoted`].
pub(crate) fn unquote(stored: &[u8]) -> Vec<u8> {
    unquote_owned(stored.to_vec())
}

/// [`unquote`] that keeps the buffer when nothing is quoted (the usual case), so a large
/// message is not held twice.
pub(crate) fn unquote_owned(stored: Vec<u8>) -> Vec<u8> {
    let quoted = line_starts(&stored).any(|i| stored[i] == b'>' && is_quoted_from(&stored[i..]));
    if !quoted {
        return stored;
    }
    let mut out = Vec::with_capacity(stored.len());
    for line in stored.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'>') && is_quoted_from(line) {
            out.extend_from_slice(&line[1..]);
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

/// The From_ line we write before a message: our sender and the date in UTC asctime form.
pub(crate) fn from_line(date: Option<DateTime<FixedOffset>>) -> String {
    let utc = date
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    format!("From {OUR_SENDER} {}\n", utc.format("%a %b %e %H:%M:%S %Y"))
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// A real From_ line: `From <sender> <Www Mmm dd hh:mm[:ss] [zone] yyyy [zone]>`. Returns the
/// sender and the date (UTC unless a numeric zone is given).
pub(crate) fn parse_from_line(line: &[u8]) -> Option<(String, DateTime<FixedOffset>)> {
    let text = std::str::from_utf8(line.strip_prefix(b"From ")?).ok()?;
    let tokens: Vec<&str> = text.split_ascii_whitespace().collect();
    // The sender may be missing or (rarely) hold spaces: find the weekday.
    let w = (0..tokens.len().min(4)).find(|&i| {
        WEEKDAYS.contains(&tokens[i].to_ascii_lowercase().as_str())
            && tokens
                .get(i + 1)
                .is_some_and(|m| MONTHS.contains(&m.to_ascii_lowercase().as_str()))
    })?;
    let sender = tokens[..w].join(" ");
    let month = MONTHS
        .iter()
        .position(|m| tokens[w + 1].eq_ignore_ascii_case(m))? as u32
        + 1;
    let day: u32 = tokens.get(w + 2)?.parse().ok()?;
    let mut hms = tokens.get(w + 3)?.split(':');
    let h: u32 = hms.next()?.parse().ok()?;
    let m: u32 = hms.next()?.parse().ok()?;
    let s: u32 = match hms.next() {
        Some(s) => s.parse().ok()?,
        None => 0,
    };
    let mut year: Option<i32> = None;
    let mut zone = FixedOffset::east_opt(0)?;
    for t in tokens.iter().skip(w + 4).take(3) {
        if t.len() == 4 && t.bytes().all(|b| b.is_ascii_digit()) && year.is_none() {
            year = t.parse().ok();
        } else if let Some(z) = numeric_zone(t) {
            zone = z;
        }
    }
    let naive = NaiveDate::from_ymd_opt(year?, month, day)?.and_hms_opt(h, m, s)?;
    let date = zone.from_local_datetime(&naive).single()?;
    Some((sender, date))
}

fn numeric_zone(t: &str) -> Option<FixedOffset> {
    let (sign, digits) = match t.as_bytes().first()? {
        b'+' => (1, &t[1..]),
        b'-' => (-1, &t[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = digits[2..].parse().ok()?;
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// One message found by [`scan`].
#[derive(Debug, Clone)]
pub(crate) struct Scanned {
    /// Decompressed offset of the stored bytes (after the From_ line).
    pub start: u64,
    /// Stored length (quoted, for mboxrd).
    pub stored_len: u64,
    pub digest: Digest,
    pub from_date: Option<DateTime<FixedOffset>>,
}

pub(crate) enum ScanEvent {
    Message(Scanned),
    /// Bytes that belong to no message: before the first From_ line, or an entry that does not
    /// start with a header.
    Garbage {
        offset: u64,
        len: u64,
    },
}

struct Building {
    start: u64,
    stored_len: u64,
    digest: RawDigest,
    from_date: Option<DateTime<FixedOffset>>,
    /// mboxo: an empty line held back, in case it is the separator before the next From_.
    held_line: Option<Vec<u8>>,
    /// mboxrd: the final `\n` of the last line, held back for the same reason.
    held_nl: bool,
}

impl Building {
    fn push(&mut self, piece: &[u8], line_start: bool, empty_line: bool, rd: bool) {
        self.stored_len += piece.len() as u64;
        if rd {
            if self.held_nl {
                self.digest.update(b"\n");
                self.held_nl = false;
            }
            let data = if line_start && piece.first() == Some(&b'>') && is_quoted_from(piece) {
                &piece[1..]
            } else {
                piece
            };
            match data.strip_suffix(b"\n") {
                Some(body) => {
                    self.digest.update(body);
                    self.held_nl = true;
                }
                None => self.digest.update(data),
            }
        } else {
            if let Some(h) = self.held_line.take() {
                self.digest.update(&h);
            }
            if empty_line {
                self.held_line = Some(piece.to_vec());
            } else {
                self.digest.update(piece);
            }
        }
    }

    /// Ends the message, dropping the separator (mboxo: a trailing empty line; mboxrd: one `\n`).
    fn finish(self) -> Scanned {
        let dropped = match (&self.held_line, self.held_nl) {
            (Some(h), _) => h.len() as u64,
            (None, true) => 1,
            (None, false) => 0,
        };
        Scanned {
            start: self.start,
            stored_len: self.stored_len - dropped,
            digest: self.digest.finish(),
            from_date: self.from_date,
        }
    }
}

/// Splits an mbox stream into messages. `rd`: the file is our mboxrd (every `From ` line at a
/// line start separates, `>From` is unquoted); otherwise the strict mboxo rules apply.
/// Returns the stream length, or the offset where reading failed and why; messages before
/// the failure have been delivered.
pub(crate) fn scan<R: BufRead>(
    mut reader: R,
    rd: bool,
    mut on: impl FnMut(ScanEvent),
) -> Result<u64, (u64, io::Error)> {
    let mut pos = 0u64;
    let mut piece = Vec::with_capacity(1024);
    let mut at_line_start = true;
    let mut prev_empty = true;
    let mut current: Option<Building> = None;
    let mut garbage: Option<(u64, u64)> = None;
    let finish = |b: Building, on: &mut dyn FnMut(ScanEvent)| {
        let s = b.finish();
        // Whatever text follows a From_ line is a message, whatever its shape (Python's
        // `mailbox` writes one with an empty header section): carried as it is. Nothing, or
        // binary data (NUL bytes, which no IMAP server takes in a message), is not.
        if s.stored_len == 0 || s.digest.head.contains(&0) {
            on(ScanEvent::Garbage {
                offset: s.start,
                len: s.stored_len,
            });
        } else {
            on(ScanEvent::Message(s));
        }
    };
    loop {
        piece.clear();
        let n = match (&mut reader).take(PIECE).read_until(b'\n', &mut piece) {
            Ok(n) => n,
            Err(e) => return Err((pos, e)),
        };
        if n == 0 {
            break;
        }
        let line_start = at_line_start;
        let piece_pos = pos;
        pos += n as u64;
        at_line_start = piece.ends_with(b"\n");
        let empty_line = line_start && (piece == b"\n" || piece == b"\r\n");
        let separator = line_start
            && piece.starts_with(b"From ")
            && (rd || ((prev_empty || piece_pos == 0) && parse_from_line(&piece).is_some()));
        if separator {
            if let Some((offset, len)) = garbage.take() {
                on(ScanEvent::Garbage { offset, len });
            }
            if let Some(b) = current.take() {
                finish(b, &mut on);
            }
            let from_date = parse_from_line(&piece).map(|(_, d)| d);
            current = Some(Building {
                start: pos,
                stored_len: 0,
                digest: RawDigest::new(),
                from_date,
                held_line: None,
                held_nl: false,
            });
        } else if let Some(b) = current.as_mut() {
            b.push(&piece, line_start, empty_line, rd);
        } else if !piece.iter().all(u8::is_ascii_whitespace) || garbage.is_some() {
            let g = garbage.get_or_insert((piece_pos, 0));
            g.1 = pos - g.0;
        }
        prev_empty = at_line_start && empty_line;
    }
    if let Some((offset, len)) = garbage.take() {
        on(ScanEvent::Garbage { offset, len });
    }
    if let Some(b) = current.take() {
        finish(b, &mut on);
    }
    Ok(pos)
}

/// One mbox file of a store.
#[derive(Debug)]
struct MboxFile {
    path: PathBuf,
    compressed: bool,
    rd: bool,
}

#[derive(Debug, Clone)]
struct Located {
    file: usize,
    start: u64,
    stored_len: u64,
}

#[derive(Debug, Default)]
struct Folder {
    name: String,
    role: Option<Role>,
    messages: Vec<(MessageMeta, Located)>,
}

/// A foreign mbox file, or a folder tree of them, as a [`MessageStore`].
///
/// Everything is scanned once at [`MboxStore::open`]; [`MboxStore::problems`] lists what could
/// not be read (file and offset), while everything before the damage is listed by
/// [`MessageStore::folders`]. Reading a message of a compressed file decodes the stream from
/// its start, but decoders are reused, so reading in order costs one pass.
pub struct MboxStore {
    files: Vec<MboxFile>,
    folders: Vec<Folder>,
    problems: Vec<ArchiveError>,
    pool: CursorPool,
}

impl std::fmt::Debug for MboxStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MboxStore")
            .field("files", &self.files)
            .field("folders", &self.folders.len())
            .field("problems", &self.problems)
            .finish()
    }
}

/// Name endings of mbox files and what they mean for the folder name.
const SUFFIXES: &[&str] = &[".mbox.zst", ".mbox", ".mbx"];
/// Thunderbird and friends keep these next to mbox files.
const NOT_MBOX: &[&str] = &[
    ".msf", ".dat", ".json", ".sqlite", ".html", ".htm", ".txt", ".log", ".xml", ".js", ".ini",
    ".bak",
];
const MAX_DEPTH: usize = 32;

impl MboxStore {
    /// Opens a file or a folder of `.mbox` / `.mbox.zst` files (plus extension-less mbox files
    /// as Thunderbird keeps them, `Work.sbd/Clients` -> `Work/Clients`) and scans them.
    pub fn open(path: &Path) -> Result<MboxStore, ArchiveError> {
        let meta = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
        let mut store = MboxStore {
            files: Vec::new(),
            folders: Vec::new(),
            problems: Vec::new(),
            pool: CursorPool::default(),
        };
        let mut found: Vec<(PathBuf, String)> = Vec::new();
        if meta.is_dir() {
            collect(path, path, 0, &mut found, &mut store.problems);
            if found.is_empty() {
                return Err(invalid(
                    path,
                    "no mbox files here (looked for *.mbox, *.mbox.zst and Thunderbird folder files starting with \"From \")",
                ));
            }
        } else {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            found.push((path.to_path_buf(), folder_of_file(&name)));
        }
        let single = !meta.is_dir();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (file, folder) in found {
            store.scan_file(&file, &folder, single, &mut index);
        }
        Ok(store)
    }

    /// What could not be read, each naming its file and offset.
    pub fn problems(&self) -> Vec<ArchiveError> {
        self.problems.clone()
    }

    fn open_stream(
        path: &Path,
        compressed: bool,
    ) -> io::Result<(Box<dyn BufRead>, Arc<AtomicU64>)> {
        let count = Arc::new(AtomicU64::new(0));
        let f = CountingReader {
            inner: File::open(path)?,
            count: count.clone(),
        };
        let r: Box<dyn BufRead> = if compressed {
            Box::new(BufReader::with_capacity(
                64 * 1024,
                zstd::stream::read::Decoder::new(f)?,
            ))
        } else {
            Box::new(BufReader::with_capacity(64 * 1024, f))
        };
        Ok((r, count))
    }

    fn scan_file(
        &mut self,
        path: &Path,
        folder: &str,
        single: bool,
        index: &mut HashMap<String, usize>,
    ) {
        let compressed = path.to_string_lossy().ends_with(".zst");
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if len == 0 {
            if compressed {
                self.problems
                    .push(corrupt(path, 0, "empty file (0 bytes): not a zstd stream"));
            } else if single {
                self.problems
                    .push(corrupt(path, 0, "empty file (0 bytes): no messages"));
            } else {
                // Thunderbird keeps an empty file for an empty folder.
                folder_index(&mut self.folders, index, folder);
            }
            return;
        }
        // Sniff the first line: ours (mboxrd) or foreign (mboxo)?
        let rd = match Self::open_stream(path, compressed) {
            Ok((r, _)) => {
                let mut first = Vec::new();
                let _ = r.take(512).read_until(b'\n', &mut first);
                first.starts_with(format!("From {OUR_SENDER} ").as_bytes())
            }
            Err(e) => {
                self.problems.push(io_error(path, e));
                return;
            }
        };
        let (reader, count) = match Self::open_stream(path, compressed) {
            Ok(x) => x,
            Err(e) => {
                self.problems.push(io_error(path, e));
                return;
            }
        };
        let file = self.files.len();
        self.files.push(MboxFile {
            path: path.to_path_buf(),
            compressed,
            rd,
        });
        let folders = &mut self.folders;
        let problems = &mut self.problems;
        folder_index(folders, index, folder);
        let result = scan(reader, rd, |ev| {
            match ev {
            ScanEvent::Message(s) => {
                let headers = s.digest.headers();
                let (name, role, mut flags) = match header_value(headers, "X-Gmail-Labels") {
                    Some(labels) => takeout_folder(&labels, folder),
                    None => {
                        let (n, r) = named_folder(folder);
                        (n, r, Vec::new())
                    }
                };
                flags.extend(flags_from_headers(headers));
                let internaldate = s
                    .from_date
                    .or_else(|| date_header(headers))
                    .map(format_internaldate);
                let i = folder_index(folders, index, &name);
                let f = &mut folders[i];
                if f.role.is_none() {
                    f.role = role;
                }
                let meta = MessageMeta {
                    folder: name,
                    role: f.role,
                    flags: normalize_flags(flags),
                    internaldate,
                    size: s.digest.size,
                    sha256: s.digest.sha256,
                    fingerprint: s.digest.fingerprint,
                    message_id: s.digest.message_id,
                    source_uidvalidity: None,
                    source_uid: None,
                    labels: Vec::new(),
                };
                f.messages.push((
                    meta,
                    Located {
                        file,
                        start: s.start,
                        stored_len: s.stored_len,
                    },
                ));
            }
            ScanEvent::Garbage { offset, len } => problems.push(corrupt(
                path,
                offset,
                format!(
                    "{len} bytes that are not a message (no From_ line before them, or no header), skipped{}",
                    if compressed { " (decompressed offset)" } else { "" }
                ),
            )),
        }
        });
        if let Err((pos, e)) = result {
            let detail = if compressed {
                format!(
                    "cannot decompress past decompressed offset {pos} (about compressed byte {}): {e}; the message being read there and everything after it are missing",
                    count.load(Ordering::Relaxed)
                )
            } else {
                format!("read error: {e}; messages from here on are missing")
            };
            let offset = if compressed {
                count.load(Ordering::Relaxed)
            } else {
                pos
            };
            // The message being read when the error hit is never delivered by `scan`.
            self.problems.push(corrupt(path, offset, detail));
        }
    }

    fn locate(&self, folder: &str, id: u64) -> Option<&(MessageMeta, Located)> {
        self.folders
            .iter()
            .find(|f| f.name == folder)?
            .messages
            .get(id as usize)
    }
}

fn folder_index(
    folders: &mut Vec<Folder>,
    index: &mut HashMap<String, usize>,
    name: &str,
) -> usize {
    if let Some(&i) = index.get(name) {
        return i;
    }
    let (_, role) = named_folder(name);
    index.insert(name.to_string(), folders.len());
    folders.push(Folder {
        name: name.to_string(),
        role,
        messages: Vec::new(),
    });
    folders.len() - 1
}

/// Folder name of a file: `Sent.mbox` -> `Sent`, `Inbox` -> `INBOX`.
fn folder_of_file(name: &str) -> String {
    let stem = SUFFIXES
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name);
    named_folder(stem).0
}

/// Walks `dir` for mbox files, naming each one's folder from its path below `root`.
fn collect(
    root: &Path,
    dir: &Path,
    depth: usize,
    found: &mut Vec<(PathBuf, String)>,
    problems: &mut Vec<ArchiveError>,
) {
    if depth > MAX_DEPTH {
        problems.push(invalid(dir, "folders nested too deep, skipped"));
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(io_error(dir, e));
            return;
        }
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(ft) = e.file_type() else { continue };
        if name.starts_with('.') || ft.is_symlink() {
            continue;
        }
        if ft.is_dir() {
            collect(root, &path, depth + 1, found, problems);
            continue;
        }
        let lower = name.to_ascii_lowercase();
        let known = SUFFIXES.iter().any(|s| lower.ends_with(s));
        if !known {
            if NOT_MBOX.iter().any(|s| lower.ends_with(s)) {
                continue;
            }
            // Other files are mbox only when they look like one (Thunderbird's `Inbox`,
            // `Sent`); an empty extension-less file is Thunderbird's empty folder.
            let mut head = [0u8; 5];
            let n = File::open(&path)
                .and_then(|mut f| f.read(&mut head))
                .unwrap_or(0);
            let empty = !name.contains('.') && e.metadata().is_ok_and(|m| m.len() == 0);
            if !(empty || (n == 5 && &head == b"From ")) {
                continue;
            }
        }
        found.push((path.clone(), folder_name(root, &path)));
    }
}

/// `Work.sbd/Clients` -> `Work/Clients`; `Archive.mbox/mbox` (Apple Mail) -> `Archive`.
fn folder_name(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap_or(file);
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let Some(last) = parts.pop() else {
        return "INBOX".to_string();
    };
    let mut parts: Vec<String> = parts
        .into_iter()
        .map(|p| {
            p.strip_suffix(".sbd")
                .or_else(|| p.strip_suffix(".mbox"))
                .unwrap_or(&p)
                .to_string()
        })
        .collect();
    if last != "mbox" || parts.is_empty() {
        parts.push(
            SUFFIXES
                .iter()
                .find_map(|s| last.strip_suffix(s))
                .unwrap_or(&last)
                .to_string(),
        );
    }
    named_folder(&parts.join("/")).0
}

/// Splits Takeout's `X-Gmail-Labels` (comma-separated, quoted when holding commas).
fn split_labels(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in v.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

const GMAIL_SYSTEM: &[&str] = &[
    "inbox",
    "sent",
    "drafts",
    "spam",
    "trash",
    "important",
    "starred",
    "opened",
    "unread",
    "archived",
    "chat",
    "chats",
];

/// The folder (name, role) and flags of a Takeout message from its labels: Trash, Spam,
/// Drafts, Sent, Inbox in that order, else the first user label, else the file's folder.
fn takeout_folder(labels: &str, file_folder: &str) -> (String, Option<Role>, Vec<String>) {
    let labels = split_labels(labels);
    let has = |l: &str| labels.iter().any(|x| x.eq_ignore_ascii_case(l));
    let mut flags = Vec::new();
    if !has("Unread") {
        flags.push("\\Seen".to_string());
    }
    if has("Starred") {
        flags.push("\\Flagged".to_string());
    }
    let system = [
        ("Trash", "Trash", Role::Trash),
        ("Spam", "Spam", Role::Junk),
        ("Drafts", "Drafts", Role::Drafts),
        ("Sent", "Sent", Role::Sent),
        ("Inbox", "INBOX", Role::Inbox),
    ];
    for (label, name, role) in system {
        if has(label) {
            if role == Role::Drafts {
                flags.push("\\Draft".to_string());
            }
            return (name.to_string(), Some(role), flags);
        }
    }
    if let Some(user) = labels.iter().find(|l| {
        let low = l.to_ascii_lowercase();
        !GMAIL_SYSTEM.contains(&low.as_str()) && !low.starts_with("category ")
    }) {
        let (name, role) = named_folder(user);
        return (name, role, flags);
    }
    let (name, role) = named_folder(file_folder);
    (name, role, flags)
}

impl MessageStore for MboxStore {
    fn folders(&self) -> Result<Vec<StoredFolder>, ArchiveError> {
        Ok(self
            .folders
            .iter()
            .map(|f| StoredFolder {
                name: f.name.clone(),
                role: f.role,
                messages: f
                    .messages
                    .iter()
                    .enumerate()
                    .map(|(id, (meta, _))| StoredMessage {
                        id: id as u64,
                        meta: meta.clone(),
                    })
                    .collect(),
            })
            .collect())
    }

    fn read(&self, folder: &str, id: u64) -> Result<Vec<u8>, ArchiveError> {
        let (meta, loc) = self.locate(folder, id).ok_or_else(|| {
            invalid(
                self.files
                    .first()
                    .map(|f| f.path.as_path())
                    .unwrap_or(Path::new("")),
                format!("no message {id} in folder {folder:?}"),
            )
        })?;
        let file = &self.files[loc.file];
        let stored = if file.compressed {
            self.pool.read(
                None,
                &file.path,
                0,
                u64::MAX,
                false,
                loc.start,
                loc.stored_len,
            )?
        } else {
            read_plain(&file.path, loc.start, loc.stored_len)?
        };
        let raw = if file.rd {
            unquote_owned(stored)
        } else {
            stored
        };
        if raw.len() as u64 != meta.size || super::common::sha256_hex(&raw) != meta.sha256 {
            return Err(corrupt(
                &file.path,
                loc.start,
                "message changed since the file was scanned (size or SHA-256 differs)",
            ));
        }
        Ok(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(data: &[u8], rd: bool) -> (Vec<Vec<u8>>, Vec<(u64, u64)>) {
        let mut msgs = Vec::new();
        let mut garbage = Vec::new();
        scan(data, rd, |ev| match ev {
            ScanEvent::Message(s) => {
                let stored = &data[s.start as usize..(s.start + s.stored_len) as usize];
                let raw = if rd { unquote(stored) } else { stored.to_vec() };
                assert_eq!(raw.len() as u64, s.digest.size);
                assert_eq!(super::super::common::sha256_hex(&raw), s.digest.sha256);
                msgs.push(raw);
            }
            ScanEvent::Garbage { offset, len } => garbage.push((offset, len)),
        })
        .unwrap();
        (msgs, garbage)
    }

    const TRICKY: &[&[u8]] = &[
        b"Subject: a\n\nFrom the start\n>From quoted\n>>From twice\n",
        b"Subject: b\r\n\r\nFrom x\r\n\r\nFrom me Thu Jan  1 00:00:00 2024\r\n",
        b"Subject: c\n\nno trailing newline",
        b"Subject: d\n\n",
        b"Subject: e\n\nends with blank\n\n",
        "Subject: 中文\n\n8-bit \u{00e9}\n".as_bytes(),
    ];

    #[test]
    fn mboxrd_round_trip_is_byte_exact() {
        let mut file = Vec::new();
        for m in TRICKY {
            file.extend_from_slice(from_line(None).as_bytes());
            write_quoted(&mut file, m).unwrap();
            file.push(b'\n');
        }
        let (msgs, garbage) = split(&file, true);
        assert!(garbage.is_empty());
        assert_eq!(msgs, TRICKY);
        // mail-parser's iterator reads our files too, with one trailing \n stripped.
        let via_mp: Vec<Vec<u8>> = mail_parser::mailbox::mbox::MessageIterator::new(&file[..])
            .map(|m| {
                let c = m.unwrap().contents().to_vec();
                c[..c.len() - 1].to_vec()
            })
            .collect();
        assert_eq!(via_mp, TRICKY);
    }

    #[test]
    fn mboxo_keeps_body_from_lines() {
        let data = b"From - Thu Jan 01 10:00:00 2024\nSubject: one\n\nhello\n\nFrom the start, it was clear.\n>From quoted stays\n\nFrom someone@example.com Fri Feb  2 11:12:13 2024\nSubject: two\n\nbye\n";
        let (msgs, garbage) = split(data, false);
        assert!(garbage.is_empty());
        assert_eq!(msgs.len(), 2);
        assert_eq!(
            msgs[0],
            b"Subject: one\n\nhello\n\nFrom the start, it was clear.\n>From quoted stays\n"
        );
        assert_eq!(msgs[1], b"Subject: two\n\nbye\n");
    }

    #[test]
    fn garbage_is_reported_with_offsets() {
        let data = b"junk before\nmore junk\n\nFrom - Thu Jan 01 10:00:00 2024\nSubject: one\n\nhi\n\nFrom - Thu Jan 01 10:00:00 2024\n\x00\x00\x00binary\n\nFrom - Thu Jan 01 10:00:00 2024\nSubject: three\n\nok\n";
        let (msgs, garbage) = split(data, false);
        assert_eq!(msgs.len(), 2);
        assert_eq!(garbage[0], (0, 23));
        assert_eq!(garbage.len(), 2);
        assert_eq!(&data[garbage[1].0 as usize..][..3], b"\0\0\0");
    }

    #[test]
    fn from_line_dates() {
        let (s, d) = parse_from_line(b"From - Thu Jan  1 00:00:00 2024\n").unwrap();
        assert_eq!(
            (s.as_str(), format_internaldate(d).as_str()),
            ("-", "01-Jan-2024 00:00:00 +0000")
        );
        let (s, d) = parse_from_line(b"From 1791@xxx Mon Jul 07 18:44:25 +0800 2021\r\n").unwrap();
        assert_eq!(s, "1791@xxx");
        assert_eq!(format_internaldate(d), "07-Jul-2021 18:44:25 +0800");
        assert!(parse_from_line(b"From the start, it was clear.\n").is_none());
        assert!(parse_from_line(b"From me to you on Mon\n").is_none());
        let ours = from_line(crate::dates::parse_internaldate(
            "07-Jul-2021 02:44:25 +0800",
        ));
        assert_eq!(
            ours,
            format!("From {OUR_SENDER} Tue Jul  6 18:44:25 2021\n")
        );
        assert!(parse_from_line(ours.as_bytes()).is_some());
    }

    #[test]
    fn takeout_labels_choose_folder() {
        let f = |l: &str| {
            let (n, r, fl) = takeout_folder(l, "All mail");
            (n, r, fl)
        };
        assert_eq!(f("Inbox,Important,Opened").0, "INBOX");
        assert_eq!(f("Sent,Opened").1, Some(Role::Sent));
        assert_eq!(f("Spam,Unread").1, Some(Role::Junk));
        assert!(f("Spam,Unread").2.is_empty());
        assert_eq!(f("Important,\"Work, Clients\",Opened").0, "Work, Clients");
        assert_eq!(f("Archived,Category Updates").0, "All mail");
        assert_eq!(f("Starred,Opened,Inbox").2, ["\\Seen", "\\Flagged"]);
    }

    #[test]
    fn folder_names_from_paths() {
        let root = Path::new("/p");
        assert_eq!(folder_name(root, Path::new("/p/Inbox")), "INBOX");
        assert_eq!(
            folder_name(root, Path::new("/p/Work.sbd/Clients")),
            "Work/Clients"
        );
        assert_eq!(folder_name(root, Path::new("/p/Sent.mbox")), "Sent");
        assert_eq!(folder_name(root, Path::new("/p/a/b.mbox.zst")), "a/b");
        assert_eq!(
            folder_name(root, Path::new("/p/Archive.mbox/mbox")),
            "Archive"
        );
    }
}
