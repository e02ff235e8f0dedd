//! A batch's accounts: inline in the batch file or in a CSV file with a header, each with
//! its users, its passwords (or the batch's templates for them), and a stable id.

use std::collections::HashMap;
use std::path::Path;

use crate::secret::Secret;

/// Columns a CSV may have.
pub const COLUMNS: &[&str] = &[
    "id",
    "source_user",
    "target_user",
    "source_password",
    "target_password",
];

/// Where an account's password comes from.
#[derive(Debug, Clone)]
pub enum Password {
    /// A password map (`{ env: ... }`, `{ file: ... }`, `{ command: [...] }`), templates
    /// not yet filled in.
    Source(serde_yaml::Value),
    /// Written in an accounts file only its owner can read.
    Given(Secret),
}

/// One account of a batch.
#[derive(Debug, Clone)]
pub struct Account {
    /// What names the account in state, reports and shards.
    pub id: String,
    /// 1-based position among the accounts (`{row}` in templates).
    pub row: usize,
    /// Where it was given, for messages: `batch.yaml accounts[3]` or `accounts.csv line 5`.
    pub origin: String,
    pub source_user: Option<String>,
    pub target_user: Option<String>,
    pub source_password: Option<Password>,
    pub target_password: Option<Password>,
}

/// A problem with the accounts, naming where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AccountsError(pub String);

/// Fills `{source_user}`, `{target_user}`, `{id}` and `{row}` into `text`; other braces stay.
pub fn fill(text: &str, a: &Account) -> String {
    let mut out = text.to_string();
    let row = a.row.to_string();
    for (key, value) in [
        (
            "{source_user}",
            a.source_user.as_deref().unwrap_or_default(),
        ),
        (
            "{target_user}",
            a.target_user.as_deref().unwrap_or_default(),
        ),
        ("{id}", a.id.as_str()),
        ("{row}", row.as_str()),
    ] {
        if out.contains(key) {
            out = out.replace(key, value);
        }
    }
    out
}

/// [`fill`] on every string of a YAML value.
pub fn fill_value(v: &serde_yaml::Value, a: &Account) -> serde_yaml::Value {
    use serde_yaml::Value;
    match v {
        Value::String(s) => Value::String(fill(s, a)),
        Value::Sequence(items) => Value::Sequence(items.iter().map(|i| fill_value(i, a)).collect()),
        Value::Mapping(m) => Value::Mapping(
            m.iter()
                .map(|(k, v)| (k.clone(), fill_value(v, a)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The account id as a directory name: kept when it is plain, else made safe and suffixed
/// with a hash so two ids never share a directory.
pub fn dir_name(id: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "._@+-".contains(c);
    if !id.is_empty() && id.chars().all(plain) && !id.starts_with('.') {
        return id.to_string();
    }
    let safe: String = id
        .chars()
        .map(|c| if plain(c) { c } else { '_' })
        .take(64)
        .collect();
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(id.as_bytes()));
    format!("{}~{}", safe.trim_start_matches('.'), &hash[..8])
}

/// Reads a CSV of accounts. Passwords in it are accepted only when the file is readable by
/// its owner alone.
pub fn read_csv(path: &Path, first_row: usize) -> Result<Vec<Account>, AccountsError> {
    let shown = path.display();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_path(path)
        .map_err(|e| AccountsError(format!("{shown}: {e}")))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| AccountsError(format!("{shown} line 1: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    for h in &header {
        if !COLUMNS.contains(&h.as_str()) {
            return Err(AccountsError(format!(
                "{shown} line 1: unknown column {h:?}; the columns are {}",
                COLUMNS.join(", ")
            )));
        }
    }
    let col: HashMap<&str, usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), i))
        .collect();
    let has_passwords = col.contains_key("source_password") || col.contains_key("target_password");
    if has_passwords {
        check_private(path)?;
    }
    let mut out = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(n as u64 + 2, |p| p.line());
            AccountsError(format!(
                "{shown} line {line}: {}",
                match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!(
                        "{len} columns where the header has {expected_len}; every line needs {}",
                        header.join(", ")
                    ),
                    _ => e.to_string(),
                }
            ))
        })?;
        let line = record.position().map_or(n as u64 + 2, |p| p.line());
        let get = |name: &str| {
            col.get(name)
                .and_then(|&i| record.get(i))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let given = |name: &str| get(name).map(|v| Password::Given(Secret::new(v)));
        let source_user = get("source_user");
        let target_user = get("target_user");
        let id = get("id")
            .or_else(|| source_user.clone())
            .or_else(|| target_user.clone())
            .ok_or_else(|| {
                AccountsError(format!(
                    "{shown} line {line}: no id, source_user or target_user to name the account"
                ))
            })?;
        out.push(Account {
            id,
            row: first_row + out.len(),
            origin: format!("{shown} line {line}"),
            source_user,
            target_user,
            source_password: given("source_password"),
            target_password: given("target_password"),
        });
    }
    Ok(out)
}

