//! `archive prune`: drops from a backup the messages the source deleted long enough ago.
//!
//! Backups are add-only until the user asks: a message leaves the archive only when every
//! backup since some date found it deleted on the source, and that date is older than the
//! rule. A prune is one archive run: kept messages of each affected data file are written to
//! new files, `moved` and `drop` records follow, and the commit makes it all true at once;
//! only then are the old files deleted. Killed before the commit, the next writer removes the
//! new files; killed after, it removes the old ones. Nothing is ever deleted on a server.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::super::common::{Digest, date_header, invalid, parse_internaldate};
use super::super::manifest::{Access, FolderState, MBOX_DIR, Record, Replay};
use super::super::store::ArchiveStore;
use super::super::{ArchiveError, MessageStore};
use super::ArchiveWriter;
use crate::profile::ArchiveFormat;

/// One message a prune removes (or, with `dry_run`, would remove).
#[derive(Debug, Clone, Serialize)]
pub struct PrunedMessage {
    pub folder: String,
    pub id: u64,
    pub size: u64,
    /// When a backup first found it deleted on the source.
    pub gone_since: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    pub dry_run: bool,
    /// The oldest "deleted since" date that is removed.
    pub cutoff: String,
    pub removed: Vec<PrunedMessage>,
    pub bytes_removed: u64,
    /// Deleted on the source, but more recently than the rule: kept for now.
    pub deleted_kept: u64,
    /// Data files rewritten without the removed messages (then deleted).
    pub files_rewritten: Vec<String>,
    /// The archive run that holds the prune (none for a dry run or when nothing expired).
    pub run: Option<u32>,
}

impl ArchiveWriter {
    /// Removes the messages deleted on the source before `cutoff`. An encrypted archive
    /// needs the identity to rewrite its volumes (they are encrypted again to the same
    /// recipients).
    pub fn prune(
        &mut self,
        identity: Option<crate::crypt::Identity>,
        cutoff: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<PruneReport, ArchiveError> {
        self.usable()?;
        if self.run.is_some() {
            return Err(invalid(&self.dir, "a run is open: commit it first"));
        }
        // Names as readers see them (the writer of a sealed archive knows only keys).
        let full = Replay::load(&self.dir, Access::Read(identity.as_ref()))?;
        let mut report = PruneReport {
            dry_run,
            cutoff: cutoff.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            removed: Vec::new(),
            bytes_removed: 0,
            deleted_kept: 0,
            files_rewritten: Vec::new(),
            run: None,
        };
        let mut affected: BTreeSet<String> = BTreeSet::new();
        for f in &full.folders {
            for (id, e) in f.messages.iter().enumerate() {
                let Some(since) = e.gone_since.as_deref().filter(|_| !e.dropped) else {
                    continue;
                };
                let expired = DateTime::parse_from_rfc3339(since)
                    .map(|t| t.with_timezone(&Utc) <= cutoff)
                    .unwrap_or(false);
                if !expired {
                    report.deleted_kept += 1;
                    continue;
                }
                affected.insert(e.loc.file.clone());
                report.bytes_removed += e.meta.size;
                report.removed.push(PrunedMessage {
                    folder: f.name.clone(),
                    id: id as u64,
                    size: e.meta.size,
                    gone_since: since.to_string(),
                });
            }
        }
        report.files_rewritten = affected.iter().cloned().collect();
        if dry_run || report.removed.is_empty() {
            return Ok(report);
        }
        let store = ArchiveStore::open_with(&self.dir, identity)?;
        let run = self.begin_run()?;
        report.run = Some(run);
        let result = self.rewrite(run, &full, &store, &affected, &report.removed);
        result.map_err(|e| self.fail(e))?;
        self.commit_removing(&affected)?;
        for file in &affected {
            let path = self.dir.join(file);
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!("{}: {e}; the next backup removes it", path.display());
            }
        }
        Ok(report)
    }

