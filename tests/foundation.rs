//! The foundation as a user meets it, against the real test Dovecot: TLS with certificate
//! checks (`ca_file`), `plan` (counts, sizes, roles, filters, folder mapping to QQ, read-only),
//! `doctor` (one line per step, the server's own words), NetEase's IMAP ID and QQ's refusal of
//! descending UID sets (through the quirk proxy), secrets kept out of every output and
//! checkpoint, profile errors, and `--help`.
//!
//! Every test runs the real binary on a profile written to its own temp dir, with passwords
//! from environment variables set on the command, and its own Dovecot users.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value as Json;
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_mailferry");

const SRC_VAR: &str = "MF_FOUNDATION_SRC";
const DST_VAR: &str = "MF_FOUNDATION_DST";

// ---------------------------------------------------------------------------------------------
// Profiles and running the binary.

/// How one side reaches the test Dovecot.
#[derive(Debug, Clone, Copy)]
enum Conn {
    /// The implicit-TLS port, trusting the harness CA through `ca_file` (or not).
    Tls { ca_file: bool },
    /// Plain IMAP on a port: Dovecot's own, a proxy's, or a closed one.
    Plain(u16),
}

/// One `imap:` account in block style (one key per line, so line numbers are easy to read).
fn account(conn: Conn, provider: Option<&str>, user: &str, var: &str) -> String {
    let mut out = String::from("  imap:\n");
    if let Some(p) = provider {
        out.push_str(&format!("    provider: \"{p}\"\n"));
    }
    out.push_str("    host: 127.0.0.1\n");
    match conn {
        Conn::Tls { ca_file } => {
            out.push_str(&format!(
                "    port: {}\n    tls: implicit\n",
                dovecot().tls_port()
            ));
            if ca_file {
                out.push_str(&format!(
                    "    ca_file: '{}'\n",
                    dovecot().ca_pem().display()
                ));
            }
        }
        Conn::Plain(port) => out.push_str(&format!("    port: {port}\n    tls: none\n")),
    }
    out.push_str(&format!(
        "    user: \"{user}\"\n    password: {{ env: {var} }}\n"
    ));
    out
}

/// A profile in its own temp dir, and the environment its commands get.
struct Job {
    dir: tempfile::TempDir,
    profile: PathBuf,
    env: Vec<(String, String)>,
}

/// What one command printed and how it ended.
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

