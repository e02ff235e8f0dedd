//! Encrypted archives: written with public recipients only, read with the identity.

use std::fs;
use std::path::Path;

use super::manifest::{MANIFEST, sealed_name};
use super::store::ArchiveStore;
use super::writer::ArchiveWriter;
use super::{MessageMeta, MessageStore};
use crate::crypt::{Identity, Recipients};
use crate::profile::ArchiveFormat;
use crate::secret::Secret;

fn keys() -> (Recipients, Identity) {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    (
        Recipients::parse(&[id.to_public().to_string()]).unwrap(),
        Identity::parse(Secret::new(id.to_string().expose_secret().to_string())).unwrap(),
    )
}

fn meta(folder: &str, flags: &[&str]) -> MessageMeta {
    MessageMeta {
        folder: folder.into(),
        role: None,
        flags: flags.iter().map(|f| f.to_string()).collect(),
        internaldate: Some("07-Jul-2021 02:44:25 +0800".into()),
        size: 0,
        sha256: String::new(),
        fingerprint: String::new(),
        message_id: None,
        source_uidvalidity: Some(7),
        source_uid: Some(1),
        labels: Vec::new(),
    }
}

const SECRET_FOLDER: &str = "Lawsuit Zhang 张律师";
const MAIL: &[u8] = b"From: zhang@lawfirm.example\r\nSubject: settlement terms\r\nMessage-ID: <m1@lawfirm.example>\r\n\r\nthe confidential body\r\n";

/// Every byte of every file under `dir`, decompressed where zstd can (it cannot: sealed).
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.extend(p.to_string_lossy().as_bytes());
            if p.is_dir() {
                stack.push(p);
            } else {
                let data = fs::read(&p).unwrap();
                if let Ok(plain) = zstd::decode_all(&data[..]) {
                    out.extend(plain);
                }
                out.extend(data);
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn written_without_the_identity_and_read_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let (r, id) = keys();
    let mut w = ArchiveWriter::open(dir.path(), ArchiveFormat::Tar, 3, Some(&r)).unwrap();
    w.begin_run().unwrap();
    w.add(meta(SECRET_FOLDER, &["\\Seen"]), MAIL).unwrap();
    w.ensure_folder("Empty 空", None).unwrap();
    w.commit_run().unwrap();
    drop(w);

    // A second run, by a writer that again holds only the recipients: it recognises the
    // folder and the message by their keys, adds to them and updates flags.
    let mut w = ArchiveWriter::open(dir.path(), ArchiveFormat::Tar, 3, Some(&r)).unwrap();
    let known = w.known(SECRET_FOLDER);
    assert_eq!(known.len(), 1);
    assert_eq!(known[0].flags, vec!["\\Seen".to_string()]);
    w.begin_run().unwrap();
    assert!(
        w.update_flags(SECRET_FOLDER, 0, vec!["\\Seen".into(), "\\Flagged".into()])
            .unwrap()
    );
    w.add(meta(SECRET_FOLDER, &[]), b"Subject: second\r\n\r\nx\r\n")
        .unwrap();
    // Differs only in case: must get its own directory inside the volumes.
    w.add(meta(&SECRET_FOLDER.to_uppercase(), &[]), MAIL)
        .unwrap();
    w.commit_run().unwrap();
    drop(w);

    let bytes = all_bytes(dir.path());
    for clear in [
        "Lawsuit",
        "张律师",
        "Empty",
        "zhang@lawfirm",
        "settlement",
        "confidential",
        "m1@lawfirm",
        "Jul-2021",
    ] {
        assert!(
            !contains(&bytes, clear),
            "{clear:?} is readable in the archive"
        );
    }

    assert!(
        ArchiveStore::open(dir.path())
            .unwrap_err()
            .to_string()
            .contains("encrypted: give the identity")
    );
    let store = ArchiveStore::open_with(dir.path(), Some(id)).unwrap();
    assert!(store.problems().is_empty(), "{:?}", store.problems());
    let folders = store.folders().unwrap();
    let names: Vec<&str> = folders.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    let f = folders.iter().find(|f| f.name == SECRET_FOLDER).unwrap();
    assert_eq!(f.messages.len(), 2);
    let mut flags = f.messages[0].meta.flags.clone();
    flags.sort();
    assert_eq!(flags, vec!["\\Flagged".to_string(), "\\Seen".to_string()]);
    assert_eq!(
        f.messages[0].meta.internaldate.as_deref(),
        Some("07-Jul-2021 02:44:25 +0800")
    );
    assert_eq!(store.read(SECRET_FOLDER, 0).unwrap(), MAIL);
    assert_eq!(
        store.read(SECRET_FOLDER, 1).unwrap(),
        b"Subject: second\r\n\r\nx\r\n"
    );
    assert_eq!(store.read(&SECRET_FOLDER.to_uppercase(), 0).unwrap(), MAIL);
    assert!(folders.iter().any(|f| f.name == "Empty 空"));
    let report = super::check(dir.path(), Some(keys_of(&store))).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.messages_ok, 3);
}

