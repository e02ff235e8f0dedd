//! A verdict as people read it, and as a list of missing messages.

use std::fmt::Write as _;

use serde::Serialize;

use super::{FolderVerdict, Method, Problem, ProblemKind, Verdict, VerifyTotals};

/// One line of `--list-missing`: a missing message's identity.
#[derive(Debug, Serialize)]
struct MissingLine<'a> {
    folder: &'a str,
    uid: Option<u32>,
    message_id: Option<&'a str>,
    subject: Option<&'a str>,
    date: Option<&'a str>,
    size: u64,
    fingerprint: &'a str,
}

impl Verdict {
    /// Sums the folders and sets `ok`.
    pub fn add_up(&mut self) {
        let mut t = VerifyTotals::default();
        for f in &self.folders {
            t.folders += 1;
            t.source_messages += f.source_messages;
            t.filtered += f.filtered;
            t.target_messages += f.target_messages;
            t.present += f.present;
            t.missing += f.missing;
            t.extra += f.extra;
            t.flags_differ += f.flags_differ;
            t.date_differ += f.date_differ;
            t.duplicates += f.duplicates;
            t.errors += f.error.is_some() as u64;
        }
        self.ok = self.folders.iter().all(FolderVerdict::ok);
        self.totals = t;
    }

    /// 0 when everything is there as it should be, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.ok { 0 } else { 1 }
    }

    /// Every missing message's identity, one JSON object per line (`--list-missing`).
    pub fn missing_lines(&self) -> String {
        let mut out = String::new();
        for p in self
            .problems
            .iter()
            .filter(|p| p.kind == ProblemKind::Missing)
        {
            let line = MissingLine {
                folder: &p.folder,
                uid: p.uid,
                message_id: p.message_id.as_deref(),
                subject: p.subject.as_deref(),
                date: p.date.as_deref(),
                size: p.size,
                fingerprint: &p.fingerprint,
            };
            if let Ok(s) = serde_json::to_string(&line) {
                out.push_str(&s);
                out.push('\n');
            }
        }
        out
    }

    /// One line for a run's final report.
    pub fn summary(&self) -> String {
        let t = &self.totals;
        let how = match self.method {
            Method::Fingerprint => "fingerprints",
            Method::Sha256 => "SHA-256 of whole messages",
        };
        if self.ok {
            let how = crate::i18n::t(match self.method {
                Method::Fingerprint => "verify-by-fingerprint",
                Method::Sha256 => "verify-by-sha256",
            });
            crate::i18n::ta(
                "verify-ok",
                &[("how", how), ("count", t.source_messages.to_string())],
            )
        } else {
            let mut parts = Vec::new();
            for (n, what) in [
                (t.missing, "missing"),
                (t.extra, "extra"),
                (t.duplicates, "duplicates"),
                (t.flags_differ, "with different flags"),
                (t.date_differ, "with a different INTERNALDATE"),
                (t.errors, "folders unreadable"),
            ] {
                if n > 0 {
                    parts.push(format!("{n} {what}"));
                }
            }
            format!("NOT OK (compared by {how}): {}", parts.join(", "))
        }
    }

    /// The human table, then up to `examples` examples of each kind of problem.
    pub fn render(&self, examples: usize) -> String {
        let mut out = String::new();
        let w = crate::text::name_width(
            self.folders
                .iter()
                .flat_map(|f| [f.source.as_str(), f.target.as_str()]),
        );
        let (t, r) = (crate::i18n::t, crate::text::rpad);
        let _ = writeln!(
            out,
            "{}  {}  {} {} {} {} {} {} {} {}",
            pad(&t("col-source"), w),
            pad(&t("col-target"), w),
            r(&t("col-source"), 7),
            r(&t("col-target"), 7),
            r(&t("col-present"), 7),
            r(&t("col-missing"), 7),
            r(&t("col-extra"), 6),
            r(&t("col-dupes"), 6),
            r(&t("col-flags"), 6),
            r(&t("col-dates"), 6)
        );
        for f in &self.folders {
            let _ = writeln!(
                out,
                "{}  {}  {:>7} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6} {:>6}",
                pad(&f.source, w),
                pad(&f.target, w),
                f.source_messages,
                f.target_messages,
                f.present,
                f.missing,
                f.extra,
                f.duplicates,
                f.flags_differ,
                f.date_differ
            );
            if !f.target_exists {
                let _ = writeln!(
                    out,
                    "  the target has no folder {}: every message is missing",
                    f.target
                );
            }
            if let Some(e) = &f.error {
                let _ = writeln!(out, "  not verified: {e}");
            }
            if !f.flags_ignored.is_empty() {
                let _ = writeln!(
                    out,
                    "  not compared (the target folder cannot keep them): {}",
                    f.flags_ignored.join(" ")
                );
            }
            for warn in &f.warnings {
                let _ = writeln!(out, "  warning: {warn}");
            }
        }
        let totals = &self.totals;
        let args = [
            ("folders", totals.folders.to_string()),
            ("source", totals.source_messages.to_string()),
            ("filtered", totals.filtered.to_string()),
            ("target", totals.target_messages.to_string()),
            ("present", totals.present.to_string()),
            ("missing", totals.missing.to_string()),
            ("extra", totals.extra.to_string()),
            ("duplicates", totals.duplicates.to_string()),
            ("flags", totals.flags_differ.to_string()),
            ("dates", totals.date_differ.to_string()),
        ];
        let _ = writeln!(out, "{}", crate::i18n::ta("verify-total", &args));
        let _ = writeln!(
            out,
            "{}",
            match self.method {
                Method::Fingerprint =>
                    "compared by fingerprint (size + header hash); --deep compares whole messages by SHA-256",
                Method::Sha256 => "compared by SHA-256 of whole messages",
            }
        );
        for w in &self.warnings {
            let _ = writeln!(out, "{}: {w}", t("warning"));
        }
        for kind in ProblemKind::ALL {
            let all: Vec<&Problem> = self.problems.iter().filter(|p| p.kind == kind).collect();
            if all.is_empty() || examples == 0 {
                continue;
            }
            let shown = all.len().min(examples);
            let _ = writeln!(
                out,
                "\n{} ({}{}):",
                kind.heading(),
                all.len(),
                if shown < all.len() {
                    format!(", first {shown}")
                } else {
                    String::new()
                }
            );
            for p in all.iter().take(examples) {
                let _ = writeln!(out, "  {}", example(p));
            }
        }
        let _ = writeln!(out, "\n{}", self.summary());
        out
    }
}

