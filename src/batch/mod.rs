//! Many accounts in one command: a batch file holds one base job (a profile without users
//! and passwords) and the accounts; each account becomes an ordinary [`Profile`] with its own
//! state dir, so the engine, the reconcile and the checkpoint are the single job's.
//!
//! ```yaml
//! job:
//!   source: { imap: { provider: "163" } }
//!   target: { imap: { provider: exmail } }
//! source_password: { command: ["pass", "show", "mail/{source_user}"] }
//! target_password: { env: "EXMAIL_{row}" }
//! accounts_csv: accounts.csv        # source_user,target_user[,id][,source_password,...]
//! ```
//!
//! The pure decisions (which shard an account is in, what a failure means, how shard results
//! add up) are in [`outcome`]; reading the accounts in [`accounts`].

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value;

pub mod accounts;
pub mod outcome;

pub use accounts::{Account, AccountsError, Password};
pub use outcome::{
    AccountResult, BatchSummary, FailureKind, Status, classify, in_shard, parse_shard, shard_of,
    summarize,
};

use crate::profile::{PasswordSource, Profile, Source, Target};

/// Accounts run at once when the batch file does not say.
pub const DEFAULT_PARALLEL: usize = 4;
/// Connections open at once to one server host, across all accounts.
pub const DEFAULT_MAX_CONNECTIONS_PER_HOST: usize = 20;
/// New connections a minute to one host (the QQ guide cites 50 IMAP logins a minute).
pub const DEFAULT_NEW_CONNECTIONS_PER_MINUTE: usize = 50;

