//! Helpers shared by the writer and the readers: error constructors, streaming message digests,
//! header fields, flags, INTERNALDATE formatting and random access into zstd streams.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use chrono::{DateTime, FixedOffset, Utc};
use sha2::{Digest as _, Sha256};

use super::ArchiveError;
use crate::fingerprint::{self, Fingerprint};
use crate::providers::{Role, role_from_name};

/// Bytes of a message's beginning kept for header inspection; headers longer than this are
/// fingerprinted on their first part only.
pub(crate) const HEAD_CAP: usize = 256 * 1024;

pub(crate) fn io_error(path: &Path, e: impl std::fmt::Display) -> ArchiveError {
    let mut detail = e.to_string();
    if crate::disk::is_full(&detail) {
        detail = format!("{detail}; {}", crate::disk::full_hint(path));
    }
    ArchiveError::Io {
        path: path.to_path_buf(),
        detail,
    }
}

pub(crate) fn corrupt(path: &Path, offset: u64, detail: impl Into<String>) -> ArchiveError {
    ArchiveError::Corrupt {
        path: path.to_path_buf(),
        offset,
        detail: detail.into(),
    }
}

pub(crate) fn invalid(path: &Path, detail: impl Into<String>) -> ArchiveError {
    ArchiveError::Invalid {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// What is computed from a message's raw bytes.
#[derive(Debug, Clone)]
pub(crate) struct Digest {
    pub size: u64,
    pub sha256: String,
    pub fingerprint: String,
    pub message_id: Option<String>,
    /// The first [`HEAD_CAP`] bytes, for header fields.
    pub head: Vec<u8>,
}

impl Digest {
    pub fn of(raw: &[u8]) -> Digest {
        let mut d = RawDigest::new();
        d.update(raw);
        d.finish()
    }

    /// The header block (up to the first empty line) of the kept head.
    pub fn headers(&self) -> &[u8] {
        fingerprint::header_block(&self.head)
    }
}

/// [`Digest`] computed over a message fed in pieces, so a message never has to be whole in
/// memory while scanning a large file.
pub(crate) struct RawDigest {
    sha: Sha256,
    size: u64,
    crlf: fingerprint::CrlfView,
    head: Vec<u8>,
}

impl RawDigest {
    pub fn new() -> RawDigest {
        RawDigest {
            sha: Sha256::new(),
            size: 0,
            crlf: fingerprint::CrlfView::new(false),
            head: Vec::new(),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.sha.update(data);
        self.size += data.len() as u64;
        // IMAP's size counts a bare LF as CRLF.
        self.crlf.update(data);
        if self.head.len() < HEAD_CAP {
            let take = (HEAD_CAP - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..take]);
        }
    }

    pub fn finish(self) -> Digest {
        let headers = fingerprint::header_block(&self.head);
        // The body's start, as far as the kept head holds it (a header longer than the head
        // leaves it empty).
        let text = if headers.len() < self.head.len() {
            fingerprint::body_start(&self.head)
        } else {
            &[]
        };
        let fingerprint = Fingerprint::from_fetch(headers, text, self.crlf.size()).to_string();
        let message_id = fingerprint::message_id(headers);
        Digest {
            size: self.size,
            sha256: hex::encode(self.sha.finalize()),
            fingerprint,
            message_id,
            head: self.head,
        }
    }
}

/// The unfolded value of the first header field called `name` (case-insensitive).
pub(crate) fn header_value(headers: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(headers);
    let mut found: Option<String> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(v) = found.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if found.is_some() {
            break;
        }
        if let Some((n, v)) = line.split_once(':')
            && n.trim().eq_ignore_ascii_case(name)
        {
            found = Some(v.trim().to_string());
        }
    }
    found
}

const SYSTEM_FLAGS: &[&str] = &["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"];

/// Flags in a stable form: system flags spelled canonically and first, keywords after in their
/// order, no duplicates, no `\Recent`, nothing that is not an IMAP atom.
pub(crate) fn normalize_flags(flags: Vec<String>) -> Vec<String> {
    let mut system: Vec<&'static str> = Vec::new();
    let mut keywords: Vec<String> = Vec::new();
    for f in flags {
        let f = f.trim();
        if let Some(sys) = SYSTEM_FLAGS.iter().find(|s| s.eq_ignore_ascii_case(f)) {
            if !system.contains(sys) {
                system.push(sys);
            }
        } else if f.starts_with('\\') {
            // \Recent is session state; other unknown system flags cannot be appended.
            continue;
        } else if is_atom(f) && !keywords.iter().any(|k| k.eq_ignore_ascii_case(f)) {
            keywords.push(f.to_string());
        }
    }
    system.sort_by_key(|s| SYSTEM_FLAGS.iter().position(|x| x == s));
    system
        .into_iter()
        .map(str::to_string)
        .chain(keywords)
        .collect()
}

fn is_atom(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| (0x21..0x7f).contains(&b) && !b"(){%*\"\\]".contains(&b))
}

