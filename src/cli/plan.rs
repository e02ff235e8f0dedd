//! `mailferry plan PROFILE`

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    profile: super::ProfileArg,
    /// Print the plan as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub async fn execute(args: Args) -> anyhow::Result<i32> {
    let profile = super::load_profile(&args.profile.profile)?;
    let source = super::source_side(&profile).await?;
    let target = super::target_side(&profile)?;
    let plan = mailferry::plan::for_sides(&profile, &source, &target).await;
    source.close().await;
    let plan = plan?;
    if args.json {
        println!("{}", serde_json::to_string(&plan)?);
    } else {
        print!("{}", mailferry::plan::render(&plan));
    }
    Ok(0)
}
