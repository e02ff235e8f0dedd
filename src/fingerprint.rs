//! Message identity by content, so that duplicates are recognised without the checkpoint and
//! across UIDVALIDITY changes.
//!
//! A fingerprint is the message's size as IMAP counts it (CRLF line ends) plus a hash of a few
//! header fields that servers return unchanged and of the first bytes of the body. Two
//! different messages sharing a Message-ID still differ in size, in another field or in how
//! their body begins; identical copies share a fingerprint and are matched as a multiset (two
//! copies on the source need two on the target). Messages alike in all of that are told apart
//! by their whole bytes where it matters (see the engine).

use sha2::{Digest, Sha256};

/// The header fields fetched and hashed (`BODY.PEEK[HEADER.FIELDS (...)]`).
pub const FIELDS: &[&str] = &[
    "MESSAGE-ID",
    "DATE",
    "FROM",
    "TO",
    "CC",
    "SUBJECT",
    "IN-REPLY-TO",
];

/// Bytes of the body fetched for the fingerprint (CRLF as the server serves it).
pub const TEXT_FETCH: usize = 256;
/// Bytes of the body hashed, after carriage returns are removed: LF and CRLF copies of one
/// message agree, and 256 CRLF bytes always hold at least 128 others.
pub const TEXT_HASHED: usize = 128;

/// The FETCH items that return exactly what [`Fingerprint::from_fetch`] hashes.
pub fn fetch_item() -> String {
    format!(
        "BODY.PEEK[HEADER.FIELDS ({})] BODY.PEEK[TEXT]<0.{TEXT_FETCH}>",
        FIELDS.join(" ")
    )
}

/// Twelve bytes of a SHA-256: what a fingerprint's content part and a loose key compare by.
/// Both hash the same header fields and body start (a loose key trims trailing whitespace
/// first), so one may be compared with the other.
pub type Hash12 = [u8; 12];

/// A message's identity by content: its CRLF size and a [`Hash12`] of its selected header
/// fields and body start. Written and stored as `size:hex` (see [`Fingerprint::parse`]).
/// Kept as plain values, not text: a 100,000-message folder holds several of these per message.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Fingerprint {
    pub size: u64,
    pub content: Hash12,
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_unknown() {
            return Ok(());
        }
        write!(f, "{}:{}", self.size, hex::encode(self.content))
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Fingerprint::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not a fingerprint: {text:?}")))
    }
}

impl Fingerprint {
    /// The fingerprint of a message whose metadata could not be read (written as "").
    pub const UNKNOWN: Fingerprint = Fingerprint {
        size: 0,
        content: [0; 12],
    };

    pub fn is_unknown(&self) -> bool {
        *self == Fingerprint::UNKNOWN
    }

    /// From its written form, `size:hex` ("" is [`Fingerprint::UNKNOWN`]); `None` for
    /// anything else, such as a damaged state file or manifest.
    pub fn parse(text: &str) -> Option<Fingerprint> {
        if text.is_empty() {
            return Some(Fingerprint::UNKNOWN);
        }
        let (size, hex_part) = text.split_once(':')?;
        let mut content = [0u8; 12];
        hex::decode_to_slice(hex_part, &mut content).ok()?;
        Some(Fingerprint {
            size: size.parse().ok()?,
            content,
        })
    }

    /// From a stored string (a manifest entry, a state row). One that does not parse keeps an
    /// identity of its own, made from its text: it matches no message by accident.
    pub fn from_stored(text: &str) -> Fingerprint {
        Fingerprint::parse(text).unwrap_or_else(|| {
            let mut h = Sha256::new();
            h.update(b"unparsed fingerprint\0");
            h.update(text.as_bytes());
            Fingerprint {
                size: 0,
                content: digest12(h),
            }
        })
    }

    /// From the selected header fields (or a whole header block: fields not in [`FIELDS`] are
    /// ignored), the start of the body (`BODY[TEXT]<0.256>`, or more) and the CRLF size.
    pub fn from_fetch(headers: &[u8], text: &[u8], size: u64) -> Fingerprint {
        Fingerprint::from_fields(fields_hasher(headers), text, size)
    }

