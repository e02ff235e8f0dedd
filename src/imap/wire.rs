//! What may go into an IMAP command line. Flags, dates and names come from servers, archives
//! and files; none of it may end a command early and start another (`\r\nA1 DELETE INBOX`).
//! Every command is checked here before it is sent, whoever built it.

use crate::dates::parse_internaldate;

/// The system flags a client may set (RFC 3501), in their canonical spelling.
const SYSTEM: &[&str] = &["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];

/// A flag as it may be sent: a system flag (canonical spelling) or a keyword that is an IMAP
/// atom. `None` for anything else (`\Recent`, unknown system flags, spaces, brackets, CR/LF).
pub fn flag(f: &str) -> Option<String> {
    if let Some(sys) = SYSTEM.iter().find(|s| s.eq_ignore_ascii_case(f)) {
        return Some((*sys).to_string());
    }
    let atom = !f.is_empty()
        && !f.starts_with('\\')
        && f.bytes()
            .all(|b| (0x21..0x7f).contains(&b) && !b"(){%*\"\\]".contains(&b));
    atom.then(|| f.to_string())
}

/// The flags that may be sent, and those left out (for a warning).
pub fn flags<S: AsRef<str>>(given: &[S]) -> (Vec<String>, Vec<String>) {
    let mut ok = Vec::new();
    let mut dropped = Vec::new();
    for f in given {
        let f = f.as_ref();
        if f.eq_ignore_ascii_case("\\Recent") {
            continue;
        }
        match flag(f) {
            Some(good) if !ok.contains(&good) => ok.push(good),
            Some(_) => {}
            None => dropped.push(f.to_string()),
        }
    }
    (ok, dropped)
}

/// An INTERNALDATE as it may be sent: re-formatted from its parsed value, never the text as
/// given. `None` when it does not parse.
pub fn internaldate(text: &str) -> Option<String> {
    parse_internaldate(text).map(|d| d.format("%d-%b-%Y %H:%M:%S %z").to_string())
}

/// Why a command line cannot be sent.
pub fn unsafe_line(line: &str) -> Option<&'static str> {
    if line.contains(['\r', '\n']) {
        Some("a line break")
    } else if line.contains('\0') {
        Some("a NUL byte")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_atoms_or_system_flags() {
        assert_eq!(flag("\\SEEN").as_deref(), Some("\\Seen"));
        assert_eq!(flag("$Forwarded").as_deref(), Some("$Forwarded"));
        assert_eq!(flag("工作"), None);
        assert_eq!(flag("\\Recent"), None);
        assert_eq!(flag("\\Important"), None);
        assert_eq!(flag("x\r\nA1 DELETE INBOX"), None);
        assert_eq!(flag("a b"), None);
        assert_eq!(flag("a)"), None);
        let (ok, dropped) = flags(&["\\Seen", "\\seen", "\\Recent", "bad\"one", "Work"]);
        assert_eq!(ok, vec!["\\Seen", "Work"]);
        assert_eq!(dropped, vec!["bad\"one"]);
    }

    #[test]
    fn dates_are_rewritten_from_their_value() {
        assert_eq!(
            internaldate(" 7-Jul-2021 02:44:25 +0800").as_deref(),
            Some("07-Jul-2021 02:44:25 +0800")
        );
        assert_eq!(
            internaldate("07-Jul-2021 02:44:25 +0800\"\r\nA1 DELETE INBOX"),
            None
        );
    }

    #[test]
    fn line_breaks_and_nul_cannot_be_sent() {
        assert!(unsafe_line("SELECT \"INBOX\"").is_none());
        assert!(unsafe_line("CREATE \"a\r\nA1 DELETE INBOX\"").is_some());
        assert!(unsafe_line("CREATE \"a\0\"").is_some());
    }
}
