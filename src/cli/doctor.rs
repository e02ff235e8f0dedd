//! `mailferry doctor PROFILE`

use mailferry::error::Side;
use mailferry::imap::Endpoint;
use mailferry::profile::{Source, Target};

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
    if let Source::Imap(a) = &profile.source {
        resolve(Side::Source, a);
    }
    if let Target::Imap(a) = &profile.target {
        resolve(Side::Target, a);
    }
    for ep in &endpoints {
        results.extend(mailferry::doctor::check(ep).await);
    }
    let ok = results.iter().all(|r| r.ok);
    if args.json {
        println!("{}", serde_json::json!({ "ok": ok, "steps": results }));
    } else {
        for r in &results {
            println!(
                "{:<4} {:<6} {:<30} {}",
                if r.ok { "OK" } else { "FAIL" },
                r.side.to_string(),
                r.step,
                r.detail
            );
        }
        if ok {
            println!("all checks passed");
        }
    }
    Ok(if ok { 0 } else { 2 })
}
