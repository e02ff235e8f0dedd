//! POP3 as a source: a read-only client of our own (the registry's POP3 crates are
//! unmaintained or tied to another runtime) and a message store over it.

pub mod session;
pub mod store;
pub mod wire;

pub use session::Pop3Session;
pub use store::Pop3Store;
