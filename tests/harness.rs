//! Tests of the test harness itself; they double as proof that the environment works:
//! Dovecot starts, TLS verifies, messages round-trip byte-exact, the quirk proxy behaves.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use support::*;

const DATE: &str = "07-Jul-2021 02:44:25 +0800";

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: =?UTF-8?B?5byg5LiJ?= <zhang@163.com>\r\nTo: li@qq.com\r\n\
         Subject: {subject}\r\nDate: Wed, 7 Jul 2021 02:44:25 +0800\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

#[test]
fn dovecot_starts_and_greets_on_plain_port() {
    let d = dovecot();
    eprintln!("dovecot() startup took {:?}", d.startup_time());
    assert!(d.startup_time() < Duration::from_secs(10), "slow start");
    let client = ImapClient::connect(d.plain_port()).unwrap();
    assert!(client.greeting.starts_with(b"* OK"));
    assert_ne!(d.plain_port(), d.tls_port());
}

fn tls_config(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn test_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(dovecot().ca_pem()).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    roots
}

/// Connects to the TLS port as `host` and logs in; returns the tagged LOGIN reply line.
fn tls_login(host: &str, roots: rustls::RootCertStore, user: &TestUser) -> std::io::Result<String> {
    let name = ServerName::try_from(host.to_string()).unwrap();
    let conn = rustls::ClientConnection::new(tls_config(roots), name).unwrap();
    let sock = TcpStream::connect(("127.0.0.1", dovecot().tls_port()))?;
    sock.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut tls = BufReader::new(rustls::StreamOwned::new(conn, sock));
    let mut line = String::new();
    tls.read_line(&mut line)?;
    assert!(line.starts_with("* OK"), "greeting: {line}");
    write!(
        tls.get_mut(),
        "a LOGIN \"{}\" \"{}\"\r\n",
        user.name,
        user.password
    )?;
    tls.get_mut().flush()?;
    loop {
        line.clear();
        tls.read_line(&mut line)?;
        if line.starts_with("a ") {
            return Ok(line);
        }
    }
}

#[test]
fn tls_port_verifies_against_ca_pem_for_ip_and_localhost() {
    let user = dovecot().new_user("tls");
    for host in ["127.0.0.1", "localhost"] {
        let reply = tls_login(host, test_roots(), &user).unwrap();
        assert!(reply.starts_with("a OK"), "{host}: {reply}");
    }
    // The check is real: an unknown CA or a name not in the certificate is refused.
    let unknown_ca = tls_login("127.0.0.1", rustls::RootCertStore::empty(), &user);
    assert!(
        unknown_ca
            .unwrap_err()
            .to_string()
            .contains("UnknownIssuer")
    );
    let wrong_name = tls_login("imap.qq.com", test_roots(), &user)
        .unwrap_err()
        .to_string();
    assert!(wrong_name.contains("not valid for name"), "{wrong_name}");
}

