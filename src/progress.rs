//! Progress as events: the core reports what happens, the CLI decides how to show it
//! (indicatif bars on a terminal, periodic lines otherwise, JSON lines with `--json`).

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The plan is made: this much is left to copy.
    Planned {
        folders: usize,
        messages: u64,
        bytes: u64,
        already_present: u64,
    },
    FolderCreated {
        target: String,
    },
    FolderStarted {
        source: String,
        target: String,
        messages: u64,
        bytes: u64,
    },
    Copied {
        folder: String,
        uid: u32,
        bytes: u64,
    },
    Failed {
        folder: String,
        uid: u32,
        reason: String,
    },
    /// Left out after download (the attachment filter decided from the body).
    Filtered {
        folder: String,
        uid: u32,
    },
    FolderDone {
        source: String,
    },
    Reconnecting {
        side: crate::error::Side,
        attempt: u32,
        reason: String,
    },
    Warning {
        message: String,
    },
}

pub trait Progress: Send + Sync {
    fn event(&self, event: Event);
}

/// Progress that goes nowhere (library use, tests).
pub struct Silent;

impl Progress for Silent {
    fn event(&self, _: Event) {}
}
