//! `doctor`: establish a session step by step and say, for the first step that fails, what the
//! server said and what to do.

use crate::error::Error;
use crate::imap::{Endpoint, Session, Step, StepObserver};

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
