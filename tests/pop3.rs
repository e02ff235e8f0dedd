//! POP3 as a source, against Dovecot's real pop3d: every message arrives byte-exact (dot
//! lines, no final line end, 8-bit bodies, a large message), reruns and resumes add nothing,
//! a server without UIDL still gets no duplicates, a cut RETR is retried, a refused login
//! gives the authorization-code hint, and a mailbox that looks cut by the provider's 30-day
//! POP3 window is named as such. The mailbox is seeded and read back over IMAP by the
//! harness's own client; nothing is ever deleted from it.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use support::*;

/// The `pop3:` side for a test user: Dovecot's plain POP3 port, or a proxy's.
fn pop3_yaml(u: &TestUser, port: u16, extra: &str) -> String {
    format!(
        "  pop3: {{ host: 127.0.0.1, port: {port}, tls: none, user: \"{}\", password: {{ env: MF_SRC }}{extra} }}\n",
        u.name
    )
}

fn env<'a>(src: &'a TestUser, dst: &'a TestUser) -> [(&'static str, &'a str); 2] {
    [("MF_SRC", &src.password), ("MF_DST", &dst.password)]
}

/// Messages in the shapes POP3's dot-stuffing and line ends make awkward.
fn awkward() -> Vec<(&'static str, Vec<u8>)> {
    let mut big = b"From: big@163.com\r\nSubject: big\r\nMessage-ID: <big@t>\r\n\r\n".to_vec();
    for i in 0..40_000 {
        big.extend_from_slice(
            format!(".line {i} starts with a dot and is long enough\r\n").as_bytes(),
        );
    }
    vec![
        (
            "lone dot",
            b"Received: from a by b; Tue, 6 Jul 2021 20:00:00 +0800\r\nSubject: lone dot\r\n\r\nbefore\r\n.\r\nafter\r\n".to_vec(),
        ),
        (
            "dots",
            b"Subject: dots\r\nDate: Mon, 5 Jul 2021 10:00:00 +0000\r\n\r\n..two\r\n...three\r\n.\r\n..\r\n".to_vec(),
        ),
        (
            "no final line end",
            b"Subject: no final line end\r\nMessage-ID: <noend@t>\r\n\r\nthe last line has no end".to_vec(),
        ),
        (
            "8-bit",
            "Subject: 8-bit 测试\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n中文正文，没有编码。\r\n\u{00e9}t\u{00e9}\r\n"
                .as_bytes()
                .to_vec(),
        ),
        ("no body", b"Subject: no body\r\nMessage-ID: <nobody@t>\r\n\r\n".to_vec()),
        (
            "same id",
            b"Subject: same id A\r\nMessage-ID: <shared@t>\r\n\r\nfirst\r\n".to_vec(),
        ),
        (
            "same id",
            b"Subject: same id B\r\nMessage-ID: <shared@t>\r\n\r\nsecond\r\n".to_vec(),
        ),
        (
            "short lines",
            format!("Subject: short lines\r\n\r\n{}", "a\r\n".repeat(300)).into_bytes(),
        ),
        ("big", big),
    ]
}

fn seed_awkward(src: &TestUser) {
    let seeds: Vec<Seed> = awkward()
        .into_iter()
        .map(|(_, raw)| Seed::new(raw, &[], imap_date(1_625_000_000, 8)))
        .collect();
    bulk_append(src, "INBOX", &seeds);
}

fn bodies(u: &TestUser, folder: &str) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = u.messages(folder).into_iter().map(|m| m.body).collect();
    v.sort();
    v
}

