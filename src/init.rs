//! `mailferry init`: a commented profile from two addresses, so a newcomer's first command
//! works without writing YAML. Pure: the text, the file name and the advice; the command line
//! asks, writes and prints them.
//!
//! The profile never holds a password: each account reads its secret from an environment
//! variable named here (or, for OAuth2-only providers, from a token tool's command).

use crate::i18n::{t, ta};
use crate::providers::{self, Provider};

/// The environment variables `init` names, one per side.
pub const SOURCE_VAR: &str = "MAILFERRY_SOURCE_CODE";
pub const TARGET_VAR: &str = "MAILFERRY_TARGET_CODE";

/// The steps for a domain without a preset (a catalogue message id).
pub const GENERIC_CODE_STEPS: &str = "hint-code-generic";

/// What `init` refuses, in the user's language.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitError {
    #[error("{}", ta("init-not-an-address", &[("address", .0.clone())]))]
    NotAnAddress(String),
    #[error("{}", ta("init-same-account", &[("address", .0.clone())]))]
    SameAccount(String),
    #[error("{}", ta("init-bad-directory", &[("dir", .0.clone())]))]
    BadDirectory(String),
    #[error("{}", t("init-needs-to"))]
    NoDestination,
}

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
    pub fn parse(address: &str, env_var: &'static str) -> Result<Account, InitError> {
        let address = address.trim();
        let bad = || InitError::NotAnAddress(address.to_string());
        let (local, domain) = address.rsplit_once('@').ok_or_else(bad)?;
        // A narrow alphabet: the address goes into YAML and into `export` lines unquoted by
        // the user, so nothing that could end a string or a line gets through.
        let valid =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || "._+-".contains(c));
        if !valid(local)
            || !valid(domain)
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
        {
            return Err(bad());
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

    /// Whether the provider takes only OAuth2 tokens (Outlook.com): the profile then asks a
    /// token tool, since a token in a variable would expire within the hour.
    pub fn needs_token(&self) -> bool {
        self.provider.is_some_and(|p| p.oauth_only)
    }

    /// The steps to get this account's secret (a catalogue message id).
    pub fn steps_id(&self) -> &'static str {
        self.provider.map_or(GENERIC_CODE_STEPS, |p| p.code_steps)
    }

    /// The `password:` value written into the profile: where the secret comes from, never
    /// the secret.
    fn password_yaml(&self) -> String {
        if self.needs_token() {
            format!(
                "{{ command: [\"oama\", \"access\", \"{}\"] }}",
                self.address
            )
        } else {
            format!("{{ env: {} }}", self.env_var)
        }
    }

    /// The `imap:` block for this account, indented under `source:` or `target:`.
    fn yaml(&self, out: &mut String) {
        out.push_str("  imap:\n");
        match (self.provider, &self.guessed_host) {
            (Some(p), _) => {
                let id = format!("\"{}\"", p.id);
                let id_note = if p.requires_id {
                    "; sends IMAP ID, which NetEase requires"
                } else {
                    ""
                };
                out.push_str(&format!(
                    "    provider: {id:<17}# {}: {}:{}, TLS{id_note}\n",
                    p.display, p.host, p.port
                ));
            }
            (None, Some(host)) => {
                out.push_str(&format!(
                    "    host: {host}   # A GUESS from the address's domain: check it\n"
                ));
                out.push_str(
                    "    port: 993\n    tls: implicit          # or starttls (port 143)\n",
                );
            }
            (None, None) => {}
        }
        out.push_str(&format!("    user: \"{}\"\n", self.address));
        let note = if self.needs_token() {
            "# OAuth2 only: a token tool prints the token"
        } else {
            "# 授权码 / app password, not the web password"
        };
        out.push_str(&format!(
            "    password: {}   {note}\n",
            self.password_yaml()
        ));
        if !self.needs_token() {
            out.push_str(
                "    # Or from a password manager: password: { command: [\"pass\", \"show\", \"mail/code\"] }\n",
            );
        }
    }

    /// The mail domain, for file names.
    fn domain(&self) -> &str {
        self.address.rsplit_once('@').map_or("mail", |(_, d)| d)
    }

    fn tag(&self) -> String {
        self.provider
            .map_or_else(|| self.domain().to_ascii_lowercase(), |p| p.id.to_string())
    }
}

/// What the profile is for: a migration to another account, or a backup into a directory.
#[derive(Debug, Clone)]
pub enum Destination {
    Account(Account),
    Backup(String),
}

/// A profile to write: who, where to, and under what file name.
#[derive(Debug, Clone)]
pub struct Init {
    pub source: Account,
    pub destination: Destination,
}

