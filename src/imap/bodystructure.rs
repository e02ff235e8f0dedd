//! What the attachment filters need to know about a message, from the server's BODYSTRUCTURE or,
//! when that does not parse, from the message itself with mail-parser. Both paths use the same
//! notion of "attachment" so a filter decides alike either way.

use async_imap::imap_proto::{BodyStructure, ContentEncoding};

/// The attachments of one message: decoded sizes in bytes (estimated from the encoded size
/// when they come from BODYSTRUCTURE).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub attachments: Vec<u64>,
}

impl Summary {
    pub fn largest(&self) -> u64 {
        self.attachments.iter().copied().max().unwrap_or(0)
    }

    pub fn from_proto(bs: &BodyStructure<'_>) -> Summary {
        let mut out = Summary::default();
        walk(bs, &mut out);
        out
    }

    /// Decides from the raw message; never fails (a message that does not parse has no
    /// attachments we can see).
    pub fn from_message(raw: &[u8]) -> Summary {
        let mut out = Summary::default();
        if let Some(msg) = mail_parser::MessageParser::default().parse(raw) {
            for part in msg.attachments() {
                out.attachments.push(part.contents().len() as u64);
            }
        }
        out
    }
}

fn decoded_estimate(octets: u32, enc: &ContentEncoding<'_>) -> u64 {
    match enc {
        // base64 lines are 76 characters + CRLF for 57 decoded bytes.
        ContentEncoding::Base64 => octets as u64 * 57 / 78,
        _ => octets as u64,
    }
}

fn has_name(params: &Option<Vec<(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)>>) -> bool {
    params.as_ref().is_some_and(|ps| {
        ps.iter().any(|(k, _)| {
            let k = k.to_ascii_lowercase();
            k == "name" || k == "filename" || k.starts_with("name*") || k.starts_with("filename*")
        })
    })
}

fn walk(bs: &BodyStructure<'_>, out: &mut Summary) {
    match bs {
        BodyStructure::Multipart { bodies, .. } => {
            for b in bodies {
                walk(b, out);
            }
        }
        BodyStructure::Basic { common, other, .. }
        | BodyStructure::Text { common, other, .. }
        | BodyStructure::Message { common, other, .. } => {
            let disposition = common
                .disposition
                .as_ref()
                .map(|d| d.ty.to_ascii_lowercase());
            let named = has_name(&common.ty.params)
                || common
                    .disposition
                    .as_ref()
                    .is_some_and(|d| has_name(&d.params));
            let is_text = common.ty.ty.eq_ignore_ascii_case("text");
            let attachment = match disposition.as_deref() {
                Some("attachment") => true,
                Some("inline") => named && !is_text,
                _ => named || (!is_text && !common.ty.ty.eq_ignore_ascii_case("multipart")),
            };
            if attachment {
                out.attachments
                    .push(decoded_estimate(other.octets, &other.transfer_encoding));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_parser_path_finds_attachments() {
        let raw = b"From: a@b\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\nContent-Disposition: attachment; filename=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAAAAAA\r\n--b--\r\n";
        let s = Summary::from_message(raw);
        assert_eq!(s.attachments, vec![6]);
        let plain = b"From: a@b\r\nSubject: x\r\n\r\nhello\r\n";
        assert!(Summary::from_message(plain).attachments.is_empty());
        assert!(Summary::from_message(b"").attachments.is_empty());
    }
}
