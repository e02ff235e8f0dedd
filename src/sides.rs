//! The two sides of a job: where messages come from and where they go.

use std::sync::Arc;

use crate::archive::MessageStore;
use crate::imap::Endpoint;
use crate::profile::ArchiveTarget;

/// Where messages come from.
#[derive(Clone)]
pub enum SourceSide {
    Imap(Endpoint),
    /// An archive or a foreign export (mbox, .eml folder, Maildir).
    Store {
        store: Arc<dyn MessageStore>,
        /// What it is, for the checkpoint and messages (`mbox:/path`).
        label: String,
        /// Damage found while opening it, each naming file and offset: not carried.
        problems: Vec<String>,
    },
}

/// Where messages go.
#[derive(Clone)]
pub enum TargetSide {
    Imap(Endpoint),
    Archive(ArchiveTarget),
}

impl SourceSide {
    pub fn label(&self) -> String {
        match self {
            SourceSide::Imap(ep) => format!("imap://{}@{}:{}", ep.user, ep.host, ep.port),
            SourceSide::Store { label, .. } => label.clone(),
        }
    }

    pub fn provider(&self) -> Option<&'static crate::providers::Provider> {
        match self {
            SourceSide::Imap(ep) => ep.provider,
            SourceSide::Store { .. } => None,
        }
    }

    /// Ends what the source holds open once the job is done (a POP3 session gets its QUIT).
    pub async fn close(&self) {
        if let SourceSide::Store { store, .. } = self {
            let store = store.clone();
            let _ = tokio::task::spawn_blocking(move || store.close()).await;
        }
    }
}

impl TargetSide {
    pub fn label(&self) -> String {
        match self {
            TargetSide::Imap(ep) => format!("imap://{}@{}:{}", ep.user, ep.host, ep.port),
            TargetSide::Archive(a) => format!("archive:{}", a.path.display()),
        }
    }

    pub fn provider(&self) -> Option<&'static crate::providers::Provider> {
        match self {
            TargetSide::Imap(ep) => ep.provider,
            TargetSide::Archive(_) => None,
        }
    }
}

/// A job's identity in the checkpoint store: same source and target, same records.
pub fn job_label(source: &SourceSide, target: &TargetSide) -> String {
    format!("{} -> {}", source.label(), target.label())
}

impl TargetSide {
    /// What kind of place the folders go to, for the folder plan.
    pub fn kind(&self) -> crate::folders::TargetKind {
        match self {
            TargetSide::Imap(_) => crate::folders::TargetKind::Imap,
            TargetSide::Archive(_) => crate::folders::TargetKind::Archive,
        }
    }
}
