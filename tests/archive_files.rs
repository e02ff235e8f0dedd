//! Archives and foreign exports, without a server: backups read back byte-exact, incremental
//! runs, crash and full-disk safety, the zstd/tar command-line tools, foreign mbox / eml /
//! Maildir fixtures, and bad input reported with file and offset.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mailferry::archive::{
    self, ArchiveError, ArchiveStore, ArchiveWriter, FileStore, MboxStore, MessageMeta,
    MessageStore, StoredFolder,
};
use mailferry::profile::{ArchiveFormat, Source};
use mailferry::providers::Role;

const FORMATS: [ArchiveFormat; 2] = [ArchiveFormat::Mbox, ArchiveFormat::Tar];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/archive")
}

/// Messages that break naive mbox handling.
fn tricky() -> Vec<Vec<u8>> {
    vec![
        b"Message-ID: <lf@x>\nSubject: LF\n\nFrom the start of a line\n>From quoted\n>>From twice\nend\n".to_vec(),
        b"Message-ID: <crlf@x>\r\nSubject: CRLF\r\n\r\nFrom me Thu Jan  1 00:00:00 2024\r\n\r\nFrom x\r\n".to_vec(),
        b"Message-ID: <nonl@x>\nSubject: no trailing newline\n\nlast line".to_vec(),
        b"Message-ID: <empty@x>\r\nSubject: empty body\r\n\r\n".to_vec(),
        [
            "Message-ID: <utf8@x>\nSubject: 中文 ✓\n\n8-bit: ".as_bytes(),
            &[0xff, 0xfe, 0x80, b'\n'],
            b"\n\nFrom \n",
        ]
        .concat(),
    ]
}

fn meta(folder: &str, role: Option<Role>, raw: &[u8], flags: &[&str]) -> MessageMeta {
    let mut m = MessageMeta::from_raw(folder, role, raw);
    m.flags = flags.iter().map(|s| s.to_string()).collect();
    m.internaldate = Some("07-Jul-2021 02:44:25 +0800".into());
    m.source_uidvalidity = Some(7);
    m.source_uid = Some(42);
    m
}

fn folder<'a>(folders: &'a [StoredFolder], name: &str) -> &'a StoredFolder {
    folders
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no folder {name} in {:?}", names(folders)))
}

fn names(folders: &[StoredFolder]) -> Vec<String> {
    folders.iter().map(|f| f.name.clone()).collect()
}

fn all_bytes(store: &dyn MessageStore, name: &str) -> Vec<Vec<u8>> {
    let folders = store.folders().unwrap();
    folder(&folders, name)
        .messages
        .iter()
        .map(|m| store.read(name, m.id).unwrap())
        .collect()
}

fn write_run(dir: &Path, format: ArchiveFormat, msgs: &[(MessageMeta, Vec<u8>)]) {
    let mut w = ArchiveWriter::open(dir, format, 3, None).unwrap();
    w.begin_run().unwrap();
    for (m, raw) in msgs {
        w.add(m.clone(), raw).unwrap();
    }
    w.commit_run().unwrap();
}

fn data_file(dir: &Path, format: ArchiveFormat) -> PathBuf {
    match format {
        ArchiveFormat::Mbox => dir.join("mbox/INBOX.mbox.zst"),
        ArchiveFormat::Tar => dir.join("volumes/run-000001.tar.zst"),
    }
}

#[test]
fn backup_reads_back_byte_exact_in_both_formats() {
    for format in FORMATS {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("backup");
        let mut msgs = Vec::new();
        for raw in tricky() {
            msgs.push((
                meta("INBOX", Some(Role::Inbox), &raw, &["\\Seen", "\\Recent"]),
                raw,
            ));
        }
        let sent = b"Message-ID: <s@x>\nSubject: sent\n\nhi\n".to_vec();
        msgs.push((
            meta("Sent Messages", Some(Role::Sent), &sent, &["$Forwarded"]),
            sent.clone(),
        ));
        let nested = b"Subject: nested\n\nx\n".to_vec();
        msgs.push((
            meta("其他文件夹/报告 2024", None, &nested, &[]),
            nested.clone(),
        ));
        // Hostile names stay inside the archive.
        for evil in ["../escape", "/abs", "a/../../b"] {
            msgs.push((meta(evil, None, &nested, &[]), nested.clone()));
        }
        write_run(&dir, format, &msgs);

        let store = ArchiveStore::open(&dir).unwrap();
        assert!(store.problems().is_empty(), "{:?}", store.problems());
        assert_eq!(all_bytes(&store, "INBOX"), tricky(), "{format:?}");
        let folders = store.folders().unwrap();
        let inbox = folder(&folders, "INBOX");
        assert_eq!(inbox.role, Some(Role::Inbox));
        let m = &inbox.messages[0].meta;
        assert_eq!(m.flags, ["\\Seen"]);
        assert_eq!(
            m.internaldate.as_deref(),
            Some("07-Jul-2021 02:44:25 +0800")
        );
        assert_eq!((m.source_uidvalidity, m.source_uid), (Some(7), Some(42)));
        assert_eq!(m.message_id.as_deref(), Some("<lf@x>"));
        assert_eq!(folder(&folders, "Sent Messages").role, Some(Role::Sent));
        assert_eq!(all_bytes(&store, "Sent Messages"), [sent]);
        assert_eq!(
            all_bytes(&store, "其他文件夹/报告 2024"),
            std::slice::from_ref(&nested)
        );
        assert_eq!(all_bytes(&store, "../escape"), [nested]);
        let outside: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(outside.len(), 1, "only the archive directory was created");

        // The same through a profile source.
        let (boxed, problems) = archive::open_store_with_problems(&Source::Archive {
            path: dir.clone(),
            identity: None,
        })
        .unwrap();
        assert!(problems.is_empty());
        assert_eq!(all_bytes(boxed.as_ref(), "INBOX"), tricky());
        let report = archive::check(&dir, None).unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.messages_ok, msgs.len() as u64);
    }
}