    /// [`Fingerprint::from_fetch`], the header fields already hashed.
    fn from_fields(mut h: Sha256, text: &[u8], size: u64) -> Fingerprint {
        let start: Vec<u8> = text
            .iter()
            .copied()
            .filter(|&b| b != b'\r')
            .take(TEXT_HASHED)
            .collect();
        h.update(&start);
        Fingerprint {
            size,
            content: digest12(h),
        }
    }

    /// From a whole raw message, as read from an archive or a file.
    pub fn from_message(raw: &[u8]) -> Fingerprint {
        Fingerprint::from_fetch(header_block(raw), body_start(raw), crlf_size(raw))
    }
}

/// A hasher fed with the selected header fields, in a stable order, and a separator.
fn fields_hasher(headers: &[u8]) -> Sha256 {
    let mut lines = selected_fields(headers);
    lines.sort();
    let mut h = Sha256::new();
    for l in &lines {
        h.update(l.as_bytes());
        h.update(b"\n");
    }
    h.update(b"\0");
    h
}

/// A looser key than [`Fingerprint`]: the same header fields, and the body start with carriage
/// returns dropped and, when `text` is the whole body, trailing whitespace ignored. Two copies
/// with one key differ at most in what servers change on APPEND. Computed from the same FETCH
/// items; kept apart from the fingerprint so stored fingerprints keep their meaning.
pub fn loose_key(headers: &[u8], text: &[u8]) -> Hash12 {
    loose_from_fields(fields_hasher(headers), text)
}

/// The [`Fingerprint`] and the [`loose_key`] of one FETCH's data, its header fields parsed
/// once for both (planning and listing a target read them for every message).
pub fn fingerprint_and_loose(headers: &[u8], text: &[u8], size: u64) -> (Fingerprint, Hash12) {
    let h = fields_hasher(headers);
    (
        Fingerprint::from_fields(h.clone(), text, size),
        loose_from_fields(h, text),
    )
}

fn loose_from_fields(mut h: Sha256, text: &[u8]) -> Hash12 {
    let mut start: Vec<u8> = text.iter().copied().filter(|&b| b != b'\r').collect();
    if text.len() < TEXT_FETCH {
        while start.last().is_some_and(|b| b" \t\n".contains(b)) {
            start.pop();
        }
    }
    start.truncate(TEXT_HASHED);
    h.update(&start);
    digest12(h)
}

fn digest12(h: Sha256) -> Hash12 {
    let mut out = [0u8; 12];
    out.copy_from_slice(&h.finalize()[..12]);
    out
}

/// The header block of a raw message (up to the first empty line).
pub fn header_block(raw: &[u8]) -> &[u8] {
    let mut i = 0;
    while i < raw.len() {
        let end = raw[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| i + p + 1)
            .unwrap_or(raw.len());
        let line = &raw[i..end];
        if line == b"\n" || line == b"\r\n" {
            return &raw[..i];
        }
        i = end;
    }
    raw
}

/// What follows the header block and its empty line: the body (`BODY[TEXT]`).
pub fn body_start(raw: &[u8]) -> &[u8] {
    let h = header_block(raw).len();
    let rest = &raw[h..];
    if let Some(r) = rest.strip_prefix(b"\r\n") {
        r
    } else if let Some(r) = rest.strip_prefix(b"\n") {
        r
    } else {
        &[]
    }
}

/// A message as IMAP serves it, seen through bytes fed in pieces: every bare LF counts as
/// CRLF. Gives its size and, when asked, its SHA-256. The one place that does this sum, for
/// whole messages ([`crlf_size`], [`content_sha256`]) and streamed ones (archives).
#[derive(Clone)]
pub struct CrlfView {
    size: u64,
    last: u8,
    sha: Option<Sha256>,
}

