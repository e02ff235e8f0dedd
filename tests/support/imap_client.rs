//! A minimal blocking IMAP client for the test harness, plus the small IMAP codecs it needs.
//!
//! Deliberately independent of the crate: tests use it to seed and inspect Dovecot, so a bug in
//! mailferry's own IMAP code cannot hide itself. Everything here is for plain-text connections on
//! loopback (Dovecot's plain port or a [`super::proxy::Proxy`]).
//!
//! - [`ImapClient`]: connect, LOGIN, tagged commands, APPEND with a synchronising literal.
//! - [`read_response`]: reads one whole server response, literals included.
//! - [`parse_values`]: tokenizes a response into [`Value`]s (atoms, strings, literals, lists).
//! - [`mutf7_encode`] / [`mutf7_decode`]: RFC 3501 modified UTF-7 mailbox names.

#![allow(dead_code)] // Each test binary uses a different part of the support code.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How long any single read or write may block before the test fails instead of hanging.
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// How a tagged command completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
}

/// Everything the server sent in answer to one command.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: Status,
    /// The tagged line after the status word, e.g. `[APPENDUID 7 3] Append completed.`.
    pub text: String,
    /// Untagged (`* ...`) responses, each with its literals inline and the final CRLF kept.
    pub untagged: Vec<Vec<u8>>,
}

impl Reply {
    /// Panics with the server's words unless the command succeeded.
    #[track_caller]
    pub fn expect_ok(self, what: &str) -> Reply {
        assert_eq!(
            self.status,
            Status::Ok,
            "{what}: server answered {:?} {}",
            self.status,
            self.text
        );
        self
    }

    /// The untagged responses parsed into values (see [`parse_values`]).
    pub fn untagged_values(&self) -> Vec<Vec<Value>> {
        self.untagged.iter().map(|r| parse_values(r)).collect()
    }

    /// The bodies of the `* N FETCH (...)` responses, as (sequence number, key/value pairs).
    pub fn fetches(&self) -> Vec<(u32, Vec<(String, Value)>)> {
        self.untagged_values()
            .into_iter()
            .filter_map(|v| parse_fetch(&v))
            .collect()
    }
}

/// One token of an IMAP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An atom, number or flag, e.g. `FETCH`, `42`, `\Seen`, `BODY[]`.
    Atom(String),
    /// A quoted string (unescaped) or a literal (byte-exact).
    Str(Vec<u8>),
    List(Vec<Value>),
    Nil,
}

impl Value {
    /// The text of an atom or string; `None` for lists and NIL.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::Atom(a) => Some(a.clone()),
            Value::Str(s) => Some(String::from_utf8_lossy(s).into_owned()),
            _ => None,
        }
    }

    pub fn as_u32(&self) -> Option<u32> {
        match self {
            Value::Atom(a) => a.parse().ok(),
            _ => None,
        }
    }
}

/// A logged-in (or not yet logged-in) blocking IMAP connection.
pub struct ImapClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_tag: u32,
    /// The server greeting, CRLF included.
    pub greeting: Vec<u8>,
}

impl std::fmt::Debug for ImapClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapClient")
            .field("peer", &self.writer.peer_addr().ok())
            .finish_non_exhaustive()
    }
}

