//! `mailferry completions SHELL` and `mailferry man --out DIR`: generated from the same clap
//! definitions as the commands themselves, so they never drift from what the binary accepts.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::CommandFactory;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, powershell or elvish.
    shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Directory to write the pages to (mailferry.1, mailferry-run.1, ...); created if missing.
    #[arg(long, default_value = "man")]
    out: PathBuf,
}

pub fn completions(args: CompletionsArgs) -> anyhow::Result<i32> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "mailferry", &mut std::io::stdout());
    Ok(0)
}

/// One page for `mailferry` and one per subcommand (`mailferry-archive-ls.1` for nested ones).
pub fn man(args: ManArgs) -> anyhow::Result<i32> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let cmd = super::Cli::command();
    let mut written = Vec::new();
    write_pages(&cmd, "mailferry", &args.out, &mut written)?;
    for p in &written {
        println!("{}", p.display());
    }
    Ok(0)
}

fn write_pages(
    cmd: &clap::Command,
    name: &str,
    dir: &std::path::Path,
    written: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    let page = cmd.clone().name(name.to_string());
    let mut buf = Vec::new();
    clap_mangen::Man::new(page).render(&mut buf)?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, buf).with_context(|| format!("writing {}", path.display()))?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}