impl CrlfView {
    pub fn new(hash: bool) -> CrlfView {
        CrlfView {
            size: 0,
            last: 0,
            sha: hash.then(Sha256::new),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        let mut start = 0;
        // Only line ends matter: jump from one to the next (a backup passes every byte here).
        for i in memchr::memchr_iter(b'\n', data) {
            let prev = if i == 0 { self.last } else { data[i - 1] };
            if prev != b'\r' {
                self.size += 1;
                if let Some(h) = self.sha.as_mut() {
                    h.update(&data[start..i]);
                    h.update(b"\r");
                    start = i;
                }
            }
        }
        if let Some(h) = self.sha.as_mut() {
            h.update(&data[start..]);
        }
        self.size += data.len() as u64;
        if let Some(&b) = data.last() {
            self.last = b;
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The SHA-256, hex; empty when not asked for.
    pub fn sha256(self) -> String {
        self.sha
            .map(|h| hex::encode(h.finalize()))
            .unwrap_or_default()
    }
}

/// The size IMAP reports for a message: bare LF counts as CRLF.
pub fn crlf_size(raw: &[u8]) -> u64 {
    let mut v = CrlfView::new(false);
    v.update(raw);
    v.size()
}

/// `name:value` of each selected field, unfolded, name lowercased, whitespace collapsed.
fn selected_fields(headers: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(headers);
    let mut fields: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(c) = current.as_mut() {
                c.push(' ');
                c.push_str(line.trim());
            }
            continue;
        }
        if let Some(c) = current.take() {
            fields.push(c);
        }
        current = Some(line.to_string());
    }
    if let Some(c) = current.take() {
        fields.push(c);
    }
    fields
        .into_iter()
        .filter_map(|f| {
            let (name, value) = f.split_once(':')?;
            let name = name.trim().to_ascii_uppercase();
            if !FIELDS.contains(&name.as_str()) {
                return None;
            }
            let value: Vec<&str> = value.split_whitespace().collect();
            Some(format!("{}:{}", name.to_ascii_lowercase(), value.join(" ")))
        })
        .collect()
}

/// The Message-ID of a header block, without angle brackets' surrounding whitespace.
pub fn message_id(headers: &[u8]) -> Option<String> {
    selected_fields(headers)
        .into_iter()
        .find_map(|f| f.strip_prefix("message-id:").map(|v| v.trim().to_string()))
        .filter(|v| !v.is_empty())
}

/// Subject, From and Date of a header block, for reports.
pub fn summary_fields(headers: &[u8]) -> (Option<String>, Option<String>, Option<String>) {
    let mut subject = None;
    let mut from = None;
    let mut date = None;
    if let Some(msg) = mail_parser::MessageParser::default().parse_headers(headers) {
        subject = msg.subject().map(str::to_string);
        from = msg
            .from()
            .and_then(|a| a.first())
            .map(|a| match (a.name(), a.address()) {
                (Some(n), Some(e)) => format!("{n} <{e}>"),
                (None, Some(e)) => e.to_string(),
                (Some(n), None) => n.to_string(),
                (None, None) => String::new(),
            });
        date = msg.date().map(|d| d.to_rfc3339());
    }
    (subject, from, date)
}

/// SHA-256 of a whole message as IMAP would send it: a bare LF counts as CRLF, so an LF copy
/// in an archive equals the CRLF copy a server returns.
pub fn content_sha256(raw: &[u8]) -> String {
    let mut v = CrlfView::new(true);
    v.update(raw);
    v.sha256()
}

/// Readable fingerprints for unit tests elsewhere.
#[cfg(test)]
pub mod testing {
    use super::{Fingerprint, Hash12};

    /// A stand-in for a 12-byte hash: the label's bytes, zero-padded.
    pub fn h12(label: &str) -> Hash12 {
        let mut out = [0u8; 12];
        out[..label.len()].copy_from_slice(label.as_bytes());
        out
    }

