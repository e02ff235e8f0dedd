//! OAuth2 sign-in against Dovecot's `oauth2` passdb in local-validation mode: XOAUTH2 and
//! OAUTHBEARER log in, over IMAP and POP3; `auto` picks OAUTHBEARER from what the server
//! offers; a refused token is read again from the token command once; a failing token command
//! is a clear error with exit 2 that never shows the token; the Outlook preset refuses a
//! password before connecting. Tokens are HS256 JWTs minted here with Dovecot's test key.

mod support;

use std::path::Path;

use support::*;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A token command (argv, no shell) that prints the lines of `dir/tokens`, one per call, the
/// last one again when they run out, and counts its calls in `dir/calls`.
fn token_command(dir: &Path, tokens: &[String]) -> String {
    std::fs::write(dir.join("tokens"), tokens.join("\n") + "\n").unwrap();
    let script = dir.join("token.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nd=$(dirname \"$0\")\nn=$(cat \"$d/calls\" 2>/dev/null || echo 0)\n\
         n=$((n + 1))\necho \"$n\" > \"$d/calls\"\n\
         total=$(wc -l < \"$d/tokens\")\n[ \"$n\" -gt \"$total\" ] && n=$total\n\
         sed -n \"${n}p\" \"$d/tokens\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{{ command: [\"{}\"] }}", script.display())
}

fn calls(dir: &Path) -> u32 {
    std::fs::read_to_string(dir.join("calls"))
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(0)
}

fn doctor(profile: &Path, envs: &[(&str, &str)]) -> (i32, String) {
    mailferry_on("doctor", profile, &[], envs)
}

fn oauth_imap(u: &TestUser, auth: &str, password: &str) -> String {
    format!(
        "  imap: {{ host: 127.0.0.1, port: {}, tls: none, user: \"{}\", auth: {auth}, password: {password} }}\n",
        dovecot().plain_port(),
        u.name
    )
}

