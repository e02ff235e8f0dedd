//! Bounded fuzzing on stable Rust: every reader of outside bytes gets a few thousand mutated
//! inputs per `cargo test` (seeded, so each run tries the same ones) and must answer each with
//! a value or an error, never a panic or a hang. The same readers are cargo-fuzz targets under
//! `fuzz/` for long runs (docs/fuzzing.md).

mod support;

use std::path::{Path, PathBuf};

use mailferry::archive::{ArchiveStore, ArchiveWriter, MboxStore, MessageMeta, MessageStore};
use mailferry::profile::{ArchiveFormat, Profile};
use support::mutate::Mutator;

fn cases() -> usize {
    std::env::var("MAILFERRY_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600)
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Every message of a store, read back: what a restore does.
fn read_all(store: &dyn MessageStore) {
    if let Ok(folders) = store.folders() {
        for f in folders {
            for m in f.messages {
                let _ = store.read(&f.name, m.id);
            }
        }
    }
}

#[test]
fn profiles() {
    let seeds: Vec<Vec<u8>> = std::fs::read_dir(root().join("profiles"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    let mut m = Mutator::new(1);
    let path = root().join("profiles/fuzz.yaml");
    for i in 0..cases() * 2 {
        let input = m.mutate(&seeds[i % seeds.len()]);
        let text = String::from_utf8_lossy(&input);
        let _ = Profile::parse(&text, &path);
    }
}

#[test]
fn imap_responses() {
    let seeds: &[&[u8]] = &[
        b"* 1 FETCH (UID 7 FLAGS (\\Seen $Forwarded) INTERNALDATE \"07-Jul-2021 02:44:25 +0800\" RFC822.SIZE 44 BODY[HEADER.FIELDS (SUBJECT)] {13}\r\nSubject: x\r\n\r\n BODY[TEXT]<0> {5}\r\nhello)\r\n",
        b"* 2 FETCH (UID 9 BODY[]<2097152> {4}\r\nabcd)\r\n",
        b"* 3 FETCH (UID 10 BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 5 1 NIL NIL NIL))\r\n",
        b"* LIST (\\HasNoChildren \\Sent) \"/\" \"&XfJT0ZAB-\"\r\n",
        b"* LIST (\\Noselect) \".\" \"&UXZO1mWHTvZZOQ-\"\r\n",
    ];
    let mut m = Mutator::new(2);
    for i in 0..cases() * 5 {
        let input = m.mutate(seeds[i % seeds.len()]);
        let (fetch, list) = mailferry::imap::session::interpret(&input);
        if let Some(l) = list {
            let _ = mailferry::mapping::ListedFolder::from_list(
                &l.wire,
                l.delimiter.as_deref(),
                l.role,
                l.noselect,
                None,
            );
        }
        if let Some(r) = fetch
            && let (Some(h), Some(size)) = (r.header.as_deref(), r.size)
        {
            let _ = mailferry::fingerprint::Fingerprint::from_fetch(
                h,
                r.text.as_deref().unwrap_or_default(),
                size as u64,
            );
        }
    }
}

#[test]
fn modified_utf7() {
    let seeds = [
        "&UXZO1mWHTvZZOQ-/&XfJT0ZAB-",
        "INBOX",
        "a&-b",
        "&AGEAYgBj-",
        "[Gmail]/All Mail",
    ];
    let mut m = Mutator::new(3);
    for i in 0..cases() * 5 {
        let input = m.mutate(seeds[i % seeds.len()].as_bytes());
        let text = String::from_utf8_lossy(&input);
        let _ = mailferry::imap::mutf7::decode_lossy(&text);
        if let Ok(decoded) = mailferry::imap::mutf7::decode(&text) {
            // What decodes encodes back to something that decodes to the same name.
            let again = mailferry::imap::mutf7::encode(&decoded);
            assert_eq!(
                mailferry::imap::mutf7::decode(&again).as_deref(),
                Ok(decoded.as_str())
            );
        }
    }
}

#[test]
fn mbox_files() {
    let seeds = [
        std::fs::read(root().join("tests/fixtures/archive/mboxrd/mutt.mbox")).unwrap(),
        std::fs::read(root().join("tests/fixtures/archive/thunderbird/Inbox")).unwrap(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("INBOX.mbox");
    let mut m = Mutator::new(4);
    for i in 0..cases() {
        std::fs::write(&file, m.mutate(&seeds[i % seeds.len()])).unwrap();
        if let Ok(store) = MboxStore::open(&file) {
            read_all(&store);
        }
    }
}

/// A small archive of ours, in `dir`.
fn archive(dir: &Path, format: ArchiveFormat) {
    let mut w = ArchiveWriter::open(dir, format, 3, None).unwrap();
    w.begin_run().unwrap();
    for (i, folder) in ["INBOX", "已发送", "INBOX"].iter().enumerate() {
        let raw = format!("Subject: m{i}\r\nMessage-ID: <m{i}@x>\r\n\r\nbody {i}\r\n");
        let mut meta = MessageMeta::from_raw(folder, None, raw.as_bytes());
        meta.flags = vec!["\\Seen".into()];
        meta.internaldate = Some("07-Jul-2021 02:44:25 +0800".into());
        w.add(meta, raw.as_bytes()).unwrap();
    }
    w.commit_run().unwrap();
}

/// Every file of an archive, mutated one at a time, then opened and read.
fn archives(format: ArchiveFormat, seed: u64) {
    let good = tempfile::tempdir().unwrap();
    archive(good.path(), format);
    let mut files = Vec::new();
    let mut stack = vec![good.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.ends_with("lock") {
                files.push(p.strip_prefix(good.path()).unwrap().to_path_buf());
            }
        }
    }
    files.sort();
    let mut m = Mutator::new(seed);
    for i in 0..cases() {
        let bad = tempfile::tempdir().unwrap();
        for f in &files {
            let to = bad.path().join(f);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(good.path().join(f), &to).unwrap();
        }
        let victim = &files[i % files.len()];
        let bytes = std::fs::read(good.path().join(victim)).unwrap();
        std::fs::write(bad.path().join(victim), m.mutate(&bytes)).unwrap();
        if let Ok(store) = ArchiveStore::open(bad.path()) {
            read_all(&store);
        }
        let _ = mailferry::archive::check(bad.path(), None);
        let _ = mailferry::archive::list(bad.path(), None);
    }
}

#[test]
fn archives_mbox_format() {
    archives(ArchiveFormat::Mbox, 5);
}

#[test]
fn archives_tar_format() {
    archives(ArchiveFormat::Tar, 6);
}

/// A manifest edited by hand (or rotted) with lengths and offsets no file can hold: each is an
/// error naming the manifest or the data file, never a panic or an allocation of its size.
#[test]
fn crafted_lengths_and_offsets_are_named_errors() {
    for format in [ArchiveFormat::Mbox, ArchiveFormat::Tar] {
        for (key, value) in [
            ("length", "18446744073709551615"),
            ("offset", "18446744073709551000"),
            ("length", "4294967296000"),
            ("frame_pos", "18446744073709551615"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            archive(dir.path(), format);
            let manifest = dir.path().join("manifest.jsonl");
            let text = std::fs::read_to_string(&manifest).unwrap();
            let edited: String = text
                .lines()
                .map(|l| {
                    if l.contains("\"t\":\"msg\"") {
                        let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                        let loc = v.get_mut("loc").unwrap_or_else(|| panic!("{l}"));
                        loc[key] = serde_json::Value::Number(value.parse().unwrap());
                        v.to_string()
                    } else {
                        l.to_string()
                    }
                })
                .map(|l| l + "\n")
                .collect();
            std::fs::write(&manifest, edited).unwrap();
            let store = ArchiveStore::open(dir.path()).unwrap();
            let problems = store.problems();
            let readable: usize = store
                .folders()
                .unwrap()
                .iter()
                .map(|f| {
                    f.messages
                        .iter()
                        .filter(|m| store.read(&f.name, m.id).is_ok())
                        .count()
                })
                .sum();
            assert_eq!(readable, 0, "{format:?} {key}={value}");
            let named = problems
                .iter()
                .map(|p| p.to_string())
                .chain(std::iter::once(
                    mailferry::archive::check(dir.path(), None)
                        .map(|r| format!("{r:?}"))
                        .unwrap_or_else(|e| e.to_string()),
                ))
                .any(|p| p.contains("manifest.jsonl") || p.contains("mbox") || p.contains("tar"));
            assert!(named, "{format:?} {key}={value}: {problems:?}");
        }
    }
}

/// One manifest line of many megabytes is skipped as damage, not held whole.
#[test]
fn an_endless_manifest_line_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    archive(dir.path(), ArchiveFormat::Mbox);
    let manifest = dir.path().join("manifest.jsonl");
    // Inside the last run, before its commit record.
    let text = std::fs::read(&manifest).unwrap();
    let body = &text[..text.len() - 1];
    let cut = body.iter().rposition(|&b| b == b'\n').unwrap() + 1;
    let mut edited = text[..cut].to_vec();
    edited.extend(std::iter::repeat_n(b'x', 8 * 1024 * 1024));
    edited.extend_from_slice(b"\n");
    edited.extend_from_slice(&text[cut..]);
    std::fs::write(&manifest, &edited).unwrap();
    let store = ArchiveStore::open(dir.path()).unwrap();
    assert_eq!(store.folders().unwrap().len(), 2);
    assert!(
        store
            .problems()
            .iter()
            .any(|p| p.to_string().contains("longer than any record")),
        "{:?}",
        store.problems()
    );
}

/// A POP3 server that answers a whole session with `bytes` (written at once, then closed).
fn pop3_server(bytes: Vec<u8>) -> u16 {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let _ = conn.write_all(&bytes);
            let _ = conn.shutdown(std::net::Shutdown::Write);
            let _ = std::io::copy(&mut conn, &mut std::io::sink());
        }
    });
    port
}

#[test]
fn pop3_answers() {
    use mailferry::pop3::Pop3Session;
    // A whole session's answers: greeting, CAPA, USER, PASS, STAT, UIDL, LIST, TOP, RETR.
    let seed: &[u8] = b"+OK ready\r\n+OK\r\nTOP\r\nUIDL\r\nUSER\r\nPIPELINING\r\n.\r\n+OK\r\n+OK logged in\r\n+OK\r\nTOP\r\nUIDL\r\n.\r\n+OK 2 120\r\n+OK\r\n1 abc\r\n2 def\r\n.\r\n+OK\r\n1 60\r\n2 60\r\n.\r\n+OK\r\nSubject: a\r\n\r\n..dot\r\n.\r\n+OK\r\nSubject: b\r\n\r\nbody\r\n..\r\n.\r\n";
    let mut m = Mutator::new(9);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for i in 0..cases() {
        // The first case is the seed itself: the session must get through all of it.
        let port = pop3_server(if i == 0 {
            seed.to_vec()
        } else {
            m.mutate(seed)
        });
        let endpoint = mailferry::imap::Endpoint {
            side: mailferry::error::Side::Source,
            host: "127.0.0.1".into(),
            port,
            tls: mailferry::providers::TlsMode::None,
            ca_file: None,
            user: "u".into(),
            password: mailferry::secret::Secret::new("p"),
            auth: mailferry::sasl::AuthMethod::Login,
            credential: std::sync::Arc::new(mailferry::profile::Credential::new(
                mailferry::profile::PasswordSource::Env("UNUSED".into()),
                mailferry::secret::Secret::new("p"),
            )),
            provider: None,
            idle_timeout: std::time::Duration::from_secs(2),
            limit: None,
        };
        runtime.block_on(async {
            let Ok(mut s) = Pop3Session::connect(&endpoint).await else {
                return;
            };
            let stat = s.stat().await;
            let uidl = s.uidl().await;
            let list = s.list().await;
            let tops = s.top_many(&[1, 2], 20, |_| 1 << 20).await;
            if i == 0 {
                assert_eq!(stat.unwrap(), (2, 120));
                assert_eq!(uidl.unwrap().map(|u| u.len()), Some(2));
                assert_eq!(list.unwrap(), vec![(1, 60), (2, 60)]);
                let tops = tops.unwrap();
                assert_eq!(tops[0], b"Subject: a\r\n\r\n.dot\r\n");
                assert_eq!(tops[1], b"Subject: b\r\n\r\nbody\r\n.\r\n");
            }
            let _ = s.retr(2, 60, 1 << 20).await;
            s.quit().await;
        });
    }
}