    /// "size:label" as a fingerprint.
    pub fn fp(text: &str) -> Fingerprint {
        let (size, label) = text.split_once(':').expect("size:label");
        Fingerprint {
            size: size.parse().expect("a size"),
            content: h12(label),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[u8] = b"Message-ID: <same@x>\r\nFrom: a@x\r\nSubject: one\r\n\r\nbody one\r\n";
    const B: &[u8] = b"Message-ID: <same@x>\r\nFrom: a@x\r\nSubject: two\r\n\r\nbody one\r\n";

    #[test]
    fn both_keys_at_once_equal_each_on_its_own() {
        let (h, t) = (header_block(A), body_start(A));
        assert_eq!(
            fingerprint_and_loose(h, t, A.len() as u64),
            (
                Fingerprint::from_fetch(h, t, A.len() as u64),
                loose_key(h, t)
            )
        );
    }

    #[test]
    fn written_form_round_trips_and_damaged_text_matches_nothing() {
        let fp = Fingerprint::from_message(A);
        let text = fp.to_string();
        assert_eq!(text, format!("{}:{}", A.len(), hex::encode(fp.content)));
        assert_eq!(Fingerprint::parse(&text), Some(fp));
        assert_eq!(Fingerprint::parse(""), Some(Fingerprint::UNKNOWN));
        assert_eq!(Fingerprint::UNKNOWN.to_string(), "");
        let json = serde_json::to_string(&fp).expect("serializes");
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<Fingerprint>(&json).ok(), Some(fp));
        for bad in ["12:zz", "abc", "12:abcd", "x:00112233445566778899aabb"] {
            assert_eq!(Fingerprint::parse(bad), None, "{bad}");
            let stored = Fingerprint::from_stored(bad);
            assert_ne!(stored, Fingerprint::UNKNOWN);
            assert_ne!(stored, Fingerprint::from_stored("12:zy"));
        }
    }

    #[test]
    fn same_message_id_different_content_differs() {
        assert_ne!(Fingerprint::from_message(A), Fingerprint::from_message(B));
        let c = b"Message-ID: <same@x>\r\nFrom: a@x\r\nSubject: one\r\n\r\nbody one, longer\r\n";
        assert_ne!(Fingerprint::from_message(A), Fingerprint::from_message(c));
        // Same headers, same size, another body.
        let d = b"Message-ID: <same@x>\r\nFrom: a@x\r\nSubject: one\r\n\r\nbody two\r\n";
        assert_ne!(Fingerprint::from_message(A), Fingerprint::from_message(d));
    }

    #[test]
    fn header_fields_response_matches_the_whole_message() {
        // What a server returns for BODY[HEADER.FIELDS (...)]: the fields, then an empty line.
        let fields = b"Message-ID: <same@x>\r\nFrom: a@x\r\nSubject: one\r\n\r\n";
        assert_eq!(
            Fingerprint::from_fetch(fields, b"body one\r\n", A.len() as u64),
            Fingerprint::from_message(A)
        );
    }

    #[test]
    fn lf_and_crlf_copies_are_the_same_message() {
        let lf: Vec<u8> = A.iter().copied().filter(|&b| b != b'\r').collect();
        assert_eq!(crlf_size(&lf), A.len() as u64);
        assert_eq!(Fingerprint::from_message(&lf), Fingerprint::from_message(A));
    }

    #[test]
    fn loose_key_ignores_stray_crs_and_trailing_whitespace() {
        let h = b"Subject: x\r\n\r\n";
        assert_eq!(
            loose_key(h, b"line\r\r\nend\r\n\r\n"),
            loose_key(h, b"line\r\nend")
        );
        assert_ne!(loose_key(h, b"line\r\nend"), loose_key(h, b"line\r\nEnd"));
    }

    #[test]
    fn streamed_pieces_give_what_the_whole_gives() {
        let raw = b"a\nb\r\nc\n\nd\r\r\n";
        for cut in 0..raw.len() {
            let mut v = CrlfView::new(true);
            v.update(&raw[..cut]);
            v.update(&raw[cut..]);
            assert_eq!(v.size(), crlf_size(raw));
            assert_eq!(v.sha256(), content_sha256(raw));
        }
        let crlf: Vec<u8> = b"a\r\nb\r\nc\r\n\r\nd\r\r\n".to_vec();
        assert_eq!(content_sha256(raw), content_sha256(&crlf));
        assert_eq!(crlf_size(raw), crlf.len() as u64);
    }

    #[test]
    fn folded_headers_and_missing_message_id() {
        let folded = b"Subject: a\r\n long subject\r\nFrom: x@y\r\n\r\nhi";
        let flat = b"Subject: a long subject\r\nFrom: x@y\r\n\r\nhi";
        assert_eq!(
            Fingerprint::from_fetch(header_block(folded), b"hi", 10),
            Fingerprint::from_fetch(header_block(flat), b"hi", 10)
        );
        assert_eq!(body_start(folded), b"hi");
        assert_eq!(message_id(folded), None);
        assert_eq!(message_id(A).as_deref(), Some("<same@x>"));
    }
}
