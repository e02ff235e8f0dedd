//! `list` and `check`: what an archive holds, and whether every byte of it is still right.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::ArchiveError;
use super::common::sha256_hex;
use super::manifest::Entry;
use super::mbox::unquote;
use super::store::{ArchiveStore, check_entry_path, check_tar_header};
use crate::profile::ArchiveFormat;
use crate::providers::Role;

/// What an archive holds.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub path: PathBuf,
    pub format: ArchiveFormat,
    pub version: u32,
    pub created: String,
    pub runs: Vec<RunListing>,
    pub folders: Vec<FolderListing>,
    pub messages: u64,
    /// Raw bytes of all messages.
    pub bytes: u64,
    /// Committed bytes of all data files on disk.
    pub stored_bytes: u64,
    /// A run that started but never committed (its leftovers are removed by the next backup).
    pub interrupted_run: Option<u32>,
    /// Damage found while listing, each naming file and offset.
    pub problems: Vec<String>,
    /// An encrypted archive's recipients (public keys); empty when it is not encrypted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunListing {
    pub run: u32,
    pub started: String,
    pub finished: String,
    pub added: u64,
    pub bytes: u64,
    pub stored_bytes: u64,
    pub flag_updates: u64,
    pub files: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FolderListing {
    pub name: String,
    pub role: Option<Role>,
    /// mbox: the folder's data file; tar: its directory inside the volumes.
    pub path: String,
    pub messages: u64,
    pub bytes: u64,
}

/// Lists an archive's runs and folders from its manifest (data files are not read).
pub fn list(dir: &Path, identity: Option<crate::crypt::Identity>) -> Result<Listing, ArchiveError> {
    let store = ArchiveStore::open_with(dir, identity)?;
    let r = store.replay();
    let folders: Vec<FolderListing> = r
        .folders
        .iter()
        .map(|f| FolderListing {
            name: f.name.clone(),
            role: f.role,
            path: f.path.clone(),
            messages: f.messages.iter().filter(|e| !e.dropped).count() as u64,
            bytes: f
                .messages
                .iter()
                .filter(|e| !e.dropped)
                .fold(0u64, |a, e| a.saturating_add(e.meta.size)),
        })
        .collect();
    Ok(Listing {
        path: dir.to_path_buf(),
        format: r.format,
        version: r.version,
        created: r.created.clone(),
        runs: r
            .runs
            .iter()
            .map(|run| RunListing {
                run: run.run,
                started: run.started.clone(),
                finished: run.finished.clone(),
                added: run.added,
                bytes: run.bytes,
                stored_bytes: run.stored,
                flag_updates: run.flag_updates,
                files: run.files.clone(),
            })
            .collect(),
        messages: folders.iter().map(|f| f.messages).sum(),
        bytes: folders.iter().fold(0u64, |a, f| a.saturating_add(f.bytes)),
        stored_bytes: r.ends.values().fold(0u64, |a, e| a.saturating_add(e.len)),
        folders,
        interrupted_run: r.pending.as_ref().map(|p| p.run),
        recipients: r
            .sealing
            .as_ref()
            .map(|s| s.recipients.clone())
            .unwrap_or_default(),
        problems: store.problems().iter().map(ToString::to_string).collect(),
    })
}

/// Result of [`check`].
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub path: PathBuf,
    /// No damage and no problems.
    pub ok: bool,
    /// Messages whose bytes matched their SHA-256.
    pub messages_ok: u64,
    pub messages_total: u64,
    /// Raw bytes verified.
    pub bytes_ok: u64,
    /// Damaged byte ranges of data files, in file and offset order.
    pub damaged: Vec<Damage>,
    /// Other damage (manifest lines, tar entries), each naming file and offset.
    pub problems: Vec<String>,
    /// Harmless findings, e.g. leftovers of an interrupted run.
    pub notes: Vec<String>,
}

/// A damaged zstd frame: compressed bytes `start..end` of `file`.
#[derive(Debug, Clone, Serialize)]
pub struct Damage {
    /// Relative to the archive directory.
    pub file: String,
    pub start: u64,
    pub end: u64,
    pub detail: String,
    /// Messages stored in the range that could not be verified.
    pub messages: Vec<MessageRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageRef {
    pub folder: String,
    pub id: u64,
}

struct Item<'a> {
    folder: &'a str,
    folder_path: &'a str,
    id: u64,
    entry: &'a Entry,
}

