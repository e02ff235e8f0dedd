//! Connection budgets per server host, shared by every account of a batch: at most so many
//! connections open at once, and at most so many new ones a minute (QQ Mail is said to allow
//! about 50 IMAP logins a minute from one address). A connection holds its slot until it is
//! dropped. Single jobs have no budget (their `workers` bound them).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The budgets of every host a batch talks to.
#[derive(Debug)]
pub struct HostLimits {
    max_open: usize,
    per_minute: usize,
    hosts: Mutex<HashMap<String, Arc<HostLimit>>>,
}

/// One host's budget.
#[derive(Debug)]
pub struct HostLimit {
    open: Arc<Semaphore>,
    per_minute: usize,
    started: Mutex<VecDeque<Instant>>,
}

/// A connection's place in its host's budget; released when dropped.
#[derive(Debug)]
pub struct HostSlot {
    _permit: OwnedSemaphorePermit,
}

impl HostLimits {
    pub fn new(max_open: usize, per_minute: usize) -> HostLimits {
        HostLimits {
            max_open: max_open.max(1),
            per_minute: per_minute.max(1),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// The budget of `host` (one per host name, lowercased).
    pub fn host(&self, host: &str) -> Arc<HostLimit> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        hosts
            .entry(host.to_ascii_lowercase())
            .or_insert_with(|| {
                Arc::new(HostLimit {
                    open: Arc::new(Semaphore::new(self.max_open)),
                    per_minute: self.per_minute,
                    started: Mutex::new(VecDeque::new()),
                })
            })
            .clone()
    }
}

impl HostLimit {
    /// Waits for a free connection and for the minute's budget of new ones.
    pub async fn acquire(&self) -> HostSlot {
        let permit = match self.open.clone().acquire_owned().await {
            Ok(p) => p,
            // The semaphore is never closed; a new one keeps the type honest.
            Err(_) => Arc::new(Semaphore::new(1))
                .acquire_owned()
                .await
                .unwrap_or_else(|_| unreachable!("a new semaphore has a permit")),
        };
        loop {
            let wait = {
                let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                while started
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
                {
                    started.pop_front();
                }
                if started.len() < self.per_minute {
                    started.push_back(now);
                    None
                } else {
                    started
                        .front()
                        .map(|t| Duration::from_secs(60).saturating_sub(now.duration_since(*t)))
                }
            };
            match wait {
                None => return HostSlot { _permit: permit },
                Some(d) => tokio::time::sleep(d.max(Duration::from_millis(10))).await,
            }
        }
    }

    /// Connections open now.
    pub fn open(&self, max: usize) -> usize {
        max.saturating_sub(self.open.available_permits())
    }
}

/// The slot for a new connection to `endpoint`'s host, when it has a budget.
pub async fn slot(endpoint: &super::Endpoint) -> Option<HostSlot> {
    match &endpoint.limit {
        Some(l) => Some(l.acquire().await),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_connections_never_pass_the_cap() {
        let limits = HostLimits::new(2, 100);
        let host = limits.host("IMAP.qq.com");
        assert!(Arc::ptr_eq(&host, &limits.host("imap.qq.com")));
        let a = host.acquire().await;
        let _b = host.acquire().await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), host.acquire()).await;
        assert!(waiting.is_err(), "a third connection waited");
        drop(a);
        let c = tokio::time::timeout(Duration::from_millis(50), host.acquire()).await;
        assert!(c.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn new_connections_a_minute_are_capped() {
        let limits = HostLimits::new(100, 3);
        let host = limits.host("imap.163.com");
        let begun = tokio::time::Instant::now();
        for _ in 0..3 {
            drop(host.acquire().await);
        }
        assert!(begun.elapsed() < Duration::from_secs(1));
        drop(host.acquire().await);
        assert!(
            begun.elapsed() >= Duration::from_secs(59),
            "{:?}",
            begun.elapsed()
        );
    }
}
