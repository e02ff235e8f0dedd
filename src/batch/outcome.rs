//! What became of each account, and the decisions around it: which shard an account belongs
//! to, whether a failure is worth a retry, and how the results of many shards add up.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest;

/// How an account's last run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Everything selected is on the target.
    Done,
    /// The run finished but some messages failed (a rerun retries them).
    Partial,
    /// The run could not finish.
    Failed,
}

/// Whether a failed account is worth another try without a change by a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureKind {
    /// Wrong password or authorization code, account missing or disabled, a bad row: a rerun
    /// fails the same way until someone fixes it.
    Permanent,
    /// Connection, timeout, throttling: a rerun may well succeed.
    Transient,
}

/// One account's result, kept in its state dir as `result.json` (no secret in it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountResult {
    pub id: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureKind>,
    pub exit_code: i32,
    pub copied: u64,
    pub already_present: u64,
    pub failed: u64,
    pub bytes: u64,
    pub seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub finished: DateTime<Utc>,
}

/// The whole batch (or several shards of it) at a glance.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BatchSummary {
    pub accounts: usize,
    pub done: usize,
    pub partial: usize,
    pub failed_permanent: usize,
    pub failed_transient: usize,
    pub copied: u64,
    pub already_present: u64,
    pub failed_messages: u64,
    pub bytes: u64,
    /// Every account's result, by id.
    pub results: BTreeMap<String, AccountResult>,
}

impl BatchSummary {
    /// 0 every account done, 1 some accounts or messages failed.
    pub fn exit_code(&self) -> i32 {
        if self.done == self.accounts { 0 } else { 1 }
    }
}

/// Adds results up; when an account appears more than once (shards that overlapped, reruns
/// merged with old dirs) its latest result counts.
pub fn summarize(results: impl IntoIterator<Item = AccountResult>) -> BatchSummary {
    let mut latest: BTreeMap<String, AccountResult> = BTreeMap::new();
    for r in results {
        match latest.get(&r.id) {
            Some(old) if old.finished >= r.finished => {}
            _ => {
                latest.insert(r.id.clone(), r);
            }
        }
    }
    let mut s = BatchSummary {
        accounts: latest.len(),
        ..Default::default()
    };
    for r in latest.values() {
        match (r.status, r.failure) {
            (Status::Done, _) => s.done += 1,
            (Status::Partial, _) => s.partial += 1,
            (Status::Failed, Some(FailureKind::Permanent)) => s.failed_permanent += 1,
            (Status::Failed, _) => s.failed_transient += 1,
        }
        s.copied += r.copied;
        s.already_present += r.already_present;
        s.failed_messages += r.failed;
        s.bytes += r.bytes;
    }
    s.results = latest;
    s
}

/// Whether a run's error is worth retrying: the one retry policy's judgement, and a refused
/// login never (a lock after repeated failed logins would follow).
pub fn classify(e: &crate::error::Error) -> FailureKind {
    use crate::error::Error;
    match e {
        Error::Login { .. } => FailureKind::Permanent,
        e if e.is_retryable() => FailureKind::Transient,
        _ => FailureKind::Permanent,
    }
}

/// The shard (0..count) an account id belongs to: from a hash of the id, so adding or
/// reordering accounts never moves one that is already done to another shard.
pub fn shard_of(id: &str, count: u32) -> u32 {
    let h = sha2::Sha256::digest(id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&h[..8]);
    (u64::from_be_bytes(first) % u64::from(count.max(1))) as u32
}

pub fn in_shard(id: &str, index: u32, count: u32) -> bool {
    shard_of(id, count) == index
}

/// `I/N` as the command line gives it (Kubernetes counts I from 0).
pub fn parse_shard(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{text:?}: write the shard as I/N, e.g. 0/4 (I from 0 to N-1)");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n): (u32, u32) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, status: Status, at: i64) -> AccountResult {
        AccountResult {
            id: id.into(),
            status,
            failure: (status == Status::Failed).then_some(FailureKind::Permanent),
            exit_code: 0,
            copied: 2,
            already_present: 1,
            failed: 0,
            bytes: 10,
            seconds: 0.1,
            error: None,
            finished: DateTime::from_timestamp(at, 0).unwrap(),
        }
    }

    #[test]
    fn shards_cover_every_account_once_and_do_not_move() {
        let ids: Vec<String> = (0..500).map(|i| format!("user{i}@school.edu.cn")).collect();
        let mut counts = [0usize; 4];
        for id in &ids {
            let s = shard_of(id, 4);
            counts[s as usize] += 1;
            assert_eq!((0..4).filter(|&i| in_shard(id, i, 4)).count(), 1);
            assert_eq!(s, shard_of(id, 4), "stable");
        }
        assert!(counts.iter().all(|&c| c > 80), "{counts:?}");
        assert_eq!(parse_shard("2/4"), Ok((2, 4)));
        assert!(parse_shard("4/4").is_err() && parse_shard("1").is_err());
    }

    #[test]
    fn the_latest_result_of_an_account_counts() {
        let s = summarize([
            result("a", Status::Failed, 1),
            result("a", Status::Done, 2),
            result("b", Status::Failed, 1),
        ]);
        assert_eq!((s.accounts, s.done, s.failed_permanent), (2, 1, 1));
        assert_eq!(s.exit_code(), 1);
        assert_eq!(s.copied, 4);
    }

    #[test]
    fn refused_logins_are_never_retried() {
        use crate::error::Error;
        let login = Error::Login {
            host: "imap.qq.com".into(),
            user: "u".into(),
            server_text: "NO".into(),
            hint: String::new(),
        };
        assert_eq!(classify(&login), FailureKind::Permanent);
        let lost = Error::ConnectionLost {
            host: "h".into(),
            detail: "eof".into(),
        };
        assert_eq!(classify(&lost), FailureKind::Transient);
    }
}
