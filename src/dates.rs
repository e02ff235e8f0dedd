//! INTERNALDATE, the received date IMAP keeps per message.

use chrono::{DateTime, FixedOffset};

/// Parses an INTERNALDATE (`07-Jul-2021 02:44:25 +0800`, day may be space-padded).
pub fn parse_internaldate(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_str(s.trim(), "%d-%b-%Y %H:%M:%S %z").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_days_and_zones() {
        let a = parse_internaldate(" 7-Jul-2021 02:44:25 +0800").unwrap();
        let b = parse_internaldate("06-Jul-2021 18:44:25 +0000").unwrap();
        assert_eq!(a, b);
        assert!(parse_internaldate("7 Jul 2021").is_none());
    }
}
