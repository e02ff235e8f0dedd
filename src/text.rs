//! Text for people: display widths (CJK characters take two columns) and byte counts.

/// Pads to a display width (CJK characters take two columns), cutting long names with `…`.
pub fn pad(s: &str, w: usize) -> String {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    let n = s.width();
    if n > w {
        let mut out = String::new();
        let mut used = 0;
        for c in s.chars() {
            let cw = c.width().unwrap_or(0);
            if used + cw + 1 > w {
                break;
            }
            used += cw;
            out.push(c);
        }
        out.push('…');
        used += 1;
        out.push_str(&" ".repeat(w.saturating_sub(used)));
        out
    } else {
        format!("{s}{}", " ".repeat(w - n))
    }
}

/// Right-aligns to a display width (a column heading in Chinese is two columns a character).
pub fn rpad(s: &str, w: usize) -> String {
    use unicode_width::UnicodeWidthStr;
    format!("{}{s}", " ".repeat(w.saturating_sub(s.width())))
}

/// The display width of the widest name, within sensible bounds.
pub fn name_width<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    use unicode_width::UnicodeWidthStr;
    names.map(|n| n.width()).max().unwrap_or(6).clamp(6, 40)
}

/// Bytes in SI units, as people read sizes (`1.5 MB`).
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_well() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
    }

    #[test]
    fn cjk_names_take_two_columns() {
        assert_eq!(pad("已发送", 8), "已发送  ");
        assert_eq!(name_width(["INBOX", "其他文件夹/工作"].into_iter()), 15);
    }
}