#[test]
fn tls_port_verifies_with_openssl_by_name_and_ip() {
    let d = dovecot();
    for check in [
        ["-verify_hostname", "127.0.0.1"],
        ["-verify_ip", "127.0.0.1"],
    ] {
        let out = Command::new("openssl")
            .args(["s_client", "-connect"])
            .arg(format!("127.0.0.1:{}", d.tls_port()))
            .arg("-CAfile")
            .arg(d.ca_pem())
            .args(["-verify_return_error", check[0], check[1]])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("Verify return code: 0 (ok)"),
            "{check:?}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn append_then_messages_round_trips_bytes_flags_and_internaldate() {
    let user = dovecot().new_user("roundtrip");
    // 8-bit GBK bytes, a fake literal, fake tagged lines and parentheses inside the body.
    let mut first = message("往来账目", "body {5}\r\nT1 OK fake\r\n+ go on\r\n) (\r\n");
    first.extend_from_slice(b"\xc4\xe3\xba\xc3 GBK\r\n");
    let second = message("plain", "no flags, no date");
    let big: Vec<u8> = (0..1_500_000u32)
        .map(|i| {
            if i % 77 == 76 {
                b'\n'
            } else {
                b'a' + (i % 26) as u8
            }
        })
        .flat_map(|b| {
            if b == b'\n' {
                vec![b'\r', b'\n']
            } else {
                vec![b]
            }
        })
        .collect();

    let uid1 = user.append(
        "INBOX",
        &first,
        &["\\Seen", "\\Flagged", "$Forwarded"],
        Some(DATE),
    );
    let uid2 = user.append("INBOX", &second, &[], None);
    let uid3 = user.append(
        "INBOX",
        &big,
        &["\\Answered"],
        Some("01-Feb-2020 09:05:00 +0800"),
    );
    assert_eq!((uid1, uid2, uid3), (1, 2, 3));

    let stored = user.messages("INBOX");
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[0].uid, 1);
    assert_eq!(stored[0].body, first);
    assert_eq!(stored[0].flags, ["$Forwarded", "\\Flagged", "\\Seen"]);
    assert_eq!(stored[0].internaldate, DATE);
    assert_eq!(stored[1].body, second);
    assert!(stored[1].flags.is_empty(), "{:?}", stored[1].flags);
    assert_eq!(stored[2].body.len(), big.len());
    assert!(stored[2].body == big);
    assert_eq!(stored[2].internaldate, "01-Feb-2020 09:05:00 +0800");

    // Dates given in another zone are kept as the same instant.
    let uid4 = user.append("INBOX", &second, &[], Some(" 6-Jul-2021 18:44:25 +0000"));
    let fourth = user.messages("INBOX").pop().unwrap();
    assert_eq!(fourth.uid, uid4);
    assert_eq!(fourth.internaldate, DATE);
    assert_eq!(fourth.internaldate_unix(), internaldate_unix(DATE).unwrap());
}

#[test]
fn dovecot_serves_bare_lf_messages_with_crlf() {
    let user = dovecot().new_user("lf");
    user.append("INBOX", b"Subject: lf\n\nline one\nline two\n", &[], None);
    let stored = user.messages("INBOX");
    assert_eq!(
        stored[0].body,
        b"Subject: lf\r\n\r\nline one\r\nline two\r\n"
    );
}

#[test]
fn chinese_mailbox_names_round_trip() {
    let user = dovecot().new_user("utf7");
    user.create_mailbox("其他文件夹/客户 & 项目");
    let uid = user.append("往来/2021年", &message("s", "b"), &[], None); // TRYCREATE path
    assert_eq!(uid, 1);
    user.append(
        "其他文件夹/客户 & 项目",
        &message("x", "y"),
        &["\\Seen"],
        None,
    );

    let boxes = user.mailboxes();
    let find = |name: &str| {
        boxes
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name} not in {boxes:?}"))
    };
    assert!(find("其他文件夹").has("\\Noselect"));
    assert!(!find("其他文件夹/客户 & 项目").has("\\Noselect"));
    find("往来/2021年");
    assert_eq!(user.messages("往来/2021年").len(), 1);
    assert_eq!(user.messages("其他文件夹/客户 & 项目")[0].flags, ["\\Seen"]);

    // The server prints exactly the encoding this codec produces.
    let mut client = user.login();
    let raw = client.command("LIST \"\" \"*\"").unwrap().untagged.concat();
    let raw = String::from_utf8(raw).unwrap();
    assert!(
        raw.contains(&mutf7_encode("其他文件夹/客户 & 项目")),
        "{raw}"
    );
    assert!(
        raw.contains("&UXZO1mWHTvZZOQ-/&W6JiNw- &- &mHl27g-"),
        "{raw}"
    );
}