fn plan_json(profile: &std::path::Path, envs: &[(&str, &str)]) -> (i32, Json, String) {
    let out = Command::new(BIN)
        .args(["plan"])
        .arg(profile)
        .arg("--json")
        .envs(envs.iter().copied())
        .env_remove("MAILFERRY_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(stdout.trim()).unwrap_or(Json::Null);
    (out.status.code().unwrap_or(-1), json, stderr)
}

#[test]
fn pop3_to_imap_is_byte_exact_and_a_rerun_adds_nothing() {
    let d = dovecot();
    let (src, dst) = (d.new_user("p3src"), d.new_user("p3dst"));
    seed_awkward(&src);
    let dir = tempfile::tempdir().unwrap();
    let profile = write_profile(
        dir.path(),
        &pop3_yaml(&src, d.pop3_port(), ", seen: true"),
        &imap_yaml(&dst, "MF_DST"),
    );
    let first = run_profile(&profile, &env(&src, &dst));
    assert_eq!(first.code, 0, "{}", first.output);
    assert_eq!(first.report["copied"], 9, "{}", first.output);
    assert_eq!(bodies(&dst, "INBOX"), bodies(&src, "INBOX"));
    // POP3 has no flags or INTERNALDATE: `seen: true` marks copies read, and the received
    // date comes from the newest Received: header, else Date:.
    let copies = dst.messages("INBOX");
    assert!(
        copies
            .iter()
            .all(|m| m.flags.contains(&"\\Seen".to_string()))
    );
    let date_of = |subject: &str| {
        copies
            .iter()
            .find(|m| support::subject(&m.body) == subject)
            .map(|m| m.internaldate_unix())
            .unwrap()
    };
    assert_eq!(date_of("lone dot"), 1_625_572_800);
    assert_eq!(date_of("dots"), 1_625_479_200);

    // verify reads both sides and agrees, message by message.
    let (code, text) = mailferry_on("verify", &profile, &["--json", "--deep"], &env(&src, &dst));
    assert_eq!(code, 0, "{text}");

    let again = run_profile(&profile, &env(&src, &dst));
    assert_eq!(again.code, 0, "{}", again.output);
    assert_eq!(again.report["copied"], 0, "{}", again.output);
    assert_eq!(dst.messages("INBOX").len(), 9);
    // Read-only: the source keeps every message.
    assert_eq!(src.messages("INBOX").len(), 9);

    // A lost state dir still adds nothing: presence is decided by content.
    std::fs::remove_dir_all(dir.path().join("state")).unwrap();
    let fresh = run_profile(&profile, &env(&src, &dst));
    assert_eq!(fresh.code, 0, "{}", fresh.output);
    assert_eq!(fresh.report["copied"], 0, "{}", fresh.output);
    assert_eq!(dst.messages("INBOX").len(), 9);
}

#[test]
fn pop3_to_archive_verifies_deep_and_reruns_add_nothing() {
    let d = dovecot();
    let src = d.new_user("p3arc");
    seed_awkward(&src);
    let dir = tempfile::tempdir().unwrap();
    let profile = write_profile(
        dir.path(),
        &pop3_yaml(&src, d.pop3_port(), ""),
        "  archive: { path: backup }\n",
    );
    let envs = [("MF_SRC", src.password.as_str())];
    let first = run_profile(&profile, &envs);
    assert_eq!(first.code, 0, "{}", first.output);
    assert_eq!(first.report["copied"], 9, "{}", first.output);
    let again = run_profile(&profile, &envs);
    assert_eq!(again.report["copied"], 0, "{}", again.output);
    let (code, text) = mailferry_on("verify", &profile, &["--json", "--deep"], &envs);
    assert_eq!(code, 0, "{text}");

    // Restored from the archive into IMAP, the bytes are the source's.
    let dst = d.new_user("p3restore");
    let restore = write_profile(
        dir.path(),
        "  archive: backup\n",
        &imap_yaml(&dst, "MF_DST"),
    );
    let r = run_profile(&restore, &[("MF_DST", dst.password.as_str())]);
    assert_eq!(r.code, 0, "{}", r.output);
    assert_eq!(bodies(&dst, "INBOX"), bodies(&src, "INBOX"));
}

#[test]
fn without_uidl_reruns_and_resumes_add_no_copy() {
    let d = dovecot();
    let (src, dst) = (d.new_user("p3nouidl"), d.new_user("p3nouidldst"));
    let seeds: Vec<Seed> = (0..120)
        .map(|i| {
            Seed::new(
                generated("nouidl", i, 2000),
                &[],
                imap_date(1_700_000_000, 8),
            )
        })
        .collect();
    bulk_append(&src, "INBOX", &seeds);
    // The same message twice: two copies on the source need two on the target.
    bulk_append(&src, "INBOX", &seeds[..1]);
    let proxy = Pop3Proxy::start(
        d.pop3_port(),
        vec![
            Pop3Quirk::NoUidl,
            Pop3Quirk::DelayRetr(Duration::from_millis(15)),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let profile = write_profile(
        dir.path(),
        &pop3_yaml(&src, proxy.port(), ""),
        &imap_yaml(&dst, "MF_DST"),
    );
    // Killed partway, then run to the end, then again.
    let mut child = Command::new(BIN)
        .arg("run")
        .arg(&profile)
        .arg("--json")
        .envs(env(&src, &dst))
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while dst.messages("INBOX").len() < 20 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    let _ = child.wait();
    let partial = dst.messages("INBOX").len();
    assert!(partial < 121, "the run ended before it was killed");
    let resumed = run_profile(&profile, &env(&src, &dst));
    assert_eq!(resumed.code, 0, "{}", resumed.output);
    assert_eq!(bodies(&dst, "INBOX"), bodies(&src, "INBOX"));
    let again = run_profile(&profile, &env(&src, &dst));
    assert_eq!(again.report["copied"], 0, "{}", again.output);
    assert_eq!(dst.messages("INBOX").len(), 121);
    // CAPA did not offer UIDL, so it was never asked for; every session ended with QUIT.
    let commands = proxy.commands();
    assert!(!commands.iter().any(|c| c == "UIDL"), "{commands:?}");
    let sessions = commands.iter().filter(|c| c.starts_with("USER")).count();
    let quits = commands.iter().filter(|c| *c == "QUIT").count();
    assert_eq!(
        quits,
        sessions - 1,
        "only the killed run ends without QUIT: {commands:?}"
    );
    for c in &commands {
        let verb = c.split(' ').next().unwrap_or_default();
        assert!(
            [
                "CAPA", "USER", "PASS", "STAT", "UIDL", "LIST", "TOP", "RETR", "QUIT"
            ]
            .contains(&verb),
            "a command that is not a read: {c}"
        );
    }
}

#[test]
fn a_connection_cut_mid_retr_is_retried() {
    let d = dovecot();
    let (src, dst) = (d.new_user("p3cut"), d.new_user("p3cutdst"));
    let seeds: Vec<Seed> = (0..6)
        .map(|i| {
            Seed::new(
                generated("cut", i, 60_000),
                &[],
                imap_date(1_700_000_000, 8),
            )
        })
        .collect();
    bulk_append(&src, "INBOX", &seeds);
    // The listing is small; the cut falls inside the RETRs that follow it.
    let proxy = Pop3Proxy::start(
        d.pop3_port(),
        vec![Pop3Quirk::CutAfterServerBytes {
            bytes: 150_000,
            times: 2,
        }],
    );
    let dir = tempfile::tempdir().unwrap();
    let profile = write_profile(
        dir.path(),
        &pop3_yaml(&src, proxy.port(), ""),
        &imap_yaml(&dst, "MF_DST"),
    );
    let r = run_profile(&profile, &env(&src, &dst));
    assert_eq!(r.code, 0, "{}", r.output);
    assert_eq!(proxy.cuts(), 2);
    assert_eq!(bodies(&dst, "INBOX"), bodies(&src, "INBOX"));
}

#[test]
fn a_refused_login_gives_the_authorization_code_hint_and_exit_2() {
    let d = dovecot();
    let (src, dst) = (d.new_user("p3badpw"), d.new_user("p3badpwdst"));
    let dir = tempfile::tempdir().unwrap();
    let profile = write_profile(
        dir.path(),
        &pop3_yaml(&src, d.pop3_port(), ""),
        &imap_yaml(&dst, "MF_DST"),
    );
    let r = run_profile(
        &profile,
        &[("MF_SRC", "wrong-code"), ("MF_DST", &dst.password)],
    );
    assert_eq!(r.code, 2, "{}", r.output);
    assert!(r.output.contains("login as"), "{}", r.output);
    assert!(r.output.contains("Authentication failed"), "{}", r.output);
    assert!(r.output.contains("authorization code"), "{}", r.output);
    assert!(!r.output.contains("wrong-code"), "the password was printed");

    // doctor shows the steps up to the refusal, quoting the server.
    let (code, text) = mailferry_on(
        "doctor",
        &profile,
        &[],
        &[("MF_SRC", "wrong-code"), ("MF_DST", dst.password.as_str())],
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("capabilities (CAPA)"), "{text}");
    assert!(text.contains("FAIL source login"), "{text}");
}

#[test]
fn doctor_checks_pop3_step_by_step() {
    let d = dovecot();
    let (src, dst) = (d.new_user("p3doc"), d.new_user("p3docdst"));
    bulk_append(
        &src,
        "INBOX",
        &[Seed::new(
            generated("doc", 1, 100),
            &[],
            imap_date(1_700_000_000, 8),
        )],
    );
    let dir = tempfile::tempdir().unwrap();
    // Implicit TLS on the POP3S port, checked against the test CA.
    let source = format!(
        "  pop3: {{ host: 127.0.0.1, port: {}, tls: implicit, ca_file: \"{}\", user: \"{}\", password: {{ env: MF_SRC }} }}\n",
        d.pop3s_port(),
        d.ca_pem().display(),
        src.name
    );
    let profile = write_profile(dir.path(), &source, &imap_yaml(&dst, "MF_DST"));
    let (code, text) = mailferry_on("doctor", &profile, &[], &env(&src, &dst));
    assert_eq!(code, 0, "{text}");
    for step in [
        "DNS lookup",
        "TLS handshake",
        "server greeting",
        "capabilities (CAPA)",
        "login",
        "messages (STAT)",
        "unique ids (UIDL)",
        "oldest message",
    ] {
        assert!(text.contains(step), "{step}: {text}");
    }
}

#[test]
fn the_30_day_window_is_named_only_for_a_young_mailbox() {
    let d = dovecot();
    let now = chrono::Utc::now();
    let with_received = |days: i64, tag: &str| {
        let when = (now - chrono::Duration::days(days)).to_rfc2822();
        format!("Received: from a by b; {when}\r\nSubject: {tag}\r\n\r\nbody\r\n").into_bytes()
    };
    for (days, expect) in [(29, true), (365, false)] {
        let (src, dst) = (d.new_user("p3window"), d.new_user("p3windowdst"));
        bulk_append(
            &src,
            "INBOX",
            &[
                Seed::new(with_received(days, "old"), &[], imap_date(1_700_000_000, 8)),
                Seed::new(with_received(2, "new"), &[], imap_date(1_700_000_000, 8)),
            ],
        );
        let dir = tempfile::tempdir().unwrap();
        let profile = write_profile(
            dir.path(),
            &pop3_yaml(&src, d.pop3_port(), ""),
            &imap_yaml(&dst, "MF_DST"),
        );
        let (code, plan, stderr) = plan_json(&profile, &env(&src, &dst));
        assert_eq!(code, 0, "{stderr}");
        let notes = plan["notes"].to_string();
        assert_eq!(
            notes.contains("last 30 days"),
            expect,
            "{days} days: {notes}"
        );
        if expect {
            assert!(notes.contains(&format!("{days} day(s)")), "{notes}");
        }
        assert_eq!(plan["totals"]["selected"], 2, "{plan}");
    }
}

/// What a hostile server greets with, how it answers, and the error text expected.
type HostileCase = (&'static [u8], fn() -> Vec<u8>, &'static str);

/// A hostile server on loopback: greets with `greeting`, then answers every line with `reply`
/// (sent once, then the connection stays open).
fn hostile_server(greeting: &'static [u8], reply: fn() -> Vec<u8>) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut w = conn.try_clone().unwrap();
                let _ = w.write_all(greeting);
                let mut r = BufReader::new(conn);
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if w.write_all(&reply()).is_err() {
                        return;
                    }
                    line.clear();
                }
            });
        }
    });
    port
}

