//! One file per message: a folder tree of `.eml` files, or a Maildir / Maildir++.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::common::{
    Digest, RawDigest, corrupt, date_header, flags_from_headers, format_internaldate, invalid,
    io_error, named_folder, normalize_flags, sha256_hex, system_time,
};
use super::{ArchiveError, MessageMeta, MessageStore, StoredFolder, StoredMessage};
use crate::imap::mutf7;
use crate::providers::Role;

const MAX_DEPTH: usize = 32;

#[derive(Debug)]
struct Folder {
    name: String,
    role: Option<Role>,
    /// The Maildir folder directory (for finding a message renamed since the scan).
    dir: Option<PathBuf>,
    messages: Vec<(PathBuf, MessageMeta)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Eml,
    Maildir,
}

/// `.eml` trees and Maildirs as a [`MessageStore`]. Every file is read once at open (for its
/// SHA-256 and fingerprint); [`FileStore::problems`] lists files that are not messages (empty,
/// unreadable), which are left out. Nothing is ever written.
#[derive(Debug)]
pub struct FileStore {
    kind: Kind,
    root: PathBuf,
    folders: Vec<Folder>,
    index: HashMap<String, usize>,
    problems: Vec<ArchiveError>,
}

impl FileStore {
    /// A folder tree of `.eml` files: the folder is the directory path below `root` (files in
    /// `root` itself are INBOX); INTERNALDATE from the Date header, else the file's mtime;
    /// flags from `Status`/`X-Mozilla-Status` headers when present.
    pub fn open_eml_dir(root: &Path) -> Result<FileStore, ArchiveError> {
        let mut store = FileStore::new(Kind::Eml, root)?;
        let mut files = Vec::new();
        walk_eml(root, root, 0, &mut files, &mut store.problems);
        if files.is_empty() && store.problems.is_empty() {
            return Err(invalid(root, "no .eml files here"));
        }
        for (rel_dir, path) in files {
            let folder = if rel_dir.is_empty() {
                "INBOX".to_string()
            } else {
                rel_dir
            };
            store.add_file(&folder, None, &path, Vec::new());
        }
        Ok(store)
    }