/// Re-reads every message of the archive and verifies it against its SHA-256 (and, for tar,
/// every volume's entries: regular files inside their folder's directory). Never panics on
/// damage: each damaged frame is reported with its byte range and the messages in it.
pub fn check(
    dir: &Path,
    identity: Option<crate::crypt::Identity>,
) -> Result<CheckReport, ArchiveError> {
    let store = ArchiveStore::open_with(dir, identity)?;
    let r = store.replay();
    let mut report = CheckReport {
        path: dir.to_path_buf(),
        ok: false,
        messages_ok: 0,
        messages_total: 0,
        bytes_ok: 0,
        damaged: Vec::new(),
        problems: store.problems().iter().map(ToString::to_string).collect(),
        notes: Vec::new(),
    };
    // file -> frame -> messages in it
    let mut by_file: BTreeMap<&str, BTreeMap<u64, Vec<Item>>> = BTreeMap::new();
    for f in &r.folders {
        for (id, e) in f.messages.iter().enumerate() {
            if e.dropped {
                continue;
            }
            report.messages_total += 1;
            by_file
                .entry(e.loc.file.as_str())
                .or_default()
                .entry(e.loc.frame)
                .or_default()
                .push(Item {
                    folder: &f.name,
                    folder_path: &f.path,
                    id: id as u64,
                    entry: e,
                });
        }
    }
    for (file, end) in &r.ends {
        let path = dir.join(file);
        if let Ok(m) = std::fs::metadata(&path)
            && m.len() > end.len
        {
            report.notes.push(format!(
                "{}: {} bytes after the last committed run (an interrupted run); the next backup removes them",
                path.display(),
                m.len() - end.len
            ));
        }
    }
    for (file, frames) in &mut by_file {
        let limit = r.ends.get(*file).map(|e| e.len).unwrap_or(0);
        let path = dir.join(file);
        let starts: Vec<u64> = frames.keys().copied().collect();
        for (i, (frame, items)) in frames.iter_mut().enumerate() {
            items.sort_by_key(|it| it.entry.loc.offset);
            let end = starts.get(i + 1).copied().unwrap_or(limit);
            match verify_frame(store.identity(), &path, *frame, end, r.format, items) {
                Ok((n, bytes)) => {
                    report.messages_ok += n;
                    report.bytes_ok += bytes;
                }
                Err(failure) => {
                    report.messages_ok += failure.verified;
                    report.bytes_ok += failure.bytes;
                    report.damaged.push(Damage {
                        file: file.to_string(),
                        start: *frame,
                        end,
                        detail: failure.detail,
                        messages: items[failure.verified as usize..]
                            .iter()
                            .map(|it| MessageRef {
                                folder: it.folder.to_string(),
                                id: it.id,
                            })
                            .collect(),
                    });
                }
            }
        }
        if r.format == ArchiveFormat::Tar {
            let expected: HashMap<u64, (&str, u64)> = frames
                .values()
                .flatten()
                .map(|it| (it.entry.loc.offset, (it.folder_path, it.entry.loc.length)))
                .collect();
            check_volume(
                store.identity(),
                &path,
                limit,
                &expected,
                &mut report.problems,
            );
        }
    }
    report.ok = report.damaged.is_empty() && report.problems.is_empty();
    Ok(report)
}

struct FrameFailure {
    verified: u64,
    bytes: u64,
    detail: String,
}

