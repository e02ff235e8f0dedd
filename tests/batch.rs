//! `mailferry batch`: twenty accounts against the test Dovecot, through a proxy that counts
//! connections. Every account's mailbox must arrive exactly, one bad password must fail alone,
//! reruns (after kill -9, without the state dir) must add nothing, shards must cover every
//! account once, and a batch backup must restore by a second batch.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use support::*;

const ACCOUNTS: usize = 20;

struct Accounts {
    src: Vec<TestUser>,
    dst: Vec<TestUser>,
}

fn accounts(tag: &str) -> Accounts {
    let d = dovecot();
    let mut a = Accounts {
        src: Vec::new(),
        dst: Vec::new(),
    };
    for i in 0..ACCOUNTS {
        let src = d.new_user(&format!("{tag}s{i}"));
        for m in 0..3 {
            src.append(
                "INBOX",
                format!("Subject: {tag} {i}/{m}\r\n\r\nbody {m}\r\n").as_bytes(),
                if m == 0 { &["\\Seen"] } else { &[] },
                Some("07-Jul-2021 02:44:25 +0800"),
            );
        }
        src.append(
            "Work",
            format!("Subject: work {i}\r\n\r\nw\r\n").as_bytes(),
            &[],
            None,
        );
        a.src.push(src);
        a.dst.push(d.new_user(&format!("{tag}d{i}")));
    }
    a
}

fn private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// accounts.csv with passwords (mode 0600); `wrong` gets a wrong source password.
fn csv(dir: &Path, a: &Accounts, wrong: Option<usize>) -> PathBuf {
    let mut text = String::from("source_user,target_user,source_password,target_password\n");
    for i in 0..ACCOUNTS {
        let pw = if Some(i) == wrong {
            "not-the-code".to_string()
        } else {
            a.src[i].password.clone()
        };
        text.push_str(&format!(
            "{},{},{pw},{}\n",
            a.src[i].name, a.dst[i].name, a.dst[i].password
        ));
    }
    let p = dir.join("accounts.csv");
    std::fs::write(&p, text).unwrap();
    private(&p);
    p
}

fn batch_file(dir: &Path, port: u16, extra: &str) -> PathBuf {
    let p = dir.join("batch.yaml");
    std::fs::write(
        &p,
        format!(
            "job:\n  source: {{ imap: {{ host: 127.0.0.1, port: {port}, tls: none }} }}\n  target: {{ imap: {{ host: 127.0.0.1, port: {port}, tls: none }} }}\n  workers: 2\naccounts_csv: accounts.csv\naccounts_in_parallel: 4\nmax_connections_per_host: 6\nnew_connections_per_minute: 5000\nstate_dir: state\n{extra}"
        ),
    )
    .unwrap();
    p
}

fn batch(dir: &Path, args: &[&str]) -> (i32, String) {
    output_of(
        Command::new(BIN)
            .arg("batch")
            .args(args)
            .env_remove("JOB_COMPLETION_INDEX")
            .current_dir(dir),
    )
}

/// The summary line of `--json` output.
fn summary(out: &str) -> Json {
    out.lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<Json>(l)
                .ok()
                .filter(|j| j.get("accounts").is_some())
        })
        .unwrap_or_else(|| panic!("no summary in:\n{out}"))
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn assert_all_exact(a: &Accounts, except: Option<usize>) {
    for i in (0..ACCOUNTS).filter(|&i| Some(i) != except) {
        assert_same(&a.src[i], "INBOX", &a.dst[i], "INBOX");
        assert_same(&a.src[i], "Work", &a.dst[i], "Work");
    }
}

