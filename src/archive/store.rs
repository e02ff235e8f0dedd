//! [`ArchiveStore`]: one of our archives as a restore source.

use std::path::{Path, PathBuf};

use super::common::{CursorPool, corrupt, invalid, io_error, sha256_hex};
use super::manifest::{Access, Entry, FolderState, Replay};
use super::mbox::unquote_owned;
use super::{ArchiveError, MessageStore, StoredFolder, StoredMessage};
use crate::profile::ArchiveFormat;

/// A backup archive opened for reading: committed runs only, messages with their latest flags.
///
/// Opening reads only the manifest; each message's bytes are checked against its SHA-256
/// when read. Damage found at open (a manifest line that does not parse, a data file shorter
/// than committed) is listed by [`ArchiveStore::problems`]; the messages it does not affect
/// stay readable. Nothing is ever written.
pub struct ArchiveStore {
    dir: PathBuf,
    replay: Replay,
    problems: Vec<ArchiveError>,
    pool: CursorPool,
    identity: Option<crate::crypt::Identity>,
}

impl std::fmt::Debug for ArchiveStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveStore")
            .field("dir", &self.dir)
            .field("format", &self.replay.format)
            .field("folders", &self.replay.folders.len())
            .field("problems", &self.problems)
            .finish()
    }
}

impl ArchiveStore {
    pub fn open(dir: &Path) -> Result<ArchiveStore, ArchiveError> {
        Self::open_with(dir, None)
    }

    /// Opens an archive that may be encrypted: an encrypted one needs the identity.
    pub fn open_with(
        dir: &Path,
        identity: Option<crate::crypt::Identity>,
    ) -> Result<ArchiveStore, ArchiveError> {
        let replay = Replay::load(dir, Access::Read(identity.as_ref()))?;
        let mut problems = replay.problems.clone();
        for (file, end) in &replay.ends {
            let path = dir.join(file);
            match std::fs::metadata(&path) {
                Ok(m) if m.len() < end.len => problems.push(corrupt(
                    &path,
                    m.len(),
                    format!(
                        "file is shorter than the manifest records ({} < {} bytes): messages stored past this offset cannot be read",
                        m.len(),
                        end.len
                    ),
                )),
                Ok(_) => {}
                Err(e) if end.len > 0 => problems.push(io_error(&path, e)),
                Err(_) => {}
            }
        }
        Ok(ArchiveStore {
            dir: dir.to_path_buf(),
            replay,
            problems,
            pool: CursorPool::default(),
            identity,
        })
    }

    /// Damage found when opening, each naming its file and offset.
    pub fn problems(&self) -> Vec<ArchiveError> {
        self.problems.clone()
    }

    pub fn format(&self) -> ArchiveFormat {
        self.replay.format
    }

    pub(crate) fn identity(&self) -> Option<&crate::crypt::Identity> {
        self.identity.as_ref()
    }

    pub(crate) fn replay(&self) -> &Replay {
        &self.replay
    }