#[test]
fn second_run_adds_only_new_and_records_flag_changes() {
    for format in FORMATS {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let raws = tricky();
        write_run(
            dir,
            format,
            &[
                (meta("INBOX", None, &raws[0], &[]), raws[0].clone()),
                (meta("INBOX", None, &raws[1], &["\\Seen"]), raws[1].clone()),
            ],
        );
        let mut w = ArchiveWriter::open(dir, format, 3, None).unwrap();
        let known = w.known("INBOX");
        assert_eq!(known.len(), 2);
        assert_eq!(
            known[0].fingerprint,
            MessageMeta::from_raw("INBOX", None, &raws[0]).fingerprint
        );
        assert_eq!(known[1].flags, ["\\Seen"]);
        assert!(w.known("Nope").is_empty());
        assert_eq!(w.begin_run().unwrap(), 2);
        assert_eq!(
            w.add(meta("INBOX", None, &raws[2], &[]), &raws[2]).unwrap(),
            2
        );
        assert!(
            w.update_flags("INBOX", 0, vec!["\\Flagged".into(), "\\Seen".into()])
                .unwrap()
        );
        assert!(
            !w.update_flags("INBOX", 1, vec!["\\Seen".into()]).unwrap(),
            "unchanged flags write nothing"
        );
        let sum = w.commit_run().unwrap();
        assert_eq!((sum.run, sum.added, sum.flag_updates), (2, 1, 1));
        assert_eq!(w.known("INBOX").len(), 3);

        // A run with nothing new only appends a small run record.
        let manifest = dir.join("manifest.jsonl");
        let before = (fs::metadata(&manifest).unwrap().len(), count_files(dir));
        w.begin_run().unwrap();
        let empty = w.commit_run().unwrap();
        assert_eq!((empty.added, empty.stored_bytes), (0, 0));
        let after = (fs::metadata(&manifest).unwrap().len(), count_files(dir));
        assert!(after.0 - before.0 < 400, "{} bytes", after.0 - before.0);
        assert_eq!(before.1, after.1, "no new data file");
        drop(w);

        let store = ArchiveStore::open(dir).unwrap();
        let folders = store.folders().unwrap();
        let inbox = folder(&folders, "INBOX");
        assert_eq!(inbox.messages.len(), 3);
        assert_eq!(inbox.messages[0].meta.flags, ["\\Seen", "\\Flagged"]);
        assert_eq!(all_bytes(&store, "INBOX"), raws[..3]);
        let listing = archive::list(dir, None).unwrap();
        assert_eq!(listing.runs.len(), 3);
        assert_eq!(listing.folders[0].messages, 3);
        assert_eq!(listing.messages, 3);
        assert!(
            serde_json::to_string(&listing)
                .unwrap()
                .contains("\"format\"")
        );
        assert!(archive::check(dir, None).unwrap().ok);
    }
}

fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            n += count_files(&e.path());
        } else {
            n += 1;
        }
    }
    n
}

