//! The end-of-run summary, for people (a table) and machines (one JSON object).

use std::fmt::Write as _;

use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct FolderReport {
    pub source: String,
    pub target: String,
    pub selected: u64,
    pub copied: u64,
    pub already_present: u64,
    pub filtered: u64,
    pub failed: u64,
    pub bytes: u64,
    pub seconds: f64,
    /// Flags and keywords the target folder cannot store (its PERMANENTFLAGS lack them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags_not_kept: Vec<String>,
    /// Copies already on the target whose flags were brought up to date with the source.
    pub flags_updated: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub folder: String,
    pub uid: u32,
    pub message_id: Option<String>,
    /// The server's words.
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub copied: u64,
    pub already_present: u64,
    pub filtered: u64,
    pub failed: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub folders: Vec<FolderReport>,
    pub failures: Vec<Failure>,
    /// Target folders created by this run (or that a dry run would create).
    pub created_folders: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub dry_run: bool,
    /// The run stopped early (Ctrl-C); rerun the same command to resume.
    pub cancelled: bool,
    /// `run --verify`: the verdict of checking the target against the source afterwards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<crate::verify::Verdict>,
}

impl Report {
    pub fn add_up(&mut self) {
        self.copied = self.folders.iter().map(|f| f.copied).sum();
        self.already_present = self.folders.iter().map(|f| f.already_present).sum();
        self.filtered = self.folders.iter().map(|f| f.filtered).sum();
        self.failed = self.folders.iter().map(|f| f.failed).sum();
        self.bytes = self.folders.iter().map(|f| f.bytes).sum();
    }

    /// 0 when everything selected is on the target, 1 when some messages failed or the run
    /// was stopped early.
    pub fn exit_code(&self) -> i32 {
        if self.failed > 0 || self.cancelled {
            1
        } else {
            0
        }
    }

    /// The human table.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let verb = if self.dry_run { "to copy" } else { "copied" };
        let w = name_width(
            self.folders
                .iter()
                .flat_map(|f| [f.source.as_str(), f.target.as_str()]),
        );
        let _ = writeln!(
            out,
            "{}  {}  {:>8} {:>8} {:>8} {:>8} {:>6} {:>10}",
            pad("source", w),
            pad("target", w),
            "selected",
            verb,
            "present",
            "filtered",
            "failed",
            "bytes"
        );
        for f in &self.folders {
            let _ = writeln!(
                out,
                "{}  {}  {:>8} {:>8} {:>8} {:>8} {:>6} {:>10}",
                pad(&f.source, w),
                pad(&f.target, w),
                f.selected,
                f.copied,
                f.already_present,
                f.filtered,
                f.failed,
                human_bytes(f.bytes)
            );
            if f.flags_updated > 0 {
                let _ = writeln!(
                    out,
                    "  {} flags of {} messages already in {}",
                    if self.dry_run {
                        "would update"
                    } else {
                        "updated"
                    },
                    f.flags_updated,
                    f.target
                );
            }
            if !f.flags_not_kept.is_empty() {
                let _ = writeln!(
                    out,
                    "  note: the target cannot keep {} in {}",
                    f.flags_not_kept.join(" "),
                    f.target
                );
            }
        }
        let _ = writeln!(
            out,
            "total: {} {verb}, {} already present, {} filtered out, {} failed, {} in {:.1}s",
            self.copied,
            self.already_present,
            self.filtered,
            self.failed,
            human_bytes(self.bytes),
            self.seconds
        );
        if !self.created_folders.is_empty() {
            let _ = writeln!(
                out,
                "{} folders: {}",
                if self.dry_run {
                    "would create"
                } else {
                    "created"
                },
                self.created_folders.join(", ")
            );
        }
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        if !self.failures.is_empty() {
            let _ = writeln!(out, "failed messages (a rerun retries exactly these):");
            for f in &self.failures {
                let _ = writeln!(
                    out,
                    "  {} uid {} {}: {}",
                    f.folder,
                    f.uid,
                    f.message_id.as_deref().unwrap_or("(no Message-ID)"),
                    f.reason
                );
            }
        }
        if let Some(v) = &self.verify {
            let _ = writeln!(out, "verify: {}", v.summary());
        }
        if self.cancelled {
            let _ = writeln!(
                out,
                "stopped early; progress is saved. Run the same command again to finish."
            );
        }
        out
    }
}

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

/// The display width of the widest name, within sensible bounds.
pub fn name_width<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    use unicode_width::UnicodeWidthStr;
    names.map(|n| n.width()).max().unwrap_or(6).clamp(6, 40)
}

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
    fn exit_code_reflects_failures() {
        let mut r = Report::default();
        assert_eq!(r.exit_code(), 0);
        r.folders.push(FolderReport {
            failed: 1,
            ..Default::default()
        });
        r.add_up();
        assert_eq!(r.exit_code(), 1);
        assert!(r.render().contains("1 failed"));
    }

    #[test]
    fn bytes_read_well() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
    }
}
