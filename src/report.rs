//! The end-of-run summary, for people (a table) and machines (one JSON object).

use std::fmt::Write as _;

use serde::Serialize;

use crate::text::{human_bytes, name_width, pad};

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
    /// Parts of the source files that are no message and could not be carried, each naming
    /// the file and byte offset.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_carried: Vec<String>,
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
    /// A backup with `retention`: messages removed from the archive because the source
    /// deleted them longer ago than the rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pruned: Option<u64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pruned_before: String,
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
        if self.failed > 0 || self.cancelled || !self.not_carried.is_empty() {
            1
        } else {
            0
        }
    }

    /// The human table.
    pub fn render(&self) -> String {
        let mut out = String::new();
        use crate::i18n::{t, ta};
        let r = crate::text::rpad;
        let verb = t(if self.dry_run {
            "col-to-copy"
        } else {
            "col-copied"
        });
        let w = name_width(
            self.folders
                .iter()
                .flat_map(|f| [f.source.as_str(), f.target.as_str()]),
        );
        let _ = writeln!(
            out,
            "{}  {}  {} {} {} {} {} {}",
            pad(&t("col-source"), w),
            pad(&t("col-target"), w),
            r(&t("col-selected"), 8),
            r(&verb, 8),
            r(&t("col-present"), 8),
            r(&t("col-filtered"), 8),
            r(&t("col-failed"), 6),
            r(&t("col-bytes"), 10)
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
                let id = if self.dry_run {
                    "run-flags-would-update"
                } else {
                    "run-flags-updated"
                };
                let args = [
                    ("count", f.flags_updated.to_string()),
                    ("folder", f.target.clone()),
                ];
                let _ = writeln!(out, "  {}", ta(id, &args));
            }
            if !f.flags_not_kept.is_empty() {
                let args = [
                    ("flags", f.flags_not_kept.join(" ")),
                    ("folder", f.target.clone()),
                ];
                let _ = writeln!(out, "  {}: {}", t("note"), ta("run-flags-not-kept", &args));
            }
        }
        let args = [
            ("copied", self.copied.to_string()),
            ("verb", verb.clone()),
            ("present", self.already_present.to_string()),
            ("filtered", self.filtered.to_string()),
            ("failed", self.failed.to_string()),
            ("bytes", human_bytes(self.bytes)),
            ("secs", format!("{:.1}", self.seconds)),
        ];
        let _ = writeln!(out, "{}", ta("run-total", &args));
        if !self.created_folders.is_empty() {
            let id = if self.dry_run {
                "run-would-create-folders"
            } else {
                "run-created-folders"
            };
            let folders = self.created_folders.join(", ");
            let _ = writeln!(out, "{}", ta(id, &[("folders", folders)]));
        }
        for w in &self.warnings {
            let _ = writeln!(out, "{}: {w}", t("warning"));
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
        if !self.not_carried.is_empty() {
            let _ = writeln!(out, "not carried (nothing in these bytes could be copied):");
            for p in &self.not_carried {
                let _ = writeln!(out, "  {p}");
            }
        }
        if let Some(v) = &self.verify {
            let _ = writeln!(out, "verify: {}", v.summary());
        }
        if let Some(n) = self.pruned {
            let args = [
                ("count", n.to_string()),
                ("cutoff", self.pruned_before.clone()),
            ];
            let _ = writeln!(out, "{}", ta("run-pruned", &args));
        }
        if self.cancelled {
            let _ = writeln!(out, "{}", t("run-stopped"));
        }
        out
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
}