    /// A Maildir (`cur/`, `new/`) with Maildir++ subfolders (`.Sent`, `.Work.Clients` ->
    /// `Work/Clients`, names in modified UTF-7 decoded) or nested Maildirs (`Work/Clients/cur`).
    /// Flags from the `:2,` info suffix (D draft, F flagged, P forwarded, R answered, S seen,
    /// T deleted; lowercase letters are Dovecot keywords from `dovecot-keywords`); INTERNALDATE
    /// from the file's mtime, else the Date header.
    pub fn open_maildir(root: &Path) -> Result<FileStore, ArchiveError> {
        let mut store = FileStore::new(Kind::Maildir, root)?;
        let mut dirs: Vec<(String, PathBuf)> = Vec::new();
        if is_maildir(root) {
            dirs.push(("INBOX".to_string(), root.to_path_buf()));
        }
        let mut entries: Vec<_> = fs::read_dir(root)
            .map_err(|e| io_error(root, e))?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in &entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if let Some(plus) = name.strip_prefix('.') {
                if !plus.is_empty() && plus != "." && is_maildir(&path) {
                    let folder = plus
                        .split('.')
                        .map(|c| mutf7::decode(c).unwrap_or_else(|_| c.to_string()))
                        .collect::<Vec<_>>()
                        .join("/");
                    dirs.push((folder, path));
                }
            } else if !["cur", "new", "tmp"].contains(&name.as_str()) {
                walk_nested(&path, &name, 1, &mut dirs);
            }
        }
        if dirs.is_empty() {
            return Err(invalid(
                root,
                "not a Maildir: no cur/ or new/ directory here or in .Folder subdirectories",
            ));
        }
        for (folder, dir) in dirs {
            let keywords = dovecot_keywords(&dir);
            let mut files: Vec<(String, PathBuf)> = Vec::new();
            for sub in ["cur", "new"] {
                let Ok(rd) = fs::read_dir(dir.join(sub)) else {
                    continue;
                };
                for e in rd.filter_map(Result::ok) {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.starts_with('.') || !e.file_type().is_ok_and(|t| t.is_file()) {
                        continue;
                    }
                    files.push((name, e.path()));
                }
            }
            files.sort();
            // Listed even when empty, so the folder is recreated on restore.
            store.folder_index(&folder, Some(dir.clone()));
            for (name, path) in files {
                let flags = maildir_flags(&name, &keywords);
                store.add_file(&folder, Some(&dir), &path, flags);
            }
        }
        Ok(store)
    }

    /// Files that were left out, each naming the file (offset 0: the whole file).
    pub fn problems(&self) -> Vec<ArchiveError> {
        self.problems.clone()
    }

    fn new(kind: Kind, root: &Path) -> Result<FileStore, ArchiveError> {
        let meta = fs::metadata(root).map_err(|e| io_error(root, e))?;
        if !meta.is_dir() {
            return Err(invalid(root, "not a directory"));
        }
        Ok(FileStore {
            kind,
            root: root.to_path_buf(),
            folders: Vec::new(),
            index: HashMap::new(),
            problems: Vec::new(),
        })
    }

    fn folder_index(&mut self, name: &str, dir: Option<PathBuf>) -> usize {
        let (name, role) = named_folder(name);
        if let Some(&i) = self.index.get(&name) {
            return i;
        }
        self.index.insert(name.clone(), self.folders.len());
        self.folders.push(Folder {
            name,
            role,
            dir,
            messages: Vec::new(),
        });
        self.folders.len() - 1
    }

    fn add_file(&mut self, folder: &str, dir: Option<&Path>, path: &Path, flags: Vec<String>) {
        // Read in pieces: a large file is never whole in memory while the folder is listed.
        let digest = match digest_file(path) {
            Ok(d) => d,
            Err(e) => {
                self.problems.push(io_error(path, e));
                return;
            }
        };
        if digest.size == 0 {
            self.problems.push(corrupt(
                path,
                0,
                "empty file (0 bytes): not a message, skipped",
            ));
            return;
        }
        let headers = digest.headers();
        let mtime = fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(system_time);
        let date = match self.kind {
            Kind::Eml => date_header(headers).or(mtime),
            Kind::Maildir => mtime.or_else(|| date_header(headers)),
        };
        let mut flags = flags;
        if self.kind == Kind::Eml {
            flags.extend(flags_from_headers(headers));
        }
        let i = self.folder_index(folder, dir.map(Path::to_path_buf));
        let f = &mut self.folders[i];
        let meta = MessageMeta {
            folder: f.name.clone(),
            role: f.role,
            flags: normalize_flags(flags),
            internaldate: date.map(format_internaldate),
            size: digest.size,
            sha256: digest.sha256,
            fingerprint: digest.fingerprint,
            message_id: digest.message_id,
            source_uidvalidity: None,
            source_uid: None,
            labels: Vec::new(),
        };
        f.messages.push((path.to_path_buf(), meta));
    }
}

/// The [`Digest`] of a file, read 64 KiB at a time.
fn digest_file(path: &Path) -> std::io::Result<Digest> {
    use std::io::Read;
    let mut f = fs::File::open(path)?;
    let mut d = RawDigest::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(d.finish());
        }
        d.update(&buf[..n]);
    }
}

fn walk_eml(
    root: &Path,
    dir: &Path,
    depth: usize,
    files: &mut Vec<(String, PathBuf)>,
    problems: &mut Vec<ArchiveError>,
) {
    if depth > MAX_DEPTH {
        problems.push(invalid(dir, "folders nested too deep, skipped"));
        return;
    }
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(io_error(dir, e));
            return;
        }
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(ft) = e.file_type() else { continue };
        // Symlinks are not followed: no loops, nothing read from outside the tree.
        if name.starts_with('.') || ft.is_symlink() {
            continue;
        }
        if ft.is_dir() {
            walk_eml(root, &path, depth + 1, files, problems);
        } else if name.to_ascii_lowercase().ends_with(".eml") {
            let rel = path
                .parent()
                .and_then(|p| p.strip_prefix(root).ok())
                .map(|p| {
                    p.components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .unwrap_or_default();
            files.push((rel, path));
        }
    }
}

fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() || dir.join("new").is_dir()
}

/// Dovecot's `fs` layout: plain directories holding maildirs, named by their path.
fn walk_nested(dir: &Path, name: &str, depth: usize, out: &mut Vec<(String, PathBuf)>) {
    if depth > MAX_DEPTH || fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
        return;
    }
    if is_maildir(dir) {
        out.push((name.to_string(), dir.to_path_buf()));
    }
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut subs: Vec<_> = rd
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .collect();
    subs.sort_by_key(|e| e.file_name());
    for e in subs {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with('.') || ["cur", "new", "tmp"].contains(&n.as_str()) {
            continue;
        }
        walk_nested(&e.path(), &format!("{name}/{n}"), depth + 1, out);
    }
}