#[test]
fn mutf7_codec_matches_rfc_examples() {
    for (utf8, encoded) in [
        ("INBOX", "INBOX"),
        ("已发送", "&XfJT0ZAB-"),
        ("&", "&-"),
        ("Entwürfe", "Entw&APw-rfe"),
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
        ("😀 mail", "&2D3eAA- mail"),
        ("a&b/其他文件夹", "a&-b/&UXZO1mWHTvZZOQ-"),
    ] {
        assert_eq!(mutf7_encode(utf8), encoded, "{utf8}");
        assert_eq!(mutf7_decode(encoded).as_deref(), Some(utf8), "{encoded}");
    }
    for bad in ["&", "&Jjo", "&AGE-", "&ZeVnLIqe"] {
        assert_eq!(mutf7_decode(bad), None, "{bad}");
    }
}

#[test]
fn special_use_folders_are_declared_netease_style_and_qq_names_plain() {
    let user = dovecot().new_user("special");
    for name in [
        "已发送",
        "草稿箱",
        "已删除",
        "垃圾邮件",
        "Sent Messages",
        "Deleted Messages",
        "Junk",
        "Drafts",
    ] {
        user.create_mailbox(name);
    }
    let boxes = user.mailboxes();
    let attrs = |name: &str| boxes.iter().find(|m| m.name == name).unwrap().clone();
    assert!(attrs("已发送").has("\\Sent"));
    assert!(attrs("草稿箱").has("\\Drafts"));
    assert!(attrs("已删除").has("\\Trash"));
    assert!(attrs("垃圾邮件").has("\\Junk"));
    for plain in [
        "Sent Messages",
        "Deleted Messages",
        "Junk",
        "Drafts",
        "INBOX",
    ] {
        let info = attrs(plain);
        for special in ["\\Sent", "\\Drafts", "\\Trash", "\\Junk"] {
            assert!(!info.has(special), "{plain}: {:?}", info.attributes);
        }
    }
}

#[test]
fn set_flags_and_expunge_change_what_messages_reports() {
    let user = dovecot().new_user("flags");
    let a = user.append("INBOX", &message("a", "a"), &[], None);
    let b = user.append("INBOX", &message("b", "b"), &["\\Seen"], None);
    user.set_flags("INBOX", a, &["\\Answered", "$Label1"]);
    user.expunge("INBOX", b);
    let stored = user.messages("INBOX");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].flags, ["$Label1", "\\Answered"]);
}

#[test]
fn kick_disconnects_sessions_and_helpers_reconnect() {
    let user = dovecot().new_user("kick");
    user.append("INBOX", &message("k", "k"), &[], None);
    let mut session = user.login();
    session.command("SELECT INBOX").unwrap().expect_ok("SELECT");
    user.kick();
    let after = session.command("NOOP");
    assert!(after.is_err() || after.unwrap().status != Status::Ok);
    assert_eq!(user.messages("INBOX").len(), 1);
}