/// Flags from mbox headers: `Status:` / `X-Status:` letters (R seen, A answered, F flagged,
/// D deleted, T draft), Thunderbird's `X-Mozilla-Status` bits and `X-Mozilla-Keys` keywords.
pub(crate) fn flags_from_headers(headers: &[u8]) -> Vec<String> {
    let mut flags: Vec<String> = Vec::new();
    for name in ["Status", "X-Status"] {
        if let Some(v) = header_value(headers, name) {
            for c in v.chars() {
                let f = match c {
                    'R' => "\\Seen",
                    'A' => "\\Answered",
                    'F' => "\\Flagged",
                    'D' => "\\Deleted",
                    'T' => "\\Draft",
                    _ => continue,
                };
                flags.push(f.to_string());
            }
        }
    }
    if let Some(v) = header_value(headers, "X-Mozilla-Status")
        && let Ok(bits) = u32::from_str_radix(v.trim(), 16)
    {
        for (bit, f) in [
            (0x1, "\\Seen"),
            (0x2, "\\Answered"),
            (0x4, "\\Flagged"),
            (0x8, "\\Deleted"),
            (0x1000, "$Forwarded"),
        ] {
            if bits & bit != 0 {
                flags.push(f.to_string());
            }
        }
    }
    if let Some(v) = header_value(headers, "X-Mozilla-Keys") {
        flags.extend(v.split_whitespace().map(str::to_string));
    }
    normalize_flags(flags)
}

pub(crate) use crate::dates::{
    format_internaldate, header_date as date_header, parse_internaldate,
};

/// A file time as an INTERNALDATE in UTC.
pub(crate) fn system_time(t: SystemTime) -> Option<DateTime<FixedOffset>> {
    let utc: DateTime<Utc> = t.into();
    Some(utc.fixed_offset())
}

pub(crate) fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A folder name as users expect it from a file or directory name, and its role: `Inbox` in
/// any case becomes `INBOX`.
pub(crate) fn named_folder(name: &str) -> (String, Option<Role>) {
    let role = role_from_name(name, None);
    if role == Some(Role::Inbox) {
        ("INBOX".to_string(), role)
    } else {
        (name.to_string(), role)
    }
}

/// Reads `len` bytes at `offset` of a plain file.
pub(crate) fn read_plain(path: &Path, offset: u64, len: u64) -> Result<Vec<u8>, ArchiveError> {
    let mut f = File::open(path).map_err(|e| io_error(path, e))?;
    let size = f.metadata().map_err(|e| io_error(path, e))?.len();
    if offset.checked_add(len).is_none_or(|end| end > size) {
        return Err(corrupt(
            path,
            offset,
            format!("{len} bytes asked at offset {offset} of a {size}-byte file"),
        ));
    }
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| io_error(path, e))?;
    let mut out = Vec::with_capacity(len as usize);
    f.take(len)
        .read_to_end(&mut out)
        .map_err(|e| io_error(path, e))?;
    if (out.len() as u64) < len {
        return Err(corrupt(
            path,
            offset + out.len() as u64,
            format!("file ends inside a message ({len} bytes expected at offset {offset})"),
        ));
    }
    Ok(out)
}

/// A data file opened at compressed offset `base`: the file itself, or for a sealed file
/// (`*.age`) its decryption, seeked to `base` of the decrypted stream.
pub(crate) fn open_data(
    path: &Path,
    base: u64,
    identity: Option<&crate::crypt::Identity>,
) -> io::Result<Box<dyn Read + Send>> {
    let mut f = File::open(path)?;
    if path.extension().is_some_and(|e| e == "age") {
        let id = identity
            .ok_or_else(|| io::Error::other("this file is encrypted and no identity was given"))?;
        let mut reader = id.decrypt(BufReader::with_capacity(64 * 1024, f))?;
        reader.seek(SeekFrom::Start(base))?;
        return Ok(Box::new(reader));
    }
    f.seek(SeekFrom::Start(base))?;
    Ok(Box::new(f))
}

type ZDecoder = zstd::stream::read::Decoder<'static, BufReader<io::Take<Box<dyn Read + Send>>>>;

/// A zstd decoder positioned somewhere in a file, kept for the next read.
struct Cursor {
    path: PathBuf,
    base: u64,
    pos: u64,
    dec: ZDecoder,
}

/// Random access into zstd data: reading at a decompressed offset decodes from the start of
/// the frame (or stream) holding it. Decoders are kept between calls, so reading messages in
/// order decodes each byte once; a few are kept so concurrent readers do not thrash.
#[derive(Default)]
pub(crate) struct CursorPool {
    slots: Mutex<Vec<Cursor>>,
}