impl Init {
    /// From the addresses as given: `to` for a migration, else `backup` for a backup.
    pub fn new(from: &str, to: Option<&str>, backup: Option<&str>) -> Result<Init, InitError> {
        let source = Account::parse(from, SOURCE_VAR)?;
        let destination = match (to, backup) {
            (Some(to), _) => {
                let target = Account::parse(to, TARGET_VAR)?;
                if target.address.eq_ignore_ascii_case(&source.address) {
                    return Err(InitError::SameAccount(source.address));
                }
                Destination::Account(target)
            }
            (None, Some(dir)) => {
                // The directory is written into YAML; a control character could end the
                // scalar and start a key of the user's making.
                if dir.trim().is_empty() || dir.chars().any(char::is_control) {
                    return Err(InitError::BadDirectory(dir.to_string()));
                }
                Destination::Backup(dir.to_string())
            }
            (None, None) => return Err(InitError::NoDestination),
        };
        Ok(Init {
            source,
            destination,
        })
    }

    /// The accounts whose secrets the user must provide, source first.
    pub fn accounts(&self) -> Vec<&Account> {
        let mut out = vec![&self.source];
        if let Destination::Account(t) = &self.destination {
            out.push(t);
        }
        out
    }

    /// A file name for the profile: `163-to-qq.yaml`, `alice-backup.yaml`.
    pub fn default_file_name(&self) -> String {
        match &self.destination {
            Destination::Account(t) => format!("{}-to-{}.yaml", self.source.tag(), t.tag()),
            Destination::Backup(_) => format!(
                "{}-backup.yaml",
                self.source.address.split('@').next().unwrap_or("mail")
            ),
        }
    }

    /// The profile's text, `file` being the name it is written under (for the commands in its
    /// header). It holds no password: only the names of the variables to export.
    pub fn profile_text(&self, file: &str) -> String {
        let mut out = String::new();
        let what = match &self.destination {
            Destination::Account(t) => format!("{} -> {}", self.source.address, t.address),
            Destination::Backup(dir) => format!("{} -> backup in {dir}", self.source.address),
        };
        out.push_str(&format!("# mailferry profile: {what}\n"));
        out.push_str("# Written by `mailferry init`. Every key: docs/profiles.md\n#\n");
        out.push_str("# No password is kept in this file. Before running, in the same shell:\n");
        for a in self.accounts() {
            if a.needs_token() {
                out.push_str(&format!(
                    "#   (nothing to export for {}: `oama access {}` must print a token)\n",
                    a.address, a.address
                ));
            } else {
                out.push_str(&format!("#   export {}=...   # {}\n", a.env_var, a.address));
            }
        }
        out.push_str(&format!(
            "# then:\n\
             #   mailferry doctor {file}   # checks each connection step, says what to fix\n\
             #   mailferry plan {file}     # which folders go where, counts and sizes; writes nothing\n\
             #   mailferry run {file}      # copies; run it again any time, it adds only what is missing\n"
        ));
        for a in self.accounts() {
            if let Some(host) = &a.guessed_host {
                out.push_str(&format!(
                    "#\n# {host} is a guess from {}'s domain: check it in your provider's help.\n",
                    a.address
                ));
            }
        }
        out.push_str("\nsource:\n");
        self.source.yaml(&mut out);
        out.push_str("\ntarget:\n");
        match &self.destination {
            Destination::Account(t) => {
                t.yaml(&mut out);
                let under = t
                    .provider
                    .and_then(|p| p.user_folder_parent)
                    .map_or(String::new(), |parent| format!(", under {parent}/"));
                out.push_str(&format!(
                    "\n# Special folders (Sent, Drafts, Trash, Junk) go to the target's own; your folders\n\
                     # keep their names{under}. Nothing is left out unless excluded:\n"
                ));
                out.push_str(
                    "# folders:\n\
                     #   exclude: [\"病毒*\"]\n\
                     #   map: { \"工作\": \"Projects/Work\" }\n",
                );
            }
            Destination::Backup(dir) => {
                out.push_str("  archive:\n");
                out.push_str(&format!(
                    "    path: {:<20} # relative to this file's directory; ~/ is your home\n",
                    yaml_single_quoted(dir)
                ));
                out.push_str(
                    "    format: mbox           # mbox (one compressed mbox per folder) or tar\n",
                );
                out.push_str(
                    "\n# Run it again any time (cron, a systemd timer): each run adds only what is new.\n",
                );
            }
        }
        out.push_str(
            "\n# Only some mail?\n\
             # filters:\n\
             #   since: 2020-01-01        # received on or after this day\n\
             #   max_size: 50MB           # larger messages are reported, not copied\n",
        );
        out
    }
}