/// Decodes one frame and verifies its messages; `Ok((messages, bytes))` when all match.
fn verify_frame(
    identity: Option<&crate::crypt::Identity>,
    path: &Path,
    frame: u64,
    end: u64,
    format: ArchiveFormat,
    items: &[Item],
) -> Result<(u64, u64), FrameFailure> {
    let mut verified = 0u64;
    let mut bytes = 0u64;
    let fail = |verified: u64, bytes: u64, detail: String| FrameFailure {
        verified,
        bytes,
        detail,
    };
    let file = super::common::open_data(path, frame, identity)
        .map_err(|e| fail(0, 0, format!("cannot open: {e}")))?;
    let reader = BufReader::new(file.take(end.saturating_sub(frame)));
    let mut dec = zstd::stream::read::Decoder::with_buffer(reader)
        .map_err(|e| fail(0, 0, format!("cannot start decoding: {e}")))?
        .single_frame();
    let Some(first) = items.first() else {
        return Ok((0, 0));
    };
    let mut pos = first.entry.loc.frame_pos;
    for it in items {
        let loc = &it.entry.loc;
        let header_len = if format == ArchiveFormat::Tar { 512 } else { 0 };
        let start = loc.offset.saturating_sub(header_len);
        if start < pos {
            return Err(fail(
                verified,
                bytes,
                format!(
                    "message {} of {:?}: manifest offsets overlap",
                    it.id, it.folder
                ),
            ));
        }
        let at = |e: io::Error| {
            format!(
                "zstd frame cannot be decoded at decompressed offset {start} (message {} of {:?}): {e}",
                it.id, it.folder
            )
        };
        let skipped = io::copy(&mut (&mut dec).take(start - pos), &mut io::sink())
            .map_err(|e| fail(verified, bytes, at(e)))?;
        let mut data = Vec::new();
        (&mut dec)
            .take(header_len + loc.length)
            .read_to_end(&mut data)
            .map_err(|e| fail(verified, bytes, at(e)))?;
        if skipped < start - pos || (data.len() as u64) < header_len + loc.length {
            return Err(fail(
                verified,
                bytes,
                at(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "frame ends early",
                )),
            ));
        }
        pos = loc.offset + loc.length;
        let raw =
            match format {
                ArchiveFormat::Mbox => unquote(&data),
                ArchiveFormat::Tar => {
                    check_tar_header(&data[..512], loc.length, it.folder_path).map_err(|d| {
                    fail(verified, bytes, format!(
                        "tar entry of message {} of {:?} at decompressed offset {start}: {d}",
                        it.id, it.folder
                    ))
                })?;
                    data.split_off(512)
                }
            };
        if raw.len() as u64 != it.entry.meta.size || sha256_hex(&raw) != it.entry.meta.sha256 {
            return Err(fail(
                verified,
                bytes,
                format!(
                    "message {} of {:?} does not match its SHA-256",
                    it.id, it.folder
                ),
            ));
        }
        verified += 1;
        bytes += it.entry.meta.size;
    }
    // The rest of the frame, so its checksum is verified too.
    io::copy(&mut dec, &mut io::sink()).map_err(|e| {
        fail(
            verified,
            bytes,
            format!("end of the zstd frame cannot be decoded: {e}"),
        )
    })?;
    Ok((verified, bytes))
}

/// Walks a tar volume's entries: each must be a regular file inside its folder's directory,
/// at the place the manifest says.
fn check_volume(
    identity: Option<&crate::crypt::Identity>,
    path: &Path,
    limit: u64,
    expected: &HashMap<u64, (&str, u64)>,
    problems: &mut Vec<String>,
) {
    let file = match super::common::open_data(path, 0, identity) {
        Ok(f) => f,
        Err(e) => {
            problems.push(super::common::io_error(path, e).to_string());
            return;
        }
    };
    let dec = match zstd::stream::read::Decoder::new(file.take(limit)) {
        Ok(d) => d,
        Err(e) => {
            problems.push(super::common::io_error(path, e).to_string());
            return;
        }
    };
    let mut archive = tar::Archive::new(dec);
    let entries = match archive.entries() {
        Ok(e) => e,
        Err(e) => {
            problems.push(format!(
                "{}: not a readable tar volume: {e}",
                path.display()
            ));
            return;
        }
    };
    let mut last = 0u64;
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                problems.push(format!(
                    "{} after decompressed offset {last}: tar structure unreadable: {e}",
                    path.display()
                ));
                return;
            }
        };
        let at = entry.raw_header_position();
        last = at;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        let verdict = match expected.get(&entry.raw_file_position()) {
            _ if !kind.is_file() => Err(format!(
                "entry {name:?} is not a regular file (type {kind:?}); symlinks and hard links are refused"
            )),
            Some((folder_path, length)) => {
                check_entry_path(&name, folder_path, false).and_then(|()| {
                    if entry.size() == *length {
                        Ok(())
                    } else {
                        Err(format!(
                            "entry {name:?} holds {} bytes, the manifest says {length}",
                            entry.size()
                        ))
                    }
                })
            }
            None => check_entry_path(&name, "", true)
                .and(Err(format!("entry {name:?} is not in the manifest"))),
        };
        if let Err(d) = verdict {
            problems.push(
                ArchiveError::Corrupt {
                    path: path.to_path_buf(),
                    offset: at,
                    detail: format!("{d} (decompressed offset)"),
                }
                .to_string(),
            );
        }
    }
}
