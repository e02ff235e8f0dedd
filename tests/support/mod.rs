//! Test support shared by the integration tests: `mod support;` then `use support::*;`.
//!
//! - [`dovecot()`]: a private Dovecot for this test binary (plain and TLS IMAP on loopback),
//!   with [`TestUser`]s to seed and inspect mailboxes independently of mailferry's code.
//! - [`Proxy`]: a TCP proxy in front of Dovecot that imitates one provider quirk
//!   ([`Quirk`]: NetEase's ID-before-SELECT, QQ's descending UID sets, dropped connections,
//!   an APPEND size limit) and records the commands it saw.
//! - [`Pop3Proxy`]: the same idea for POP3 ([`Pop3Quirk`]: no UIDL, a cut, a slow RETR).
//! - [`imap_client`]: the blocking IMAP client and modified UTF-7 codec behind both.
//!
//! Everything is blocking; from a `#[tokio::test]` call it directly (it is quick) or via
//! `tokio::task::spawn_blocking`. Tests in one binary run in parallel and share the server,
//! so each test makes its own users with [`Dovecot::new_user`].
//!
//! ```ignore
//! mod support;
//! use support::*;
//!
//! #[test]
//! fn moves_sent_mail() {
//!     let d = dovecot();
//!     let (src, dst) = (d.new_user("src"), d.new_user("dst"));
//!     let raw = b"Subject: hi\r\n\r\nbody\r\n";
//!     src.append("已发送", raw, &["\\Seen"], Some("07-Jul-2021 02:44:25 +0800"));
//!     dst.create_mailbox("Sent Messages");
//!     let netease = Proxy::start(d.plain_port(), vec![Quirk::RequireIdBeforeSelect]);
//!     // run mailferry: source 127.0.0.1:netease.port() (plain), target 127.0.0.1:d.tls_port()
//!     // trusting d.ca_pem(), logins src.name/src.password and dst.name/dst.password, then:
//!     assert_eq!(dst.messages("Sent Messages")[0].body, src.messages("已发送")[0].body);
//! }
//! ```

#![allow(dead_code, unused_imports)] // Each test binary uses a different part of it.

pub mod dovecot;
pub mod imap_client;
pub mod job;
pub mod mail;
pub mod mutate;
pub mod pop3_proxy;
pub mod proxy;

pub use dovecot::{
    Dovecot, MailboxInfo, StoredMessage, TestUser, dovecot, internaldate_unix, oauth2_token,
};
pub use imap_client::{ImapClient, Reply, Status, Value, mutf7_decode, mutf7_encode};
pub use job::{
    BIN, Job, Outcome, ProfileRun, Server, direct, imap_yaml, mailferry_on, output_of, run_profile,
    via, write_profile,
};
pub use mail::*;
pub use pop3_proxy::{Pop3Proxy, Pop3Quirk};
pub use proxy::{Proxy, Quirk};