/// A YAML single-quoted scalar: no escapes but `''`, so backslashes (Windows paths) stay.
fn yaml_single_quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{PasswordSource, Profile, Source, Target};

    fn parses_as_a_profile(text: &str) -> Profile {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yaml");
        std::fs::write(&path, text).unwrap();
        Profile::load(&path).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    fn imap(p: &Profile, source: bool) -> crate::profile::ImapAccount {
        match (source, &p.source, &p.target) {
            (true, Source::Imap(a), _) | (false, _, Target::Imap(a)) => a.clone(),
            _ => panic!("not an IMAP account"),
        }
    }

    #[test]
    fn netease_to_qq_takes_both_presets_and_no_password() {
        let init = Init::new("alice@163.com", Some("123456@qq.com"), None).unwrap();
        assert_eq!(init.default_file_name(), "163-to-qq.yaml");
        let text = init.profile_text("163-to-qq.yaml");
        let p = parses_as_a_profile(&text);
        let (src, dst) = (imap(&p, true), imap(&p, false));
        assert_eq!(src.provider.map(|p| p.id), Some("163"));
        assert_eq!(src.host, "imap.163.com");
        assert_eq!(src.user, "alice@163.com");
        assert_eq!(src.password, PasswordSource::Env(SOURCE_VAR.into()));
        assert_eq!(dst.provider.map(|p| p.id), Some("qq"));
        assert_eq!(dst.password, PasswordSource::Env(TARGET_VAR.into()));
        assert!(text.contains("mailferry doctor 163-to-qq.yaml"), "{text}");
        assert!(text.contains("export MAILFERRY_SOURCE_CODE=..."), "{text}");
    }

    #[test]
    fn every_preset_domain_gives_its_preset() {
        for (address, id) in [
            ("a@126.com", "126"),
            ("a@yeah.net", "yeah"),
            ("a@foxmail.com", "foxmail"),
            ("a@exmail.qq.com", "exmail"),
            ("a@gmail.com", "gmail"),
            ("a@outlook.com", "outlook"),
            ("a@hotmail.com", "outlook"),
        ] {
            let init = Init::new(address, Some("b@qq.com"), None).unwrap();
            let p = parses_as_a_profile(&init.profile_text("x.yaml"));
            let src = imap(&p, true);
            assert_eq!(src.provider.map(|p| p.id), Some(id), "{address}");
            assert_ne!(init.source.steps_id(), GENERIC_CODE_STEPS, "{address}");
        }
    }

    #[test]
    fn outlook_reads_a_token_from_a_tool_not_a_variable() {
        let init = Init::new("bob@outlook.com", Some("b@qq.com"), None).unwrap();
        let p = parses_as_a_profile(&init.profile_text("x.yaml"));
        let PasswordSource::Command(cmd) = imap(&p, true).password else {
            panic!("expected a command")
        };
        assert!(cmd.program().contains("oama"), "{}", cmd.program());
    }

    #[test]
    fn a_backup_and_an_unknown_domain() {
        let init = Init::new("bob@example.org", None, Some("backups/bob's")).unwrap();
        assert_eq!(
            init.source.guessed_host.as_deref(),
            Some("imap.example.org")
        );
        assert_eq!(init.source.steps_id(), GENERIC_CODE_STEPS);
        assert_eq!(init.default_file_name(), "bob-backup.yaml");
        let text = init.profile_text("bob-backup.yaml");
        let p = parses_as_a_profile(&text);
        assert_eq!(imap(&p, true).host, "imap.example.org");
        let Target::Archive(a) = &p.target else {
            panic!("{text}")
        };
        assert!(a.path.ends_with("backups/bob's"), "{:?}", a.path);
        assert!(text.contains("is a guess"));
        assert_eq!(init.accounts().len(), 1);
    }

    #[test]
    fn a_windows_path_keeps_its_backslashes() {
        let init = Init::new("bob@163.com", None, Some(r"D:\mail\bob")).unwrap();
        let text = init.profile_text("x.yaml");
        assert!(text.contains(r"path: 'D:\mail\bob'"), "{text}");
    }

    #[test]
    fn refusals() {
        for bad in [
            "alice",
            "a@b",
            "a b@c.com",
            "x@y.com\ntarget: 1",
            "a@.com",
            "a\"@b.com",
            "",
        ] {
            assert!(
                matches!(
                    Init::new(bad, Some("b@qq.com"), None),
                    Err(InitError::NotAnAddress(_))
                ),
                "{bad:?}"
            );
        }
        assert_eq!(
            Init::new("A@qq.com", Some("a@QQ.com"), None).unwrap_err(),
            InitError::SameAccount("A@qq.com".into())
        );
        assert!(matches!(
            Init::new("a@163.com", None, Some("x\ny: 1")),
            Err(InitError::BadDirectory(_))
        ));
        assert!(Init::new("a@163.com", None, Some("  ")).is_err());
    }
}