#[test]
fn torn_run_is_ignored_and_the_next_run_completes() {
    for format in FORMATS {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let raws = tricky();
        write_run(
            dir,
            format,
            &[(meta("INBOX", None, &raws[0], &[]), raws[0].clone())],
        );
        let committed = fs::metadata(data_file(dir, format)).unwrap().len();

        // A run that never commits, then garbage as a crash mid-write would leave.
        let mut w = ArchiveWriter::open(dir, format, 3, None).unwrap();
        w.begin_run().unwrap();
        for raw in &raws[1..] {
            w.add(meta("INBOX", None, raw, &[]), raw).unwrap();
        }
        w.add(meta("New", None, &raws[1], &[]), &raws[1]).unwrap();
        drop(w);
        let mut f = OpenOptions::new()
            .append(true)
            .open(data_file(dir, format))
            .unwrap();
        f.write_all(b"\x28\xb5\x2f\xfdgarbage").unwrap();
        let mut m = OpenOptions::new()
            .append(true)
            .open(dir.join("manifest.jsonl"))
            .unwrap();
        m.write_all(b"{\"t\":\"msg\",\"run\":2,\"id\":9").unwrap();

        let store = ArchiveStore::open(dir).unwrap();
        assert!(store.problems().is_empty(), "{:?}", store.problems());
        assert_eq!(names(&store.folders().unwrap()), ["INBOX"]);
        assert_eq!(all_bytes(&store, "INBOX"), [raws[0].clone()]);
        assert_eq!(archive::list(dir, None).unwrap().interrupted_run, Some(2));
        let report = archive::check(dir, None).unwrap();
        assert!(report.ok, "{report:?}");
        assert!(!report.notes.is_empty(), "leftovers are noted");

        // The next writer cuts the leftovers and completes the job.
        let mut w = ArchiveWriter::open(dir, format, 3, None).unwrap();
        if format == ArchiveFormat::Mbox {
            assert_eq!(
                fs::metadata(data_file(dir, format)).unwrap().len(),
                committed
            );
            assert!(
                !dir.join("mbox/New.mbox.zst").exists(),
                "file of the torn run removed"
            );
        } else {
            assert!(!dir.join("volumes/run-000002.tar.zst").exists());
        }
        assert_eq!(w.known("INBOX").len(), 1);
        assert_eq!(w.begin_run().unwrap(), 2);
        for raw in &raws[1..] {
            w.add(meta("INBOX", None, raw, &[]), raw).unwrap();
        }
        w.commit_run().unwrap();
        drop(w);
        let store = ArchiveStore::open(dir).unwrap();
        assert_eq!(all_bytes(&store, "INBOX"), raws);
        assert_eq!(archive::list(dir, None).unwrap().interrupted_run, None);
        assert!(archive::check(dir, None).unwrap().ok);
    }
}

const CHILD_DIR: &str = "MAILFERRY_TEST_ARCHIVE_CHILD";

/// Run by `kill_9_at_any_point_leaves_a_readable_archive` in a child process: writes runs
/// until killed.
#[test]
fn child_writer_until_killed() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let format = match std::env::var("MAILFERRY_TEST_FORMAT").as_deref() {
        Ok("tar") => ArchiveFormat::Tar,
        _ => ArchiveFormat::Mbox,
    };
    let mut w = ArchiveWriter::open(Path::new(&dir), format, 3, None).unwrap();
    let mut n = 0u64;
    loop {
        w.begin_run().unwrap();
        for _ in 0..25 {
            n += 1;
            let body: String = (0..2000).map(|_| fastrand::alphanumeric()).collect();
            let raw = format!("Message-ID: <{n}@kill>\r\nSubject: {n}\r\n\r\n{body}\r\n");
            let folder = ["INBOX", "Sent", "Work/Clients"][(n % 3) as usize];
            w.add(meta(folder, None, raw.as_bytes(), &[]), raw.as_bytes())
                .unwrap();
        }
        w.commit_run().unwrap();
    }
}

#[test]
fn kill_9_at_any_point_leaves_a_readable_archive() {
    let exe = std::env::current_exe().unwrap();
    for (i, format) in [ArchiveFormat::Mbox, ArchiveFormat::Tar, ArchiveFormat::Mbox]
        .into_iter()
        .enumerate()
    {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a");
        let mut child = Command::new(&exe)
            .args(["child_writer_until_killed", "--exact", "--nocapture"])
            .env(CHILD_DIR, &dir)
            .env(
                "MAILFERRY_TEST_FORMAT",
                if format == ArchiveFormat::Tar {
                    "tar"
                } else {
                    "mbox"
                },
            )
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Once something is committed, kill at a different point each time.
        let manifest = dir.join("manifest.jsonl");
        for _ in 0..400 {
            let text = fs::read_to_string(&manifest).unwrap_or_default();
            if text.contains("\"t\":\"commit\"") {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(13 + 61 * i as u64));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let store = ArchiveStore::open(&dir).unwrap();
        assert!(store.problems().is_empty(), "{:?}", store.problems());
        let report = archive::check(&dir, None).unwrap();
        assert!(report.ok, "{report:?}");
        let before = report.messages_total;
        assert!(before > 0, "the child committed something in time");
        for f in store.folders().unwrap() {
            for m in &f.messages {
                store.read(&f.name, m.id).unwrap();
            }
        }
        let mut w = ArchiveWriter::open(&dir, format, 3, None).unwrap();
        w.begin_run().unwrap();
        let raw = b"Subject: after the crash\n\nok\n";
        w.add(meta("INBOX", None, raw, &[]), raw).unwrap();
        w.commit_run().unwrap();
        drop(w);
        let report = archive::check(&dir, None).unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.messages_total, before + 1);
    }
}