impl ImapClient {
    /// Connects to 127.0.0.1:`port` and reads the greeting (which must be `* OK`).
    pub fn connect(port: u16) -> io::Result<ImapClient> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let writer = stream.try_clone()?;
        let mut reader = BufReader::new(stream);
        let greeting = read_response(&mut reader)?;
        if !greeting.starts_with(b"* OK") {
            return Err(io::Error::other(format!(
                "unexpected greeting: {}",
                String::from_utf8_lossy(&greeting).trim_end()
            )));
        }
        Ok(ImapClient {
            reader,
            writer,
            next_tag: 1,
            greeting,
        })
    }

    /// Connects and logs in; a rejected login is an error.
    pub fn login(port: u16, user: &str, password: &str) -> io::Result<ImapClient> {
        let mut client = ImapClient::connect(port)?;
        let reply = client.command(&format!("LOGIN {} {}", quote(user), quote(password)))?;
        if reply.status != Status::Ok {
            return Err(io::Error::other(format!(
                "LOGIN {user} failed: {:?} {}",
                reply.status, reply.text
            )));
        }
        Ok(client)
    }

    fn tag(&mut self) -> String {
        let tag = format!("T{}", self.next_tag);
        self.next_tag += 1;
        tag
    }

    /// Sends `TAG command\r\n` and collects responses up to the tagged completion.
    /// `command` must not contain literals; use [`ImapClient::command_bytes`] for that.
    pub fn command(&mut self, command: &str) -> io::Result<Reply> {
        let tag = self.tag();
        self.writer
            .write_all(format!("{tag} {command}\r\n").as_bytes())?;
        self.read_until_tagged(&tag)
    }

    /// Sends raw bytes (the tag and a space are prepended, nothing is appended) and collects
    /// the reply. For tests that need LITERAL+ (`{n+}`) or otherwise odd framing.
    pub fn command_bytes(&mut self, command: &[u8]) -> io::Result<Reply> {
        let tag = self.tag();
        let mut line = format!("{tag} ").into_bytes();
        line.extend_from_slice(command);
        self.writer.write_all(&line)?;
        self.read_until_tagged(&tag)
    }

    /// Sends a line (CRLF appended) without a tag and without waiting: `DONE`, a SASL response.
    pub fn send_line(&mut self, line: &str) -> io::Result<()> {
        self.writer.write_all(format!("{line}\r\n").as_bytes())
    }

    /// Reads one response (line plus literals) whatever it is.
    pub fn read_response(&mut self) -> io::Result<Vec<u8>> {
        read_response(&mut self.reader)
    }

    /// APPENDs `raw` to the mailbox (UTF-8 name, encoded here) with a synchronising literal.
    /// Returns the reply; the caller decides whether NO is expected. A NO instead of the `+`
    /// continuation (too large, say) is returned as the reply, the literal not sent.
    pub fn append(
        &mut self,
        mailbox: &str,
        raw: &[u8],
        flags: &[&str],
        internaldate: Option<&str>,
    ) -> io::Result<Reply> {
        let tag = self.tag();
        let mut line = format!("{tag} APPEND {}", quote(&mutf7_encode(mailbox)));
        if !flags.is_empty() {
            line.push_str(&format!(" ({})", flags.join(" ")));
        }
        if let Some(date) = internaldate {
            line.push_str(&format!(" {}", quote(date)));
        }
        line.push_str(&format!(" {{{}}}\r\n", raw.len()));
        self.writer.write_all(line.as_bytes())?;
        let mut untagged = Vec::new();
        loop {
            let response = read_response(&mut self.reader)?;
            if response.starts_with(b"+") {
                break;
            }
            if response.starts_with(b"* ") {
                untagged.push(response);
                continue;
            }
            // Tagged answer instead of the continuation: the literal must not be sent.
            let mut reply = tagged_reply(&tag, &response)?;
            reply.untagged = untagged;
            return Ok(reply);
        }
        self.writer.write_all(raw)?;
        self.writer.write_all(b"\r\n")?;
        let mut reply = self.read_until_tagged(&tag)?;
        untagged.append(&mut reply.untagged);
        reply.untagged = untagged;
        Ok(reply)
    }

    /// `LOGOUT`, ignoring errors (the server may already be gone).
    pub fn logout(mut self) {
        let _ = self.command("LOGOUT");
    }

    fn read_until_tagged(&mut self, tag: &str) -> io::Result<Reply> {
        let mut untagged = Vec::new();
        loop {
            let response = read_response(&mut self.reader)?;
            if response.starts_with(b"* ") {
                untagged.push(response);
            } else if response.starts_with(b"+") {
                return Err(io::Error::other(format!(
                    "unexpected continuation: {}",
                    String::from_utf8_lossy(&response).trim_end()
                )));
            } else {
                let mut reply = tagged_reply(tag, &response)?;
                reply.untagged = untagged;
                return Ok(reply);
            }
        }
    }
}

