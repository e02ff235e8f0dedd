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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every visible subcommand, nested ones as `archive-ls`.
    fn names(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = format!("{prefix}{}", sub.get_name());
            names(sub, &format!("{name}-"), out);
            out.push(name);
        }
    }

    #[test]
    fn a_page_for_the_program_and_each_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        let mut written = Vec::new();
        write_pages(
            &super::super::Cli::command(),
            "mailferry",
            dir.path(),
            &mut written,
        )
        .unwrap();
        let mut expected = Vec::new();
        names(&super::super::Cli::command(), "", &mut expected);
        assert!(expected.len() >= 10, "{expected:?}");
        assert_eq!(written.len(), expected.len() + 1);
        for name in expected {
            let page = std::fs::read_to_string(dir.path().join(format!("mailferry-{name}.1")))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(page.contains(".TH"), "{name}");
        }
    }

    #[test]
    fn completions_name_every_subcommand_in_every_shell() {
        use clap::ValueEnum as _;
        let mut expected = Vec::new();
        names(&super::super::Cli::command(), "", &mut expected);
        for shell in clap_complete::Shell::value_variants() {
            let mut buf = Vec::new();
            clap_complete::generate(
                *shell,
                &mut super::super::Cli::command(),
                "mailferry",
                &mut buf,
            );
            let text = String::from_utf8(buf).unwrap();
            for name in expected.iter().flat_map(|n| n.split('-')) {
                assert!(text.contains(name), "{shell}: {name}");
            }
        }
    }
}