/// Run by `full_disk_error_names_the_file` under a file size limit.
#[test]
fn child_full_disk() {
    let Ok(dir) = std::env::var("MAILFERRY_TEST_FULL_DISK") else {
        return;
    };
    let mut w = ArchiveWriter::open(Path::new(&dir), ArchiveFormat::Mbox, 3, None).unwrap();
    w.begin_run().unwrap();
    let mut err = None;
    for n in 0..200 {
        let body: String = (0..20_000).map(|_| fastrand::alphanumeric()).collect();
        let raw = format!("Subject: {n}\n\n{body}\n");
        if let Err(e) = w.add(meta("INBOX", None, raw.as_bytes(), &[]), raw.as_bytes()) {
            err = Some(e);
            break;
        }
    }
    let err = match err {
        Some(e) => e,
        None => w.commit_run().expect_err("the file size limit must be hit"),
    };
    println!("ERROR: {err}");
    assert!(err.to_string().contains("INBOX.mbox.zst"), "{err}");
    // The writer refuses to go on after a failed write.
    assert!(w.begin_run().is_err() || w.commit_run().is_err());
}

#[test]
fn full_disk_error_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let first = b"Subject: before\n\nkept\n".to_vec();
    write_run(
        dir,
        ArchiveFormat::Mbox,
        &[(meta("INBOX", None, &first, &[]), first.clone())],
    );
    let exe = std::env::current_exe().unwrap();
    // RLIMIT_FSIZE makes writes past 256 KiB fail (EFBIG) like a full disk would.
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -f 512; trap '' XFSZ; exec \"$0\" child_full_disk --exact --nocapture")
        .arg(&exe)
        .env("MAILFERRY_TEST_FULL_DISK", dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ERROR: "), "{stdout}");

    let store = ArchiveStore::open(dir).unwrap();
    assert_eq!(all_bytes(&store, "INBOX"), std::slice::from_ref(&first));
    assert!(archive::check(dir, None).unwrap().ok);
    let second = b"Subject: after\n\nroom again\n".to_vec();
    write_run(
        dir,
        ArchiveFormat::Mbox,
        &[(meta("INBOX", None, &second, &[]), second.clone())],
    );
    let store = ArchiveStore::open(dir).unwrap();
    assert_eq!(all_bytes(&store, "INBOX"), [first, second]);
}

#[test]
fn zstd_cli_decodes_the_mbox_for_mutt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let raws = tricky();
    // Two runs: two zstd frames in one file.
    write_run(
        dir,
        ArchiveFormat::Mbox,
        &[(meta("INBOX", None, &raws[0], &[]), raws[0].clone())],
    );
    let rest: Vec<_> = raws[1..]
        .iter()
        .map(|r| (meta("INBOX", None, r, &[]), r.clone()))
        .collect();
    write_run(dir, ArchiveFormat::Mbox, &rest);
    let out = Command::new("zstd")
        .args(["-d", "-c", "-q"])
        .arg(dir.join("mbox/INBOX.mbox.zst"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.starts_with(b"From "));
    let read: Vec<Vec<u8>> = mail_parser::mailbox::mbox::MessageIterator::new(&out.stdout[..])
        .map(|m| {
            let c = m.unwrap().contents().to_vec();
            c[..c.len() - 1].to_vec()
        })
        .collect();
    assert_eq!(read, raws);
    // Our own files also read as an mbox source (mboxrd, unquoted).
    let store = MboxStore::open(&dir.join("mbox")).unwrap();
    assert!(store.problems().is_empty(), "{:?}", store.problems());
    assert_eq!(all_bytes(&store, "INBOX"), raws);
}

#[test]
fn tar_cli_lists_and_extracts_the_volume() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    let raws = tricky();
    let long = "Very long folder name ".repeat(8);
    let msgs: Vec<_> = raws
        .iter()
        .map(|r| (meta("INBOX", None, r, &[]), r.clone()))
        .chain([(
            meta(&format!("Work/{long}"), None, &raws[0], &[]),
            raws[0].clone(),
        )])
        .collect();
    write_run(&dir, ArchiveFormat::Tar, &msgs);
    let vol = dir.join("volumes/run-000001.tar.zst");
    let out = Command::new("tar")
        .arg("--zstd")
        .arg("-tf")
        .arg(&vol)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.lines().any(|l| l == "INBOX/000000.eml"),
        "{listing}"
    );
    assert!(
        listing.contains(&format!("Work/{long}/000000.eml")),
        "{listing}"
    );
    let x = tmp.path().join("x");
    fs::create_dir(&x).unwrap();
    let st = Command::new("tar")
        .arg("--zstd")
        .arg("-xf")
        .arg(&vol)
        .arg("-C")
        .arg(&x)
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(fs::read(x.join("INBOX/000001.eml")).unwrap(), raws[1]);
    // The extracted tree is an eml_dir source.
    let eml = FileStore::open_eml_dir(&x).unwrap();
    assert_eq!(all_bytes(&eml, "INBOX"), raws);
    assert!(archive::check(&dir, None).unwrap().ok);
}