fn tagged_reply(tag: &str, response: &[u8]) -> io::Result<Reply> {
    let line = String::from_utf8_lossy(response);
    let line = line.trim_end();
    let mut words = line.splitn(3, ' ');
    let got_tag = words.next().unwrap_or_default();
    let status = words.next().unwrap_or_default();
    let text = words.next().unwrap_or_default().to_string();
    if got_tag != tag {
        return Err(io::Error::other(format!(
            "expected a response tagged {tag}, got: {line}"
        )));
    }
    let status = match status.to_ascii_uppercase().as_str() {
        "OK" => Status::Ok,
        "NO" => Status::No,
        "BAD" => Status::Bad,
        _ => return Err(io::Error::other(format!("bad tagged response: {line}"))),
    };
    Ok(Reply {
        status,
        text,
        untagged: Vec::new(),
    })
}

/// If `line` (CRLF included or not) ends with a literal announcement `{n}` or `{n+}`,
/// returns `(n, synchronising)`.
pub fn literal_at_end(line: &[u8]) -> Option<(usize, bool)> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let mut digits = &inner[open + 1..];
    let mut sync = true;
    if let Some(d) = digits.strip_suffix(b"+") {
        digits = d;
        sync = false;
    }
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((n, sync))
}

/// Reads one complete response: a line, and if it announces a literal, the literal bytes and
/// the rest of the response, repeatedly. Returns the bytes exactly as sent (CRLFs included).
pub fn read_response(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let start = out.len();
        let n = reader.read_until(b'\n', &mut out)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by server",
            ));
        }
        match literal_at_end(&out[start..]) {
            Some((len, _)) => {
                let at = out.len();
                out.resize(at + len, 0);
                reader.read_exact(&mut out[at..])?;
            }
            None => return Ok(out),
        }
    }
}

/// Tokenizes a response (as returned by [`read_response`]) into values. Tolerant: unexpected
/// bytes end the current token rather than fail, since this serves test assertions only.
pub fn parse_values(input: &[u8]) -> Vec<Value> {
    let mut pos = 0;
    parse_list_items(input, &mut pos, false)
}

fn parse_list_items(input: &[u8], pos: &mut usize, nested: bool) -> Vec<Value> {
    let mut items = Vec::new();
    while *pos < input.len() {
        match input[*pos] {
            b' ' | b'\r' | b'\n' => *pos += 1,
            b')' => {
                *pos += 1;
                if nested {
                    return items;
                }
            }
            b'(' => {
                *pos += 1;
                items.push(Value::List(parse_list_items(input, pos, true)));
            }
            b'"' => items.push(Value::Str(parse_quoted(input, pos))),
            b'{' => match parse_literal(input, pos) {
                Some(bytes) => items.push(Value::Str(bytes)),
                None => items.push(Value::Atom(parse_atom(input, pos))),
            },
            _ => {
                let atom = parse_atom(input, pos);
                if atom.eq_ignore_ascii_case("NIL") {
                    items.push(Value::Nil);
                } else {
                    items.push(Value::Atom(atom));
                }
            }
        }
    }
    items
}

fn parse_quoted(input: &[u8], pos: &mut usize) -> Vec<u8> {
    *pos += 1; // opening quote
    let mut out = Vec::new();
    while *pos < input.len() {
        let b = input[*pos];
        *pos += 1;
        match b {
            b'\\' if *pos < input.len() => {
                out.push(input[*pos]);
                *pos += 1;
            }
            b'"' => break,
            _ => out.push(b),
        }
    }
    out
}