#[test]
fn xoauth2_and_oauthbearer_log_in_and_auto_picks_oauthbearer() {
    let d = dovecot();
    let (src, dst) = (d.new_user("oa"), d.new_user("oadst"));
    src.append("INBOX", b"Subject: via oauth\r\n\r\nbody\r\n", &[], None);
    let token = oauth2_token(&src.name, now() + 3600);
    for (auth, shown) in [
        ("xoauth2", "XOAUTH2"),
        ("oauthbearer", "OAUTHBEARER"),
        ("auto", "OAUTHBEARER"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let profile = write_profile(
            dir.path(),
            &oauth_imap(&src, auth, "{ env: MF_TOKEN }"),
            &imap_yaml(&dst, "MF_DST"),
        );
        let envs = [("MF_TOKEN", token.as_str()), ("MF_DST", &dst.password)];
        let (code, text) = doctor(&profile, &envs);
        assert_eq!(code, 0, "{auth}: {text}");
        assert!(
            text.contains(&format!(
                "({shown}, token from environment variable MF_TOKEN, expires in"
            )),
            "{auth}: {text}"
        );
        assert!(!text.contains(&token), "the token was printed");
    }
    // A whole run with the source signed in by token.
    let dir = tempfile::tempdir().unwrap();
    let profile = write_profile(
        dir.path(),
        &oauth_imap(&src, "auto", "{ env: MF_TOKEN }"),
        &imap_yaml(&dst, "MF_DST"),
    );
    let r = run_profile(&profile, &[("MF_TOKEN", &token), ("MF_DST", &dst.password)]);
    assert_eq!(r.code, 0, "{}", r.output);
    assert_eq!(subjects(&dst, "INBOX"), vec!["via oauth".to_string()]);
    assert!(!r.output.contains(&token), "the token was printed");
}

#[test]
fn a_refused_token_is_read_again_once_and_the_run_succeeds() {
    let d = dovecot();
    let (src, dst) = (d.new_user("oaexp"), d.new_user("oaexpdst"));
    src.append(
        "INBOX",
        b"Subject: after refresh\r\n\r\nbody\r\n",
        &[],
        None,
    );
    let dir = tempfile::tempdir().unwrap();
    // The first token has expired; the command's next answer is good.
    let tokens = [
        oauth2_token(&src.name, now() - 600),
        oauth2_token(&src.name, now() + 3600),
    ];
    let profile = write_profile(
        dir.path(),
        &oauth_imap(&src, "xoauth2", &token_command(dir.path(), &tokens)),
        &imap_yaml(&dst, "MF_DST"),
    );
    let r = run_profile(&profile, &[("MF_DST", &dst.password)]);
    assert_eq!(r.code, 0, "{}", r.output);
    assert_eq!(subjects(&dst, "INBOX"), vec!["after refresh".to_string()]);
    assert!(
        calls(dir.path()) >= 2,
        "the token command ran {} time(s)",
        calls(dir.path())
    );

    // A token the server refuses although it has not expired (say, revoked): read again
    // once after the refusal, then used.
    let dir = tempfile::tempdir().unwrap();
    let forged = {
        let good = oauth2_token(&src.name, now() + 3600);
        let (head, _) = good.rsplit_once('.').unwrap();
        format!("{head}.AAAA")
    };
    let tokens = [forged, oauth2_token(&src.name, now() + 3600)];
    let profile = write_profile(
        dir.path(),
        &oauth_imap(&src, "oauthbearer", &token_command(dir.path(), &tokens)),
        &imap_yaml(&dst, "MF_DST"),
    );
    let (code, text) = doctor(&profile, &[("MF_DST", &dst.password)]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(calls(dir.path()), 2, "{text}");
}

#[test]
fn a_failing_token_command_is_exit_2_without_the_token() {
    let d = dovecot();
    let (src, dst) = (d.new_user("oafail"), d.new_user("oafaildst"));
    let token = oauth2_token(&src.name, now() + 3600);
    let dir = tempfile::tempdir().unwrap();
    // Prints a token, then fails: what it printed must not be used or shown.
    let command = format!("{{ command: [\"sh\", \"-c\", \"echo {token}; exit 3\"] }}");
    let profile = write_profile(
        dir.path(),
        &oauth_imap(&src, "xoauth2", &command),
        &imap_yaml(&dst, "MF_DST"),
    );
    let r = run_profile(&profile, &[("MF_DST", &dst.password)]);
    assert_eq!(r.code, 2, "{}", r.output);
    assert!(
        r.output.contains("password command \"sh\" failed"),
        "{}",
        r.output
    );
    assert!(
        !r.output.contains(&token),
        "the token was printed: {}",
        r.output
    );

    // A wrong token for a known user: refused with the server's words after one retry.
    let wrong = oauth2_token("someone-else@example.test", now() + 3600);
    let profile = write_profile(
        dir.path(),
        &oauth_imap(&src, "xoauth2", "{ env: MF_TOKEN }"),
        &imap_yaml(&dst, "MF_DST"),
    );
    let r = run_profile(&profile, &[("MF_TOKEN", &wrong), ("MF_DST", &dst.password)]);
    assert_eq!(r.code, 2, "{}", r.output);
    assert!(r.output.contains("login as"), "{}", r.output);
    assert!(
        !r.output.contains(&wrong),
        "the token was printed: {}",
        r.output
    );
}

#[test]
fn pop3_signs_in_with_xoauth2() {
    let d = dovecot();
    let (src, dst) = (d.new_user("oapop"), d.new_user("oapopdst"));
    src.append("INBOX", b"Subject: pop by token\r\n\r\nbody\r\n", &[], None);
    let token = oauth2_token(&src.name, now() + 3600);
    let dir = tempfile::tempdir().unwrap();
    let source = format!(
        "  pop3: {{ host: 127.0.0.1, port: {}, tls: none, user: \"{}\", auth: xoauth2, password: {{ env: MF_TOKEN }} }}\n",
        d.pop3_port(),
        src.name
    );
    let profile = write_profile(dir.path(), &source, &imap_yaml(&dst, "MF_DST"));
    let r = run_profile(&profile, &[("MF_TOKEN", &token), ("MF_DST", &dst.password)]);
    assert_eq!(r.code, 0, "{}", r.output);
    assert_eq!(subjects(&dst, "INBOX"), vec!["pop by token".to_string()]);
}

#[test]
fn outlook_with_a_password_is_refused_before_connecting() {
    let d = dovecot();
    let dst = d.new_user("oaoutlook");
    let dir = tempfile::tempdir().unwrap();
    let source =
        "  imap: { provider: outlook, user: alice@outlook.com, password: { env: MF_SRC } }\n";
    let profile = write_profile(dir.path(), source, &imap_yaml(&dst, "MF_DST"));
    let start = std::time::Instant::now();
    let (code, text) = doctor(
        &profile,
        &[("MF_SRC", "my-password"), ("MF_DST", &dst.password)],
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("no longer accepts passwords"), "{text}");
    assert!(text.contains("oama"), "{text}");
    // Nothing was tried on the network: no DNS or TCP step for the source.
    assert!(!text.contains("source DNS lookup"), "{text}");
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
}
