//! `mailferry run` end to end: the real binary migrates between accounts of the test Dovecot,
//! and the result is read back with the harness's own IMAP client (never mailferry's code).
//!
//! Every test makes its own users and a profile in a temp dir (`tls: none` to 127.0.0.1,
//! passwords from environment variables set on the command), runs `mailferry run --json` and
//! checks what a user would check: every message is there byte for byte, with its flags,
//! keywords and received date, in the right folder, exactly once.
//!
//! The test Dovecot prints every INTERNALDATE in +0800 (it stores the instant, not the zone),
//! so a date appended as `-0500` reads back as the same instant in +0800 on both sides.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use support::*;

// ---------------------------------------------------------------------------------------------
// Messages: fixtures, generated mail, seeding, and reading back.

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/migrate")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `.eml` fixture, by file name.
fn all_fixtures() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(out.len() >= 10, "fixtures missing: {out:?}");
    out
}

/// A plain message of exactly `size` bytes.
fn exact_size(tag: &str, size: usize) -> Vec<u8> {
    let mut m = format!("From: pad@163.com\r\nSubject: {tag}\r\nMessage-ID: <{tag}@pad>\r\n\r\n")
        .into_bytes();
    while m.len() + 80 < size {
        m.extend_from_slice(&[b'x'; 78]);
        m.extend_from_slice(b"\r\n");
    }
    let rest = size - m.len() - 2;
    m.extend(std::iter::repeat_n(b'y', rest));
    m.extend_from_slice(b"\r\n");
    assert_eq!(m.len(), size);
    m
}

/// Random base64 lines of `decoded` bytes' worth, as an attachment body.
fn base64_lines(decoded: usize, seed: u64) -> String {
    use base64::Engine as _;
    let mut rng = fastrand::Rng::with_seed(seed);
    let bytes: Vec<u8> = (0..decoded).map(|_| rng.u8(..)).collect();
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::with_capacity(text.len() + text.len() / 38);
    for chunk in text.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push_str("\r\n");
    }
    out
}

/// A multipart/mixed message with one attachment of `decoded` bytes.
fn with_attachment(tag: &str, decoded: usize, seed: u64) -> Vec<u8> {
    format!(
        "From: files@corp.example\r\nTo: alice@163.com\r\nSubject: {tag}\r\n\
         Date: Tue, 5 Mar 2024 09:00:00 +0800\r\nMessage-ID: <{tag}@corp.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b-{seed}\"\r\n\r\n\
         --b-{seed}\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nSee attached.\r\n\r\n\
         --b-{seed}\r\nContent-Type: application/octet-stream; name=\"{tag}.bin\"\r\n\
         Content-Disposition: attachment; filename=\"{tag}.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}--b-{seed}--\r\n",
        base64_lines(decoded, seed)
    )
    .into_bytes()
}

/// Seeds each fixture and `generated` messages into the folders, cycling flags and dates
/// (given in +0800, -0500 and +0000). Returns what was seeded.
fn seed_varied(user: &TestUser, folders: &[&str], generated_per_folder: usize) -> Vec<Seed> {
    let zones = [8, -5, 0];
    let mut all = Vec::new();
    let mut k = 0usize;
    let mut next = |raw: Vec<u8>| {
        k += 1;
        let unix = 1_600_000_000 + (k as i64) * 86_400 * 7 + (k as i64 * 3_607) % 86_400;
        Seed::new(
            raw,
            FLAG_SETS[k % FLAG_SETS.len()],
            imap_date(unix, zones[k % 3]),
        )
    };
    let fixtures = all_fixtures();
    for (fi, folder) in folders.iter().enumerate() {
        let mut seeds: Vec<Seed> = Vec::new();
        // INBOX gets every fixture; other folders every other one.
        for (i, (_, raw)) in fixtures.iter().enumerate() {
            if fi == 0 || i % 2 == fi % 2 {
                seeds.push(next(raw.clone()));
            }
        }
        for i in 0..generated_per_folder {
            seeds.push(next(generated(&format!("varied-{fi}"), i, 200 + i * 37)));
        }
        all.extend(seeds.iter().cloned());
        // One by one through the harness (synchronising literals), a second path besides
        // bulk_append.
        if !folder.eq_ignore_ascii_case("INBOX") {
            user.create_mailbox(folder);
        }
        for s in &seeds {
            let flags: Vec<&str> = s.flags.iter().map(String::as_str).collect();
            user.append(folder, &s.raw, &flags, Some(&s.date));
        }
    }
    all
}

// ---------------------------------------------------------------------------------------------
// 1. Fidelity