fn example(p: &Problem) -> String {
    let uid = match (p.kind, p.uid, p.target_uid) {
        (ProblemKind::Extra | ProblemKind::Duplicate, _, Some(u)) => format!(" target uid {u}"),
        (_, Some(u), _) => format!(" uid {u}"),
        _ => String::new(),
    };
    let mut s = format!(
        "{}{uid}: {} | {} | {:?} | {}",
        p.folder,
        p.date.as_deref().unwrap_or("(no date)"),
        p.from.as_deref().unwrap_or("(no sender)"),
        p.subject.as_deref().unwrap_or(""),
        p.message_id.as_deref().unwrap_or("(no Message-ID)")
    );
    if let (Some(a), Some(b)) = (&p.source_flags, &p.target_flags) {
        let show = |v: &Vec<String>| {
            if v.is_empty() {
                "(none)".to_string()
            } else {
                v.join(" ")
            }
        };
        let _ = write!(s, " | source flags {}, target flags {}", show(a), show(b));
    }
    if p.kind == ProblemKind::Date {
        let _ = write!(
            s,
            " | source {}, target {}",
            p.source_internaldate.as_deref().unwrap_or("-"),
            p.target_internaldate.as_deref().unwrap_or("-")
        );
    }
    s
}

use crate::text::pad;
