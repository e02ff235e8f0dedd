//! `mailferry plan PROFILE`

use mailferry::error::Side;
use mailferry::imap::Endpoint;
use mailferry::profile::{Source, Target};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    profile: super::ProfileArg,
    /// Print the plan as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub async fn execute(args: Args) -> anyhow::Result<i32> {
    use anyhow::Context as _;
    let profile = super::load_profile(&args.profile.profile)?;
    let Source::Imap(src) = &profile.source else {
        anyhow::bail!(
            "{}: `plan` reads an IMAP source (source.imap); this profile's source is not IMAP",
            profile.path.display()
        );
    };
    let source = Endpoint::new(
        Side::Source,
        src,
        src.password.resolve().context("source password")?,
    );
    let target = match &profile.target {
        Target::Imap(dst) => Some(Endpoint::new(
            Side::Target,
            dst,
            dst.password.resolve().context("target password")?,
        )),
        Target::Archive(_) => None,
    };
    let plan = mailferry::plan::make(&profile, &source, target.as_ref()).await?;
    if args.json {
        println!("{}", serde_json::to_string(&plan)?);
    } else {
        print!("{}", mailferry::plan::render(&plan));
    }
    Ok(0)
}
