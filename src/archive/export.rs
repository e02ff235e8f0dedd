//! `mailferry archive export`: an archive (or any message store) written out as plain files
//! other programs open: one mboxrd file per folder (Thunderbird's ImportExportTools NG,
//! mutt, Python's `mailbox`), a tree of `.eml` files, or a Maildir++ that Dovecot and mutt
//! serve. Flags go where the format holds them: `Status`/`X-Status`/`X-Keywords` headers in
//! mbox, the info suffix and `dovecot-keywords` in a Maildir. Message bytes are otherwise
//! written as stored; nothing is read back from the destination, and nothing existing is
//! overwritten.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::common::io_error;
use super::mbox::{from_line, write_quoted};
use super::{ArchiveError, MessageStore, StoredMessage};
use crate::dates::parse_internaldate;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Mbox,
    Eml,
    Maildir,
}

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// A glob on decoded folder names (`Work/*`); all folders when `None`.
    pub folder: Option<String>,
    /// Received on or after this day.
    pub since: Option<NaiveDate>,
    /// Received before this day.
    pub before: Option<NaiveDate>,
}

/// What was written.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ExportSummary {
    pub folders: usize,
    pub messages: u64,
    pub bytes: u64,
    /// Messages that could not be read (each names file and offset); the rest were written.
    pub problems: Vec<String>,
}

/// Writes the store's selected folders and messages under `to`, which must not exist yet or
/// be an empty directory.
pub fn export(
    store: &dyn MessageStore,
    to: &Path,
    format: ExportFormat,
    options: &ExportOptions,
) -> Result<ExportSummary, ArchiveError> {
    if to.exists()
        && std::fs::read_dir(to)
            .map_err(|e| io_error(to, e))?
            .next()
            .is_some()
    {
        return Err(ArchiveError::Invalid {
            path: to.to_path_buf(),
            detail: "exists and is not empty; export into a new directory".into(),
        });
    }
    std::fs::create_dir_all(to).map_err(|e| io_error(to, e))?;
    let glob = match &options.folder {
        Some(g) => Some(
            crate::globs::folder_glob(g, false)
                .map_err(|e| ArchiveError::Invalid {
                    path: to.to_path_buf(),
                    detail: format!("--folder {g:?}: {e}"),
                })?
                .compile_matcher(),
        ),
        None => None,
    };
    let mut summary = ExportSummary::default();
    for folder in store.folders()? {
        if glob.as_ref().is_some_and(|g| !g.is_match(&folder.name)) {
            continue;
        }
        let messages: Vec<&StoredMessage> = folder
            .messages
            .iter()
            .filter(|m| in_range(m, options))
            .collect();
        let mut out = FolderWriter::open(to, &folder.name, format)?;
        for m in messages {
            match store.read(&folder.name, m.id) {
                Ok(raw) => {
                    summary.bytes += raw.len() as u64;
                    summary.messages += 1;
                    out.write(&raw, m)?;
                }
                Err(e) => summary.problems.push(e.to_string()),
            }
        }
        out.finish()?;
        summary.folders += 1;
    }
    Ok(summary)
}

fn in_range(m: &StoredMessage, options: &ExportOptions) -> bool {
    let Some(day) = m
        .meta
        .internaldate
        .as_deref()
        .and_then(parse_internaldate)
        .map(|d| d.date_naive())
    else {
        // Without a date a message is kept: an export loses nothing silently.
        return true;
    };
    options.since.is_none_or(|s| day >= s) && options.before.is_none_or(|b| day < b)
}

/// One folder's output.
enum FolderWriter {
    Mbox {
        path: PathBuf,
        file: std::io::BufWriter<std::fs::File>,
    },
    Eml {
        dir: PathBuf,
        next: u64,
    },
    Maildir {
        dir: PathBuf,
        next: u64,
        keywords: Vec<String>,
    },
}