const POOL_SLOTS: usize = 4;
/// The most a read sizes its buffer for before seeing the bytes.
const MAX_PREALLOC: u64 = 128 * 1024 * 1024;

impl CursorPool {
    /// `len` decompressed bytes at decompressed `offset`, counted from compressed position
    /// `base` of `path`; at most `limit` compressed bytes of the file are read (the committed
    /// end). `single_frame` stops at the end of the frame starting at `base`.
    #[allow(clippy::too_many_arguments)]
    pub fn read(
        &self,
        identity: Option<&crate::crypt::Identity>,
        path: &Path,
        base: u64,
        limit: u64,
        single_frame: bool,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, ArchiveError> {
        let reused = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots
                .iter()
                .position(|c| c.path == path && c.base == base && c.pos <= offset)
                .map(|i| slots.remove(i))
        };
        let mut cur = match reused {
            Some(c) => c,
            None => {
                let f = open_data(path, base, identity).map_err(|e| io_error(path, e))?;
                let take = f.take(limit.saturating_sub(base));
                let dec = ZDecoder::with_buffer(BufReader::with_capacity(64 * 1024, take))
                    .map_err(|e| io_error(path, e))?;
                let dec = if single_frame {
                    dec.single_frame()
                } else {
                    dec
                };
                Cursor {
                    path: path.to_path_buf(),
                    base,
                    pos: 0,
                    dec,
                }
            }
        };
        let damaged = |e: io::Error| {
            corrupt(
                path,
                base,
                format!(
                    "zstd data starting here cannot be decoded up to decompressed offset {} (+{len} bytes): {e}",
                    offset
                ),
            )
        };
        let skip = offset.saturating_sub(cur.pos);
        let skipped = io::copy(&mut (&mut cur.dec).take(skip), &mut io::sink()).map_err(damaged)?;
        if skipped < skip {
            return Err(damaged(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "data ends early",
            )));
        }
        // Sized up front (growing by doubling would briefly hold twice the message), but never
        // beyond what a message can be: a damaged length cannot make a huge allocation.
        let mut out = Vec::with_capacity(len.min(MAX_PREALLOC) as usize);
        (&mut cur.dec)
            .take(len)
            .read_to_end(&mut out)
            .map_err(damaged)?;
        if (out.len() as u64) < len {
            return Err(damaged(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "data ends early",
            )));
        }
        cur.pos = offset + len;
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if slots.len() >= POOL_SLOTS {
            slots.remove(0);
        }
        slots.push(cur);
        Ok(out)
    }
}

/// Counts bytes read through it, so stream errors can name a file offset.
pub(crate) struct CountingReader<R> {
    pub inner: R,
    pub count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_digest_matches_whole_message() {
        let raw = b"Message-ID: <a@b>\nSubject: x\n\nline one\nline two\r\n";
        let whole = Digest::of(raw);
        let mut d = RawDigest::new();
        for chunk in raw.chunks(3) {
            d.update(chunk);
        }
        let parts = d.finish();
        assert_eq!(whole.sha256, parts.sha256);
        assert_eq!(whole.fingerprint, parts.fingerprint);
        assert_eq!(
            whole.fingerprint,
            Fingerprint::from_message(raw).to_string()
        );
        assert_eq!(parts.message_id.as_deref(), Some("<a@b>"));
    }

    #[test]
    fn header_flags() {
        let h = b"Status: RO\r\nX-Status: AF\r\nX-Mozilla-Status: 0008\r\nX-Mozilla-Keys: $label1 nonjunk\r\n\r\n";
        assert_eq!(
            flags_from_headers(h),
            [
                "\\Seen",
                "\\Answered",
                "\\Flagged",
                "\\Deleted",
                "$label1",
                "nonjunk"
            ]
        );
        let tb = b"X-Mozilla-Status: 0003\nSubject: x\n\n";
        assert_eq!(flags_from_headers(tb), ["\\Seen", "\\Answered"]);
    }

    #[test]
    fn flags_normalized() {
        let f = normalize_flags(vec![
            "\\Recent".into(),
            "$Forwarded".into(),
            "\\seen".into(),
            "\\Seen".into(),
            "bad word".into(),
        ]);
        assert_eq!(f, ["\\Seen", "$Forwarded"]);
    }

    #[test]
    fn date_header_keeps_its_zone() {
        let h = b"Date: Wed, 7 Jul 2021 02:44:25 +0800\r\n\r\n";
        let d = date_header(h).unwrap();
        assert_eq!(format_internaldate(d), "07-Jul-2021 02:44:25 +0800");
    }

    #[test]
    fn folded_header_value() {
        let h = b"X-Gmail-Labels: Inbox,\r\n Work\r\nSubject: s\r\n\r\n";
        assert_eq!(
            header_value(h, "x-gmail-labels").as_deref(),
            Some("Inbox, Work")
        );
        assert_eq!(header_value(h, "subject").as_deref(), Some("s"));
    }
}
