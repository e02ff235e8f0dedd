//! IMAP: the session wrapper and the protocol pieces around it.

pub mod mutf7;