impl FolderWriter {
    fn open(root: &Path, folder: &str, format: ExportFormat) -> Result<FolderWriter, ArchiveError> {
        let parts = safe_parts(folder);
        Ok(match format {
            ExportFormat::Mbox => {
                let mut path = root.to_path_buf();
                for p in &parts {
                    path.push(p);
                }
                path.set_extension(match path.extension() {
                    Some(e) => format!("{}.mbox", e.to_string_lossy()),
                    None => "mbox".into(),
                });
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
                }
                let file = create_new(&path)?;
                FolderWriter::Mbox {
                    file: std::io::BufWriter::new(file),
                    path,
                }
            }
            ExportFormat::Eml => {
                let mut dir = root.to_path_buf();
                for p in &parts {
                    dir.push(p);
                }
                std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
                FolderWriter::Eml { dir, next: 1 }
            }
            ExportFormat::Maildir => {
                let dir = maildir_folder(root, folder);
                for sub in ["cur", "new", "tmp"] {
                    let d = dir.join(sub);
                    std::fs::create_dir_all(&d).map_err(|e| io_error(&d, e))?;
                }
                FolderWriter::Maildir {
                    dir,
                    next: 1,
                    keywords: Vec::new(),
                }
            }
        })
    }

    fn write(&mut self, raw: &[u8], m: &StoredMessage) -> Result<(), ArchiveError> {
        let date = m.meta.internaldate.as_deref().and_then(parse_internaldate);
        match self {
            FolderWriter::Mbox { path, file } => {
                let with_flags = with_status_headers(raw, &m.meta.flags);
                let r = (|| {
                    file.write_all(from_line(date).as_bytes())?;
                    write_quoted(file, &with_flags)?;
                    if !with_flags.ends_with(b"\n") {
                        file.write_all(b"\n")?;
                    }
                    file.write_all(b"\n")
                })();
                r.map_err(|e| io_error(path, e))
            }
            FolderWriter::Eml { dir, next } => {
                let path = dir.join(format!("{next:06}.eml"));
                *next += 1;
                write_file(&path, raw, date)
            }
            FolderWriter::Maildir {
                dir,
                next,
                keywords,
            } => {
                let info = maildir_info(&m.meta.flags, keywords);
                let secs = date.map_or(0, |d| d.timestamp());
                let name = format!(
                    "{secs}.M{next}P{}.mailferry,S={}:2,{info}",
                    std::process::id(),
                    raw.len()
                );
                *next += 1;
                write_file(&dir.join("cur").join(name), raw, date)
            }
        }
    }

    fn finish(self) -> Result<(), ArchiveError> {
        match self {
            FolderWriter::Mbox { path, mut file } => file.flush().map_err(|e| io_error(&path, e)),
            FolderWriter::Eml { .. } => Ok(()),
            FolderWriter::Maildir { dir, keywords, .. } if !keywords.is_empty() => {
                // Dovecot's keyword letters: a is the first line of dovecot-keywords, b the next.
                let text: String = keywords
                    .iter()
                    .enumerate()
                    .map(|(i, k)| format!("{i} {k}\n"))
                    .collect();
                let path = dir.join("dovecot-keywords");
                std::fs::write(&path, text).map_err(|e| io_error(&path, e))
            }
            FolderWriter::Maildir { .. } => Ok(()),
        }
    }
}

fn create_new(path: &Path) -> Result<std::fs::File, ArchiveError> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| io_error(path, e))
}

/// Writes one message file, its modification time the received date (Maildir readers take
/// the received date from it).
fn write_file(
    path: &Path,
    raw: &[u8],
    date: Option<chrono::DateTime<chrono::FixedOffset>>,
) -> Result<(), ArchiveError> {
    let mut f = create_new(path)?;
    f.write_all(raw).map_err(|e| io_error(path, e))?;
    if let Some(d) = date
        && let Ok(secs) = u64::try_from(d.timestamp())
    {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        f.set_modified(t).map_err(|e| io_error(path, e))?;
    }
    Ok(())
}

/// A folder name's components as safe file names: no empty parts, `.` or `..`, no NUL.
fn safe_parts(folder: &str) -> Vec<String> {
    folder
        .split('/')
        .filter(|p| !p.is_empty())
        .map(|p| match p {
            "." | ".." => p.replace('.', "_"),
            _ => p.replace('\0', "_"),
        })
        .collect()
}

/// Maildir++: INBOX is the root; `A/B` is `.A.B`, each part in modified UTF-7 as Dovecot
/// names them on disk (a `.` inside a name would be a level, so it becomes `_`).
fn maildir_folder(root: &Path, folder: &str) -> PathBuf {
    if folder.eq_ignore_ascii_case("INBOX") {
        return root.to_path_buf();
    }
    let parts: Vec<String> = safe_parts(folder)
        .iter()
        .map(|p| crate::imap::mutf7::encode(&p.replace('.', "_")))
        .collect();
    root.join(format!(".{}", parts.join(".")))
}