#[test]
fn bytes_flags_keywords_and_dates_arrive_exactly() {
    let d = dovecot();
    let src = d.new_user("fid-src");
    let dst = d.new_user("fid-dst");
    let folders = ["INBOX", "工作", "Archive/2023"];
    let seeded = seed_varied(&src, &folders, 12);
    let total = seeded.len();

    // What the source serves is what the fixtures and dates said (the harness is not lying).
    let inbox = src.messages("INBOX");
    assert!(
        inbox
            .iter()
            .any(|m| m.body == fixture("huge-header.eml") && m.body.len() > 90_000)
    );
    assert!(inbox.iter().any(|m| m.flags.contains(&"\\Deleted".into())));
    assert!(inbox.iter().any(|m| m.flags.contains(&"Work".into())));

    let out = Job::new(&src, &dst).run();
    out.assert_clean(total as u64, 0);
    let served_bytes: usize = folders
        .iter()
        .flat_map(|f| src.messages(f))
        .map(|m| m.body.len())
        .sum();
    assert_eq!(out.n("bytes"), served_bytes as u64, "{out:?}");
    for f in &folders {
        assert_same(&src, f, &dst, f);
    }
    assert_eq!(selectable(&dst), {
        let mut v: Vec<String> = folders.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    });
    // No flag was reported as impossible to keep: Dovecot stores keywords.
    for (source, (_, row)) in out.folders() {
        assert!(row.get("flags_not_kept").is_none(), "{source}: {row}");
    }

    // Spot checks a user would make: the LF-only message as served, 8-bit header bytes, the
    // keywords, and every date as given (-0500 too) is the same instant on the target.
    let copied = dst.messages("INBOX");
    let gbk = fixture("8bit-gbk.eml");
    assert!(
        copied.iter().any(|m| m.body == gbk),
        "GBK header bytes changed"
    );
    let lf = fixture("lf-only.eml");
    let lf_crlf: Vec<u8> = String::from_utf8(lf)
        .unwrap()
        .replace('\n', "\r\n")
        .into_bytes();
    assert!(copied.iter().any(|m| m.body == lf_crlf));
    let all_flags: BTreeSet<&String> = copied.iter().flat_map(|m| &m.flags).collect();
    for f in [
        "\\Seen",
        "\\Answered",
        "\\Flagged",
        "\\Draft",
        "\\Deleted",
        "$Forwarded",
        "$Label1",
        "Work",
    ] {
        assert!(
            all_flags.contains(&f.to_string()),
            "{f} lost: {all_flags:?}"
        );
    }
    let on_target: Vec<StoredMessage> = folders.iter().flat_map(|f| dst.messages(f)).collect();
    assert!(seeded.iter().any(|s| s.date.ends_with("-0500")));
    for s in &seeded {
        let served = s.raw.len() + s.raw.iter().filter(|&&b| b == b'\n').count()
            - s.raw.windows(2).filter(|w| w == b"\r\n").count();
        let stated = internaldate_unix(&s.date).unwrap();
        assert!(
            on_target
                .iter()
                .any(|m| m.body.len() == served && m.internaldate_unix() == stated),
            "{} given {} is not on the target at that instant",
            subject(&s.raw),
            s.date
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Folders

/// NetEase-style folders: special-use ones (declared by the test Dovecot) and Chinese, nested
/// user folders. Returns (folder, messages) seeded.
fn seed_netease_folders(src: &TestUser) -> Vec<(&'static str, usize)> {
    let layout: [(&str, usize); 8] = [
        ("INBOX", 2),
        ("已发送", 3),
        ("草稿箱", 1),
        ("已删除", 1),
        ("垃圾邮件", 1),
        ("工作", 2),
        ("客户", 1),
        ("客户/2024/三月", 2),
    ];
    for (i, (folder, n)) in layout.iter().enumerate() {
        let seeds: Vec<Seed> = (0..*n)
            .map(|k| {
                Seed::new(
                    generated(&format!("folder-{i}"), k, 300),
                    FLAG_SETS[(i + k) % FLAG_SETS.len()],
                    imap_date(1_700_000_000 + (i * 10 + k) as i64 * 3_600, 8),
                )
            })
            .collect();
        bulk_append(src, folder, &seeds);
    }
    // The source lists them with special-use attributes, as 163 does.
    let boxes = src.mailboxes();
    let sent = boxes.iter().find(|m| m.name == "已发送").unwrap();
    assert!(sent.has("\\Sent"), "{:?}", sent.attributes);
    layout.to_vec()
}

#[test]
fn netease_folders_land_in_qq_special_folders_and_under_its_container() {
    let d = dovecot();
    let src = d.new_user("qqmap-src");
    let dst = d.new_user("qqmap-dst");
    let layout = seed_netease_folders(&src);
    let total: usize = layout.iter().map(|(_, n)| n).sum();

    let job = Job::new(&src, &dst)
        .source(Server {
            provider: Some("163"),
            ..direct()
        })
        .target(Server {
            provider: Some("qq"),
            ..direct()
        });
    let out = job.run();
    out.assert_clean(total as u64, 0);

    let expected: BTreeMap<&str, &str> = [
        ("INBOX", "INBOX"),
        ("已发送", "Sent Messages"),
        ("草稿箱", "Drafts"),
        ("已删除", "Deleted Messages"),
        ("垃圾邮件", "Junk"),
        ("工作", "其他文件夹/工作"),
        ("客户", "其他文件夹/客户"),
        ("客户/2024/三月", "其他文件夹/客户/2024/三月"),
    ]
    .into();
    let reported: BTreeMap<String, String> = out
        .folders()
        .into_iter()
        .map(|(s, (t, _))| (s, t))
        .collect();
    let want: BTreeMap<String, String> = expected
        .iter()
        .map(|(s, t)| (s.to_string(), t.to_string()))
        .collect();
    assert_eq!(reported, want, "{out:?}");
    let mut targets: Vec<String> = want.values().cloned().collect();
    targets.sort();
    assert_eq!(selectable(&dst), targets);
    for (s, t) in &expected {
        assert_same(&src, s, &dst, t);
    }
    // The container is a plain parent on the target, as on QQ.
    assert!(dst.mailbox_names().contains(&"其他文件夹".to_string()));
}

#[test]
fn generic_target_keeps_names_uses_its_existing_sent_and_honours_map() {
    let d = dovecot();
    let src = d.new_user("genmap-src");
    let dst = d.new_user("genmap-dst");
    let layout = seed_netease_folders(&src);
    let total: usize = layout.iter().map(|(_, n)| n).sum();
    // The target already has a "Sent" folder (no special-use attribute: found by name) with
    // mail of its own, which must stay.
    let own = generated("target-own", 0, 400);
    dst.append("Sent", &own, &["\\Seen"], None);

    let out = Job::new(&src, &dst)
        .yaml("folders:\n  map: { \"工作\": \"Projects/Work\" }\n")
        .run();
    out.assert_clean(total as u64, 0);
    let expected: BTreeMap<&str, &str> = [
        ("INBOX", "INBOX"),
        ("已发送", "Sent"),
        // No home for these roles on the target: they keep their names.
        ("草稿箱", "草稿箱"),
        ("已删除", "已删除"),
        ("垃圾邮件", "垃圾邮件"),
        ("工作", "Projects/Work"),
        ("客户", "客户"),
        ("客户/2024/三月", "客户/2024/三月"),
    ]
    .into();
    let reported: BTreeMap<String, String> = out
        .folders()
        .into_iter()
        .map(|(s, (t, _))| (s, t))
        .collect();
    let want: BTreeMap<String, String> = expected
        .iter()
        .map(|(s, t)| (s.to_string(), t.to_string()))
        .collect();
    assert_eq!(reported, want, "{out:?}");
    let mut targets: Vec<String> = want.values().cloned().collect();
    targets.sort();
    assert_eq!(selectable(&dst), targets);
    for (s, t) in &expected {
        if *t == "Sent" {
            continue;
        }
        assert_same(&src, s, &dst, t);
    }
    // Sent holds the source's sent mail plus what was there before, once each.
    let got_sent = content(&dst, "Sent");
    let src_sent = content(&src, "已发送");
    assert_eq!(got_sent.len(), src_sent.len() + 1);
    for m in &src_sent {
        assert!(got_sent.contains(m), "missing in Sent: {}", subject(&m.0));
    }
    assert!(got_sent.iter().any(|m| m.0 == own));
    let created: BTreeSet<String> = out.report["created_folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(!created.contains("Sent"), "{created:?}");
    assert!(created.contains("Projects/Work"), "{created:?}");
}

/// Seeds one message per folder and runs a job to a generic target; every folder must
/// arrive under its own name with its message.
fn assert_names_carried(prefix: &str, names: &[&str]) {
    let d = dovecot();
    let src = d.new_user(&format!("{prefix}-src"));
    let dst = d.new_user(&format!("{prefix}-dst"));
    for (i, name) in names.iter().enumerate() {
        src.append(name, &generated(prefix, i, 300), &["\\Seen"], None);
    }
    let out = Job::new(&src, &dst).run();
    out.assert_clean(names.len() as u64, 0);
    for name in names {
        assert_same(&src, name, &dst, name);
    }
}

#[test]
fn folder_names_with_imap_special_characters_are_carried() {
    // `&` is modified UTF-7's shift character; `%` and `*` are LIST wildcards.
    assert_names_carried(
        "oddnames",
        &[
            "R&D 部门",
            "50% off*",
            "INBOX/子",
            "Ünïcödé/日本語",
            "a&b/&-",
        ],
    );
}

#[test]
fn folder_names_with_quotes_and_backslashes_are_carried() {
    assert_names_carried("quotenames", &["Tom's \"notes\"", "C:\\backup"]);
}

// ---------------------------------------------------------------------------------------------
// 3. Filters

#[test]
fn date_filters_take_exactly_the_days_in_range() {
    let d = dovecot();
    let src = d.new_user("dates-src");
    let dst = d.new_user("dates-dst");
    // since: 2021-03-01 (inclusive), before: 2021-04-01 (exclusive); days as the server
    // prints the INTERNALDATE (+0800 here).
    let cases: [(&str, &str, bool); 9] = [
        ("feb-last-second", "28-Feb-2021 23:59:59 +0800", false),
        ("mar-first-second", "01-Mar-2021 00:00:00 +0800", true),
        // 13:00 UTC on Feb 28 is 01-Mar 01:00 in +0800.
        ("feb28-minus5", "28-Feb-2021 12:00:00 -0500", true),
        ("mid-march", "15-Mar-2021 12:00:00 +0800", true),
        ("mar-last-second", "31-Mar-2021 23:59:59 +0800", true),
        ("apr-first-second", "01-Apr-2021 00:00:00 +0800", false),
        // 17:00 UTC on Mar 31 is 01-Apr 01:00 in +0800.
        ("mar31-minus5", "31-Mar-2021 12:00:00 -0500", false),
        ("years-before", "01-Mar-2019 10:00:00 +0800", false),
        ("years-after", "15-Mar-2024 10:00:00 +0800", false),
    ];
    let seeds: Vec<Seed> = cases
        .iter()
        .enumerate()
        .map(|(i, (tag, date, _))| Seed::new(generated(tag, i, 300), &["\\Seen"], date.to_string()))
        .collect();
    bulk_append(&src, "INBOX", &seeds[..5]);
    bulk_append(&src, "往来", &seeds[5..]);

    let out = Job::new(&src, &dst)
        .yaml("filters:\n  since: 2021-03-01\n  before: 2021-04-01\n")
        .run();
    let taken: Vec<usize> = (0..cases.len()).filter(|&i| cases[i].2).collect();
    out.assert_clean(taken.len() as u64, 0);
    assert_eq!(
        out.n("filtered"),
        (cases.len() - taken.len()) as u64,
        "{out:?}"
    );
    let folders = out.folders();
    assert_eq!(folders["INBOX"].1["filtered"], 1, "{out:?}");
    assert_eq!(folders["往来"].1["filtered"], 4, "{out:?}");

    let mut want: Vec<String> = taken
        .iter()
        .map(|&i| format!("{} #{i} 测试", cases[i].0))
        .collect();
    want.sort();
    let mut got = subjects(&dst, "INBOX");
    if dst.mailbox_names().contains(&"往来".to_string()) {
        got.extend(subjects(&dst, "往来"));
    }
    got.sort();
    assert_eq!(got, want);
}

#[test]
fn attachment_and_size_filters_select_exactly_the_right_messages() {
    let d = dovecot();
    let src = d.new_user("attf-src");
    // (raw, decoded size of its largest attachment; None when it has none). Every fixture
    // goes in: a filter must not trip over 8-bit headers, a huge header or a raw UTF-8
    // attachment name.
    let mut corpus: Vec<(Vec<u8>, Option<usize>)> = all_fixtures()
        .into_iter()
        .map(|(name, raw)| {
            let largest = match name.as_str() {
                "attachment-pdf.eml" => Some(6_016),
                "attachment-8bit-filename.eml" => Some(4_000),
                // The forwarded message is the attachment (about 2 KB).
                "forwarded-rfc822.eml" => Some(2_500),
                _ => None,
            };
            (raw, largest)
        })
        .collect();
    corpus.push((with_attachment("att-20k", 20_000, 1), Some(20_000)));
    corpus.push((with_attachment("att-300k", 300_000, 2), Some(300_000)));
    corpus.push((generated("plain-150k", 1, 150_000), None));
    // Exactly at the max_size limit below (kept) and one byte over (left out).
    corpus.push((exact_size("at-limit", 100_000), None));
    corpus.push((exact_size("over-limit", 100_001), None));
    let seeds: Vec<Seed> = corpus
        .iter()
        .enumerate()
        .map(|(i, (raw, _))| {
            Seed::new(
                raw.clone(),
                FLAG_SETS[i % FLAG_SETS.len()],
                imap_date(1_710_000_000 + i as i64 * 60, 8),
            )
        })
        .collect();
    bulk_append(&src, "INBOX", &seeds);
    // Sizes as the server counts them (bare LF becomes CRLF).
    let served: BTreeMap<String, usize> = src
        .messages("INBOX")
        .iter()
        .map(|m| (subject(&m.body), m.body.len()))
        .collect();
    assert_eq!(served.len(), corpus.len(), "subjects must be unique");
    let size = |raw: &[u8]| served[&subject(raw)];
    assert!(
        corpus
            .iter()
            .any(|(r, _)| size(r) > 100_000 && size(r) < 200_000)
    );

    type Rule = fn(usize, Option<usize>) -> bool;
    let cases: [(&str, Rule); 5] = [
        ("  attachments: only\n", |_, att| att.is_some()),
        ("  attachments: none\n", |_, att| att.is_none()),
        // Messages without attachments pass; so do those whose attachments are all small.
        ("  max_attachment_size: 100KB\n", |_, att| {
            att.is_none_or(|a| a <= 100_000)
        }),
        ("  max_size: 100KB\n", |size, _| size <= 100_000),
        (
            "  attachments: only\n  max_attachment_size: 100KB\n",
            |_, att| att.is_some_and(|a| a <= 100_000),
        ),
    ];
    let src_msgs = content(&src, "INBOX");
    for (filters, rule) in cases {
        let mut want: Vec<String> = corpus
            .iter()
            .filter(|(raw, att)| rule(size(raw), *att))
            .map(|(raw, _)| subject(raw))
            .collect();
        want.sort();
        assert!(!want.is_empty() && want.len() < corpus.len(), "{filters}");
        let dst = d.new_user("attf-dst");
        let out = Job::new(&src, &dst)
            .yaml(&format!("filters:\n{filters}"))
            .run();
        out.assert_clean(want.len() as u64, 0);
        assert_eq!(
            out.n("filtered"),
            (corpus.len() - want.len()) as u64,
            "{filters}: {out:?}"
        );
        assert_eq!(subjects(&dst, "INBOX"), want, "{filters}");
        // Whatever is copied is still byte-exact, with its flags and date.
        for m in content(&dst, "INBOX") {
            assert!(
                src_msgs.contains(&m),
                "{filters}: {} changed",
                subject(&m.0)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Reruns never duplicate

#[test]
fn rerun_copies_nothing_even_without_the_checkpoint() {
    let d = dovecot();
    let src = d.new_user("rerun-src");
    let dst = d.new_user("rerun-dst");
    let folders = ["INBOX", "已发送", "项目/甲"];
    let total = seed_varied(&src, &folders, 8).len() as u64;
    // Exact duplicates on the source (same bytes twice) are two messages, carried twice.
    let dup = Seed::new(
        generated("dup", 0, 500),
        &["\\Seen"],
        imap_date(1_650_000_000, 8),
    );
    bulk_append(&src, "INBOX", &[dup.clone(), dup]);
    let total = total + 2;

    let job = Job::new(&src, &dst);
    job.run().assert_clean(total, 0);
    let second = job.run();
    second.assert_clean(0, total);
    assert_eq!(second.n("bytes"), 0, "{second:?}");

    std::fs::remove_dir_all(job.state_dir()).unwrap();
    let third = job.run();
    third.assert_clean(0, total);
    assert_mirrored(&third, &src, &dst, &folders);
}

#[test]
fn target_holding_part_of_the_mail_gets_only_the_rest() {
    let d = dovecot();
    let src = d.new_user("part-src");
    let dst = d.new_user("part-dst");
    let seeds: Vec<Seed> = (0..30)
        .map(|i| {
            Seed::new(
                generated("part", i, 300 + i * 11),
                FLAG_SETS[i % FLAG_SETS.len()],
                imap_date(1_690_000_000 + i as i64 * 999, 8),
            )
        })
        .collect();
    bulk_append(&src, "INBOX", &seeds);
    // Another tool copied every third message before, with bare LF line ends and without
    // flags (so these differ until mailferry brings them up to date).
    let pre: Vec<Seed> = seeds
        .iter()
        .step_by(3)
        .map(|s| {
            let lf = String::from_utf8(s.raw.clone())
                .unwrap()
                .replace("\r\n", "\n");
            Seed::new(lf.into_bytes(), &[], s.date.clone())
        })
        .collect();
    bulk_append(&dst, "INBOX", &pre);

    // Copies mailferry did not make: only `flags: mirror` makes their flags the source's.
    let out = Job::new(&src, &dst).yaml("flags: mirror\n").run();
    out.assert_clean((seeds.len() - pre.len()) as u64, pre.len() as u64);
    assert_same(&src, "INBOX", &dst, "INBOX");
}

#[test]
fn rerun_follows_flag_changes_and_a_renumbered_source_folder() {
    let d = dovecot();
    let src = d.new_user("renum-src");
    let dst = d.new_user("renum-dst");
    let seeds: Vec<Seed> = (0..12)
        .map(|i| {
            Seed::new(
                generated("renum", i, 400),
                FLAG_SETS[i % FLAG_SETS.len()],
                imap_date(1_680_000_000 + i as i64 * 3_600, 8),
            )
        })
        .collect();
    bulk_append(&src, "项目", &seeds);
    let job = Job::new(&src, &dst).yaml("flags: mirror\n");
    job.run().assert_clean(12, 0);

    // Read and flagged on the source since: with `flags: mirror` the copies follow (marks
    // taken away too), nothing is copied again.
    let uids: Vec<u32> = src.messages("项目").iter().map(|m| m.uid).collect();
    src.set_flags("项目", uids[0], &["\\Seen", "\\Flagged", "$Label1"]);
    src.set_flags("项目", uids[7], &[]);
    let out = job.run();
    out.assert_clean(0, 12);
    assert_eq!(out.folders()["项目"].1["flags_updated"], 2, "{out:?}");
    assert_same(&src, "项目", &dst, "项目");

    // The folder is recreated on the source (new UIDVALIDITY, new UIDs) with one more
    // message: only that one is copied.
    let current: Vec<Seed> = src
        .messages("项目")
        .into_iter()
        .map(|m| {
            let flags: Vec<&str> = m.flags.iter().map(String::as_str).collect();
            Seed::new(m.body.clone(), &flags, m.internaldate.clone())
        })
        .collect();
    let out = src.doveadm(&["mailbox", "delete", "-u", &src.name, "项目"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut again = current;
    again.push(Seed::new(
        generated("renum-new", 0, 400),
        &["\\Seen"],
        imap_date(1_690_000_000, 8),
    ));
    bulk_append(&src, "项目", &again);
    let out = job.run();
    out.assert_clean(1, 12);
    let warnings = out.report["warnings"].to_string();
    assert!(warnings.contains("UIDVALIDITY"), "{out:?}");
    assert_same(&src, "项目", &dst, "项目");
}

// ---------------------------------------------------------------------------------------------
// 5. kill -9 at any point loses nothing and duplicates nothing

#[test]
fn kill_9_mid_run_then_rerun_gives_exactly_the_source() {
    let d = dovecot();
    let src = d.new_user("kill-src");
    let dst = d.new_user("kill-dst");
    let folders = ["INBOX", "往来"];
    let mut per_folder = Vec::new();
    for (fi, folder) in folders.iter().enumerate() {
        let n = if fi == 0 { 1500 } else { 500 };
        let mut seeds: Vec<Seed> = (0..n)
            .map(|i| {
                let raw = if i % 97 == 5 {
                    // No Message-ID, and all of these share one Date.
                    format!(
                        "From: bot@163.com\r\nSubject: 无编号 {i}\r\nDate: Mon, 4 Mar 2024 10:00:00 +0800\r\n\r\nbody {i}\r\n"
                    )
                    .into_bytes()
                } else {
                    generated(&format!("kill{fi}"), i, 250 + (i * 13) % 400)
                };
                Seed::new(
                    raw,
                    FLAG_SETS[i % FLAG_SETS.len()],
                    imap_date(1_600_000_000 + i as i64 * 4_321, 8),
                )
            })
            .collect();
        // Exact duplicates, and pairs equal in headers and size but not in body.
        for k in 0..5 {
            seeds.push(seeds[k * 100 + 7].clone());
            let a = format!(
                "From: twin@163.com\r\nSubject: twins {fi}-{k}\r\nMessage-ID: <twin-{fi}-{k}@x>\r\n\r\nbody A\r\n"
            );
            seeds.push(Seed::new(
                a.clone().into_bytes(),
                &[],
                imap_date(1_650_000_000, 8),
            ));
            seeds.push(Seed::new(
                a.replace("body A", "body B").into_bytes(),
                &["\\Seen"],
                imap_date(1_650_000_000, 8),
            ));
        }
        per_folder.push(seeds.len());
        bulk_append(&src, folder, &seeds);
    }
    let total: usize = per_folder.iter().sum();

    let job = Job::new(&src, &dst).workers(2);
    let mut probe = dst.login();
    let mut kills = Vec::new();
    for fraction in [0.15, 0.5, 0.8] {
        let threshold = (total as f64 * fraction) as usize;
        let mut child = job.spawn();
        let started = Instant::now();
        let at = loop {
            if let Some(status) = child.try_wait().unwrap() {
                let n: usize = folders.iter().map(|f| count(&mut probe, f)).sum();
                panic!(
                    "run ended ({status}) before {threshold} of {total} messages were copied \
                     (target has {n}; kills so far {kills:?}); the kill never happened\n{}",
                    job.spawned_output()
                );
            }
            let n: usize = folders.iter().map(|f| count(&mut probe, f)).sum();
            if n >= threshold {
                // SIGKILL: no Ctrl-C handler, no checkpoint flush.
                child.kill().unwrap();
                child.wait().unwrap();
                break n;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no progress: {n} copied"
            );
            thread::sleep(Duration::from_millis(2));
        };
        // Let the server finish whatever the dead process had sent, as it would have long
        // done by the time a person reruns.
        dst.kick();
        probe = dst.login();
        let after: usize = folders.iter().map(|f| count(&mut probe, f)).sum();
        assert!(
            after < total,
            "killed too late: {after} of {total} already there"
        );
        kills.push((at, after));
    }
    eprintln!("killed at (seen, settled) = {kills:?} of {total}");

    let out = job.run();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.n("failed"), 0, "{out:?}");
    assert_eq!(
        out.n("copied") + out.n("already_present"),
        total as u64,
        "{out:?}"
    );
    for f in &folders {
        assert_same(&src, f, &dst, f);
    }
    // And a last rerun has nothing left to do.
    job.run().assert_clean(0, total as u64);
}

#[test]
fn ctrl_c_stops_cleanly_and_a_rerun_finishes() {
    let d = dovecot();
    let src = d.new_user("int-src");
    let dst = d.new_user("int-dst");
    // More than the 32 MiB mailferry keeps in flight, so Ctrl-C leaves some unfetched.
    const N: usize = 48;
    let seeds: Vec<Seed> = (0..N)
        .map(|i| {
            Seed::new(
                with_attachment(&format!("int-{i}"), 750_000, i as u64),
                FLAG_SETS[i % FLAG_SETS.len()],
                imap_date(1_600_000_000 + i as i64 * 999, 8),
            )
        })
        .collect();
    bulk_append(&src, "INBOX", &seeds);
    let job = Job::new(&src, &dst);
    let mut child = job.spawn();
    let mut probe = dst.login();
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&mut probe, "INBOX") < 4 {
        assert!(child.try_wait().unwrap().is_none(), "ended before Ctrl-C");
        assert!(Instant::now() < deadline, "no progress");
        thread::sleep(Duration::from_millis(2));
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    let stdout = std::fs::read_to_string(job.dir.path().join("stdout.log")).unwrap();
    let report: Json = stdout
        .lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<Json>(l)
                .ok()
                .filter(|r| r.get("folders").is_some())
        })
        .unwrap_or_else(|| {
            panic!(
                "no report after Ctrl-C ({status})\n{}",
                job.spawned_output()
            )
        });
    assert_eq!(status.code(), Some(1), "{report:#}");
    assert_eq!(report["cancelled"], true, "{report:#}");
    let copied = report["copied"].as_u64().unwrap();
    assert!(copied > 0 && copied < N as u64, "{report:#}");
    // What it says it copied is there, and it stopped: nothing more arrives.
    let at_stop = count(&mut probe, "INBOX");
    assert_eq!(at_stop as u64, copied, "{report:#}");

    let out = job.run();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.n("already_present"), copied, "{out:?}");
    assert_eq!(out.n("copied"), N as u64 - copied, "{out:?}");
    assert_same(&src, "INBOX", &dst, "INBOX");
}

// ---------------------------------------------------------------------------------------------
// 6. Messages that look alike

#[test]
fn shared_and_missing_message_ids_are_all_carried() {
    let d = dovecot();
    let src = d.new_user("ids-src");
    let dst = d.new_user("ids-dst");
    let date = imap_date(1_709_700_000, 8);
    let no_id = |body: &str| {
        format!(
            "From: alerts@bank.example\r\nSubject: 动账通知\r\nDate: Tue, 05 Mar 2024 08:15:00 +0800\r\n\r\n{body}\r\n"
        )
        .into_bytes()
    };
    let seeds = vec![
        Seed::new(fixture("same-id-first.eml"), &["\\Seen"], date.clone()),
        Seed::new(fixture("same-id-second.eml"), &[], date.clone()),
        Seed::new(fixture("no-message-id.eml"), &["\\Flagged"], date.clone()),
        // Same headers, no Message-ID, bodies of different lengths.
        Seed::new(no_id("消费 12.00 元"), &[], date.clone()),
        Seed::new(no_id("消费 1288.00 元"), &[], date.clone()),
        // Same headers and same size, different bytes.
        Seed::new(no_id("code 111111"), &["\\Seen"], date.clone()),
        Seed::new(no_id("code 222222"), &["\\Seen"], date.clone()),
    ];
    bulk_append(&src, "INBOX", &seeds);

    let job = Job::new(&src, &dst);
    job.run().assert_clean(seeds.len() as u64, 0);
    assert_same(&src, "INBOX", &dst, "INBOX");
    job.run().assert_clean(0, seeds.len() as u64);
    std::fs::remove_dir_all(job.state_dir()).unwrap();
    job.run().assert_clean(0, seeds.len() as u64);
    assert_same(&src, "INBOX", &dst, "INBOX");
}

#[test]
fn partial_target_with_one_of_two_lookalikes_gets_the_other() {
    let d = dovecot();
    let src = d.new_user("twin-src");
    let dst = d.new_user("twin-dst");
    let date = imap_date(1_709_700_000, 8);
    let twin = |code: &str| {
        format!(
            "From: noreply@login.example\r\nSubject: 验证码\r\nMessage-ID: <otp@login.example>\r\n\
             Date: Tue, 05 Mar 2024 08:15:00 +0800\r\n\r\nYour code is {code}.\r\n"
        )
        .into_bytes()
    };
    let (a, b) = (twin("111111"), twin("222222"));
    assert_eq!(a.len(), b.len());
    bulk_append(
        &src,
        "INBOX",
        &[
            Seed::new(a.clone(), &["\\Seen"], date.clone()),
            Seed::new(b.clone(), &["\\Seen"], date.clone()),
        ],
    );
    // Either one already there: the other one must still arrive.
    for present in [&a, &b] {
        let dst = d.new_user("twin-dst");
        dst.append("INBOX", present, &["\\Seen"], Some(&date));
        let out = Job::new(&src, &dst).run();
        out.assert_clean(1, 1);
        assert_same(&src, "INBOX", &dst, "INBOX");
    }
    // Neither there: both copied; then both there: nothing to do, even for a fresh job.
    Job::new(&src, &dst).run().assert_clean(2, 0);
    Job::new(&src, &dst).run().assert_clean(0, 2);
    assert_same(&src, "INBOX", &dst, "INBOX");
}

#[test]
fn lookalike_already_on_target_does_not_hide_a_different_source_message() {
    // The target holds a message with the same headers and size as the source's only one,
    // but different bytes (a one-time code mail, say): the source's message is not there.
    let d = dovecot();
    let src = d.new_user("hide-src");
    let dst = d.new_user("hide-dst");
    let date = imap_date(1_709_700_000, 8);
    let twin = |code: &str| {
        format!(
            "From: noreply@login.example\r\nSubject: 验证码\r\nMessage-ID: <otp@login.example>\r\n\
             Date: Tue, 05 Mar 2024 08:15:00 +0800\r\n\r\nYour code is {code}.\r\n"
        )
        .into_bytes()
    };
    src.append("INBOX", &twin("111111"), &["\\Seen"], Some(&date));
    dst.append("INBOX", &twin("222222"), &["\\Seen"], Some(&date));
    let out = Job::new(&src, &dst).run();
    assert_eq!(out.code, 0, "{out:?}");
    let got = content(&dst, "INBOX");
    for m in content(&src, "INBOX") {
        assert!(got.contains(&m), "source message never copied: {out:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Connections cut mid-run

/// `per_folder` messages of `size` to `size` + 1 KB in each of two folders.
fn seed_for_cuts(src: &TestUser, per_folder: usize, size: usize) -> Vec<&'static str> {
    let folders = vec!["INBOX", "工作"];
    for (fi, folder) in folders.iter().enumerate() {
        let seeds: Vec<Seed> = (0..per_folder)
            .map(|i| {
                Seed::new(
                    generated(&format!("cut{fi}"), i, size + (i * 31) % 1_000),
                    FLAG_SETS[i % FLAG_SETS.len()],
                    imap_date(1_620_000_000 + i as i64 * 7_777, 8),
                )
            })
            .collect();
        bulk_append(src, folder, &seeds);
    }
    folders
}

#[test]
fn source_connections_cut_mid_fetch_are_resumed() {
    let d = dovecot();
    let src = d.new_user("scut-src");
    let dst = d.new_user("scut-dst");
    // About 1 MB of bodies; the planner's metadata (about 100 KB) passes before the first cut.
    let folders = seed_for_cuts(&src, 150, 2_500);
    let proxy = Proxy::start(
        d.plain_port(),
        vec![Quirk::CutAfterServerBytes {
            bytes: 200_000,
            times: 2,
        }],
    );
    let out = Job::new(&src, &dst).source(via(&proxy)).run();
    out.assert_clean(300, 0);
    for f in &folders {
        assert_same(&src, f, &dst, f);
    }
    // Both cuts happened while fetching and were overcome by reconnecting.
    assert!(out.reconnects("source") >= 2, "{out:?}");
    assert_eq!(out.reconnects("target"), 0, "{out:?}");
}

#[test]
fn target_connections_cut_mid_append_are_resumed_without_duplicates() {
    let d = dovecot();
    let src = d.new_user("tcut-src");
    let dst = d.new_user("tcut-dst");
    // Target connections say little (an APPEND's answer is about 90 bytes): many small
    // messages make enough APPENDs for each append connection to pass the cut, while the
    // planner's connection (login, LIST, CREATEs, SELECTs: under 2 KB) stays below it.
    let folders = seed_for_cuts(&src, 500, 300);
    let proxy = Proxy::start(
        d.plain_port(),
        vec![Quirk::CutAfterServerBytes {
            bytes: 2_600,
            times: 2,
        }],
    );
    let out = Job::new(&src, &dst).target(via(&proxy)).run();
    out.assert_clean(1000, 0);
    for f in &folders {
        assert_same(&src, f, &dst, f);
    }
    assert!(out.reconnects("target") >= 2, "{out:?}");
    // A cut APPEND leaves its outcome unknown: the target was looked at (EXAMINE) before
    // writing again, which is what kept duplicates out.
    let commands = proxy.commands();
    assert!(
        commands.iter().any(|c| c.contains(" EXAMINE ")),
        "no look before re-APPEND: {commands:#?}"
    );
}

/// Cuts that hit the planning phase: the source's metadata FETCH (20 KB in), and the target's
/// connection during login (1 KB in).
fn planning_cuts() -> [(&'static str, usize); 2] {
    [("source", 20_000), ("target", 1_000)]
}

#[test]
fn run_stopped_by_a_cut_while_planning_finishes_on_rerun() {
    let d = dovecot();
    let src = d.new_user("pcut-src");
    let folders = seed_for_cuts(&src, 60, 500);
    for (side, bytes) in planning_cuts() {
        let dst = d.new_user("pcut-dst");
        let proxy = Proxy::start(
            d.plain_port(),
            vec![Quirk::CutAfterServerBytes { bytes, times: 1 }],
        );
        let job = match side {
            "source" => Job::new(&src, &dst).source(via(&proxy)),
            _ => Job::new(&src, &dst).target(via(&proxy)),
        };
        let first = job.command(&[]).output().unwrap();
        let code = first.status.code();
        assert!(
            matches!(code, Some(0 | 2)),
            "{side} cut: exit {code:?}: {}",
            String::from_utf8_lossy(&first.stderr)
        );
        let out = job.run();
        assert_eq!(out.code, 0, "{side} cut, rerun: {out:?}");
        assert_eq!(out.n("copied") + out.n("already_present"), 120, "{out:?}");
        for f in &folders {
            assert_same(&src, f, &dst, f);
        }
    }
}

#[test]
fn connection_cut_while_planning_is_retried() {
    let d = dovecot();
    let src = d.new_user("pcut2-src");
    let folders = seed_for_cuts(&src, 60, 500);
    for (side, bytes) in planning_cuts() {
        let dst = d.new_user("pcut2-dst");
        let proxy = Proxy::start(
            d.plain_port(),
            vec![Quirk::CutAfterServerBytes { bytes, times: 1 }],
        );
        let job = match side {
            "source" => Job::new(&src, &dst).source(via(&proxy)),
            _ => Job::new(&src, &dst).target(via(&proxy)),
        };
        let out = job.run();
        out.assert_clean(120, 0);
        assert!(out.reconnects(side) >= 1, "{side}: {out:?}");
        for f in &folders {
            assert_same(&src, f, &dst, f);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 8. A message the target refuses

#[test]
fn refused_append_is_reported_and_only_it_is_retried() {
    let d = dovecot();
    let src = d.new_user("refuse-src");
    let dst = d.new_user("refuse-dst");
    let small: Vec<Seed> = (0..20)
        .map(|i| {
            Seed::new(
                generated("small", i, 400),
                FLAG_SETS[i % FLAG_SETS.len()],
                imap_date(1_700_000_000 + i as i64 * 60, 8),
            )
        })
        .collect();
    bulk_append(&src, "INBOX", &small);
    // The proxy judges an APPEND by its first message, so the big one travels alone in its
    // folder: one message, one APPEND.
    let big = with_attachment("too-big-for-target", 150_000, 7);
    let big_literal = format!("{{{}", big.len());
    bulk_append(
        &src,
        "大附件",
        &[Seed::new(big, &["\\Seen"], imap_date(1_700_000_000, 8))],
    );
    let big_uid = src.messages("大附件")[0].uid;
    let proxy = Proxy::start(
        d.plain_port(),
        vec![Quirk::RejectAppendsLargerThan(100_000)],
    );
    let job = Job::new(&src, &dst).target(via(&proxy));

    let check = |out: &Outcome, copied: u64, present: u64| {
        assert_eq!(out.code, 1, "{out:?}");
        assert_eq!(
            (out.n("copied"), out.n("already_present"), out.n("failed")),
            (copied, present, 1),
            "{out:?}"
        );
        let failures = out.failures();
        assert_eq!(failures.len(), 1, "{out:?}");
        let f = &failures[0];
        assert_eq!(f["folder"], "大附件", "{f}");
        assert_eq!(f["uid"], big_uid, "{f}");
        assert_eq!(f["message_id"], "<too-big-for-target@corp.example>", "{f}");
        // The server's own words, quoted.
        let reason = f["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("\"[LIMIT] Message too large\""), "{reason}");
    };
    let first = job.run();
    check(&first, 20, 0);
    assert_same(&src, "INBOX", &dst, "INBOX");
    assert!(content(&dst, "大附件").is_empty());

    let appends_before = proxy
        .commands()
        .iter()
        .filter(|c| c.contains("APPEND"))
        .count();
    let second = job.run();
    check(&second, 0, 20);
    let appends: Vec<String> = proxy
        .commands()
        .into_iter()
        .filter(|c| c.contains("APPEND"))
        .skip(appends_before)
        .collect();
    assert_eq!(
        appends.len(),
        1,
        "the rerun retried more than the failed one: {appends:?}"
    );
    assert!(appends[0].contains(&big_literal), "{appends:?}");
}

// ---------------------------------------------------------------------------------------------
// 9. Dry run

#[test]
fn dry_run_writes_nothing_and_reports_what_it_would_do() {
    let d = dovecot();
    let src = d.new_user("dry-src");
    let dst = d.new_user("dry-dst");
    let layout = seed_netease_folders(&src);
    let total: u64 = layout.iter().map(|(_, n)| *n as u64).sum();
    // One INBOX message is already on the target, with other flags.
    let first = src.messages("INBOX").remove(0);
    dst.append("INBOX", &first.body, &[], Some(&first.internaldate));
    let before = content(&dst, "INBOX");
    let boxes_before = dst.mailbox_names();

    let job = Job::new(&src, &dst).target(Server {
        provider: Some("qq"),
        ..direct()
    });
    let out = job.run_with(&["--dry-run"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.report["dry_run"], true);
    assert_eq!(
        (out.n("copied"), out.n("already_present"), out.n("failed")),
        (total - 1, 1, 0),
        "{out:?}"
    );
    let created: BTreeSet<&str> = out.report["created_folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(created.contains("Sent Messages") && created.contains("其他文件夹/客户/2024/三月"));
    assert!(!created.contains("INBOX"));
    assert_eq!(
        dst.mailbox_names(),
        boxes_before,
        "a dry run created folders"
    );
    assert_eq!(
        content(&dst, "INBOX"),
        before,
        "a dry run changed the target"
    );

    // Nothing was recorded either: the real run copies everything left.
    job.run().assert_clean(total - 1, 1);
}

// ---------------------------------------------------------------------------------------------
// 10. A big message

#[test]
fn twenty_megabyte_message_arrives_byte_exact() {
    let d = dovecot();
    let src = d.new_user("big-src");
    let dst = d.new_user("big-dst");
    let big = with_attachment("twenty-megabytes", 15_000_000, 20);
    assert!(big.len() > 20_000_000, "{}", big.len());
    let date = imap_date(1_700_000_000, 8);
    src.append("INBOX", &big, &["\\Seen", "$Label1"], Some(&date));
    src.append("INBOX", &generated("beside-big", 0, 300), &[], Some(&date));

    Job::new(&src, &dst).run().assert_clean(2, 0);
    let copied = dst.messages("INBOX");
    let got = copied
        .iter()
        .find(|m| m.body.len() == big.len())
        .expect("the big message is not on the target");
    assert!(got.body == big, "the big message's bytes differ");
    assert_eq!(got.flags, ["$Label1", "\\Seen"]);
    assert_eq!(got.internaldate, date);
    assert_same(&src, "INBOX", &dst, "INBOX");
}

// ---------------------------------------------------------------------------------------------
// 11. Workers

#[test]
fn four_workers_over_several_folders_give_the_same_result() {
    let d = dovecot();
    let src = d.new_user("w4-src");
    let dst = d.new_user("w4-dst");
    let folders = ["INBOX", "已发送", "工作", "客户/2024"];
    let mut total = 0;
    for (fi, folder) in folders.iter().enumerate() {
        let seeds: Vec<Seed> = (0..90)
            .map(|i| {
                Seed::new(
                    generated(&format!("w{fi}"), i, 300 + (i * 53) % 2_000),
                    FLAG_SETS[(i + fi) % FLAG_SETS.len()],
                    imap_date(1_600_000_000 + (i * 5 + fi) as i64 * 11_111, 8),
                )
            })
            .collect();
        total += seeds.len();
        bulk_append(&src, folder, &seeds);
    }
    let out = Job::new(&src, &dst).workers(4).run();
    out.assert_clean(total as u64, 0);
    for (source, (_, row)) in out.folders() {
        assert_eq!(row["copied"], 90, "{source}: {row}");
    }
    assert_mirrored(&out, &src, &dst, &folders);
}

/// A refused message among others in one MULTIAPPEND: the server refuses the whole command,
/// and mailferry retries one by one so only that message fails.
#[test]
fn a_refused_message_inside_a_multiappend_fails_alone() {
    let d = dovecot();
    let src = d.new_user("multi-src");
    let dst = d.new_user("multi-dst");
    let mut seeds: Vec<Seed> = (0..40)
        .map(|i| {
            Seed::new(
                generated("multi", i, 300),
                FLAG_SETS[i % FLAG_SETS.len()],
                imap_date(1_700_000_000 + i as i64 * 60, 8),
            )
        })
        .collect();
    seeds.insert(
        20,
        Seed::new(
            with_attachment("multi-too-big", 150_000, 3),
            &["\\Seen"],
            imap_date(1_700_000_000, 8),
        ),
    );
    bulk_append(&src, "INBOX", &seeds);
    let proxy = Proxy::start(
        d.plain_port(),
        vec![Quirk::RejectAppendsLargerThan(100_000)],
    );
    let out = Job::new(&src, &dst).target(via(&proxy)).run();
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!((out.n("copied"), out.n("failed")), (40, 1), "{out:?}");
    let failures = out.failures();
    assert_eq!(failures.len(), 1, "{out:?}");
    assert!(
        failures[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("Message too large")),
        "{out:?}"
    );
    assert_eq!(dst.messages("INBOX").len(), 40);
}
