//! `doctor`: establish a session step by step and say, for the first step that fails, what the
//! server said and what to do.

use crate::error::Error;
use crate::imap::{Endpoint, Session, Step, StepObserver};
use crate::pop3::Pop3Session;

/// One checked step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepResult {
    pub side: crate::error::Side,
    pub step: String,
    pub ok: bool,
    /// What was found (OK) or the error with its advice (FAIL).
    pub detail: String,
}

struct Collect<'a> {
    side: crate::error::Side,
    out: &'a mut Vec<StepResult>,
}

impl StepObserver for Collect<'_> {
    fn step(&mut self, step: Step, outcome: std::result::Result<String, &Error>) {
        self.out.push(StepResult {
            side: self.side,
            step: step.label().to_string(),
            ok: outcome.is_ok(),
            detail: match outcome {
                Ok(d) => d,
                Err(e) => e.to_string(),
            },
        });
    }
}

/// Checks one endpoint; returns every step tried (stops at the first failure).
pub async fn check(endpoint: &Endpoint) -> Vec<StepResult> {
    let mut out = Vec::new();
    let session = {
        let mut obs = Collect {
            side: endpoint.side,
            out: &mut out,
        };
        Session::connect_observed(endpoint, &mut obs).await
    };
    let Ok(mut session) = session else {
        return out;
    };
    let side = endpoint.side;
    match session.list().await {
        Ok(list) => out.push(StepResult {
            side,
            step: "list folders".into(),
            ok: true,
            detail: format!("{} folders", list.len()),
        }),
        Err(e) => {
            out.push(StepResult {
                side,
                step: "list folders".into(),
                ok: false,
                detail: e.to_string(),
            });
            return out;
        }
    }
    // EXAMINE is enough to show NetEase's "Unsafe Login" and changes nothing.
    match session.examine("INBOX").await {
        Ok(st) => out.push(StepResult {
            side,
            step: "open INBOX".into(),
            ok: true,
            detail: format!("{} messages", st.exists),
        }),
        Err(e) => out.push(StepResult {
            side,
            step: "open INBOX".into(),
            ok: false,
            detail: e.to_string(),
        }),
    }
    session.logout().await;
    out
}

/// Checks a POP3 source: the connection steps, then STAT, UIDL and how old the oldest
/// message served is (a young one means the provider's 30-day POP3 window is probably on).
pub async fn check_pop3(endpoint: &Endpoint) -> Vec<StepResult> {
    let mut out = Vec::new();
    let side = endpoint.side;
    let session = {
        let mut obs = Collect {
            side,
            out: &mut out,
        };
        Pop3Session::connect_observed(endpoint, &mut obs).await
    };
    let Ok(mut session) = session else {
        return out;
    };
    let mut push = |step: Step, r: std::result::Result<String, Error>| {
        let ok = r.is_ok();
        out.push(StepResult {
            side,
            step: step.label().to_string(),
            ok,
            detail: r.unwrap_or_else(|e| e.to_string()),
        });
        ok
    };
    let stat = session.stat().await;
    let count = stat.as_ref().map(|(n, _)| *n).unwrap_or(0);
    let stat = stat.map(|(n, bytes)| format!("{n} messages, {}", crate::text::human_bytes(bytes)));
    if !push(Step::Messages, stat) {
        session.quit().await;
        return out;
    }
    let uidl = session.uidl().await.map(|u| match u {
        Some(list) => format!("{} ids: reruns find each message by its id", list.len()),
        None => "not offered: messages are told apart by their content".into(),
    });
    push(Step::Uidl, uidl);
    // POP3 lists oldest first: the first message's header tells how far back it reaches.
    if count > 0
        && let Ok(top) = session.top_many(&[1], 0, |_| 1 << 20).await
        && let Some(d) = top
            .first()
            .and_then(|h| crate::dates::received_date(crate::fingerprint::header_block(h)))
    {
        let days = (chrono::Utc::now() - d.with_timezone(&chrono::Utc)).num_days();
        let note = crate::pop3::store::window_note(Some(d), chrono::Utc::now(), endpoint.provider);
        out.push(StepResult {
            side,
            step: "oldest message".into(),
            ok: true,
            detail: note.unwrap_or_else(|| format!("arrived {days} day(s) ago")),
        });
    }
    session.quit().await;
    out
}
