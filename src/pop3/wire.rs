//! POP3's wire format (RFC 1939, RFC 2449), as pure functions: status lines, multi-line
//! responses with their dot-stuffing, and the CAPA, UIDL and LIST answers.

use std::collections::BTreeSet;

/// The longest status or listing line accepted. RFC 1939 allows 512 octets; servers that add
/// long texts still fit, a server that never ends its line does not.
pub const MAX_LINE: usize = 64 * 1024;

/// A status line: `+OK text` or `-ERR text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Ok(String),
    Err(String),
}

/// Reads a status line (with or without its line end). `None` when it is neither.
pub fn status(line: &[u8]) -> Option<Status> {
    let line = trim_end(line);
    let text = |rest: &[u8]| String::from_utf8_lossy(rest).trim().to_string();
    if let Some(rest) = strip_prefix_ci(line, b"+OK") {
        Some(Status::Ok(text(rest)))
    } else {
        strip_prefix_ci(line, b"-ERR").map(|rest| Status::Err(text(rest)))
    }
}

/// One line of a multi-line response, with its line end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// Content, dot-unstuffed: a line the server began with an extra `.` loses it.
    Data(&'a [u8]),
    /// The lone `.` that ends the response.
    End,
}

/// Decodes one line of a multi-line response as received (line end included).
pub fn line(raw: &[u8]) -> Line<'_> {
    if trim_end(raw) == b"." && raw.len() <= 3 {
        return Line::End;
    }
    match raw.strip_prefix(b".") {
        Some(rest) => Line::Data(rest),
        None => Line::Data(raw),
    }
}

/// The capabilities a CAPA answer lists: each line's first word, upper-cased, and `SASL`
/// mechanisms as `SASL PLAIN`.
pub fn capabilities(lines: &[Vec<u8>]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for l in lines {
        let text = String::from_utf8_lossy(trim_end(l)).to_ascii_uppercase();
        let mut words = text.split_whitespace();
        let Some(first) = words.next() else { continue };
        if first == "SASL" {
            for mech in words {
                out.insert(format!("SASL {mech}"));
            }
        }
        out.insert(first.to_string());
    }
    out
}

/// One `n value` line of a UIDL or LIST answer.
pub fn numbered(line: &[u8]) -> Option<(u32, &str)> {
    let text = std::str::from_utf8(trim_end(line)).ok()?;
    let mut parts = text.split_ascii_whitespace();
    let n = parts.next()?.parse().ok().filter(|&n| n > 0)?;
    let value = parts.next()?;
    Some((n, value))
}

/// A UIDL value is 1 to 70 printable characters (RFC 1939 section 7).
pub fn valid_uidl(uidl: &str) -> bool {
    (1..=70).contains(&uidl.len()) && uidl.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// STAT's `+OK count size`.
pub fn stat(text: &str) -> Option<(u32, u64)> {
    let mut parts = text.split_ascii_whitespace();
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// A message the server served with a line end it did not store: RFC 1939 makes the server
/// end every message with CRLF before the final `.`, so a message whose last line had none
/// arrives two bytes longer than LIST announced. Those two bytes are dropped again, and only
/// then; any other difference is left as served.
pub fn strip_added_line_end(body: &mut Vec<u8>, listed: u64) {
    if body.len() as u64 == listed + 2 && body.ends_with(b"\r\n") {
        body.truncate(body.len() - 2);
    }
}

fn trim_end(line: &[u8]) -> &[u8] {
    let mut l = line;
    while let Some((last, rest)) = l.split_last() {
        if *last == b'\n' || *last == b'\r' {
            l = rest;
        } else {
            break;
        }
    }
    l
}

fn strip_prefix_ci<'a>(line: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    if line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix) {
        let rest = &line[prefix.len()..];
        // `+OKAY` is not `+OK`.
        match rest.first() {
            None | Some(b' ') | Some(b'\t') => Some(rest),
            _ => None,
        }
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a whole multi-line body as a client reads it, line by line.
    fn decode(wire: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let mut rest = wire;
        while !rest.is_empty() {
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .map(|p| p + 1)
                .unwrap_or(rest.len());
            match line(&rest[..end]) {
                Line::End => return (out, true),
                Line::Data(d) => out.extend_from_slice(d),
            }
            rest = &rest[end..];
        }
        (out, false)
    }

    #[test]
    fn status_lines() {
        assert_eq!(status(b"+OK 2 320\r\n"), Some(Status::Ok("2 320".into())));
        assert_eq!(status(b"+OK\r\n"), Some(Status::Ok(String::new())));
        assert_eq!(
            status(b"-ERR [AUTH] Authentication failed.\r\n"),
            Some(Status::Err("[AUTH] Authentication failed.".into()))
        );
        assert_eq!(status(b"+OKAY\r\n"), None);
        assert_eq!(status(b"* OK IMAP\r\n"), None);
        assert_eq!(status(b""), None);
    }

    #[test]
    fn dot_stuffing_is_undone_exactly() {
        // A lone dot in the message, lines beginning with one and two dots, 8-bit bytes.
        let wire = b"Subject: x\r\n\r\n..\r\n...two\r\n.one\r\n\xe4\xb8\xad\r\n.\r\n";
        let (body, ended) = decode(wire);
        assert!(ended);
        assert_eq!(
            body,
            b"Subject: x\r\n\r\n.\r\n..two\r\none\r\n\xe4\xb8\xad\r\n"
        );
    }

    #[test]
    fn a_response_cut_short_is_not_complete() {
        let (body, ended) = decode(b"Subject: x\r\n\r\nbody\r\n");
        assert!(!ended);
        assert_eq!(body, b"Subject: x\r\n\r\nbody\r\n");
        // Bare LF ends are kept as served.
        let (body, ended) = decode(b"a\nb\n.\n");
        assert!(ended);
        assert_eq!(body, b"a\nb\n");
    }

    #[test]
    fn capabilities_and_listings() {
        let caps = capabilities(&[
            b"TOP\r\n".to_vec(),
            b"uidl\r\n".to_vec(),
            b"SASL PLAIN LOGIN\r\n".to_vec(),
            b"PIPELINING\r\n".to_vec(),
            b"\r\n".to_vec(),
        ]);
        for c in [
            "TOP",
            "UIDL",
            "SASL",
            "SASL PLAIN",
            "SASL LOGIN",
            "PIPELINING",
        ] {
            assert!(caps.contains(c), "{c}");
        }
        assert_eq!(numbered(b"1 000000017a1b\r\n"), Some((1, "000000017a1b")));
        assert_eq!(numbered(b"12 4567\r\n"), Some((12, "4567")));
        assert_eq!(numbered(b"0 1\r\n"), None);
        assert_eq!(numbered(b"x 1\r\n"), None);
        assert_eq!(numbered(b"3\r\n"), None);
        assert!(valid_uidl("whqtswO00WBw418f9t5JxYwZ"));
        assert!(!valid_uidl(""));
        assert!(!valid_uidl(&"a".repeat(71)));
        assert!(!valid_uidl("a\u{7f}"));
        assert_eq!(stat("2 320"), Some((2, 320)));
        assert_eq!(stat("x"), None);
    }

    #[test]
    fn only_the_line_end_the_server_added_is_dropped() {
        let mut b = b"Subject: x\r\n\r\nno end\r\n".to_vec();
        strip_added_line_end(&mut b, 20);
        assert_eq!(b, b"Subject: x\r\n\r\nno end");
        let mut b = b"Subject: x\r\n\r\nend\r\n".to_vec();
        strip_added_line_end(&mut b, 19);
        assert_eq!(b, b"Subject: x\r\n\r\nend\r\n");
    }
}