impl Out {
    fn both(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// The last non-empty stdout line as JSON (`plan --json`, `run --json`).
    fn json(&self) -> Json {
        let last = self.stdout.lines().rev().find(|l| !l.trim().is_empty());
        match last.map(serde_json::from_str::<Json>) {
            Some(Ok(j)) => j,
            _ => panic!("no JSON on stdout: {self:?}"),
        }
    }
}

impl Job {
    fn new(yaml: &str, env: &[(&str, &str)]) -> Job {
        let dir = tempfile::tempdir().unwrap();
        let profile = dir.path().join("job.yaml");
        std::fs::write(&profile, yaml).unwrap();
        Job {
            dir,
            profile,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// Source and target accounts, the passwords in [`SRC_VAR`] and [`DST_VAR`], state in the
    /// job's dir, and `extra` top-level keys.
    fn pair(
        src: (&TestUser, Conn, Option<&str>),
        dst: (&TestUser, Conn, Option<&str>),
        extra: &str,
    ) -> Job {
        let yaml = format!(
            "source:\n{}target:\n{}state_dir: state\n{extra}",
            account(src.1, src.2, &src.0.name, SRC_VAR),
            account(dst.1, dst.2, &dst.0.name, DST_VAR),
        );
        Job::new(
            &yaml,
            &[(SRC_VAR, &src.0.password), (DST_VAR, &dst.0.password)],
        )
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn command(&self, subcommand: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg(subcommand)
            .arg(&self.profile)
            .args(args)
            .env_remove("MAILFERRY_LOG")
            .env_remove(SRC_VAR)
            .env_remove(DST_VAR)
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    fn exec(&self, subcommand: &str, args: &[&str]) -> Out {
        output(self.command(subcommand, args))
    }
}

fn output(mut cmd: Command) -> Out {
    let out = cmd.output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A CRLF message, unique by `tag`, with about `body_len` bytes of body.
fn message(tag: &str, body_len: usize) -> Vec<u8> {
    let mut m = format!(
        "From: =?UTF-8?B?5byg5LiJ?= <zhang@163.com>\r\nTo: li@qq.com\r\nSubject: {tag} 测试\r\n\
         Date: Wed, 7 Jul 2021 02:44:25 +0800\r\nMessage-ID: <{tag}@foundation.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"
    )
    .into_bytes();
    let mut line = 0;
    while m.len() < body_len {
        m.extend_from_slice(format!("{tag} line {line}: 内容 lorem ipsum\r\n").as_bytes());
        line += 1;
    }
    m
}

/// Everything a user could see change in a mailbox: folders with their attributes, and each
/// folder's messages with flags, dates and bytes.
fn snapshot(user: &TestUser) -> BTreeMap<String, (Vec<String>, Vec<StoredMessage>)> {
    user.mailboxes()
        .into_iter()
        .map(|m| {
            let messages = if m.has("\\Noselect") {
                Vec::new()
            } else {
                user.messages(&m.name)
            };
            let mut attributes = m.attributes.clone();
            attributes.sort();
            (m.name, (attributes, messages))
        })
        .collect()
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The set of a `UID FETCH/STORE/COPY/MOVE/EXPUNGE` command, or the UID sets of a
/// `UID SEARCH`, as recorded by the proxy (`TAG UID VERB SET ...`).
fn uid_sets(command: &str) -> Vec<String> {
    let words: Vec<&str> = command.split(' ').collect();
    if words.len() < 4 || !words[1].eq_ignore_ascii_case("UID") {
        return Vec::new();
    }
    let is_set = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_digit() || matches!(c, ':' | ',' | '*'))
    };
    match words[2].to_ascii_uppercase().as_str() {
        "FETCH" | "STORE" | "COPY" | "MOVE" | "EXPUNGE" => vec![words[3].to_string()],
        "SEARCH" => words[3..]
            .iter()
            .map(|w| w.trim_matches(['(', ')']))
            .filter(|w| is_set(w))
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether a UID set has a range going down (`9:3`, `*:3`), which QQ refuses.
fn has_descending_range(set: &str) -> bool {
    set.split(',').any(|part| match part.split_once(':') {
        Some((_, "*")) => false,
        Some(("*", _)) => true,
        Some((a, b)) => matches!((a.parse::<u64>(), b.parse::<u64>()), (Ok(a), Ok(b)) if a > b),
        None => false,
    })
}

/// The proxy's command log split into connections. Tags count up by one on each connection
/// from `A0001` (async-imap's numbering), so a command belongs to the open connection whose
/// last tag is one less; `A0001` starts a connection and LOGOUT ends one. Two connections
/// open at the same tag run the same login sequence, so either choice shows the same order.
fn per_connection(commands: &[String]) -> Vec<Vec<String>> {
    let number = |c: &str| -> Option<u32> { c.split(' ').next()?.strip_prefix('A')?.parse().ok() };
    // (last tag, logged out, commands)
    let mut connections: Vec<(u32, bool, Vec<String>)> = Vec::new();
    for c in commands {
        let n = number(c).unwrap_or_else(|| panic!("untagged command {c:?} in {commands:#?}"));
        let conn = if n == 1 {
            connections.push((0, false, Vec::new()));
            connections.last_mut().unwrap()
        } else {
            connections
                .iter_mut()
                .find(|(last, closed, _)| !closed && *last + 1 == n)
                .unwrap_or_else(|| panic!("{c:?} continues no connection: {commands:#?}"))
        };
        conn.0 = n;
        conn.1 = verb(c) == "LOGOUT";
        conn.2.push(c.clone());
    }
    connections.into_iter().map(|(_, _, c)| c).collect()
}

fn verb(command: &str) -> String {
    command
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_ascii_uppercase()
}

// ---------------------------------------------------------------------------------------------
// 1. TLS with certificate checks.

#[test]
fn tls_verifies_the_server_with_ca_file_and_refuses_it_without() {
    let d = dovecot();
    let (src, dst) = (d.new_user("tls-src"), d.new_user("tls-dst"));
    src.append("INBOX", &message("tls", 300), &[], None);

    let trusted = Job::pair(
        (&src, Conn::Tls { ca_file: true }, None),
        (&dst, Conn::Tls { ca_file: true }, None),
        "",
    );
    let out = trusted.exec("plan", &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["totals"]["messages"], 1, "{out:?}");

    // The same profile without ca_file: the harness CA is unknown, so nothing is trusted.
    let untrusted = Job::pair(
        (&src, Conn::Tls { ca_file: false }, None),
        (&dst, Conn::Tls { ca_file: false }, None),
        "",
    );
    let out = untrusted.exec("plan", &["--json"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("certificate"), "{out:?}");
    assert!(out.stderr.contains("ca_file"), "{out:?}");
    assert!(
        out.stdout.trim().is_empty(),
        "no plan may be printed: {out:?}"
    );
}

#[test]
fn a_relative_ca_file_is_found_beside_the_profile_whatever_the_working_directory() {
    let d = dovecot();
    let (src, dst) = (d.new_user("relca-src"), d.new_user("relca-dst"));
    let yaml = format!(
        "source:\n{}target:\n{}",
        account(Conn::Tls { ca_file: false }, None, &src.name, SRC_VAR),
        account(Conn::Tls { ca_file: false }, None, &dst.name, DST_VAR),
    )
    .replace(
        "    tls: implicit\n",
        "    tls: implicit\n    ca_file: certs/ca.pem\n",
    );
    let job = Job::new(&yaml, &[(SRC_VAR, &src.password), (DST_VAR, &dst.password)]);
    std::fs::create_dir(job.dir.path().join("certs")).unwrap();
    std::fs::copy(d.ca_pem(), job.dir.path().join("certs/ca.pem")).unwrap();
    let mut cmd = job.command("plan", &[]);
    cmd.current_dir("/");
    let out = output(cmd);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("INBOX"), "{out:?}");
}

// ---------------------------------------------------------------------------------------------
// 2. plan: counts, sizes, roles, filters, mapping to QQ; read-only.

/// A message to seed: (folder, tag, size, flags, INTERNALDATE, selected by the filters).
type Seed = (
    &'static str,
    &'static str,
    usize,
    &'static [&'static str],
    &'static str,
    bool,
);

#[test]
fn plan_reports_folders_counts_bytes_roles_filters_and_qq_mapping_and_changes_nothing() {
    let d = dovecot();
    let (src, dst) = (d.new_user("plan-src"), d.new_user("plan-dst"));
    // (folder, tag, size, flags, INTERNALDATE, selected): the filter keeps the year 2020.
    let seed: &[Seed] = &[
        (
            "INBOX",
            "in1",
            400,
            &["\\Seen"],
            "31-Dec-2019 23:59:59 +0800",
            false,
        ),
        ("INBOX", "in2", 900, &[], "01-Jan-2020 00:00:00 +0800", true),
        (
            "INBOX",
            "in3",
            1500,
            &["\\Seen", "\\Flagged"],
            "31-Dec-2020 23:59:59 +0800",
            true,
        ),
        (
            "INBOX",
            "in4",
            700,
            &[],
            "01-Jan-2021 00:00:00 +0800",
            false,
        ),
        (
            "已发送",
            "s1",
            2000,
            &["\\Seen"],
            "15-Jun-2020 10:00:00 +0800",
            true,
        ),
        (
            "已发送",
            "s2",
            600,
            &["\\Seen"],
            "15-Jun-2022 10:00:00 +0800",
            false,
        ),
        ("工作", "w1", 350, &[], "03-Mar-2020 08:00:00 +0800", true),
        (
            "工作",
            "w2",
            5000,
            &["\\Answered"],
            "04-Apr-2020 08:00:00 +0800",
            true,
        ),
        ("工作", "w3", 800, &[], "05-May-2018 08:00:00 +0800", false),
        (
            "客户/2024",
            "c1",
            1200,
            &[],
            "07-Jul-2020 07:07:07 +0800",
            true,
        ),
        (
            "广告邮件",
            "ad1",
            500,
            &[],
            "08-Aug-2020 08:08:08 +0800",
            true,
        ),
    ];
    // folder -> (messages, bytes, selected, selected_bytes)
    let mut expected: BTreeMap<&str, (u64, u64, u64, u64)> = BTreeMap::new();
    for (folder, tag, size, flags, date, selected) in seed {
        let raw = message(tag, *size);
        assert!(!raw.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
        src.append(folder, &raw, flags, Some(date));
        let e = expected.entry(*folder).or_default();
        e.0 += 1;
        e.1 += raw.len() as u64;
        if *selected {
            e.2 += 1;
            e.3 += raw.len() as u64;
        }
    }
    dst.append("INBOX", &message("already-there", 300), &["\\Seen"], None);

    let job = Job::pair(
        (&src, Conn::Tls { ca_file: true }, None),
        (&dst, Conn::Tls { ca_file: true }, Some("qq")),
        "folders:\n  exclude: [\"广告*\"]\n  map: { \"客户/2024\": \"Clients/2024\" }\n\
         filters:\n  since: 2020-01-01\n  before: 2021-01-01\n",
    );
    let src_before = snapshot(&src);
    let dst_before = snapshot(&dst);

    let out = job.exec("plan", &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let plan = out.json();
    let folders: BTreeMap<String, Json> = plan["folders"]
        .as_array()
        .unwrap_or_else(|| panic!("no folders: {out:?}"))
        .iter()
        .map(|f| (f["source"].as_str().unwrap().to_string(), f.clone()))
        .collect();
    assert_eq!(
        folders.keys().map(String::as_str).collect::<Vec<_>>(),
        ["INBOX", "客户/2024", "工作", "已发送"],
        "{out:?}"
    );
    let want: &[(&str, &str, Json)] = &[
        ("INBOX", "INBOX", Json::from("inbox")),
        ("已发送", "Sent Messages", Json::from("sent")),
        ("工作", "其他文件夹/工作", Json::Null),
        ("客户/2024", "Clients/2024", Json::Null),
    ];
    for (source, target, role) in want {
        let f = &folders[*source];
        let (messages, bytes, selected, selected_bytes) = expected[source];
        assert_eq!(f["target"], *target, "{source}: {f}");
        assert_eq!(f["role"], *role, "{source}: {f}");
        assert_eq!(f["messages"], messages, "{source}: {f}");
        assert_eq!(f["bytes"], bytes, "{source}: {f}");
        assert_eq!(f["selected"], selected, "{source}: {f}");
        assert_eq!(f["selected_bytes"], selected_bytes, "{source}: {f}");
    }
    let sum = |i: usize| -> u64 {
        expected
            .iter()
            .filter(|(k, _)| **k != "广告邮件")
            .map(|(_, v)| [v.0, v.1, v.2, v.3][i])
            .sum()
    };
    let totals = &plan["totals"];
    let got = ["messages", "bytes", "selected", "selected_bytes"].map(|k| totals[k].as_u64());
    assert_eq!(got, [0, 1, 2, 3].map(|i| Some(sum(i))), "{totals}");
    assert_eq!(plan["excluded"], serde_json::json!(["广告邮件"]), "{out:?}");

    // The human table shows the same decisions with decoded names.
    let human = job.exec("plan", &[]);
    assert_eq!(human.code, 0, "{human:?}");
    for name in [
        "已发送",
        "Sent Messages",
        "工作",
        "其他文件夹/工作",
        "客户/2024",
        "Clients/2024",
        "广告邮件",
    ] {
        assert!(human.stdout.contains(name), "{name} missing: {human:?}");
    }
    assert!(!human.stdout.contains("&"), "undecoded name: {human:?}");

    // Nothing changed on either side: folders, messages, flags (\Seen not added), dates.
    assert_eq!(snapshot(&src), src_before);
    assert_eq!(snapshot(&dst), dst_before);
    assert_eq!(dst.mailbox_names(), ["INBOX"]);
}

// ---------------------------------------------------------------------------------------------
// 3. doctor.

/// doctor's lines: `OK|FAIL side step... detail`, as (ok, side, rest of line).
fn doctor_lines(out: &Out) -> Vec<(bool, String, String)> {
    out.stdout
        .lines()
        .filter_map(|l| {
            let (status, rest) = l.split_once(' ')?;
            let ok = match status {
                "OK" => true,
                "FAIL" => false,
                _ => return None,
            };
            let rest = rest.trim_start();
            let (side, rest) = rest.split_once(' ')?;
            Some((ok, side.to_string(), rest.trim_start().to_string()))
        })
        .collect()
}

#[test]
fn doctor_passes_every_step_for_a_good_profile() {
    let d = dovecot();
    let (src, dst) = (d.new_user("doc-src"), d.new_user("doc-dst"));
    let job = Job::pair(
        (&src, Conn::Tls { ca_file: true }, None),
        (&dst, Conn::Tls { ca_file: true }, Some("qq")),
        "",
    );
    let out = job.exec("doctor", &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let lines = doctor_lines(&out);
    assert!(lines.iter().all(|(ok, _, _)| *ok), "{out:?}");
    for side in ["source", "target"] {
        for step in [
            "DNS lookup",
            "TCP connect",
            "TLS handshake and certificate",
            "server greeting",
            "login",
            "IMAP ID",
            "list folders",
            "open INBOX",
        ] {
            assert!(
                lines
                    .iter()
                    .any(|(_, s, rest)| s == side && rest.starts_with(step)),
                "{side} {step} missing: {out:?}"
            );
        }
    }
    assert!(out.stdout.contains("certificate verified"), "{out:?}");
    assert!(out.stdout.contains("all checks passed"), "{out:?}");
}

#[test]
fn doctor_names_each_failing_step_with_the_servers_words_and_advice() {
    let d = dovecot();
    let (src, dst) = (d.new_user("docfail-src"), d.new_user("docfail-dst"));
    let wrong = "not-the-password-4711";
    let yaml = format!(
        "source:\n{}target:\n{}",
        account(Conn::Tls { ca_file: true }, None, &src.name, SRC_VAR),
        account(Conn::Plain(closed_port()), None, &dst.name, DST_VAR),
    );
    let job = Job::new(&yaml, &[(SRC_VAR, wrong), (DST_VAR, &dst.password)]);
    let out = job.exec("doctor", &[]);
    assert_eq!(out.code, 2, "{out:?}");
    let lines = doctor_lines(&out);
    let fails: Vec<&(bool, String, String)> = lines.iter().filter(|(ok, _, _)| !ok).collect();
    assert_eq!(fails.len(), 2, "one FAIL line per side: {out:?}");

    let login = fails
        .iter()
        .find(|(_, side, _)| side == "source")
        .unwrap_or_else(|| panic!("no source FAIL: {out:?}"));
    assert!(login.2.starts_with("login"), "{out:?}");
    assert!(login.2.contains("Authentication failed"), "{out:?}");
    // The steps before login worked and say so.
    assert!(
        lines
            .iter()
            .any(|(ok, s, rest)| *ok && s == "source" && rest.starts_with("TLS handshake")),
        "{out:?}"
    );

    let tcp = fails
        .iter()
        .find(|(_, side, _)| side == "target")
        .unwrap_or_else(|| panic!("no target FAIL: {out:?}"));
    assert!(tcp.2.starts_with("TCP connect"), "{out:?}");
    assert!(tcp.2.contains("127.0.0.1"), "{out:?}");
    let advice = tcp.2.to_ascii_lowercase();
    assert!(
        advice.contains("host") && advice.contains("port"),
        "{out:?}"
    );

    assert!(!out.stdout.contains("all checks passed"), "{out:?}");
    assert!(!out.both().contains(wrong), "password printed: {out:?}");
}

/// Dovecot answers a wrong password with `NO [AUTHENTICATIONFAILED] Authentication failed.`;
/// the user should read exactly that, not a Rust debug rendering of it.
#[test]
fn a_refused_login_quotes_the_server_reply_verbatim() {
    let d = dovecot();
    let (src, dst) = (d.new_user("quote-src"), d.new_user("quote-dst"));
    let mut job = Job::pair(
        (&src, Conn::Plain(d.plain_port()), None),
        (&dst, Conn::Plain(d.plain_port()), None),
        "",
    );
    job.env[0].1 = "wrong-password-1234".to_string();
    for sub in ["doctor", "plan"] {
        let out = job.exec(sub, &[]);
        assert_eq!(out.code, 2, "{sub}: {out:?}");
        let text = out.both();
        assert!(
            text.contains("refused: \"[AUTHENTICATIONFAILED] Authentication failed.\""),
            "{sub}: {out:?}"
        );
        assert!(!text.contains("info: Some("), "{sub}: {out:?}");
        assert!(!text.contains("code: None"), "{sub}: {out:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. NetEase: IMAP ID before SELECT/EXAMINE on every connection.

#[test]
fn netease_source_gets_imap_id_before_any_select_on_every_connection() {
    let d = dovecot();
    let (src, dst) = (d.new_user("163-src"), d.new_user("163-dst"));
    for i in 0..6 {
        src.append(
            "INBOX",
            &message(&format!("ne-in{i}"), 500),
            &["\\Seen"],
            None,
        );
    }
    for i in 0..3 {
        src.append("已发送", &message(&format!("ne-sent{i}"), 800), &[], None);
    }
    let proxy = Proxy::start(d.plain_port(), vec![Quirk::RequireIdBeforeSelect]);
    let job = Job::pair(
        (&src, Conn::Plain(proxy.port()), Some("163")),
        (&dst, Conn::Plain(d.plain_port()), None),
        "",
    );

    let plan = job.exec("plan", &["--json"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert_eq!(plan.json()["totals"]["selected"], 9, "{plan:?}");
    let run = job.exec("run", &["--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    assert_eq!(
        (&report["copied"], &report["failed"]),
        (&Json::from(9), &Json::from(0))
    );
    assert_eq!(dst.messages("INBOX").len(), 6);

    let commands = proxy.commands();
    let expected_id = format!(
        "ID (\"name\" \"mailferry\" \"version\" \"{}\")",
        env!("CARGO_PKG_VERSION")
    );
    let connections = per_connection(&commands);
    assert_eq!(connections.len(), proxy.connections(), "{commands:#?}");
    assert!(
        connections.len() >= 2,
        "plan and run each connect: {commands:#?}"
    );
    let mut opened = 0;
    for conn in &connections {
        let first_open = conn
            .iter()
            .position(|c| matches!(verb(c).as_str(), "SELECT" | "EXAMINE"));
        let id = conn.iter().position(|c| verb(c) == "ID");
        if let Some(open) = first_open {
            opened += 1;
            assert!(
                id.is_some_and(|id| id < open),
                "SELECT/EXAMINE before ID on this connection: {conn:#?}"
            );
        }
        // Every connection identifies itself once, right after login, in the exact form.
        let ids: Vec<&String> = conn.iter().filter(|c| verb(c) == "ID").collect();
        assert_eq!(ids.len(), 1, "{conn:#?}");
        assert_eq!(ids[0].split_once(' ').unwrap().1, expected_id, "{conn:#?}");
    }
    assert!(opened >= 2, "{commands:#?}");
    // X.Y.Z, as a server operator would see it in the ID exchange.
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(version.split('.').count(), 3);
    assert!(version.split('.').all(|p| p.parse::<u32>().is_ok()));
}

// ---------------------------------------------------------------------------------------------
// 5. QQ: no descending UID ranges.

#[test]
fn qq_source_never_sees_a_descending_uid_range() {
    let d = dovecot();
    let (src, dst) = (d.new_user("qq-src"), d.new_user("qq-dst"));
    let total = 320u32;
    let mut uids = Vec::new();
    for i in 0..total {
        uids.push(src.append("INBOX", &message(&format!("qq{i}"), 200), &[], None));
    }
    // Gaps: single holes and runs, so UID sets have many ranges.
    let mut expunged = 0;
    for (i, uid) in uids.iter().enumerate() {
        if i % 9 == 4 || (100..117).contains(&i) || i == 0 || i + 1 == uids.len() {
            src.expunge("INBOX", *uid);
            expunged += 1;
        }
    }
    let left = u64::from(total) - expunged;
    let proxy = Proxy::start(d.plain_port(), vec![Quirk::RejectDescendingUidSets]);
    let job = Job::pair(
        (&src, Conn::Plain(proxy.port()), Some("qq")),
        (&dst, Conn::Plain(d.plain_port()), None),
        "",
    );
    let run = job.exec("run", &["--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    assert_eq!(report["copied"], left, "{run:?}");
    assert_eq!(report["failed"], 0, "{run:?}");
    assert_eq!(dst.messages("INBOX").len() as u64, left);

    let commands = proxy.commands();
    let sets: Vec<(String, String)> = commands
        .iter()
        .flat_map(|c| uid_sets(c).into_iter().map(move |s| (c.clone(), s)))
        .collect();
    assert!(
        sets.iter().any(|(_, s)| s.contains(':')),
        "no UID range was sent at all: {commands:#?}"
    );
    for (command, set) in &sets {
        assert!(!has_descending_range(set), "descending range: {command}");
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Secrets.

/// Every file under `dir`, recursively, with its bytes.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn passwords_never_appear_in_trace_logs_errors_or_checkpoints() {
    let d = dovecot();
    let (src, dst) = (d.new_user("secret-src"), d.new_user("secret-dst"));
    for i in 0..4 {
        src.append(
            "INBOX",
            &message(&format!("sec{i}"), 400),
            &["\\Seen"],
            None,
        );
    }
    src.append("已发送", &message("sec-sent", 400), &[], None);
    // Plain text on the wire: a log of raw protocol bytes would show the password.
    let job = Job::pair(
        (&src, Conn::Plain(d.plain_port()), None),
        (&dst, Conn::Plain(d.plain_port()), None),
        "",
    );
    let secrets = [src.password.as_str(), dst.password.as_str()];

    // Every way of asking for more: the most specific directive for async-imap's wire log
    // included, which once won over the crate-wide cap and printed LOGIN with the password.
    for (args, log) in [
        (&["-vv"][..], Some("trace")),
        (&["-vvv"][..], None),
        (&[][..], Some("async_imap::imap_stream=trace")),
        (
            &[][..],
            Some("async_imap=trace,imap_proto=trace,mailferry=trace"),
        ),
        (
            &["-vv"][..],
            Some("trace,async_imap::imap_stream[{}]=trace"),
        ),
    ] {
        let run = output({
            let mut c = job.command("run", args);
            match log {
                Some(l) => c.env("MAILFERRY_LOG", l),
                None => c.env_remove("MAILFERRY_LOG"),
            };
            c
        });
        assert_eq!(run.code, 0, "{log:?}: {run:?}");
        if log == Some("trace") {
            assert!(
                run.stderr.lines().count() > 5,
                "trace logging produced almost nothing: {run:?}"
            );
        }
        for s in secrets {
            assert!(
                !run.both().contains(s),
                "password in run output ({log:?}): {run:?}"
            );
        }
    }
    assert_eq!(dst.messages("INBOX").len(), 4);

    // The checkpoint exists and holds no password, in any of its files (WAL included).
    let files = files_under(&job.state_dir());
    assert!(
        files
            .iter()
            .any(|(p, _)| p.to_string_lossy().contains("checkpoint")),
        "no checkpoint under state_dir: {:?}",
        files.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    for (path, bytes) in &files {
        for s in secrets {
            assert!(!contains(bytes, s), "password in {}", path.display());
        }
    }

    // A refused login at full verbosity: the wrong password is not echoed either.
    let wrong = "Wr0ng-Secret-Code-9321";
    let mut bad = Job::pair(
        (&src, Conn::Plain(d.plain_port()), None),
        (&dst, Conn::Plain(d.plain_port()), None),
        "",
    );
    bad.env[0].1 = wrong.to_string();
    for sub in ["run", "plan", "doctor"] {
        let out = output({
            let mut c = bad.command(sub, &["-vv"]);
            c.env("MAILFERRY_LOG", "trace");
            c
        });
        assert_eq!(out.code, 2, "{sub}: {out:?}");
        assert!(
            out.both().contains("Authentication failed"),
            "{sub}: {out:?}"
        );
        for s in [wrong, dst.password.as_str(), src.password.as_str()] {
            assert!(!out.both().contains(s), "{sub}: password printed: {out:?}");
        }
    }
}

#[test]
fn a_missing_password_variable_is_named_without_any_secret() {
    let d = dovecot();
    let (src, dst) = (d.new_user("noenv-src"), d.new_user("noenv-dst"));
    let missing = "MF_FOUNDATION_NOT_SET_ANYWHERE";
    let yaml = format!(
        "source:\n{}target:\n{}",
        account(Conn::Plain(d.plain_port()), None, &src.name, SRC_VAR),
        account(Conn::Plain(d.plain_port()), None, &dst.name, missing),
    );
    let job = Job::new(&yaml, &[(SRC_VAR, &src.password)]);
    for sub in ["plan", "run", "doctor"] {
        let out = job.exec(sub, &[]);
        assert_eq!(out.code, 2, "{sub}: {out:?}");
        let text = out.both();
        assert!(text.contains(missing), "{sub}: {out:?}");
        assert!(text.contains("not set"), "{sub}: {out:?}");
        assert!(!text.contains(&src.password), "{sub}: {out:?}");
        assert!(!text.contains(&dst.password), "{sub}: {out:?}");
    }
    // doctor says which step failed, and checks the side that can be checked.
    let doctor = job.exec("doctor", &[]);
    let lines = doctor_lines(&doctor);
    assert!(
        lines
            .iter()
            .any(|(ok, side, rest)| !ok && side == "target" && rest.starts_with("password")),
        "{doctor:?}"
    );
    assert!(
        lines
            .iter()
            .any(|(ok, side, rest)| *ok && side == "source" && rest.starts_with("login")),
        "{doctor:?}"
    );
}

/// Logs go to stderr; redirected to a file (not a terminal) they must be plain text.
#[test]
fn logs_to_a_file_have_no_terminal_escape_codes() {
    let d = dovecot();
    let (src, dst) = (d.new_user("ansi-src"), d.new_user("ansi-dst"));
    let job = Job::pair(
        (&src, Conn::Plain(d.plain_port()), None),
        (&dst, Conn::Plain(d.plain_port()), None),
        "",
    );
    let out = job.exec("plan", &["-vv"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("imap command"), "no debug log: {out:?}");
    assert!(!out.stderr.contains('\u{1b}'), "escape codes in: {out:?}");
}

// ---------------------------------------------------------------------------------------------
// 7. Profile errors.

#[test]
fn a_typo_in_a_key_names_file_line_key_and_the_right_key() {
    let yaml = "source:\n  imap:\n    provider: \"163\"\n    hots: imap.163.com\n    \
                user: alice@163.com\n    password: { env: MF_FOUNDATION_SRC }\n\
                target:\n  imap: { provider: qq, user: \"1@qq.com\", password: { env: X } }\n";
    let job = Job::new(yaml, &[]);
    for sub in ["plan", "run", "doctor"] {
        let out = job.exec(sub, &[]);
        assert_eq!(out.code, 2, "{sub}: {out:?}");
        let err = &out.stderr;
        assert!(
            err.contains(&job.profile.display().to_string()),
            "{sub}: {out:?}"
        );
        assert!(err.contains("line 4"), "{sub}: {out:?}");
        assert!(err.contains("source.imap.hots"), "{sub}: {out:?}");
        assert!(err.contains("did you mean 'host'"), "{sub}: {out:?}");
    }
}

#[test]
fn a_password_written_in_the_profile_is_refused_without_echoing_it() {
    let yaml = "source:\n  imap:\n    host: 127.0.0.1\n    tls: none\n    user: alice\n    \
                password: \"hunter2\"\n\
                target:\n  imap: { host: 127.0.0.1, tls: none, user: bob, password: { env: X } }\n";
    let job = Job::new(yaml, &[]);
    for sub in ["plan", "run", "doctor"] {
        let out = job.exec(sub, &[]);
        assert_eq!(out.code, 2, "{sub}: {out:?}");
        assert!(out.stderr.contains("line 6"), "{sub}: {out:?}");
        assert!(
            out.stderr.contains("source.imap.password"),
            "{sub}: {out:?}"
        );
        assert!(
            out.stderr.contains("env"),
            "{sub}: says what to use: {out:?}"
        );
        assert!(!out.both().contains("hunter2"), "{sub}: {out:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 8. --help.

#[test]
fn help_describes_the_program_and_every_subcommand() {
    let top = output({
        let mut c = Command::new(BIN);
        c.arg("--help");
        c
    });
    assert_eq!(top.code, 0, "{top:?}");
    assert!(top.stdout.contains("Usage: mailferry"), "{top:?}");
    assert!(top.stdout.contains("IMAP"), "{top:?}");
    // Subcommands as listed under "Commands:".
    let listed: Vec<String> = top
        .stdout
        .split("Commands:")
        .nth(1)
        .unwrap_or_else(|| panic!("no Commands section: {top:?}"))
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect();
    for must in ["run", "plan", "doctor"] {
        assert!(
            listed.iter().any(|c| c == must),
            "{must} not listed: {top:?}"
        );
    }
    let about = [
        ("run", "Copy every selected message"),
        ("plan", "Show what a run would copy"),
        ("doctor", "Check each side's connection"),
    ];
    for sub in &listed {
        let out = output({
            let mut c = Command::new(BIN);
            c.args([sub.as_str(), "--help"]);
            c
        });
        assert_eq!(out.code, 0, "{sub}: {out:?}");
        assert!(
            out.stdout.contains(&format!("Usage: mailferry {sub}")),
            "{sub}: {out:?}"
        );
        let description = out.stdout.lines().next().unwrap_or_default();
        assert!(description.len() > 20, "{sub}: no description: {out:?}");
        if let Some((_, text)) = about.iter().find(|(s, _)| s == sub) {
            assert!(out.stdout.contains(text), "{sub}: {out:?}");
        }
    }
    // Details of the main commands a user needs before a first run.
    let run_help = output({
        let mut c = Command::new(BIN);
        c.args(["run", "--help"]);
        c
    });
    assert!(run_help.stdout.contains("--dry-run"), "{run_help:?}");
    assert!(run_help.stdout.contains("Exit code"), "{run_help:?}");
}