fn parse_literal(input: &[u8], pos: &mut usize) -> Option<Vec<u8>> {
    let rest = &input[*pos..];
    let close = rest.iter().position(|&b| b == b'}')?;
    let digits = rest[1..close].strip_suffix(b"+").unwrap_or(&rest[1..close]);
    let len: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let after = &rest[close + 1..];
    let skip = if after.starts_with(b"\r\n") {
        2
    } else if after.starts_with(b"\n") {
        1
    } else {
        return None;
    };
    let start = *pos + close + 1 + skip;
    let end = start.checked_add(len)?;
    let bytes = input.get(start..end)?.to_vec();
    *pos = end;
    Some(bytes)
}

/// An atom runs to a space, parenthesis or line end; `[...]` inside it (as in `BODY[]` or
/// `BODY[HEADER.FIELDS (FROM)]`) is kept whole.
fn parse_atom(input: &[u8], pos: &mut usize) -> String {
    let start = *pos;
    let mut depth = 0usize;
    while *pos < input.len() {
        let b = input[*pos];
        match b {
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b' ' | b'(' | b')' if depth == 0 => break,
            b'\r' | b'\n' => break,
            _ => {}
        }
        *pos += 1;
    }
    if *pos == start {
        *pos += 1; // never loop on a stray byte
    }
    String::from_utf8_lossy(&input[start..*pos]).into_owned()
}

/// `* N FETCH (k v k v ...)` -> (N, [(K uppercased, v)]).
pub fn parse_fetch(values: &[Value]) -> Option<(u32, Vec<(String, Value)>)> {
    match values {
        [
            Value::Atom(star),
            Value::Atom(n),
            Value::Atom(fetch),
            Value::List(items),
            ..,
        ] if star == "*" && fetch.eq_ignore_ascii_case("FETCH") => {
            let seq = n.parse().ok()?;
            let pairs = items
                .chunks(2)
                .filter_map(|kv| match kv {
                    [Value::Atom(k), v] => Some((k.to_ascii_uppercase(), v.clone())),
                    _ => None,
                })
                .collect();
            Some((seq, pairs))
        }
        _ => None,
    }
}

/// Quotes a string for IMAP (`"` and `\` escaped). CR and LF cannot be quoted and are refused.
pub fn quote(s: &str) -> String {
    assert!(
        !s.contains(['\r', '\n']),
        "cannot quote a string with CR/LF: {s:?}"
    );
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Encodes a UTF-8 mailbox name in IMAP modified UTF-7 (RFC 3501 5.1.3).
pub fn mutf7_encode(name: &str) -> String {
    let mut out = String::new();
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            let chars = chunk.len() + 1; // 1 byte -> 2 chars, 2 -> 3, 3 -> 4; no padding
            for i in 0..chars {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out.push('-');
        pending.clear();
    };
    for c in name.chars() {
        if ('\u{20}'..='\u{7e}').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decodes an IMAP modified UTF-7 mailbox name; `None` if it is not valid modified UTF-7.
pub fn mutf7_decode(name: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = name;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let dash = after.find('-')?;
        let encoded = &after[..dash];
        rest = &after[dash + 1..];
        if encoded.is_empty() {
            out.push('&');
            continue;
        }
        let mut bits = 0u32;
        let mut nbits = 0;
        let mut bytes = Vec::new();
        for c in encoded.bytes() {
            let v = B64.iter().position(|&x| x == c)? as u32;
            bits = (bits << 6) | v;
            nbits += 6;
            if nbits >= 8 {
                nbits -= 8;
                bytes.push((bits >> nbits) as u8);
                bits &= (1 << nbits) - 1;
            }
        }
        if bits != 0 || bytes.len() % 2 != 0 {
            return None;
        }
        let units: Vec<u16> = bytes
            .chunks(2)
            .map(|p| u16::from_be_bytes([p[0], p[1]]))
            .collect();
        let decoded = String::from_utf16(&units).ok()?;
        // Printable ASCII must not be encoded (RFC 3501), so reject it to keep one spelling.
        if decoded.chars().any(|c| ('\u{20}'..='\u{7e}').contains(&c)) {
            return None;
        }
        out.push_str(&decoded);
    }
    out.push_str(rest);
    Some(out)
}