/// Passwords may sit in a file only its owner can read.
fn check_private(path: &Path) -> Result<(), AccountsError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| AccountsError(format!("{}: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(AccountsError(format!(
            "{} holds passwords but other users can read it (mode {:o}); run: chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        )));
    }
    Ok(())
}

/// Ids must name one account each.
pub fn check_unique(accounts: &[Account]) -> Result<(), AccountsError> {
    let mut seen: HashMap<String, &str> = HashMap::new();
    for a in accounts {
        let dir = dir_name(&a.id);
        if let Some(first) = seen.insert(dir, &a.origin) {
            return Err(AccountsError(format!(
                "{}: account {:?} is already given at {first}; give each account once (or an id column to tell them apart)",
                a.origin, a.id
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn account(id: &str, row: usize) -> Account {
        Account {
            id: id.into(),
            row,
            origin: String::new(),
            source_user: Some("alice@163.com".into()),
            target_user: Some("10001@qq.com".into()),
            source_password: None,
            target_password: None,
        }
    }

    #[test]
    fn templates_fill_known_names_only() {
        let a = account("alice", 3);
        assert_eq!(
            fill("mail/{source_user}-{row}/{target_user}", &a),
            "mail/alice@163.com-3/10001@qq.com"
        );
        assert_eq!(fill("awk '{print $1}' {id}", &a), "awk '{print $1}' alice");
    }

    #[test]
    fn directory_names_are_safe_and_distinct() {
        assert_eq!(dir_name("alice@163.com"), "alice@163.com");
        let odd = dir_name("../x/y");
        assert!(!odd.contains('/') && !odd.starts_with('.'), "{odd}");
        assert_ne!(dir_name("a/b"), dir_name("a_b"));
    }

    #[test]
    fn csv_passwords_need_a_private_file_and_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("accounts.csv");
        std::fs::write(
            &p,
            "source_user,target_user,source_password\na@163.com,1@qq.com,pw1\n",
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_csv(&p, 1).unwrap_err();
        assert!(e.0.contains("chmod 600") && !e.0.contains("pw1"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let a = read_csv(&p, 1).unwrap();
        assert_eq!(a[0].id, "a@163.com");
        assert!(matches!(a[0].source_password, Some(Password::Given(_))));

        std::fs::write(
            &p,
            "source_user,target_user\na@163.com,1@qq.com\nb@163.com\n",
        )
        .unwrap();
        let e = read_csv(&p, 1).unwrap_err();
        assert!(e.0.contains("line 3"), "{e}");
        std::fs::write(&p, "source_user,target_usr\na,b\n").unwrap();
        let e = read_csv(&p, 1).unwrap_err();
        assert!(e.0.contains("target_usr") && e.0.contains("line 1"), "{e}");
    }

    #[test]
    fn an_account_given_twice_is_refused() {
        let mut a = account("x", 1);
        a.origin = "accounts.csv line 2".into();
        let mut b = account("x", 2);
        b.origin = "accounts.csv line 9".into();
        let e = check_unique(&[a, b]).unwrap_err();
        assert!(e.0.contains("line 9") && e.0.contains("line 2"), "{e}");
    }
}