    /// The raw bytes of one entry, verified against its size and SHA-256.
    pub(crate) fn read_entry(
        &self,
        folder: &FolderState,
        id: u64,
        e: &Entry,
    ) -> Result<Vec<u8>, ArchiveError> {
        let loc = &e.loc;
        let path = self.dir.join(&loc.file);
        let limit = self.replay.ends.get(&loc.file).map(|e| e.len).unwrap_or(0);
        if loc.offset < loc.frame_pos {
            return Err(corrupt(
                &path,
                loc.frame,
                "manifest location points before its frame",
            ));
        }
        // The manifest's numbers are checked against the committed end of the file before
        // anything is read or allocated by them.
        let raw_limit = self
            .replay
            .ends
            .get(&loc.file)
            .map(|e| e.raw_len)
            .unwrap_or(0);
        let fits = loc
            .offset
            .checked_add(loc.length)
            .is_some_and(|end| end <= raw_limit);
        if !fits {
            return Err(corrupt(
                &path,
                loc.frame,
                format!(
                    "manifest location (offset {}, {} bytes) lies beyond the file's recorded end",
                    loc.offset, loc.length
                ),
            ));
        }
        let rel = loc.offset - loc.frame_pos;
        let raw = match self.replay.format {
            ArchiveFormat::Mbox => {
                let stored = self.pool.read(
                    self.identity(),
                    &path,
                    loc.frame,
                    limit,
                    true,
                    rel,
                    loc.length,
                )?;
                unquote_owned(stored)
            }
            ArchiveFormat::Tar => {
                if rel < 512 {
                    return Err(corrupt(
                        &path,
                        loc.frame,
                        "tar entry has no room for its header",
                    ));
                }
                let mut block = self.pool.read(
                    self.identity(),
                    &path,
                    loc.frame,
                    limit,
                    true,
                    rel - 512,
                    loc.length.saturating_add(512),
                )?;
                check_tar_header(&block[..512], loc.length, &folder.path).map_err(|d| {
                    corrupt(
                        &path,
                        loc.frame,
                        format!("entry at decompressed offset {}: {d}", loc.offset - 512),
                    )
                })?;
                block.drain(..512);
                block
            }
        };
        if raw.len() as u64 != e.meta.size || sha256_hex(&raw) != e.meta.sha256 {
            return Err(corrupt(
                &path,
                loc.frame,
                format!(
                    "message {id} of {:?} does not match its SHA-256: the zstd frame starting here is damaged",
                    folder.name
                ),
            ));
        }
        Ok(raw)
    }
}

/// Checks the tar header before a message: a regular file of the right size whose path stays
/// inside its folder's directory.
pub(crate) fn check_tar_header(block: &[u8], length: u64, folder_path: &str) -> Result<(), String> {
    let h = tar::Header::from_byte_slice(block);
    let kind = h.entry_type();
    if !kind.is_file() {
        return Err(format!(
            "not a regular file (tar entry type {:?}); symlinks and hard links are refused",
            kind
        ));
    }
    let size = h.entry_size().map_err(|e| format!("bad size field: {e}"))?;
    if size != length {
        return Err(format!(
            "entry holds {size} bytes, the manifest says {length}"
        ));
    }
    let name = h.path_bytes();
    let text = String::from_utf8_lossy(&name);
    check_entry_path(&text, folder_path, name.len() >= 100)
}

/// An entry path must be relative, without `..`, and below `folder_path/` (unless `truncated`,
/// a GNU long name's cut-off copy, which is only checked for safety).
pub(crate) fn check_entry_path(
    path: &str,
    folder_path: &str,
    truncated: bool,
) -> Result<(), String> {
    let unsafe_path =
        path.starts_with('/') || path.split(['/', '\\']).any(|c| c == "..") || path.contains('\0');
    if unsafe_path {
        return Err(format!(
            "entry path {path:?} escapes the archive (absolute or `..`)"
        ));
    }
    if !truncated && !path.starts_with(&format!("{folder_path}/")) {
        return Err(format!(
            "entry path {path:?} is outside its folder's directory {folder_path:?}"
        ));
    }
    Ok(())
}

impl MessageStore for ArchiveStore {
    fn folders(&self) -> Result<Vec<StoredFolder>, ArchiveError> {
        Ok(self
            .replay
            .folders
            .iter()
            .map(|f| StoredFolder {
                name: f.name.clone(),
                role: f.role,
                messages: f
                    .messages
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| !e.dropped)
                    .map(|(id, e)| {
                        // The folder's latest role, which may have been recorded after it.
                        let mut meta = e.meta.clone();
                        meta.role = f.role;
                        StoredMessage {
                            id: id as u64,
                            meta,
                        }
                    })
                    .collect(),
            })
            .collect())
    }

    fn read(&self, folder: &str, id: u64) -> Result<Vec<u8>, ArchiveError> {
        let f = self
            .replay
            .folder(folder)
            .ok_or_else(|| invalid(&self.dir, format!("no folder {folder:?} in the archive")))?;
        let e = f.messages.get(id as usize).filter(|e| !e.dropped);
        let e = e.ok_or_else(|| {
            invalid(
                &self.dir,
                format!("no message {id} in archived folder {folder:?}"),
            )
        })?;
        self.read_entry(f, id, e)
    }
}