#[test]
fn users_created_in_parallel_are_isolated() {
    let handles: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let user = dovecot().new_user("par");
                user.append("INBOX", &message(&format!("m{i}"), "x"), &[], None);
                (user.name.clone(), user.messages("INBOX"))
            })
        })
        .collect();
    let mut names = Vec::new();
    for h in handles {
        let (name, messages) = h.join().unwrap();
        assert_eq!(messages.len(), 1, "{name}");
        names.push(name);
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn harness_is_usable_from_a_tokio_test() {
    let user = tokio::task::spawn_blocking(|| {
        let user = dovecot().new_user("tokio");
        user.append("INBOX", b"Subject: t\r\n\r\nt\r\n", &[], None);
        user
    })
    .await
    .unwrap();
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", dovecot().plain_port()))
        .await
        .unwrap();
    drop(stream);
    assert_eq!(user.messages("INBOX").len(), 1);
}

// ---- the quirk proxy ----

#[test]
fn proxy_forwards_a_session_and_records_commands_without_password() {
    let user = dovecot().new_user("proxy");
    user.append("INBOX", &message("p", "p"), &["\\Seen"], None);
    let proxy = Proxy::start(dovecot().plain_port(), vec![]);
    let mut c = ImapClient::login(proxy.port(), &user.name, &user.password).unwrap();
    c.command("SELECT INBOX").unwrap().expect_ok("SELECT");
    let fetched = c
        .command("UID FETCH 1:* (FLAGS BODY.PEEK[])")
        .unwrap()
        .expect_ok("FETCH");
    let (_, items) = &fetched.fetches()[0];
    assert!(items.contains(&("BODY[]".into(), Value::Str(message("p", "p")))));
    c.logout();

    let commands = proxy.commands();
    assert_eq!(
        commands,
        [
            format!("T1 LOGIN \"{}\" ***", user.name),
            "T2 SELECT INBOX".into(),
            "T3 UID FETCH 1:* (FLAGS BODY.PEEK[])".into(),
            "T4 LOGOUT".into(),
        ]
    );
    assert!(!commands.concat().contains(&user.password));
    assert_eq!(proxy.connections(), 1);
}

#[test]
fn proxy_netease_quirk_refuses_select_until_id() {
    let user = dovecot().new_user("netease");
    let proxy = Proxy::start(dovecot().plain_port(), vec![Quirk::RequireIdBeforeSelect]);
    for _connection in 0..2 {
        let mut c = ImapClient::login(proxy.port(), &user.name, &user.password).unwrap();
        for verb in ["EXAMINE", "SELECT"] {
            let refused = c.command(&format!("{verb} INBOX")).unwrap();
            assert_eq!(refused.status, Status::No);
            assert_eq!(
                refused.text,
                "SELECT Unsafe Login. Please contact kefu@188.com for help"
            );
        }
        c.command("ID (\"name\" \"mailferry\")")
            .unwrap()
            .expect_ok("ID");
        c.command("EXAMINE INBOX")
            .unwrap()
            .expect_ok("EXAMINE after ID");
    }
    assert_eq!(proxy.connections(), 2);
}

#[test]
fn proxy_qq_quirk_rejects_descending_uid_sets() {
    let user = dovecot().new_user("qq");
    for i in 0..3 {
        user.append("INBOX", &message(&format!("{i}"), "q"), &[], None);
    }
    let proxy = Proxy::start(dovecot().plain_port(), vec![Quirk::RejectDescendingUidSets]);
    let mut c = ImapClient::login(proxy.port(), &user.name, &user.password).unwrap();
    c.command("SELECT INBOX").unwrap().expect_ok("SELECT");
    for bad in [
        "UID FETCH 3:1 (UID)",
        "UID FETCH 1,3:2 (UID)",
        "UID FETCH *:2 (UID)",
        "UID STORE 2:1 +FLAGS (\\Seen)",
        "UID COPY 3:1 INBOX",
        "UID SEARCH UID 3:1",
    ] {
        let reply = c.command(bad).unwrap();
        assert_eq!(
            (reply.status, reply.text.as_str()),
            (Status::Bad, "UID parameters!"),
            "{bad}"
        );
    }
    for good in [
        "UID FETCH 1:3 (UID)",
        "UID FETCH 2:* (UID)",
        "UID SEARCH UID 1:3",
        "FETCH 1:3 (UID)",
    ] {
        c.command(good).unwrap().expect_ok(good);
    }
    // Refused commands never reached the server: nothing got \Seen or copied.
    assert!(user.messages("INBOX").iter().all(|m| m.flags.is_empty()));
    assert_eq!(user.messages("INBOX").len(), 3);
}

#[test]
fn proxy_cuts_the_first_connections_after_exact_byte_count() {
    let user = dovecot().new_user("cut");
    user.append("INBOX", &vec![b'x'; 5000], &[], None);
    let proxy = Proxy::start(
        dovecot().plain_port(),
        vec![Quirk::CutAfterServerBytes {
            bytes: 700,
            times: 2,
        }],
    );
    let script = format!(
        "a LOGIN \"{}\" \"{}\"\r\nb SELECT INBOX\r\nc UID FETCH 1 BODY.PEEK[]\r\nd LOGOUT\r\n",
        user.name, user.password
    );
    let session = || {
        let mut s = TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(script.as_bytes()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    assert_eq!(session().len(), 700);
    assert_eq!(session().len(), 700);
    let whole = session();
    assert!(whole.len() > 5000, "third connection is not cut");
    assert!(String::from_utf8_lossy(&whole).contains("d OK"));
    assert_eq!(proxy.connections(), 3);
}

#[test]
fn proxy_append_limit_refuses_large_messages_both_literal_kinds() {
    let user = dovecot().new_user("limit");
    let proxy = Proxy::start(
        dovecot().plain_port(),
        vec![Quirk::RejectAppendsLargerThan(1000)],
    );
    let mut c = ImapClient::login(proxy.port(), &user.name, &user.password).unwrap();
    let big = vec![b'b'; 2000];

    let refused = c.append("INBOX", &big, &[], None).unwrap();
    assert_eq!(
        (refused.status, refused.text.as_str()),
        (Status::No, "[LIMIT] Message too large")
    );

    let mut plus = b"APPEND INBOX {2000+}\r\n".to_vec();
    plus.extend_from_slice(&big);
    plus.extend_from_slice(b"\r\n");
    let refused = c.command_bytes(&plus).unwrap();
    assert_eq!(refused.status, Status::No);
    // The swallowed literal did not desynchronise the connection.
    c.command("NOOP")
        .unwrap()
        .expect_ok("NOOP after refused LITERAL+");

    let small = message("small", "fits");
    c.append("INBOX", &small, &[], None)
        .unwrap()
        .expect_ok("small APPEND");
    let stored = user.messages("INBOX");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].body, small);
}

#[test]
fn proxy_passes_literal_bytes_untouched_and_never_as_commands() {
    let user = dovecot().new_user("literal");
    let proxy = Proxy::start(
        dovecot().plain_port(),
        vec![Quirk::RequireIdBeforeSelect, Quirk::RejectDescendingUidSets],
    );
    let mut c = ImapClient::login(proxy.port(), &user.name, &user.password).unwrap();
    // Looks like commands, a continuation and a tagged reply; must stay message bytes.
    let tricky = message(
        "tricky",
        "X1 SELECT INBOX\r\nX2 UID FETCH 9:1 (UID)\r\n+ OK\r\nT9 OK done {3}\r\n",
    );
    c.append("INBOX", &tricky, &["\\Seen"], Some(DATE))
        .unwrap()
        .expect_ok("sync APPEND");
    let mut plus = b"APPEND INBOX {".to_vec();
    plus.extend_from_slice(format!("{}+}}\r\n", tricky.len()).as_bytes());
    plus.extend_from_slice(&tricky);
    plus.extend_from_slice(b"\r\n");
    c.command_bytes(&plus).unwrap().expect_ok("LITERAL+ APPEND");

    // Server -> client: the same bytes come back inside FETCH literals, then a synchronising
    // APPEND on the same connection still gets its continuation.
    c.command("ID NIL").unwrap().expect_ok("ID");
    c.command("SELECT INBOX").unwrap().expect_ok("SELECT");
    let fetched = c
        .command("UID FETCH 1:* BODY.PEEK[]")
        .unwrap()
        .expect_ok("FETCH");
    assert_eq!(fetched.fetches().len(), 2);
    c.append("INBOX", &tricky, &[], None)
        .unwrap()
        .expect_ok("APPEND after FETCH");

    let stored = user.messages("INBOX");
    assert_eq!(stored.len(), 3);
    assert!(stored.iter().all(|m| m.body == tricky));
    assert_eq!(stored[0].internaldate, DATE);
    let commands = proxy.commands();
    assert!(
        commands
            .iter()
            .all(|c| !c.starts_with('X') && !c.starts_with('+')),
        "{commands:#?}"
    );
    assert_eq!(commands.len(), 7, "{commands:#?}");
}
