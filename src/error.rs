//! The core's error type: every failure carries where it happened, the server's own words when
//! there are any, and what the user can do about it.

use std::path::PathBuf;
use std::time::Duration;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which side of a job an error happened on, for messages like "source (imap.163.com): ...".
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Source,
    Target,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Target => "target",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Profile(Box<crate::profile::ProfileError>),

    #[error(transparent)]
    Secret(#[from] crate::profile::SecretError),

    #[error(transparent)]
    Mapping(#[from] crate::profile::MappingError),

    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),

    #[error(
        "cannot resolve host {host}: {detail}. Check the host name in the profile and your DNS."
    )]
    Dns { host: String, detail: String },

    #[error(
        "cannot connect to {host}:{port}: {detail}. Check host and port (IMAP: 993 with TLS, 143 with STARTTLS; POP3: 995 and 110) and that a firewall does not block it."
    )]
    Connect {
        host: String,
        port: u16,
        detail: String,
    },

    #[error("TLS with {host}:{port} failed: {detail}. {hint}")]
    Tls {
        host: String,
        port: u16,
        detail: String,
        hint: &'static str,
    },

    #[error("{host}: no answer within {}s while {what}; the server or network is too slow or stalled", .after.as_secs())]
    Timeout {
        host: String,
        what: String,
        after: Duration,
    },

    #[error("{}", login_refused(.host, .user, .server_text, .hint))]
    Login {
        host: String,
        user: String,
        server_text: String,
        hint: String,
    },

    #[error("{host}: {command} refused with {status}: \"{text}\"{}", hint_suffix(.hint))]
    Server {
        host: String,
        /// The command verb and its mailbox, never its other arguments.
        command: String,
        status: &'static str,
        text: String,
        /// The response code (e.g. `UNAVAILABLE`, `OVERQUOTA`), when the server gave one.
        code: Option<String>,
        hint: Option<String>,
    },

    #[error("{host}: the server closed the connection ({detail})")]
    ConnectionLost { host: String, detail: String },

    #[error("{host}: unexpected reply from the server: {detail}")]
    Protocol { host: String, detail: String },

    #[error("{host}: {what}")]
    Unsupported { host: String, what: String },

    #[error("checkpoint store {}: {detail}", .path.display())]
    Checkpoint { path: PathBuf, detail: String },

    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    Invalid(String),

    /// One message cannot be carried (what the server sent for it does not add up, or it is
    /// larger than the target accepts); the connection is fine and other messages go on.
    #[error("{0}")]
    Message(String),

    #[error("stopped by the user")]
    Cancelled,
}

impl From<crate::profile::ProfileError> for Error {
    fn from(e: crate::profile::ProfileError) -> Self {
        Error::Profile(Box::new(e))
    }
}

fn login_refused(host: &str, user: &str, server_text: &str, hint: &str) -> String {
    crate::i18n::ta(
        "login-refused",
        &[
            ("host", host.to_string()),
            ("user", user.to_string()),
            ("server", server_text.to_string()),
            ("hint", hint.to_string()),
        ],
    )
}

fn hint_suffix(hint: &Option<String>) -> String {
    match hint {
        Some(h) => format!(". {h}"),
        None => String::new(),
    }
}

impl Error {
    /// Whether reconnecting and trying again may help: network trouble, timeouts, BYE,
    /// `NO [UNAVAILABLE]` and unparseable replies (which kill an async-imap session).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Connect { .. }
            | Error::Timeout { .. }
            | Error::ConnectionLost { .. }
            | Error::Protocol { .. }
            | Error::Dns { .. } => true,
            Error::Server { code, text, .. } => {
                matches!(
                    code.as_deref(),
                    Some("UNAVAILABLE") | Some("INUSE") | Some("THROTTLED")
                ) || crate::retry::hint(text).is_some()
            }
            _ => false,
        }
    }

    /// The server's own words, for a retry pause it may ask for.
    pub fn server_text(&self) -> Option<&str> {
        match self {
            Error::Server { text, .. }
            | Error::Login {
                server_text: text, ..
            } => Some(text),
            _ => None,
        }
    }

    /// Whether the connection this error came from can still be used.
    pub fn poisons_connection(&self) -> bool {
        !matches!(self, Error::Server { .. } | Error::Message(_))
    }
}