    /// Copies every kept message of the affected files to new files and records where each
    /// went, then records the removals.
    fn rewrite(
        &mut self,
        run: u32,
        full: &Replay,
        store: &ArchiveStore,
        affected: &BTreeSet<String>,
        removed: &[PrunedMessage],
    ) -> Result<(), ArchiveError> {
        let dropping: BTreeMap<(&str, u64), ()> = removed
            .iter()
            .map(|m| ((m.folder.as_str(), m.id), ()))
            .collect();
        for f in &full.folders {
            let touches = f
                .messages
                .iter()
                .any(|e| !e.dropped && affected.contains(&e.loc.file));
            if !touches {
                continue;
            }
            let fi = self.folder_slot(run, f)?;
            for (id, e) in f.messages.iter().enumerate() {
                let id = id as u64;
                if e.dropped
                    || !affected.contains(&e.loc.file)
                    || dropping.contains_key(&(f.name.as_str(), id))
                {
                    continue;
                }
                let raw = store.read(&f.name, id)?;
                let digest = Digest::of(&raw);
                let date = e
                    .meta
                    .internaldate
                    .as_deref()
                    .and_then(parse_internaldate)
                    .or_else(|| date_header(digest.headers()));
                let loc = match self.format {
                    ArchiveFormat::Mbox => self.write_mbox(fi, date, &raw)?,
                    ArchiveFormat::Tar => self.write_tar(run, fi, id, date, &raw)?,
                };
                self.record(&Record::Moved {
                    run,
                    folder: f.name.clone(),
                    id,
                    loc,
                })?;
            }
        }
        for m in removed {
            let sha256 = full
                .folder(&m.folder)
                .and_then(|f| f.messages.get(m.id as usize))
                .map(|e| e.meta.sha256.clone())
                .unwrap_or_default();
            self.record(&Record::Drop {
                run,
                folder: m.folder.clone(),
                id: m.id,
                sha256,
            })?;
        }
        Ok(())
    }

    /// The writer's index of a folder the prune rewrites. An mbox folder moves to a new file
    /// (named after this run), recorded before anything is written to it.
    fn folder_slot(&mut self, run: u32, f: &FolderState) -> Result<usize, ArchiveError> {
        let slot = self.slot(&f.name);
        let Some(&fi) = self.state.index.get(&slot) else {
            return Err(invalid(
                &self.dir,
                format!("folder {:?} is not in the archive's index", f.name),
            ));
        };
        self.resolve_path(fi, &f.name);
        if self.format == ArchiveFormat::Mbox {
            let stem = f.path.strip_suffix(".mbox.zst").unwrap_or(&f.path);
            let stem = stem.strip_prefix(&format!("{MBOX_DIR}/")).unwrap_or(stem);
            let path = format!("{MBOX_DIR}/{stem}~p{run}.mbox.zst");
            self.taken.insert(self.path_id(&path));
            self.record(&Record::Folder {
                run,
                folder: f.name.clone(),
                role: f.role,
                path: path.clone(),
            })?;
            self.sync_manifest()?;
            self.state.folders[fi].path = path;
        }
        Ok(fi)
    }

    /// Commits the prune's run with each rewritten file's end set to zero: removed.
    fn commit_removing(&mut self, files: &BTreeSet<String>) -> Result<(), ArchiveError> {
        if let Some(p) = self.run.as_mut() {
            for f in files {
                p.removed.insert(f.clone());
            }
        }
        self.commit_run().map(|_| ())
    }
}

