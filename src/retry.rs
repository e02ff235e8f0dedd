//! The one retry policy: how often to try again after trouble a new attempt can cure, and how
//! long to wait first. Every loop that retries (fetch, append, planning, verify, a provider's
//! ambiguous login refusal) asks this module, so they back off alike.
//!
//! Exponential backoff with jitter (0.5 s, 1 s, 2 s, ... up to 30 s, each drawn from its upper
//! half so that workers do not retry in step), and never less than what the server asked for
//! ("try again in 60 seconds"), nor less than a few seconds after a throttling answer.

use std::time::Duration;

/// How many times to try in all, and the pauses between tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

/// The policy every network loop follows.
pub const POLICY: Policy = Policy {
    attempts: 6,
    base: Duration::from_millis(500),
    cap: Duration::from_secs(30),
};

/// The shortest pause after a throttling answer that gave no time of its own.
pub const THROTTLE_PAUSE: Duration = Duration::from_secs(2);
/// The longest pause a server's hint can ask for; beyond it the run goes on failing instead.
pub const MAX_HINT: Duration = Duration::from_secs(300);

impl Policy {
    /// Whether `attempt` tries (counting from 1) are all there are.
    pub fn exhausted(&self, attempt: u32) -> bool {
        attempt >= self.attempts
    }

    /// The pause before try number `attempt + 1`, given what the server said, if anything.
    pub fn delay(&self, attempt: u32, server_text: Option<&str>) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.cap);
        let half = exp / 2;
        let jitter = Duration::from_millis(fastrand::u64(0..=half.as_millis() as u64));
        let pause = half + jitter;
        match server_text.and_then(hint) {
            Some(asked) => pause.max(asked),
            None => pause,
        }
    }
}

/// What a server's words ask for: an explicit "try again in N seconds/minutes", or a short
/// pause after a throttling answer (`[THROTTLED]`, "throttled", "try again later", "too many").
pub fn hint(text: &str) -> Option<Duration> {
    let lower = text.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    // "... in 60 seconds", "... in 2 minutes"
    for w in words.windows(3) {
        let Ok(n) = w[1].parse::<u64>() else {
            continue;
        };
        let secs = match (w[0], w[2]) {
            ("in", u) if u.starts_with("min") => n.saturating_mul(60),
            ("in", u) if u.starts_with('s') => n,
            _ => continue,
        };
        if secs > 0 {
            return Some(Duration::from_secs(secs).min(MAX_HINT));
        }
    }
    let throttled = ["throttl", "try again later", "too many", "rate limit"]
        .iter()
        .any(|w| lower.contains(w));
    throttled.then_some(THROTTLE_PAUSE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_and_stop_at_the_cap() {
        for attempt in 0..10 {
            let d = POLICY.delay(attempt, None);
            let exp = POLICY.base.saturating_mul(1 << attempt).min(POLICY.cap);
            assert!(d >= exp / 2 && d <= exp, "{attempt}: {d:?}");
        }
        assert!(POLICY.exhausted(6) && !POLICY.exhausted(5));
    }

    #[test]
    fn a_server_hint_is_honoured() {
        assert_eq!(
            hint("NO [UNAVAILABLE] Try again in 60 seconds"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            hint("throttled, retry in 2 minutes"),
            Some(Duration::from_secs(120))
        );
        assert_eq!(hint("[THROTTLED] slow down"), Some(THROTTLE_PAUSE));
        assert_eq!(hint("Try again later"), Some(THROTTLE_PAUSE));
        assert_eq!(hint("in 9999 minutes"), Some(MAX_HINT));
        assert_eq!(hint("Mailbox in use"), None);
        assert!(POLICY.delay(0, Some("try again in 60 seconds")) >= Duration::from_secs(60));
    }
}
