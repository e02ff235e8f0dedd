//! Servers that misbehave, imitated by a thin proxy in front of Dovecot: a run fails only the
//! message concerned, with the server's numbers, never stores a corrupted copy, and pauses
//! when told to slow down instead of giving up.

mod support;

use support::*;

fn seed(src: &TestUser, big: usize) {
    let seeds: Vec<Seed> = (0..6)
        .map(|i| {
            Seed::new(
                generated("hostile", i, 300),
                &["\\Seen"],
                imap_date(1_700_000_000 + i as i64, 8),
            )
        })
        .collect();
    bulk_append(src, "INBOX", &seeds);
    let large = generated("large", 99, big);
    src.append("INBOX", &large, &[], None);
}

fn failure_reasons(out: &Outcome) -> String {
    out.report["failures"].to_string()
}

#[test]
fn a_server_that_ignores_ranges_fails_only_the_large_message() {
    let d = dovecot();
    let (src, dst) = (d.new_user("range-src"), d.new_user("range-dst"));
    seed(&src, 3 * 1024 * 1024);
    let proxy = Proxy::start(d.plain_port(), vec![Quirk::IgnoreFetchRanges]);
    let out = Job::new(&src, &dst).source(via(&proxy)).run();
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.n("copied"), 6, "{out:?}");
    assert_eq!(out.n("failed"), 1, "{out:?}");
    assert!(
        failure_reasons(&out).contains("reading the message in parts"),
        "{out:?}"
    );
    // Nothing half-read reached the target.
    let stored = dst.messages("INBOX");
    assert_eq!(stored.len(), 6);
    assert!(stored.iter().all(|m| m.body.len() < 10_000));
}

#[test]
fn a_message_over_the_targets_limit_fails_before_it_is_fetched() {
    let d = dovecot();
    let (src, dst) = (d.new_user("limit-src"), d.new_user("limit-dst"));
    seed(&src, 200_000);
    let target = Proxy::start(d.plain_port(), vec![Quirk::AdvertiseAppendLimit(100_000)]);
    let source = Proxy::start(d.plain_port(), vec![]);
    let job = Job::new(&src, &dst)
        .source(via(&source))
        .target(via(&target));
    let out = job.run();
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!((out.n("copied"), out.n("failed")), (6, 1), "{out:?}");
    let reasons = failure_reasons(&out);
    assert!(reasons.contains("accepts at most 100000"), "{out:?}");
    assert!(reasons.contains("filters.max_size"), "{out:?}");
    // Only metadata of it was read: no whole-message FETCH carried it.
    let whole_fetches = source
        .commands()
        .iter()
        .filter(|c| c.contains("BODY.PEEK[]"))
        .count();
    assert!(whole_fetches <= 2, "{:?}", source.commands());
    // A rerun lists it again and copies nothing twice.
    let again = job.run();
    assert_eq!((again.n("copied"), again.n("failed")), (0, 1), "{again:?}");
    assert_eq!(dst.messages("INBOX").len(), 6);
}

#[test]
fn a_throttled_append_is_retried_after_a_pause_and_lands_once() {
    let d = dovecot();
    let (src, dst) = (d.new_user("throttle-src"), d.new_user("throttle-dst"));
    seed(&src, 500);
    let target = Proxy::start(d.plain_port(), vec![Quirk::ThrottleAppends { times: 2 }]);
    let out = Job::new(&src, &dst).target(via(&target)).workers(1).run();
    out.assert_clean(7, 0);
    assert_same(&src, "INBOX", &dst, "INBOX");
    let appends = target
        .commands()
        .iter()
        .filter(|c| c.contains("APPEND"))
        .count();
    assert!(appends >= 3, "{:?}", target.commands());
}

#[test]
fn a_message_the_server_garbles_fails_alone_when_planning() {
    let d = dovecot();
    let (src, dst) = (d.new_user("garble-plan-src"), d.new_user("garble-plan-dst"));
    seed(&src, 400);
    let proxy = Proxy::start(
        d.plain_port(),
        vec![Quirk::GarbleFetchOf {
            uid: 4,
            body_only: false,
        }],
    );
    let out = Job::new(&src, &dst).source(via(&proxy)).run();
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!((out.n("copied"), out.n("failed")), (6, 1), "{out:?}");
    let failures = out.report["failures"].as_array().unwrap();
    assert_eq!(failures[0]["uid"], 4, "{out:?}");
    assert!(failures[0]["reason"].to_string().contains("not valid IMAP"));
}

