//! IMAP: the session wrapper and the protocol pieces around it.

pub mod bodystructure;
pub mod limit;
pub mod mutf7;
pub mod session;
pub mod stream;
pub mod tls;
pub mod uidset;
pub mod wire;

pub use session::{Endpoint, FetchRecord, ListEntry, MailboxState, Session, Step, StepObserver};