#[test]
fn a_hostile_pop3_server_gets_a_clear_error_not_a_hang() {
    let d = dovecot();
    let dst = d.new_user("p3hostiledst");
    let cases: [HostileCase; 3] = [
        // An IMAP server on the POP3 port.
        (
            b"* OK IMAP4rev1 ready\r\n",
            Vec::new,
            "expected +OK or -ERR",
        ),
        // A line that never ends: refused at its limit, not held in memory.
        (b"+OK ready\r\n", || vec![b'x'; 200_000], "passed its limit"),
        // Answers out of step with the commands: the stray line is quoted.
        (
            b"+OK ready\r\n",
            || b"+OK\r\nnot a number\r\n.\r\n".to_vec(),
            "got \"not a number",
        ),
    ];
    for (greeting, reply, expect) in cases {
        let port = hostile_server(greeting, reply);
        let dir = tempfile::tempdir().unwrap();
        let source = format!(
            "  pop3: {{ host: 127.0.0.1, port: {port}, tls: none, user: u, password: {{ env: MF_SRC }} }}\n"
        );
        let profile = write_profile(dir.path(), &source, &imap_yaml(&dst, "MF_DST"));
        let start = Instant::now();
        let (code, _, stderr) = plan_json(&profile, &[("MF_SRC", "pw"), ("MF_DST", &dst.password)]);
        assert_eq!(code, 2, "{expect}: {stderr}");
        assert!(stderr.contains(expect), "{expect}: {stderr}");
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{expect}: took {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn stls_and_date_filters_work_on_pop3() {
    let d = dovecot();
    let (src, dst) = (d.new_user("p3stls"), d.new_user("p3stlsdst"));
    let dated = |year: u32, tag: &str| {
        format!("Date: Mon, 1 Mar {year} 10:00:00 +0800\r\nSubject: {tag}\r\nMessage-ID: <{tag}@t>\r\n\r\nbody\r\n")
            .into_bytes()
    };
    bulk_append(
        &src,
        "INBOX",
        &[
            Seed::new(dated(2020, "old"), &[], imap_date(1_700_000_000, 8)),
            Seed::new(dated(2022, "new"), &[], imap_date(1_700_000_000, 8)),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    // STLS on the plain port, the certificate checked against the test CA.
    let source = format!(
        "  pop3: {{ host: 127.0.0.1, port: {}, tls: starttls, ca_file: \"{}\", user: \"{}\", password: {{ env: MF_SRC }} }}\n",
        d.pop3_port(),
        d.ca_pem().display(),
        src.name
    );
    let profile = write_profile(dir.path(), &source, &imap_yaml(&dst, "MF_DST"));
    let mut text = std::fs::read_to_string(&profile).unwrap();
    text.push_str("filters: { since: 2021-01-01 }\n");
    std::fs::write(&profile, text).unwrap();
    let r = run_profile(&profile, &env(&src, &dst));
    assert_eq!(r.code, 0, "{}", r.output);
    assert_eq!(subjects(&dst, "INBOX"), vec!["new".to_string()]);
}