#[test]
fn a_message_the_server_garbles_fails_alone_when_copying() {
    let d = dovecot();
    let (src, dst) = (d.new_user("garble-copy-src"), d.new_user("garble-copy-dst"));
    seed(&src, 400);
    let proxy = Proxy::start(
        d.plain_port(),
        vec![Quirk::GarbleFetchOf {
            uid: 3,
            body_only: true,
        }],
    );
    let out = Job::new(&src, &dst).source(via(&proxy)).workers(1).run();
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!((out.n("copied"), out.n("failed")), (6, 1), "{out:?}");
    assert_eq!(out.report["failures"][0]["uid"], 3, "{out:?}");
}

/// A library-level session through `port`, with a short idle timeout.
fn session_endpoint(port: u16, user: &TestUser) -> mailferry::imap::Endpoint {
    mailferry::imap::Endpoint {
        side: mailferry::error::Side::Source,
        host: "127.0.0.1".into(),
        port,
        tls: mailferry::providers::TlsMode::None,
        ca_file: None,
        user: user.name.clone(),
        password: mailferry::secret::Secret::new(user.password.clone()),
        auth: mailferry::sasl::AuthMethod::Auto,
        credential: std::sync::Arc::new(mailferry::profile::Credential::new(
            mailferry::profile::PasswordSource::Env("UNUSED".into()),
            mailferry::secret::Secret::new(user.password.clone()),
        )),
        provider: None,
        idle_timeout: std::time::Duration::from_secs(2),
        limit: None,
    }
}

#[tokio::test]
async fn a_server_that_trickles_bytes_is_given_up_on_in_bounded_time() {
    let d = dovecot();
    let src = d.new_user("trickle-src");
    src.append("INBOX", &generated("trickle", 1, 20_000), &[], None);
    // Login and EXAMINE pass at full speed; the message then comes a byte at a time, each
    // well within the idle timeout.
    let proxy = Proxy::start(
        d.plain_port(),
        vec![Quirk::Trickle {
            after: 3_000,
            every_ms: 300,
        }],
    );
    let ep = session_endpoint(proxy.port(), &src);
    let mut s = mailferry::imap::Session::connect(&ep).await.unwrap();
    s.examine("INBOX").await.unwrap();
    let started = std::time::Instant::now();
    let r = s
        .uid_fetch("1:*", "(UID BODY.PEEK[])", &mut |_| Ok(()))
        .await;
    let err = r.expect_err("a trickling server must not hold the command for ever");
    assert!(err.to_string().contains("too slowly"), "{err}");
    assert!(started.elapsed().as_secs() < 15, "{:?}", started.elapsed());
    assert!(s.is_broken());
}

#[tokio::test]
async fn an_endless_stream_of_untagged_responses_is_cut_short() {
    let d = dovecot();
    let src = d.new_user("flood-src");
    src.append("INBOX", &generated("flood", 1, 300), &[], None);
    let proxy = Proxy::start(
        d.plain_port(),
        vec![Quirk::FloodBeforeFetchDone { lines: 30_000 }],
    );
    let ep = session_endpoint(proxy.port(), &src);
    let mut s = mailferry::imap::Session::connect(&ep).await.unwrap();
    s.examine("INBOX").await.unwrap();
    let err = s
        .uid_fetch("1:*", "(UID FLAGS)", &mut |_| Ok(()))
        .await
        .expect_err("30,000 responses to a FETCH of one message");
    assert!(err.to_string().contains("more than"), "{err}");
}

#[tokio::test]
async fn an_append_the_server_answers_a_byte_at_a_time_ends_in_bounded_time() {
    let d = dovecot();
    let dst = d.new_user("trickle-dst");
    let proxy = Proxy::start(
        d.plain_port(),
        vec![Quirk::Trickle {
            after: 2_500,
            every_ms: 300,
        }],
    );
    let ep = session_endpoint(proxy.port(), &dst);
    let mut s = mailferry::imap::Session::connect(&ep).await.unwrap();
    s.select("INBOX").await.unwrap();
    let started = std::time::Instant::now();
    // Enough commands to get past the bytes that pass at full speed.
    let body = generated("slow", 1, 300);
    let mut result = Ok(mailferry::imap::session::Appended::default());
    for _ in 0..40 {
        result = s.append("INBOX", &[], None, &body).await;
        if result.is_err() {
            break;
        }
    }
    let err = result.expect_err("a server that answers a byte at a time must not hold the run");
    assert!(err.to_string().contains("too slowly"), "{err}");
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
}