fn keys_of(store: &ArchiveStore) -> Identity {
    store.identity().cloned().unwrap()
}

#[test]
fn another_key_cannot_read_and_plain_writers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (r, _) = keys();
    let mut w = ArchiveWriter::open(dir.path(), ArchiveFormat::Tar, 3, Some(&r)).unwrap();
    w.begin_run().unwrap();
    w.add(meta("INBOX", &[]), MAIL).unwrap();
    w.commit_run().unwrap();
    drop(w);
    let (_, other) = keys();
    let e = ArchiveStore::open_with(dir.path(), Some(other)).unwrap_err();
    assert!(e.to_string().contains("does not open"), "{e}");
    let e = ArchiveWriter::open(dir.path(), ArchiveFormat::Tar, 3, None).unwrap_err();
    assert!(e.to_string().contains("encrypted"), "{e}");
    let plain = tempfile::tempdir().unwrap();
    drop(ArchiveWriter::open(plain.path(), ArchiveFormat::Tar, 3, None).unwrap());
    let e = ArchiveWriter::open(plain.path(), ArchiveFormat::Tar, 3, Some(&r)).unwrap_err();
    assert!(e.to_string().contains("new path"), "{e}");
}

#[test]
fn an_interrupted_sealed_run_is_undone_by_the_next_writer() {
    let dir = tempfile::tempdir().unwrap();
    let (r, id) = keys();
    let mut w = ArchiveWriter::open(dir.path(), ArchiveFormat::Tar, 3, Some(&r)).unwrap();
    w.begin_run().unwrap();
    w.add(meta("INBOX", &[]), MAIL).unwrap();
    w.commit_run().unwrap();
    w.begin_run().unwrap();
    w.add(meta("INBOX", &[]), b"Subject: lost\r\n\r\n\r\n")
        .unwrap();
    // Killed here: no commit, the sealed stream and volume unfinished.
    drop(w);
    assert!(dir.path().join(sealed_name(2)).exists());
    let mut w = ArchiveWriter::open(dir.path(), ArchiveFormat::Tar, 3, Some(&r)).unwrap();
    assert!(!dir.path().join(sealed_name(2)).exists());
    assert_eq!(w.known("INBOX").len(), 1);
    w.begin_run().unwrap();
    w.add(meta("INBOX", &[]), b"Subject: again\r\n\r\n\r\n")
        .unwrap();
    w.commit_run().unwrap();
    drop(w);
    let store = ArchiveStore::open_with(dir.path(), Some(id)).unwrap();
    assert!(store.problems().is_empty(), "{:?}", store.problems());
    assert_eq!(
        store.read("INBOX", 1).unwrap(),
        b"Subject: again\r\n\r\n\r\n"
    );
    let manifest = fs::read_to_string(dir.path().join(MANIFEST)).unwrap();
    assert!(!manifest.contains("INBOX"));
}

#[test]
fn a_sealed_archive_is_pruned_with_the_identity_and_stays_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let (r, id) = keys();
    let mut w = ArchiveWriter::open(dir.path(), ArchiveFormat::Tar, 3, Some(&r)).unwrap();
    w.begin_run().unwrap();
    w.add(meta(SECRET_FOLDER, &[]), MAIL).unwrap();
    w.add(meta(SECRET_FOLDER, &[]), b"Subject: obsolete\r\n\r\n\r\n")
        .unwrap();
    w.commit_run().unwrap();
    drop(w);
    let mut w = ArchiveWriter::open(dir.path(), ArchiveFormat::Tar, 3, Some(&r)).unwrap();
    w.begin_run().unwrap();
    w.mark_seen(SECRET_FOLDER, vec![1], vec![]).unwrap();
    w.commit_run().unwrap();
    let later = chrono::Utc::now() + chrono::Duration::seconds(5);
    let e = w.prune(None, later, false).unwrap_err();
    assert!(e.to_string().contains("identity"), "{e}");
    drop(w);
    let mut w = ArchiveWriter::open(dir.path(), ArchiveFormat::Tar, 3, Some(&r)).unwrap();
    let report = w.prune(Some(id.clone()), later, false).unwrap();
    assert_eq!(report.removed.len(), 1);
    drop(w);
    let bytes = all_bytes(dir.path());
    for clear in ["Lawsuit", "settlement", "obsolete"] {
        assert!(!contains(&bytes, clear), "{clear:?} is readable");
    }
    let store = ArchiveStore::open_with(dir.path(), Some(id)).unwrap();
    let folders = store.folders().unwrap();
    assert_eq!(folders[0].messages.len(), 1);
    assert_eq!(store.read(SECRET_FOLDER, 0).unwrap(), MAIL);
}