/// The moment `keep` before `now`: messages deleted on the source before it are removed.
pub fn cutoff(now: DateTime<Utc>, keep: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(keep)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::super::tests::meta;
    use super::*;
    use std::path::Path;

    fn mail(i: usize) -> Vec<u8> {
        format!("Subject: m{i}\r\n\r\n{}\r\n", "x".repeat(2000 + i)).into_bytes()
    }

    /// INBOX m0 m1 m2 and Work m3; a second run finds INBOX m1 deleted on the source.
    fn archive(dir: &Path, format: ArchiveFormat) {
        let mut w = ArchiveWriter::open(dir, format, 3, None).unwrap();
        w.begin_run().unwrap();
        for i in 0..3 {
            w.add(meta("INBOX"), &mail(i)).unwrap();
        }
        w.add(meta("Work"), &mail(3)).unwrap();
        w.commit_run().unwrap();
        w.begin_run().unwrap();
        w.mark_seen("INBOX", vec![1], vec![]).unwrap();
        w.commit_run().unwrap();
    }

    fn names(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let store = ArchiveStore::open(dir).unwrap();
        let mut out = Vec::new();
        for f in store.folders().unwrap() {
            for m in f.messages {
                out.push((f.name.clone(), store.read(&f.name, m.id).unwrap()));
            }
        }
        out
    }

    #[test]
    fn only_messages_deleted_before_the_cutoff_go() {
        for format in [ArchiveFormat::Mbox, ArchiveFormat::Tar] {
            let dir = tempfile::tempdir().unwrap();
            archive(dir.path(), format);
            let mut w = ArchiveWriter::open(dir.path(), format, 3, None).unwrap();
            let young = w
                .prune(
                    None,
                    cutoff(Utc::now(), std::time::Duration::from_secs(86400)),
                    false,
                )
                .unwrap();
            assert!(young.removed.is_empty());
            assert_eq!(young.deleted_kept, 1);
            let later = Utc::now() + chrono::Duration::seconds(5);
            let dry = w.prune(None, later, true).unwrap();
            assert_eq!(dry.removed.len(), 1);
            assert_eq!(names(dir.path()).len(), 4, "a dry run changes nothing");
            let done = w.prune(None, later, false).unwrap();
            assert_eq!(
                (done.removed[0].folder.as_str(), done.removed[0].id),
                ("INBOX", 1)
            );
            for f in &done.files_rewritten {
                assert!(!dir.path().join(f).exists(), "{f} is deleted");
            }
            drop(w);
            let left = names(dir.path());
            let want = vec![
                ("INBOX".to_string(), mail(0)),
                ("INBOX".to_string(), mail(2)),
                ("Work".to_string(), mail(3)),
            ];
            assert_eq!(left, want, "{format:?}");
            assert!(crate::archive::check(dir.path(), None).unwrap().ok);
            // The archive goes on: a later backup adds after the removed message's id.
            let mut w = ArchiveWriter::open(dir.path(), format, 3, None).unwrap();
            assert_eq!(w.known("INBOX").len(), 2);
            w.begin_run().unwrap();
            assert_eq!(w.add(meta("INBOX"), &mail(9)).unwrap(), 3);
            w.commit_run().unwrap();
            drop(w);
            assert_eq!(names(dir.path()).len(), 4);
        }
    }

    #[test]
    fn a_prune_stopped_before_or_after_its_commit_leaves_a_whole_archive() {
        for format in [ArchiveFormat::Mbox, ArchiveFormat::Tar] {
            let dir = tempfile::tempdir().unwrap();
            archive(dir.path(), format);
            let before = names(dir.path());
            // Killed before the commit: new files written, records not committed.
            let mut w = ArchiveWriter::open(dir.path(), format, 3, None).unwrap();
            let full = Replay::load(dir.path(), Access::Read(None)).unwrap();
            let store = ArchiveStore::open(dir.path()).unwrap();
            let files: BTreeSet<String> = full.folders[0]
                .messages
                .iter()
                .map(|e| e.loc.file.clone())
                .collect();
            let removed = vec![PrunedMessage {
                folder: "INBOX".into(),
                id: 1,
                size: 0,
                gone_since: String::new(),
            }];
            let run = w.begin_run().unwrap();
            w.rewrite(run, &full, &store, &files, &removed).unwrap();
            w.flush_manifest().unwrap();
            drop(w);
            assert_eq!(
                names(dir.path()),
                before,
                "{format:?}: readers see the last commit"
            );
            // The next writer undoes it; then a prune that completes, whose old files
            // survive (killed before deleting them), is finished by the next writer.
            let mut w = ArchiveWriter::open(dir.path(), format, 3, None).unwrap();
            let kept: Vec<(String, Vec<u8>)> = files
                .iter()
                .map(|f| (f.clone(), std::fs::read(dir.path().join(f)).unwrap()))
                .collect();
            w.prune(None, Utc::now() + chrono::Duration::seconds(5), false)
                .unwrap();
            drop(w);
            for (f, bytes) in &kept {
                std::fs::write(dir.path().join(f), bytes).unwrap();
            }
            assert_eq!(names(dir.path()).len(), 3);
            drop(ArchiveWriter::open(dir.path(), format, 3, None).unwrap());
            for (f, _) in &kept {
                assert!(!dir.path().join(f).exists(), "{f}");
            }
            assert_eq!(names(dir.path()).len(), 3);
        }
    }
}