#[test]
fn thunderbird_profile_mboxo() {
    let store = MboxStore::open(&fixtures().join("thunderbird")).unwrap();
    assert!(store.problems().is_empty(), "{:?}", store.problems());
    let folders = store.folders().unwrap();
    assert_eq!(names(&folders), ["INBOX", "Trash", "Work/Clients"]);
    let inbox = folder(&folders, "INBOX");
    assert_eq!(inbox.role, Some(Role::Inbox));
    assert_eq!(
        inbox.messages.len(),
        2,
        "a body line starting with From does not split"
    );
    assert_eq!(inbox.messages[0].meta.flags, ["\\Seen"]);
    assert_eq!(
        inbox.messages[1].meta.flags,
        ["\\Seen", "\\Flagged", "$label1"]
    );
    assert_eq!(
        inbox.messages[0].meta.internaldate.as_deref(),
        Some("08-Jan-2024 09:15:00 +0000")
    );
    let first = store.read("INBOX", 0).unwrap();
    let text = String::from_utf8(first.clone()).unwrap();
    assert!(text.starts_with("X-Mozilla-Status: 0001\n"));
    assert!(text.contains("\nFrom the start, this line"));
    assert!(
        text.contains("\n>From here too"),
        "mboxo quoting is left alone"
    );
    assert!(
        text.ends_with("Alice\n"),
        "the separator line is not part of the message"
    );
    assert_eq!(first.len() as u64, inbox.messages[0].meta.size);
    assert_eq!(folder(&folders, "Trash").role, Some(Role::Trash));
    assert!(folder(&folders, "Trash").messages.is_empty());
    assert_eq!(
        folder(&folders, "Work/Clients").messages[0].meta.flags,
        ["\\Answered"]
    );

    // The same file compressed reads the same.
    let tmp = tempfile::tempdir().unwrap();
    let plain = fs::read(fixtures().join("thunderbird/Inbox")).unwrap();
    fs::write(
        tmp.path().join("Inbox.mbox.zst"),
        zstd::encode_all(&plain[..], 3).unwrap(),
    )
    .unwrap();
    let z = MboxStore::open(tmp.path()).unwrap();
    assert_eq!(all_bytes(&z, "INBOX"), all_bytes(&store, "INBOX"));
}

#[test]
fn foreign_mboxrd_file() {
    let src = Source::Mbox {
        path: fixtures().join("mboxrd/mutt.mbox"),
    };
    let (store, problems) = archive::open_store_with_problems(&src).unwrap();
    assert!(problems.is_empty());
    let folders = store.folders().unwrap();
    assert_eq!(names(&folders), ["mutt"]);
    let m = &folder(&folders, "mutt").messages;
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].meta.flags, ["\\Seen", "\\Answered"]);
    assert!(m[1].meta.flags.is_empty());
    assert_eq!(
        m[1].meta.internaldate.as_deref(),
        Some("03-Mar-2024 08:00:00 +0000")
    );
    let body = store.read("mutt", 0).unwrap();
    // A foreign file could be mboxo: quoting is kept rather than guessed away.
    assert!(
        String::from_utf8(body)
            .unwrap()
            .contains("\n>From quoted in mboxrd\n>>From twice")
    );
}

#[test]
fn google_takeout_labels_choose_folders() {
    let store = MboxStore::open(&fixtures().join("takeout")).unwrap();
    assert!(store.problems().is_empty(), "{:?}", store.problems());
    let folders = store.folders().unwrap();
    let roles: Vec<(String, Option<Role>, usize)> = folders
        .iter()
        .map(|f| (f.name.clone(), f.role, f.messages.len()))
        .collect();
    assert!(
        roles.contains(&("INBOX".into(), Some(Role::Inbox), 1)),
        "{roles:?}"
    );
    assert!(roles.contains(&("Sent".into(), Some(Role::Sent), 1)));
    assert!(roles.contains(&("Spam".into(), Some(Role::Junk), 1)));
    assert!(roles.contains(&("Work/Clients".into(), None, 1)));
    assert!(
        folder(&folders, "Spam").messages[0].meta.flags.is_empty(),
        "Unread"
    );
    assert_eq!(
        folder(&folders, "Work/Clients").messages[0].meta.flags,
        ["\\Seen", "\\Flagged"]
    );
    assert_eq!(
        folder(&folders, "INBOX").messages[0]
            .meta
            .internaldate
            .as_deref(),
        Some("01-Apr-2024 12:00:00 +0000")
    );
    let raw = store.read("Work/Clients", 0).unwrap();
    assert!(raw.starts_with(b"X-Gmail-Labels: Important,\"Work/Clients\""));
}

