//! mailferry: migrate, back up and restore IMAP mailboxes.
//!
//! The flow is Profile -> Plan -> Run:
//! - [`profile`] reads and validates a YAML profile with no network access;
//! - [`plan`] asks the servers what is there and decides, folder by folder, what goes where;
//! - [`engine`] carries the plan out with concurrent fetch and append workers, recording
//!   progress in a [`checkpoint`] so that a killed run resumes without duplicates.
//!
//! Every IMAP conversation goes through [`imap::Session`], which wraps async-imap and closes
//! its gaps (swallowed NO/BAD, no timeouts, APPENDUID dropped, credentials in trace logs).

pub mod archive;
pub mod batch;
pub mod checkpoint;
pub mod crypt;
pub mod dates;
pub mod disk;
pub mod doctor;
pub mod engine;
pub mod error;
pub mod fingerprint;
pub mod flags;
pub mod folders;
pub mod globs;
pub mod gmail;
pub mod i18n;
pub mod imap;
pub mod init;
pub mod mapping;
pub mod plan;
pub mod pop3;
pub mod profile;
pub mod progress;
pub mod providers;
pub mod reconcile;
pub mod report;
pub mod retry;
pub mod sasl;
pub mod schedule;
pub mod secret;
pub mod sides;
pub mod text;
pub mod verify;

pub use error::{Error, Result};

/// Version string sent in IMAP ID and printed by `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