/// Dovecot's keyword letters: line `N name` gives letter `a + N`.
fn dovecot_keywords(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Ok(text) = fs::read_to_string(dir.join("dovecot-keywords")) {
        for line in text.lines() {
            if let Some((n, name)) = line.split_once(' ')
                && let Ok(n) = n.parse::<usize>()
                && n < 26
            {
                if out.len() <= n {
                    out.resize(n + 1, String::new());
                }
                out[n] = name.trim().to_string();
            }
        }
    }
    out
}

/// Flags of a Maildir file name `unique:2,FRS` (also `!2,` / `;2,` where `:` is not allowed).
fn maildir_flags(name: &str, keywords: &[String]) -> Vec<String> {
    let Some(info) = [":2,", "!2,", ";2,"]
        .iter()
        .filter_map(|sep| name.rfind(sep).map(|i| &name[i + 3..]))
        .next()
    else {
        return Vec::new();
    };
    let mut flags = Vec::new();
    for c in info.chars() {
        let f = match c {
            'D' => "\\Draft".to_string(),
            'F' => "\\Flagged".to_string(),
            'P' => "$Forwarded".to_string(),
            'R' => "\\Answered".to_string(),
            'S' => "\\Seen".to_string(),
            'T' => "\\Deleted".to_string(),
            'a'..='z' => match keywords.get((c as u8 - b'a') as usize) {
                Some(k) if !k.is_empty() => k.clone(),
                _ => continue,
            },
            _ => continue,
        };
        flags.push(f);
    }
    flags
}

/// The unique part of a Maildir name (before the info suffix).
fn maildir_unique(name: &str) -> &str {
    [":2,", "!2,", ";2,"]
        .iter()
        .filter_map(|sep| name.rfind(sep).map(|i| &name[..i]))
        .next()
        .unwrap_or(name)
}

impl MessageStore for FileStore {
    fn folders(&self) -> Result<Vec<StoredFolder>, ArchiveError> {
        Ok(self
            .folders
            .iter()
            .map(|f| StoredFolder {
                name: f.name.clone(),
                role: f.role,
                messages: f
                    .messages
                    .iter()
                    .enumerate()
                    .map(|(id, (_, meta))| StoredMessage {
                        id: id as u64,
                        meta: meta.clone(),
                    })
                    .collect(),
            })
            .collect())
    }

    fn read(&self, folder: &str, id: u64) -> Result<Vec<u8>, ArchiveError> {
        let f = self
            .index
            .get(folder)
            .map(|&i| &self.folders[i])
            .ok_or_else(|| invalid(&self.root, format!("no folder {folder:?}")))?;
        let (path, meta) = f
            .messages
            .get(id as usize)
            .ok_or_else(|| invalid(&self.root, format!("no message {id} in folder {folder:?}")))?;
        let raw = match fs::read(path) {
            Ok(r) => r,
            // A mail client may have renamed it since (Maildir flag change): same unique name.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.kind == Kind::Maildir => {
                let moved = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .and_then(|n| find_renamed(f.dir.as_deref()?, maildir_unique(&n)));
                match moved {
                    Some(p) => fs::read(&p).map_err(|e| io_error(&p, e))?,
                    None => return Err(io_error(path, e)),
                }
            }
            Err(e) => return Err(io_error(path, e)),
        };
        if raw.len() as u64 != meta.size || sha256_hex(&raw) != meta.sha256 {
            return Err(corrupt(
                path,
                0,
                "file changed since it was scanned (size or SHA-256 differs)",
            ));
        }
        Ok(raw)
    }
}

fn find_renamed(dir: &Path, unique: &str) -> Option<PathBuf> {
    for sub in ["cur", "new"] {
        for e in fs::read_dir(dir.join(sub)).ok()?.filter_map(Result::ok) {
            let n = e.file_name().to_string_lossy().into_owned();
            if maildir_unique(&n) == unique {
                return Some(e.path());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maildir_info_flags() {
        let kw = vec!["$Forwarded".to_string(), "Work".to_string()];
        assert_eq!(
            maildir_flags("1700000000.M1P2.host,S=120:2,FRST", &kw),
            ["\\Flagged", "\\Answered", "\\Seen", "\\Deleted"]
        );
        assert_eq!(maildir_flags("1.M1.h:2,Db", &kw), ["\\Draft", "Work"]);
        assert!(maildir_flags("1.M1.h", &kw).is_empty());
        assert_eq!(maildir_unique("1.M1.h:2,S"), "1.M1.h");
    }
}