#[test]
fn eml_directory() {
    let src = Source::EmlDir {
        path: fixtures().join("eml"),
    };
    let store = archive::open_store(&src).unwrap();
    let folders = store.folders().unwrap();
    assert_eq!(names(&folders), ["Sent", "Work/Clients", "INBOX"]);
    assert_eq!(folder(&folders, "Sent").role, Some(Role::Sent));
    let inbox = folder(&folders, "INBOX");
    assert_eq!(
        inbox.messages[0].meta.internaldate.as_deref(),
        Some("05-Jul-2024 08:30:00 +0200")
    );
    assert!(
        folder(&folders, "Sent").messages[0]
            .meta
            .internaldate
            .is_some(),
        "file mtime"
    );
    assert_eq!(
        store.read("INBOX", 0).unwrap(),
        fs::read(fixtures().join("eml/root.eml")).unwrap()
    );
}

#[test]
fn maildir_with_flags_and_subfolders() {
    let store = FileStore::open_maildir(&fixtures().join("maildir")).unwrap();
    assert!(store.problems().is_empty(), "{:?}", store.problems());
    let folders = store.folders().unwrap();
    assert_eq!(names(&folders), ["INBOX", "已发送", "Sent", "Work/Clients"]);
    let inbox = folder(&folders, "INBOX");
    assert_eq!(inbox.messages.len(), 2, "cur and new");
    assert_eq!(inbox.messages[0].meta.flags, ["\\Seen"]);
    assert!(inbox.messages[1].meta.flags.is_empty());
    assert!(inbox.messages[0].meta.internaldate.is_some());
    assert_eq!(folder(&folders, "已发送").role, Some(Role::Sent));
    assert_eq!(
        folder(&folders, "Sent").messages[0].meta.flags,
        ["\\Seen", "\\Answered"]
    );
    assert_eq!(
        folder(&folders, "Work/Clients").messages[0].meta.flags,
        ["\\Flagged", "ProjectX"]
    );
    assert_eq!(
        store.read("Sent", 0).unwrap(),
        b"Message-ID: <m3@example.com>\nSubject: sent\n\nbody\n"
    );
}

fn big_mbox(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let body: String = (0..3000).map(|_| fastrand::alphanumeric()).collect();
        out.extend_from_slice(
            format!("From - Mon Jan 08 09:15:00 2024\nSubject: m{i}\nMessage-ID: <{i}@big>\n\n{body}\n\n").as_bytes(),
        );
    }
    out
}

fn corrupt_at(e: &ArchiveError) -> (&Path, u64) {
    match e {
        ArchiveError::Corrupt { path, offset, .. } => (path, *offset),
        other => panic!("expected Corrupt, got {other}"),
    }
}

#[test]
fn truncated_and_corrupted_zst_keep_the_messages_before_the_damage() {
    let tmp = tempfile::tempdir().unwrap();
    // As the zstd CLI writes it: with a checksum, so damage is detectable.
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.include_checksum(true).unwrap();
    enc.write_all(&big_mbox(200)).unwrap();
    let data = enc.finish().unwrap();
    let truncated = tmp.path().join("trunc.mbox.zst");
    fs::write(&truncated, &data[..data.len() / 2]).unwrap();
    let store = MboxStore::open(&truncated).unwrap();
    let problems = store.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let (path, offset) = corrupt_at(&problems[0]);
    assert_eq!(path, truncated);
    assert!(offset > 0 && offset <= data.len() as u64 / 2, "{offset}");
    let folders = store.folders().unwrap();
    let n = folder(&folders, "trunc").messages.len();
    assert!(n > 5 && n < 200, "{n}");
    assert_eq!(all_bytes(&store, "trunc").len(), n);

    let mut flipped = data.clone();
    let at = data.len() * 2 / 3;
    flipped[at] ^= 0x55;
    let bad = tmp.path().join("flipped.mbox.zst");
    fs::write(&bad, &flipped).unwrap();
    let store = MboxStore::open(&bad).unwrap();
    assert!(!store.problems().is_empty());
    assert!(store.problems()[0].to_string().contains("flipped.mbox.zst"));
    for m in &folder(&store.folders().unwrap(), "flipped").messages {
        store.read("flipped", m.id).unwrap();
    }

    let empty = tmp.path().join("empty.mbox.zst");
    fs::write(&empty, b"").unwrap();
    let store = MboxStore::open(&empty).unwrap();
    let p = store.problems();
    assert_eq!(corrupt_at(&p[0]), (empty.as_path(), 0));
    assert!(p[0].to_string().contains("empty file"));
}

