//! `mailferry init`: a commented profile from two addresses, so a newcomer's first command
//! works without writing YAML. Pure: the text, the file name and the advice; the command line
//! writes and prints them.

use std::path::Path;

use crate::providers::{self, Provider};

/// One side of the job as `init` understands an address.
#[derive(Debug, Clone)]
pub struct Account {
    pub address: String,
    /// The preset the address's domain belongs to.
    pub provider: Option<&'static Provider>,
    /// The IMAP host guessed for a domain without a preset (`imap.<domain>`).
    pub guessed_host: Option<String>,
    /// The environment variable the password or authorization code is read from.
    pub env_var: &'static str,
}

impl Account {
    pub fn parse(address: &str, env_var: &'static str) -> Result<Account, String> {
        let address = address.trim();
        let Some((local, domain)) = address.rsplit_once('@') else {
            return Err(format!(
                "'{address}' is not a mail address (expected name@domain)"
            ));
        };
        let valid =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || "._+-".contains(c));
        if !valid(local) || !valid(domain) || !domain.contains('.') {
            return Err(format!(
                "'{address}' is not a mail address (expected name@domain)"
            ));
        }
        let provider = providers::lookup(domain);
        Ok(Account {
            address: address.to_string(),
            provider,
            guessed_host: provider
                .is_none()
                .then(|| format!("imap.{}", domain.to_ascii_lowercase())),
            env_var,
        })
    }

    /// The profile's `imap:` mapping for this account.
    fn yaml(&self) -> String {
        let server = match (self.provider, &self.guessed_host) {
            (Some(p), _) => format!("provider: \"{}\"", p.id),
            (None, Some(host)) => format!("host: {host}"),
            (None, None) => String::new(),
        };
        format!(
            "imap: {{ {server}, user: \"{}\", password: {{ env: {} }} }}",
            self.address, self.env_var
        )
    }

    /// What the user must do to get the secret for this account (a catalogue message id).
    pub fn advice_id(&self) -> &'static str {
        self.provider.map_or("hint-login-generic", |p| p.login_hint)
    }
}

/// The environment variables `init` names.
pub const SOURCE_VAR: &str = "MAILFERRY_SOURCE_CODE";
pub const TARGET_VAR: &str = "MAILFERRY_TARGET_CODE";

/// What the profile is for: a migration to another account, or a backup into a directory.
#[derive(Debug, Clone)]
pub enum Destination {
    Account(Account),
    Backup(String),
}

/// The profile's text. It holds no password: only the names of the variables to export.
pub fn profile_text(source: &Account, destination: &Destination) -> String {
    let mut out = String::new();
    out.push_str("# mailferry profile written by `mailferry init`; reference: docs/profiles.md\n");
    out.push_str("# Passwords are never stored here: export the variables named below first.\n");
    if let Some(host) = &source.guessed_host {
        out.push_str(&format!(
            "# {host} is a guess from the address's domain: check it in your provider's help.\n"
        ));
    }
    out.push_str("source:\n");
    out.push_str(&format!("  {}\n", source.yaml()));
    out.push_str("target:\n");
    match destination {
        Destination::Account(t) => {
            if let Some(host) = &t.guessed_host {
                out.push_str(&format!("  # {host} is a guess: check it.\n"));
            }
            out.push_str(&format!("  {}\n", t.yaml()));
            out.push_str(
                "# Folders: special folders (Sent, Drafts, Trash, Junk) go to the target's own;\n\
                 # your folders keep their names (on QQ Mail under 其他文件夹/). To leave some\n\
                 # out or rename them:\n\
                 # folders:\n#   exclude: [\"垃圾邮件\"]\n#   map: { \"工作\": \"Projects/Work\" }\n",
            );
        }
        Destination::Backup(dir) => {
            out.push_str(&format!(
                "  archive: {{ path: \"{}\", format: mbox }}   # or format: tar\n",
                dir.replace('"', "")
            ));
            out.push_str("# Run it again any time (cron, a systemd timer): each run adds only what is new.\n");
        }
    }
    out.push_str("# Only some mail? filters: { since: 2020-01-01 }\n");
    out
}

/// A file name for the profile: `163-to-qq.yaml`, `alice-backup.yaml`.
pub fn default_file_name(source: &Account, destination: &Destination) -> String {
    let tag = |a: &Account| {
        a.provider.map_or_else(
            || {
                a.address
                    .rsplit_once('@')
                    .map_or("mail", |(_, d)| d)
                    .to_string()
            },
            |p| p.id.to_string(),
        )
    };
    match destination {
        Destination::Account(t) => format!("{}-to-{}.yaml", tag(source), tag(t)),
        Destination::Backup(_) => format!(
            "{}-backup.yaml",
            source.address.split('@').next().unwrap_or("mail")
        ),
    }
}

/// Whether a profile would be written over an existing file.
pub fn would_overwrite(path: &Path) -> bool {
    path.exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parses_as_a_profile(text: &str) -> crate::profile::Profile {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yaml");
        std::fs::write(&path, text).unwrap();
        crate::profile::Profile::load(&path).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn netease_to_qq_takes_both_presets_and_no_password() {
        let s = Account::parse("alice@163.com", SOURCE_VAR).unwrap();
        let t = Account::parse("123456@qq.com", TARGET_VAR).unwrap();
        let d = Destination::Account(t);
        let text = profile_text(&s, &d);
        let p = parses_as_a_profile(&text);
        let crate::profile::Source::Imap(src) = &p.source else {
            panic!("{text}")
        };
        assert_eq!(src.provider.map(|p| p.id), Some("163"));
        assert_eq!(src.host, "imap.163.com");
        assert!(text.contains("env: MAILFERRY_SOURCE_CODE"));
        assert!(text.contains("env: MAILFERRY_TARGET_CODE"));
        assert_eq!(default_file_name(&s, &d), "163-to-qq.yaml");
    }

    #[test]
    fn a_backup_and_an_unknown_domain() {
        let s = Account::parse("bob@example.org", SOURCE_VAR).unwrap();
        assert_eq!(s.guessed_host.as_deref(), Some("imap.example.org"));
        let d = Destination::Backup("backups/bob".into());
        let text = profile_text(&s, &d);
        let p = parses_as_a_profile(&text);
        assert!(
            matches!(p.target, crate::profile::Target::Archive(_)),
            "{text}"
        );
        assert!(text.contains("is a guess"));
        assert_eq!(default_file_name(&s, &d), "bob-backup.yaml");
    }

    #[test]
    fn not_an_address() {
        assert!(Account::parse("alice", SOURCE_VAR).is_err());
        assert!(Account::parse("a@b", SOURCE_VAR).is_err());
        assert!(Account::parse("a b@c.com", SOURCE_VAR).is_err());
        assert!(Account::parse("x@y.com\ntarget: 1", SOURCE_VAR).is_err());
    }
}