#[test]
fn twenty_accounts_arrive_exactly_and_a_wrong_code_fails_alone() {
    let a = accounts("bt");
    let work = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(dovecot().plain_port(), vec![]);
    csv(work.path(), &a, Some(7));
    batch_file(work.path(), proxy.port(), "");

    let (code, out) = batch(work.path(), &["batch.yaml", "--json"]);
    assert_eq!(code, 1, "{out}");
    let s = summary(&out);
    assert_eq!(
        (s["accounts"].as_u64(), s["done"].as_u64()),
        (Some(20), Some(19)),
        "{s}"
    );
    assert_eq!(s["failed_permanent"], 1, "{s}");
    let bad = &s["results"][&a.src[7].name];
    assert_eq!(bad["failure"], "permanent", "{bad}");
    assert!(
        !out.contains("not-the-code"),
        "a password reached the output"
    );
    let log = std::fs::read_to_string(
        work.path()
            .join("state/accounts")
            .join(&a.src[7].name)
            .join("log.txt"),
    )
    .unwrap();
    assert!(log.contains(&a.src[7].name), "{log}");
    // No password in any file of the state dir.
    let secrets: Vec<&str> = a
        .src
        .iter()
        .chain(&a.dst)
        .map(|u| u.password.as_str())
        .chain(["not-the-code"])
        .collect();
    for entry in walk(&work.path().join("state")) {
        let bytes = std::fs::read(&entry).unwrap();
        for secret in &secrets {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds a password",
                entry.display()
            );
        }
    }
    assert_all_exact(&a, Some(7));
    assert!(a.dst[7].messages("INBOX").is_empty());
    // Without the cap, three accounts with two workers a side open fifteen or more.
    assert!(
        proxy.most_open() >= 2,
        "the count saw {}",
        proxy.most_open()
    );
    assert!(
        proxy.most_open() <= 6,
        "{} connections open at once, over the cap of 6",
        proxy.most_open()
    );
    let state = std::fs::read_dir(work.path().join("state/accounts"))
        .unwrap()
        .count();
    assert_eq!(state, ACCOUNTS);

    // Fixed and rerun: the done accounts are skipped, the failed one runs.
    csv(work.path(), &a, None);
    let (code, out) = batch(work.path(), &["batch.yaml", "--json"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(summary(&out)["copied"], 4 + 19 * 4, "{out}");
    assert_all_exact(&a, None);

    // Everything again, then without the state dir: nothing is copied twice.
    let (code, out) = batch(work.path(), &["batch.yaml", "--json", "--again"]);
    assert_eq!(
        (code, summary(&out)["copied"].as_u64()),
        (0, Some(0)),
        "{out}"
    );
    std::fs::remove_dir_all(work.path().join("state")).unwrap();
    let (code, out) = batch(work.path(), &["batch.yaml", "--json"]);
    let s = summary(&out);
    assert_eq!((code, s["copied"].as_u64()), (0, Some(0)), "{out}");
    assert_eq!(s["already_present"], 20 * 4, "{s}");
    assert_all_exact(&a, None);
}

#[test]
fn killed_mid_batch_then_rerun_is_exact() {
    let a = accounts("bk");
    let work = tempfile::tempdir().unwrap();
    csv(work.path(), &a, None);
    batch_file(work.path(), dovecot().plain_port(), "");
    let mut child = Command::new(BIN)
        .args(["batch", "batch.yaml"])
        .current_dir(work.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed once a few accounts are done and others are on their way.
    let begun = Instant::now();
    let results = work.path().join("state/accounts");
    while begun.elapsed() < Duration::from_secs(60) {
        let done = std::fs::read_dir(&results).map(|d| d.count()).unwrap_or(0);
        if done >= 5 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    let (code, out) = batch(work.path(), &["batch.yaml", "--json"]);
    assert_eq!(code, 0, "{out}");
    assert_all_exact(&a, None);
}

#[test]
fn four_shards_cover_every_account_once_and_merge() {
    let a = accounts("bs");
    let work = tempfile::tempdir().unwrap();
    csv(work.path(), &a, None);
    batch_file(work.path(), dovecot().plain_port(), "shards: 4\n");
    let children: Vec<_> = (0..4)
        .map(|i| {
            Command::new(BIN)
                .args(["batch", "batch.yaml", "--json"])
                .env("JOB_COMPLETION_INDEX", i.to_string())
                .current_dir(work.path())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut seen = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(0), "{text}");
        let s = summary(&text);
        seen.extend(s["results"].as_object().unwrap().keys().cloned());
    }
    seen.sort();
    let mut want: Vec<String> = a.src.iter().map(|u| u.name.clone()).collect();
    want.sort();
    assert_eq!(seen, want, "each account in exactly one shard");
    assert_all_exact(&a, None);
    let (code, out) = batch(work.path(), &["report", "state", "--json"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(summary(&out)["done"], 20, "{out}");
}

#[test]
fn a_batch_backup_is_restored_by_a_second_batch() {
    let a = accounts("bb");
    let work = tempfile::tempdir().unwrap();
    let port = dovecot().plain_port();
    csv(work.path(), &a, None);
    std::fs::write(
        work.path().join("backup.yaml"),
        format!(
            "job:\n  source: {{ imap: {{ host: 127.0.0.1, port: {port}, tls: none }} }}\n  target: {{ archive: {{ path: \"backups/{{source_user}}\", retention: {{ keep_deleted_for: 0m }} }} }}\naccounts_csv: accounts.csv\nnew_connections_per_minute: 5000\nstate_dir: backup-state\n"
        ),
    )
    .unwrap();
    let (code, out) = batch(work.path(), &["backup.yaml", "--json"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(summary(&out)["copied"], 80, "{out}");
    std::fs::write(
        work.path().join("restore.yaml"),
        format!(
            "job:\n  source: {{ archive: \"backups/{{source_user}}\" }}\n  target: {{ imap: {{ host: 127.0.0.1, port: {port}, tls: none }} }}\naccounts_csv: accounts.csv\nnew_connections_per_minute: 5000\nstate_dir: restore-state\n"
        ),
    )
    .unwrap();
    let (code, out) = batch(work.path(), &["restore.yaml", "--json"]);
    assert_eq!(code, 0, "{out}");
    assert_all_exact(&a, None);

    // The job's `retention:` holds in a batch as in a single run: a message the server
    // deleted leaves that account's archive (the rule is zero here).
    let gone = a.src[0].messages("INBOX")[0].uid;
    a.src[0].expunge("INBOX", gone);
    let (code, out) = batch(work.path(), &["backup.yaml", "--json", "--again"]);
    assert_eq!(code, 0, "{out}");
    let report: Json = serde_json::from_slice(
        &std::fs::read(
            work.path()
                .join("backup-state/accounts")
                .join(&a.src[0].name)
                .join("report.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(report["pruned"], 1, "{report}");
}

#[test]
fn bad_accounts_files_are_refused_with_the_fix() {
    let work = tempfile::tempdir().unwrap();
    batch_file(work.path(), 143, "");
    let p = work.path().join("accounts.csv");
    std::fs::write(
        &p,
        "source_user,target_user,source_password,target_password\na,b,x,y\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, out) = batch(work.path(), &["batch.yaml"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("chmod 600"), "{out}");
    private(&p);
    std::fs::write(
        &p,
        "source_user,target_user,source_password,target_password\na,b,x,y\nc,d,z\n",
    )
    .unwrap();
    let (code, out) = batch(work.path(), &["batch.yaml"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("line 3"), "{out}");
    assert!(!out.contains(",z"), "{out}");
}