#[test]
fn bad_files_are_named_with_offsets() {
    let tmp = tempfile::tempdir().unwrap();
    let garbage = tmp.path().join("g.mbox");
    let text: &[u8] = b"leftover junk\n\nFrom - Mon Jan 08 09:15:00 2024\nSubject: ok\n\nfine\n\nFrom - Mon Jan 08 09:15:00 2024\n\x00\x00\x00\x00\n\nFrom - Mon Jan 08 09:15:00 2024\nSubject: ok too\n\nfine\n";
    fs::write(&garbage, text).unwrap();
    let nul = text.iter().position(|&b| b == 0).unwrap() as u64;
    let store = MboxStore::open(&garbage).unwrap();
    let p = store.problems();
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(corrupt_at(&p[0]), (garbage.as_path(), 0));
    assert_eq!(corrupt_at(&p[1]).1, nul);
    assert!(
        p[1].to_string().contains(&format!("g.mbox at byte {nul}")),
        "{}",
        p[1]
    );
    assert_eq!(all_bytes(&store, "g").len(), 2);

    let emls = tmp.path().join("emls");
    fs::create_dir(&emls).unwrap();
    fs::write(emls.join("empty.eml"), b"").unwrap();
    fs::write(emls.join("ok.eml"), b"Subject: ok\n\nx\n").unwrap();
    let store = FileStore::open_eml_dir(&emls).unwrap();
    assert_eq!(store.problems().len(), 1);
    assert!(store.problems()[0].to_string().contains("empty.eml"));
    assert_eq!(all_bytes(&store, "INBOX").len(), 1);

    let err = MboxStore::open(&tmp.path().join("missing.mbox")).unwrap_err();
    assert!(err.to_string().contains("missing.mbox"));
    let err = FileStore::open_maildir(&emls).unwrap_err();
    assert!(err.to_string().contains("not a Maildir"), "{err}");
    let err = ArchiveStore::open(&emls).unwrap_err();
    assert!(err.to_string().contains("not a mailferry archive"), "{err}");
}

/// A tar block: header for `name` (written raw, so `..` gets through) plus padded data.
fn tar_entry(name: &[u8], kind: tar::EntryType, data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(kind);
    if kind == tar::EntryType::Symlink {
        h.set_link_name("/etc/passwd").unwrap();
    }
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

#[test]
fn hostile_tar_entries_are_refused_and_nothing_is_written_outside() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    let good = b"Subject: good\n\nfine\n".to_vec();
    write_run(
        &dir,
        ArchiveFormat::Tar,
        &[(meta("INBOX", None, &good, &[]), good.clone())],
    );

    // Run 2, written by hand: an entry escaping with `../` and a symlink entry.
    let evil = b"Subject: evil\n\nx\n".to_vec();
    let mut tar_data = tar_entry(b"../evil.eml", tar::EntryType::Regular, &evil);
    let link_at = tar_data.len() as u64;
    tar_data.extend(tar_entry(b"INBOX/000002.eml", tar::EntryType::Symlink, b""));
    tar_data.extend([0u8; 1024]);
    let vol = zstd::encode_all(&tar_data[..], 3).unwrap();
    fs::write(dir.join("volumes/run-000002.tar.zst"), &vol).unwrap();
    let m = MessageMeta::from_raw("INBOX", None, &evil);
    let msg = |id: u64, offset: u64, length: u64| {
        let mut v = serde_json::json!({"t": "msg", "run": 2, "id": id});
        let meta = serde_json::to_value(&m).unwrap();
        v.as_object_mut()
            .unwrap()
            .extend(meta.as_object().unwrap().clone());
        v["loc"] = serde_json::json!({"file": "volumes/run-000002.tar.zst", "frame": 0,
            "frame_pos": 0, "offset": offset, "length": length});
        v
    };
    let lines = [
        serde_json::json!({"t": "run", "run": 2, "started": "2026-01-01T00:00:00Z"}),
        msg(1, 512, evil.len() as u64),
        msg(2, link_at + 512, evil.len() as u64),
        serde_json::json!({"t": "commit", "run": 2, "finished": "2026-01-01T00:00:01Z",
            "added": 2, "bytes": 0, "stored": vol.len(), "flag_updates": 0,
            "files": {"volumes/run-000002.tar.zst": {"len": vol.len(), "raw_len": tar_data.len()}}}),
    ];
    let mut mf = OpenOptions::new()
        .append(true)
        .open(dir.join("manifest.jsonl"))
        .unwrap();
    for l in lines {
        writeln!(mf, "{l}").unwrap();
    }
    drop(mf);

    let store = ArchiveStore::open(&dir).unwrap();
    assert_eq!(store.read("INBOX", 0).unwrap(), good);
    let e = store.read("INBOX", 1).unwrap_err();
    assert!(e.to_string().contains("escapes"), "{e}");
    assert!(e.to_string().contains("run-000002.tar.zst"), "{e}");
    let e = store.read("INBOX", 2).unwrap_err();
    assert!(e.to_string().contains("symlink"), "{e}");

    let report = archive::check(&dir, None).unwrap();
    assert!(!report.ok);
    assert_eq!(report.messages_ok, 1);
    let all = format!("{:?} {:?}", report.damaged, report.problems);
    assert!(all.contains("../evil.eml"), "{all}");
    assert!(all.contains("symlink"), "{all}");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains(&format!("at byte {link_at}"))),
        "{all}"
    );
    let outside: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, ["a"]);
}