/// A batch file, read and checked (every account's profile is built once while loading).
#[derive(Debug, Clone)]
pub struct Batch {
    pub path: PathBuf,
    job: Value,
    source_password: Option<Value>,
    target_password: Option<Value>,
    pub accounts: Vec<Account>,
    pub accounts_in_parallel: usize,
    pub max_connections_per_host: usize,
    pub new_connections_per_minute: usize,
    pub state_dir: PathBuf,
    pub shards: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBatch {
    job: Value,
    #[serde(default)]
    accounts: Vec<RawAccount>,
    accounts_csv: Option<String>,
    source_password: Option<Value>,
    target_password: Option<Value>,
    accounts_in_parallel: Option<usize>,
    max_connections_per_host: Option<usize>,
    new_connections_per_minute: Option<usize>,
    state_dir: Option<String>,
    shards: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    id: Option<String>,
    source_user: Option<String>,
    target_user: Option<String>,
    source_password: Option<Value>,
    target_password: Option<Value>,
}

/// A bad batch file: which file, and what to change.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", .path.display())]
pub struct BatchError {
    pub path: PathBuf,
    pub message: String,
}

impl Batch {
    pub fn load(path: &Path) -> Result<Batch, BatchError> {
        let err = |message: String| BatchError {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let raw: RawBatch = serde_yaml::from_str(&text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!("line {}: ", l.line()))
                .unwrap_or_default();
            err(format!("{at}{e}"))
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &str| {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        if !raw.job.is_mapping() {
            return Err(err(
                "job: give the shared job as a map (source:, target: and any profile keys)".into(),
            ));
        }
        let mut list = Vec::new();
        for (i, a) in raw.accounts.into_iter().enumerate() {
            let id =
                a.id.or_else(|| a.source_user.clone())
                    .or_else(|| a.target_user.clone())
                    .ok_or_else(|| {
                        err(format!(
                            "accounts[{i}]: no id, source_user or target_user to name the account"
                        ))
                    })?;
            list.push(Account {
                id,
                row: i + 1,
                origin: format!("{} accounts[{i}]", path.display()),
                source_user: a.source_user,
                target_user: a.target_user,
                source_password: a.source_password.map(Password::Source),
                target_password: a.target_password.map(Password::Source),
            });
        }
        if let Some(csv) = &raw.accounts_csv {
            let more = accounts::read_csv(&resolve(csv), list.len() + 1).map_err(|e| err(e.0))?;
            list.extend(more);
        }
        if list.is_empty() {
            return Err(err(
                "no accounts: give accounts: [...] or accounts_csv: FILE".into(),
            ));
        }
        accounts::check_unique(&list).map_err(|e| err(e.0))?;
        if raw.shards == Some(0) {
            return Err(err("shards: give 1 or more".into()));
        }
        let batch = Batch {
            path: path.to_path_buf(),
            job: raw.job,
            source_password: raw.source_password,
            target_password: raw.target_password,
            accounts: list,
            accounts_in_parallel: raw.accounts_in_parallel.unwrap_or(DEFAULT_PARALLEL).max(1),
            max_connections_per_host: raw
                .max_connections_per_host
                .unwrap_or(DEFAULT_MAX_CONNECTIONS_PER_HOST)
                .max(1),
            new_connections_per_minute: raw
                .new_connections_per_minute
                .unwrap_or(DEFAULT_NEW_CONNECTIONS_PER_MINUTE)
                .max(1),
            state_dir: resolve(raw.state_dir.as_deref().unwrap_or(".mailferry-batch")),
            shards: raw.shards,
        };
        // Every account is checked now: a bad row stops the batch before anything runs.
        for a in &batch.accounts {
            batch.profile(a).map_err(|e| err(e.message))?;
        }
        Ok(batch)
    }

    /// Where an account's state (checkpoint, plan, status, result, log) lives.
    pub fn account_dir(&self, a: &Account) -> PathBuf {
        self.state_dir
            .join("accounts")
            .join(accounts::dir_name(&a.id))
    }

    /// The account's job: the batch's `job` with templates filled in, its users and
    /// passwords set and its own state dir.
    pub fn profile(&self, a: &Account) -> Result<Profile, BatchError> {
        let err = |message: String| BatchError {
            path: self.path.clone(),
            message: format!("{}: {message}", a.origin),
        };
        let mut job = accounts::fill_value(&self.job, a);
        let mut given = (None, None);
        let sides = [
            (
                "source",
                &a.source_user,
                &a.source_password,
                &self.source_password,
            ),
            (
                "target",
                &a.target_user,
                &a.target_password,
                &self.target_password,
            ),
        ];
        for (i, (side, user, own, template)) in sides.into_iter().enumerate() {
            let Some(account) = account_map(&mut job, side) else {
                continue;
            };
            let Some(user) = user else {
                return Err(err(format!(
                    "no {side}_user: the job's {side} is an account, so each row needs one"
                )));
            };
            account.insert("user".into(), Value::String(user.clone()));
            let password = match (own, template) {
                (Some(Password::Given(s)), _) => {
                    let slot = if i == 0 { &mut given.0 } else { &mut given.1 };
                    *slot = Some(s.clone());
                    // Replaced after parsing; the profile itself never holds a password.
                    Some(placeholder())
                }
                (Some(Password::Source(v)), _) => Some(accounts::fill_value(v, a)),
                (None, Some(t)) => Some(accounts::fill_value(t, a)),
                (None, None) => None,
            };
            if let Some(p) = password {
                account.insert("password".into(), p);
            }
        }
        if let Value::Mapping(m) = &mut job {
            let dir = self.account_dir(a);
            m.insert(
                "state_dir".into(),
                Value::String(dir.to_string_lossy().into_owned()),
            );
        }
        let text = serde_yaml::to_string(&job).map_err(|e| err(e.to_string()))?;
        let mut profile = Profile::parse(&text, &self.path).map_err(|e| err(without_file(&e)))?;
        if let (Some(s), Source::Imap(acc)) = (given.0.clone(), &mut profile.source) {
            acc.password = PasswordSource::Given(s);
        }
        if let (Some(s), Source::Pop3(p)) = (given.0, &mut profile.source) {
            p.account.password = PasswordSource::Given(s);
        }
        if let (Some(s), Target::Imap(acc)) = (given.1, &mut profile.target) {
            acc.password = PasswordSource::Given(s);
        }
        Ok(profile)
    }

    /// The accounts in shard `index` of `count` (all of them for `0/1`).
    pub fn shard(&self, index: u32, count: u32) -> Vec<&Account> {
        self.accounts
            .iter()
            .filter(|a| in_shard(&a.id, index, count))
            .collect()
    }
}

/// The `imap:` or `pop3:` map under `job.<side>`, when that side is an account.
fn account_map<'a>(job: &'a mut Value, side: &str) -> Option<&'a mut serde_yaml::Mapping> {
    let side = job.get_mut(side)?.as_mapping_mut()?;
    let kind = ["imap", "pop3"]
        .into_iter()
        .find(|k| side.contains_key(*k))?;
    side.get_mut(kind)?.as_mapping_mut()
}

fn placeholder() -> Value {
    let mut m = serde_yaml::Mapping::new();
    m.insert("env".into(), "MAILFERRY_BATCH_GIVEN".into());
    Value::Mapping(m)
}

/// A profile error about the generated job: its key and message, not the line of a file the
/// user never saw.
fn without_file(e: &crate::profile::ProfileError) -> String {
    let key = e
        .key
        .as_deref()
        .map(|k| format!("job.{k}: "))
        .unwrap_or_default();
    let hint = e
        .hint
        .as_deref()
        .map(|h| format!("; {h}"))
        .unwrap_or_default();
    format!("{key}{}{hint}", e.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn each_account_becomes_a_profile_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "batch.yaml",
            "job:\n  source: { imap: { provider: \"163\" } }\n  target: { archive: { path: \"backups/{source_user}\" } }\n  workers: 2\nsource_password: { env: \"PW_{row}\" }\naccounts:\n  - { source_user: a@163.com }\n  - { source_user: b@163.com, source_password: { file: b.txt } }\n",
        );
        let b = Batch::load(&p).unwrap();
        let pa = b.profile(&b.accounts[0]).unwrap();
        let Source::Imap(src) = &pa.source else {
            panic!()
        };
        assert_eq!(src.user, "a@163.com");
        assert_eq!(src.password, PasswordSource::Env("PW_1".into()));
        let Target::Archive(t) = &pa.target else {
            panic!()
        };
        assert!(t.path.ends_with("backups/a@163.com"), "{:?}", t.path);
        assert!(pa.state_dir.ends_with("accounts/a@163.com"));
        let pb = b.profile(&b.accounts[1]).unwrap();
        let Source::Imap(src) = &pb.source else {
            panic!()
        };
        assert!(matches!(&src.password, PasswordSource::File(f) if f.ends_with("b.txt")));
    }

    #[test]
    fn a_bad_row_stops_the_batch_and_says_where() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "batch.yaml",
            "job:\n  source: { imap: { provider: \"163\" } }\n  target: { imap: { provider: qq } }\nsource_password: { env: S }\ntarget_password: { env: T }\naccounts:\n  - { source_user: a@163.com, target_user: 1@qq.com }\n  - { source_user: b@163.com }\n",
        );
        let e = Batch::load(&p).unwrap_err();
        assert!(
            e.message.contains("accounts[1]") && e.message.contains("target_user"),
            "{e}"
        );
        let p = write(dir.path(), "b2.yaml", "job: {}\naccount: []\n");
        let e = Batch::load(&p).unwrap_err();
        assert!(e.message.contains("account"), "{e}");
    }
}
