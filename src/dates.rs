//! INTERNALDATE, the received date IMAP keeps per message.

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};

/// Parses an INTERNALDATE (`07-Jul-2021 02:44:25 +0800`, day may be space-padded).
pub fn parse_internaldate(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_str(s.trim(), "%d-%b-%Y %H:%M:%S %z").ok()
}

/// INTERNALDATE in IMAP form, `07-Jul-2021 02:44:25 +0800`.
pub fn format_internaldate(dt: DateTime<FixedOffset>) -> String {
    dt.format("%d-%b-%Y %H:%M:%S %z").to_string()
}

/// The `Date:` header of a header block, when it parses.
pub fn header_date(headers: &[u8]) -> Option<DateTime<FixedOffset>> {
    let msg = mail_parser::MessageParser::default().parse_headers(headers)?;
    from_parsed(msg.date()?)
}

/// When the message arrived, from its headers alone: the newest (topmost) `Received:` field
/// whose date parses, else `Date:`. What a POP3 source, which has no INTERNALDATE, gives as
/// the received date.
pub fn received_date(headers: &[u8]) -> Option<DateTime<FixedOffset>> {
    let msg = mail_parser::MessageParser::default().parse_headers(headers)?;
    msg.received_all()
        .find_map(|r| r.date())
        .and_then(|d| from_parsed(&d))
        .or_else(|| from_parsed(msg.date()?))
}

fn from_parsed(d: &mail_parser::DateTime) -> Option<DateTime<FixedOffset>> {
    let secs = (i32::from(d.tz_hour) * 3600 + i32::from(d.tz_minute) * 60)
        * if d.tz_before_gmt { -1 } else { 1 };
    let zone = FixedOffset::east_opt(secs)?;
    let naive = NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))?
        .and_hms_opt(u32::from(d.hour), u32::from(d.minute), u32::from(d.second))?;
    zone.from_local_datetime(&naive).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_received_field_wins_then_date() {
        let h = b"Received: from b by c; Tue, 6 Jul 2021 20:00:00 +0800\r\n\
Received: from a by b; Tue, 6 Jul 2021 19:59:00 +0800\r\n\
Date: Mon, 5 Jul 2021 10:00:00 +0000\r\n\r\n";
        let d = received_date(h).unwrap();
        assert_eq!(format_internaldate(d), "06-Jul-2021 20:00:00 +0800");
        let h = b"Received: from a by b (no date)\r\nDate: Mon, 5 Jul 2021 10:00:00 -0500\r\n\r\n";
        assert_eq!(
            format_internaldate(received_date(h).unwrap()),
            "05-Jul-2021 10:00:00 -0500"
        );
        assert_eq!(received_date(b"Subject: none\r\n\r\n"), None);
    }

    #[test]
    fn padded_days_and_zones() {
        let a = parse_internaldate(" 7-Jul-2021 02:44:25 +0800").unwrap();
        let b = parse_internaldate("06-Jul-2021 18:44:25 +0000").unwrap();
        assert_eq!(a, b);
        assert!(parse_internaldate("7 Jul 2021").is_none());
    }
}