#[test]
fn check_finds_a_flipped_byte_and_names_the_range() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let raws = tricky();
    let mut msgs: Vec<_> = raws
        .iter()
        .map(|r| (meta("INBOX", None, r, &[]), r.clone()))
        .collect();
    msgs.push((meta("Sent", None, &raws[0], &[]), raws[0].clone()));
    write_run(dir, ArchiveFormat::Mbox, &msgs);
    let file = dir.join("mbox/INBOX.mbox.zst");
    let mut bytes = fs::read(&file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    fs::write(&file, &bytes).unwrap();

    let report = archive::check(dir, None).unwrap();
    assert!(!report.ok);
    assert_eq!(report.damaged.len(), 1, "{report:?}");
    let d = &report.damaged[0];
    assert_eq!(d.file, "mbox/INBOX.mbox.zst");
    assert!(d.start <= at as u64 && (at as u64) < d.end, "{d:?} vs {at}");
    assert!(!d.messages.is_empty());
    assert!(serde_json::to_string(&report).unwrap().contains("damaged"));

    let store = ArchiveStore::open(dir).unwrap();
    let first = &d.messages[0];
    let e = store.read(&first.folder, first.id).unwrap_err();
    assert_eq!(corrupt_at(&e).0, file);
    assert_eq!(
        all_bytes(&store, "Sent"),
        [raws[0].clone()],
        "other files are unaffected"
    );
}

#[test]
fn one_writer_at_a_time_and_formats_do_not_mix() {
    let tmp = tempfile::tempdir().unwrap();
    let w = ArchiveWriter::open(tmp.path(), ArchiveFormat::Mbox, 3, None).unwrap();
    let e = ArchiveWriter::open(tmp.path(), ArchiveFormat::Mbox, 3, None).unwrap_err();
    assert!(e.to_string().contains("in use"), "{e}");
    drop(w);
    let e = ArchiveWriter::open(tmp.path(), ArchiveFormat::Tar, 3, None).unwrap_err();
    assert!(e.to_string().contains("holds mbox backups"), "{e}");
    let mut w = ArchiveWriter::open(tmp.path(), ArchiveFormat::Mbox, 3, None).unwrap();
    assert!(
        w.add(meta("INBOX", None, b"x", &[]), b"x").is_err(),
        "add before begin_run"
    );
    w.begin_run().unwrap();
    let mut wrong = meta("INBOX", None, b"x", &[]);
    wrong.sha256 = "00".repeat(32);
    assert!(w.add(wrong, b"x").is_err());

    fn is_send<T: Send>() {}
    is_send::<ArchiveWriter>();
}

#[test]
fn many_messages_span_frames_and_read_in_any_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for format in FORMATS {
        let d = dir.join(format!("{format:?}"));
        let msgs: Vec<_> = (0..120)
            .map(|i| {
                let body: String = (0..60_000).map(|_| fastrand::alphanumeric()).collect();
                let raw = format!("Subject: {i}\n\n{body}\n").into_bytes();
                (meta(["INBOX", "Sent"][i % 2], None, &raw, &[]), raw)
            })
            .collect();
        write_run(&d, format, &msgs);
        let store = ArchiveStore::open(&d).unwrap();
        let folders = store.folders().unwrap();
        let inbox = folder(&folders, "INBOX");
        for id in [59u64, 0, 30, 31, 1, 58] {
            let raw = store.read("INBOX", id).unwrap();
            assert_eq!(raw, msgs[id as usize * 2].1);
        }
        assert_eq!(inbox.messages.len(), 60);
        let report = archive::check(&d, None).unwrap();
        assert!(report.ok && report.messages_ok == 120, "{report:?}");
    }
}

#[test]
fn a_run_over_many_folders_keeps_few_files_open_and_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut msgs = Vec::new();
    // Round-robin over more folders than the writer keeps open.
    for i in 0..60 {
        let raw = format!("Subject: {i}\n\nFrom body {i}\n").into_bytes();
        msgs.push((meta(&format!("F{:02}", i % 12), None, &raw, &[]), raw));
    }
    write_run(dir, ArchiveFormat::Mbox, &msgs);
    let store = ArchiveStore::open(dir).unwrap();
    for i in 0..12 {
        let got = all_bytes(&store, &format!("F{i:02}"));
        let want: Vec<_> = msgs
            .iter()
            .skip(i)
            .step_by(12)
            .map(|(_, r)| r.clone())
            .collect();
        assert_eq!(got, want);
    }
    let report = archive::check(dir, None).unwrap();
    assert!(report.ok && report.messages_ok == 60, "{report:?}");
    // Each closed-and-reopened file is still one valid zstd stream.
    let out = Command::new("zstd")
        .args(["-t", "-q"])
        .arg(dir.join("mbox/F00.mbox.zst"))
        .status()
        .unwrap();
    assert!(out.success());
}