/// The Maildir info letters (sorted, as the spec asks), keywords as Dovecot's letters.
fn maildir_info(flags: &[String], keywords: &mut Vec<String>) -> String {
    let mut letters: Vec<char> = Vec::new();
    for f in flags {
        let system = match f.to_ascii_lowercase().as_str() {
            "\\seen" => Some('S'),
            "\\answered" => Some('R'),
            "\\flagged" => Some('F'),
            "\\draft" => Some('D'),
            "\\deleted" => Some('T'),
            _ => None,
        };
        match system {
            Some(c) => letters.push(c),
            None if !f.starts_with('\\') => {
                let i = match keywords.iter().position(|k| k == f) {
                    Some(i) => i,
                    None => {
                        keywords.push(f.clone());
                        keywords.len() - 1
                    }
                };
                // Dovecot knows 26 keyword letters per folder; more stay in the archive.
                if i < 26 {
                    letters.push((b'a' + i as u8) as char);
                }
            }
            None => {}
        }
    }
    letters.sort_unstable();
    letters.dedup();
    letters.into_iter().collect()
}

/// The message with `Status`, `X-Status` and `X-Keywords` set from its flags (any it had
/// are replaced), in the message's own line ending.
fn with_status_headers(raw: &[u8], flags: &[String]) -> Vec<u8> {
    let header_len = crate::fingerprint::header_block(raw).len();
    let eol: &[u8] = if raw[..header_len].windows(2).any(|w| w == b"\r\n") {
        b"\r\n"
    } else {
        b"\n"
    };
    let has = |f: &str| flags.iter().any(|x| x.eq_ignore_ascii_case(f));
    let mut status = String::new();
    if has("\\Seen") {
        status.push('R');
    }
    status.push('O');
    let mut x_status = String::new();
    for (flag, c) in [
        ("\\Answered", 'A'),
        ("\\Flagged", 'F'),
        ("\\Draft", 'T'),
        ("\\Deleted", 'D'),
    ] {
        if has(flag) {
            x_status.push(c);
        }
    }
    let keywords: Vec<&str> = flags
        .iter()
        .filter(|f| !f.starts_with('\\'))
        .map(String::as_str)
        .collect();
    let mut out = Vec::with_capacity(raw.len() + 64);
    for (name, value) in [
        ("Status", status),
        ("X-Status", x_status),
        ("X-Keywords", keywords.join(" ")),
    ] {
        if !value.is_empty() {
            out.extend_from_slice(format!("{name}: {value}").as_bytes());
            out.extend_from_slice(eol);
        }
    }
    // The original header without the fields just written, folded lines included.
    let mut skipping = false;
    for line in raw[..header_len].split_inclusive(|&b| b == b'\n') {
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !continuation {
            let lower = String::from_utf8_lossy(line).to_ascii_lowercase();
            skipping = ["status:", "x-status:", "x-keywords:"]
                .iter()
                .any(|h| lower.starts_with(h));
        }
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(&raw[header_len..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_headers_replace_old_ones_and_keep_the_line_ending() {
        let raw = b"Status: O\r\nX-Keywords: old\r\n  folded\r\nSubject: s\r\n\r\nbody\r\n";
        let flags = vec!["\\Seen".to_string(), "\\Flagged".into(), "$Work".into()];
        let out = with_status_headers(raw, &flags);
        assert_eq!(
            out,
            b"Status: RO\r\nX-Status: F\r\nX-Keywords: $Work\r\nSubject: s\r\n\r\nbody\r\n"
        );
        assert_eq!(
            with_status_headers(b"Subject: s\n\nb\n", &[]),
            b"Status: O\nSubject: s\n\nb\n"
        );
    }

    #[test]
    fn maildir_names_and_info() {
        let root = Path::new("/x");
        assert_eq!(maildir_folder(root, "INBOX"), PathBuf::from("/x"));
        assert_eq!(
            maildir_folder(root, "Work/2024"),
            PathBuf::from("/x/.Work.2024")
        );
        assert_eq!(
            maildir_folder(root, "已发送"),
            PathBuf::from("/x/.&XfJT0ZAB-")
        );
        assert_eq!(maildir_folder(root, "a.b"), PathBuf::from("/x/.a_b"));
        let mut kw = Vec::new();
        let flags = vec![
            "\\Seen".into(),
            "\\Answered".into(),
            "Work".into(),
            "$Later".into(),
        ];
        assert_eq!(maildir_info(&flags, &mut kw), "RSab");
        assert_eq!(kw, vec!["Work", "$Later"]);
        assert_eq!(maildir_info(&["$Later".into()], &mut kw), "b");
    }

    #[test]
    fn unsafe_folder_parts_cannot_leave_the_directory() {
        assert_eq!(safe_parts("../../etc"), vec!["__", "__", "etc"]);
        assert_eq!(safe_parts("/a//b/"), vec!["a", "b"]);
    }
}
