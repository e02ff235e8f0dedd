//! `mailferry doctor PROFILE`

use mailferry::error::Side;
use mailferry::imap::Endpoint;
use mailferry::profile::{Pop3Account, Source, Target};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    profile: super::ProfileArg,
    /// Print the steps as one JSON object.
    #[arg(long)]
    json: bool,
}

pub async fn execute(args: Args) -> anyhow::Result<i32> {
    let profile = super::load_profile(&args.profile.profile)?;
    let mut endpoints = Vec::new();
    let mut pop3 = None;
    let mut results = Vec::new();
    let mut resolve =
        |side: Side, account: &mailferry::profile::ImapAccount| match super::resolve_password(
            &account.password,
        ) {
            Ok(p) => endpoints.push(Endpoint::new(side, account, p)),
            Err(e) => results.push(mailferry::doctor::StepResult {
                side,
                step: "password".into(),
                ok: false,
                detail: e.to_string(),
            }),
        };
    match &profile.source {
        Source::Imap(a) | Source::Pop3(Pop3Account { account: a, .. }) => resolve(Side::Source, a),
        _ => {}
    }
    if let Target::Imap(a) = &profile.target {
        resolve(Side::Target, a);
    }
    // The source comes first when it resolved; a POP3 one is checked as POP3.
    if matches!(profile.source, Source::Pop3(_))
        && endpoints.first().is_some_and(|e| e.side == Side::Source)
    {
        pop3 = Some(endpoints.remove(0));
    }
    if let Some(ep) = &pop3 {
        results.extend(mailferry::doctor::check_pop3(ep).await);
    }
    for ep in &endpoints {
        results.extend(mailferry::doctor::check(ep).await);
    }
    let ok = results.iter().all(|r| r.ok);
    if args.json {
        println!("{}", serde_json::json!({ "ok": ok, "steps": results }));
    } else {
        use mailferry::i18n::{step, t};
        use mailferry::text::pad;
        for r in &results {
            println!(
                "{:<4} {} {} {}",
                if r.ok { "OK" } else { "FAIL" },
                pad(&t(&format!("side-{}", r.side)), 6),
                pad(&step(&r.step), 30),
                r.detail
            );
        }
        if ok {
            println!("{}", t("doctor-all-passed"));
        }
    }
    Ok(if ok { 0 } else { 2 })
}
