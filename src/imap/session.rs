//! The one IMAP session wrapper everything uses.
//!
//! async-imap does the framing and parsing; this wrapper owns the rest and closes its gaps
//! (measured in the crate notes): every command's tagged NO/BAD becomes an error quoting the
//! server; every read and write has an idle timeout; APPEND is sent raw so APPENDUID and refusal
//! texts are kept and LITERAL+ can be used; a session that saw an I/O or parse failure is marked
//! broken and never reused (leftover responses cannot leak into the next command); ID is sent
//! after every login when advertised (NetEase refuses SELECT without it); credentials are never
//! logged (async-imap's TRACE logging is capped by the CLI's filter).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use async_imap::imap_proto::{self, AttributeValue, MailboxDatum, NameAttribute, Response, Status};
use tokio::io::{AsyncWriteExt, BufStream};

use super::stream::{Stream, Transport};
use crate::error::{Error, Result, Side};
use crate::providers::{Provider, Role, TlsMode};
use crate::secret::Secret;

type Inner = async_imap::Session<BufStream<Stream>>;

/// What to connect to and as whom.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub side: Side,
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub ca_file: Option<PathBuf>,
    pub user: String,
    pub password: Secret,
    /// How the login proves itself, and where a new token comes from.
    pub auth: crate::sasl::AuthMethod,
    pub credential: std::sync::Arc<crate::profile::Credential>,
    pub provider: Option<&'static Provider>,
    /// Longest silence tolerated on the wire.
    pub idle_timeout: Duration,
    /// A batch's budget of connections to this host, shared with the other accounts.
    pub limit: Option<std::sync::Arc<super::limit::HostLimit>>,
}

impl Endpoint {
    pub fn new(side: Side, account: &crate::profile::ImapAccount, password: Secret) -> Self {
        Endpoint {
            side,
            host: account.host.clone(),
            port: account.port,
            tls: account.tls,
            ca_file: account.ca_file.clone(),
            user: account.user.clone(),
            credential: std::sync::Arc::new(crate::profile::Credential::new(
                account.password.clone(),
                password.clone(),
            )),
            password,
            auth: account.auth,
            provider: account.provider,
            idle_timeout: Duration::from_secs(120),
            limit: None,
        }
    }

    /// `user@host` for messages; never the password.
    pub fn label(&self) -> String {
        format!("{} ({})", self.host, self.side)
    }
}

/// The steps of establishing a session, reported to an observer (`doctor` prints them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Dns,
    Tcp,
    Tls,
    Greeting,
    Login,
    Id,
    /// POP3: what the server offers (CAPA).
    Capabilities,
    /// POP3: how many messages the server serves (STAT).
    Messages,
    /// POP3: unique ids (UIDL).
    Uidl,
}

impl Step {
    pub const ALL: [Step; 9] = [
        Step::Dns,
        Step::Tcp,
        Step::Tls,
        Step::Greeting,
        Step::Login,
        Step::Id,
        Step::Capabilities,
        Step::Messages,
        Step::Uidl,
    ];

    /// The step's name in English, as JSON carries it; [`crate::i18n::step`] translates it.
    pub fn label(self) -> &'static str {
        match self {
            Step::Dns => "DNS lookup",
            Step::Tcp => "TCP connect",
            Step::Tls => "TLS handshake and certificate",
            Step::Greeting => "server greeting",
            Step::Login => "login",
            Step::Id => "IMAP ID",
            Step::Capabilities => "capabilities (CAPA)",
            Step::Messages => "messages (STAT)",
            Step::Uidl => "unique ids (UIDL)",
        }
    }
}

/// Receives each connection step's outcome: `Ok(detail)` or the error.
pub trait StepObserver: Send {
    fn step(&mut self, step: Step, outcome: std::result::Result<String, &Error>);
}

impl StepObserver for () {
    fn step(&mut self, _: Step, _: std::result::Result<String, &Error>) {}
}

/// The state of the selected mailbox, from SELECT/EXAMINE.
#[derive(Debug, Clone, Default)]
pub struct MailboxState {
    pub wire: String,
    pub exists: u32,
    pub uidvalidity: Option<u32>,
    /// Absent on NetEase; never relied upon.
    pub uidnext: Option<u32>,
    pub flags: Vec<String>,
    pub permanent_flags: Vec<String>,
    pub read_only: bool,
}

impl MailboxState {
    /// Whether a flag set with APPEND/STORE will be kept by the server.
    pub fn keeps_flag(&self, flag: &str) -> bool {
        if self.permanent_flags.is_empty() {
            // RFC 3501: without PERMANENTFLAGS, the FLAGS list is what can be stored.
            return self.flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
                || self.flags.iter().any(|f| f == "\\*");
        }
        self.permanent_flags
            .iter()
            .any(|f| f.eq_ignore_ascii_case(flag) || (f == "\\*" && !flag.starts_with('\\')))
    }
}

/// One LIST entry.
#[derive(Debug, Clone)]
pub struct ListEntry {
    pub wire: String,
    pub delimiter: Option<String>,
    /// Attributes as the server sent them, e.g. `\Sent`, `\Noselect`.
    pub attributes: Vec<String>,
    pub role: Option<Role>,
    pub noselect: bool,
}

/// One message's attributes from a FETCH response, owned.
#[derive(Debug, Clone, Default)]
pub struct FetchRecord {
    pub seq: u32,
    pub uid: Option<u32>,
    pub flags: Option<crate::flags::FlagSet>,
    /// INTERNALDATE exactly as the server printed it, so APPEND can hand it back unchanged.
    pub internaldate: Option<String>,
    pub size: Option<u32>,
    /// `BODY[]` (the whole message, or the part asked for).
    pub body: Option<Vec<u8>>,
    /// The origin the server says `body` starts at (`BODY[]<origin>`), for partial fetches.
    pub body_origin: Option<u32>,
    /// `BODY[HEADER...]` sections.
    pub header: Option<Vec<u8>>,
    /// `BODY[TEXT]` (or a part of it).
    pub text: Option<Vec<u8>>,
    pub bodystructure: Option<super::bodystructure::Summary>,
    /// Gmail's `X-GM-MSGID`: one message however many labels show it.
    pub gm_msgid: Option<u64>,
    /// Gmail's `X-GM-LABELS`.
    pub gm_labels: Option<Vec<String>>,
}

/// One message of an APPEND.
#[derive(Debug, Clone, Copy)]
pub struct AppendItem<'a> {
    pub flags: &'a [String],
    pub internaldate: Option<&'a str>,
    pub body: &'a [u8],
}

/// The result of an APPEND.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Appended {
    /// From `[APPENDUID uidvalidity uid]` when the server has UIDPLUS.
    pub uid: Option<(u32, u32)>,
}

/// What a successful tagged completion carried.
#[derive(Debug, Clone, Default)]
pub struct Done {
    /// `[APPENDUID validity uid]`: the first (or only) new UID.
    pub appenduid: Option<(u32, u32)>,
    /// Every new UID APPENDUID names, in order (MULTIAPPEND), up to a bound: a hostile range
    /// cannot make a huge list.
    pub appenduids: Vec<u32>,
    pub read_only: bool,
}

enum Event {
    Tagged {
        tag: imap_proto::RequestId,
        result: Result<Done>,
    },
    Continue,
    Bye(String),
    Other,
}

/// An APPEND written and not yet answered.
#[derive(Debug)]
struct SentAppend {
    tag: imap_proto::RequestId,
    what: String,
    count: usize,
}

/// A UID FETCH sent and not yet read ([`Session::send_uid_fetch`]).
#[derive(Debug)]
pub struct SentFetch {
    tag: imap_proto::RequestId,
    what: String,
    expect: u64,
}

pub struct Session {
    inner: Inner,
    pub endpoint: Endpoint,
    caps: HashSet<String>,
    selected: Option<MailboxState>,
    broken: bool,
    server_id: Option<HashMap<String, String>>,
    greeting: String,
    /// Bytes the next command is expected to bring (set by [`Session::expect_bytes`]), for
    /// its overall deadline.
    expect_bytes: u64,
    /// This connection's place in a batch's budget for the host, if there is one.
    _slot: Option<super::limit::HostSlot>,
    /// How long the post-login CAPABILITY took: the path's round trip, about.
    rtt: Duration,
}

/// Slowest transfer a command may fall to before its deadline: a server that trickles a byte
/// now and then (never silent long enough for the idle timeout) still ends.
const MIN_RATE: u64 = 16 * 1024;
/// Time per untagged response allowed on top (a FETCH of many small messages).
const PER_RESPONSE: Duration = Duration::from_millis(20);
/// Untagged responses one command may bring beyond twice the folder's messages.
const UNTAGGED_SLACK: usize = 10_000;

/// The longest one command may take: the idle timeout, plus the expected bytes at
/// [`MIN_RATE`], plus a little per response received.
pub fn command_deadline(idle: Duration, expect_bytes: u64, responses: usize) -> Duration {
    idle + Duration::from_secs(expect_bytes / MIN_RATE)
        + PER_RESPONSE.saturating_mul(responses.min(u32::MAX as usize) as u32)
}

/// The most untagged responses one command may bring in a folder of `exists` messages.
pub fn untagged_cap(exists: u32) -> usize {
    UNTAGGED_SLACK + 2 * exists as usize
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("host", &self.endpoint.host)
            .field("user", &self.endpoint.user)
            .field("selected", &self.selected.as_ref().map(|s| &s.wire))
            .finish()
    }
}

/// Quotes a string for IMAP (mailbox names are already modified UTF-7, so ASCII).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn io_error(host: &str, what: &str, e: std::io::Error, idle: Duration) -> Error {
    match e.kind() {
        std::io::ErrorKind::TimedOut => Error::Timeout {
            host: host.to_string(),
            what: what.to_string(),
            after: idle,
        },
        std::io::ErrorKind::InvalidData | std::io::ErrorKind::Other => Error::Protocol {
            host: host.to_string(),
            detail: format!("{what}: {e}"),
        },
        _ => Error::ConnectionLost {
            host: host.to_string(),
            detail: format!("{what}: {e}"),
        },
    }
}

fn imap_error(host: &str, what: &str, e: async_imap::error::Error, idle: Duration) -> Error {
    use async_imap::error::Error as E;
    match e {
        E::Io(io) => io_error(host, what, io, idle),
        E::ConnectionLost => Error::ConnectionLost {
            host: host.to_string(),
            detail: what.to_string(),
        },
        E::No(text) => Error::Server {
            host: host.to_string(),
            command: what.to_string(),
            status: "NO",
            text,
            code: None,
            hint: None,
        },
        E::Bad(text) => Error::Server {
            host: host.to_string(),
            command: what.to_string(),
            status: "BAD",
            text,
            code: None,
            hint: None,
        },
        other => Error::Protocol {
            host: host.to_string(),
            detail: format!("{what}: {other}"),
        },
    }
}

fn code_name(code: &imap_proto::ResponseCode<'_>) -> String {
    use imap_proto::ResponseCode as C;
    match code {
        C::Alert => "ALERT".into(),
        C::Parse => "PARSE".into(),
        C::ReadOnly => "READ-ONLY".into(),
        C::ReadWrite => "READ-WRITE".into(),
        C::TryCreate => "TRYCREATE".into(),
        C::UidNotSticky => "UIDNOTSTICKY".into(),
        other => format!("{other:?}")
            .split(['(', ' '])
            .next()
            .unwrap_or("")
            .to_uppercase(),
    }
}

/// Some servers put a code imap-proto does not know into the text: `[UNAVAILABLE] ...`.
fn code_from_text(text: &str) -> Option<String> {
    let rest = text.strip_prefix('[')?;
    let end = rest.find(']')?;
    Some(rest[..end].split(' ').next().unwrap_or("").to_uppercase())
}

impl Session {
    /// Connects, logs in and sends ID, retrying a provider's ambiguous login error a few times.
    pub async fn connect(endpoint: &Endpoint) -> Result<Session> {
        Self::connect_observed(endpoint, &mut ()).await
    }

    pub async fn connect_observed(
        endpoint: &Endpoint,
        observer: &mut dyn StepObserver,
    ) -> Result<Session> {
        let mut attempt = 0;
        loop {
            match Self::connect_once(endpoint, observer).await {
                Err(Error::Login { server_text, .. })
                    if attempt < 2
                        && endpoint.provider.is_some_and(|p| {
                            p.ambiguous_login_errors
                                .iter()
                                .any(|s| server_text.contains(s))
                        }) =>
                {
                    // QQ and NetEase give one text for bad credentials and for rate limiting:
                    // a short pause of the one policy, twice, then it is taken at its word.
                    attempt += 1;
                    tokio::time::sleep(
                        crate::retry::POLICY
                            .delay(attempt + 1, None)
                            .max(crate::retry::THROTTLE_PAUSE),
                    )
                    .await;
                }
                other => return other,
            }
        }
    }

    async fn connect_once(endpoint: &Endpoint, observer: &mut dyn StepObserver) -> Result<Session> {
        if let Err(e) = oauth_required(endpoint) {
            observer.step(Step::Login, Err(&e));
            return Err(e);
        }
        let host = endpoint.host.as_str();
        let idle = endpoint.idle_timeout;
        let slot = super::limit::slot(endpoint).await;
        let tcp = super::stream::dial(endpoint, observer).await?;

        let transport = match endpoint.tls {
            TlsMode::Implicit => {
                let tls = super::stream::handshake(endpoint, tcp, observer).await?;
                Transport::Tls(Box::new(tls))
            }
            _ => Transport::Plain(tcp),
        };
        let mut client = async_imap::Client::new(BufStream::new(Stream::new(transport, idle)));

        // The greeting must be read here: login skips it, but authenticate would hang on it.
        // SASL mechanisms the greeting announced (`[CAPABILITY ... AUTH=XOAUTH2]`), if it did.
        let mut offered: Option<HashSet<String>> = None;
        let greeting = match client.read_response().await {
            Ok(Some(resp)) => match resp.parsed() {
                Response::Data {
                    status: Status::Ok | Status::PreAuth,
                    outcome,
                } => {
                    if let Some(imap_proto::ResponseCode::Capabilities(caps)) = &outcome.code {
                        offered = Some(
                            caps.iter()
                                .filter_map(|c| match c {
                                    imap_proto::Capability::Auth(a) => Some(a.to_uppercase()),
                                    _ => None,
                                })
                                .collect(),
                        );
                    }
                    outcome.information.as_deref().unwrap_or("").to_string()
                }
                Response::Data {
                    status: Status::Bye,
                    outcome,
                } => {
                    let err = Error::ConnectionLost {
                        host: host.into(),
                        detail: format!(
                            "server said goodbye at once: \"{}\"",
                            outcome.information.as_deref().unwrap_or("")
                        ),
                    };
                    observer.step(Step::Greeting, Err(&err));
                    return Err(err);
                }
                other => {
                    let err = Error::Protocol {
                        host: host.into(),
                        detail: format!("not an IMAP greeting: {other:?}"),
                    };
                    observer.step(Step::Greeting, Err(&err));
                    return Err(err);
                }
            },
            Ok(None) => {
                let err = Error::ConnectionLost {
                    host: host.into(),
                    detail: "closed before the greeting".into(),
                };
                observer.step(Step::Greeting, Err(&err));
                return Err(err);
            }
            Err(e) => {
                let mut err = io_error(host, "waiting for the greeting", e, idle);
                if endpoint.tls != TlsMode::Implicit
                    && let Error::Protocol { detail, .. } = &mut err
                {
                    detail.push_str(" (is this a TLS port? port 993 needs `tls: implicit`)");
                }
                observer.step(Step::Greeting, Err(&err));
                return Err(err);
            }
        };
        observer.step(Step::Greeting, Ok(greeting.clone()));

        if endpoint.tls == TlsMode::Starttls {
            client = Self::starttls(endpoint, client, observer).await?;
        }

        if endpoint.tls == TlsMode::Starttls {
            // What the server offered before TLS is not to be trusted (RFC 3501 6.2.1).
            offered = None;
        }
        let inner = Self::login(endpoint, client, offered.as_ref(), observer).await?;

        let mut session = Session {
            inner,
            endpoint: endpoint.clone(),
            caps: HashSet::new(),
            selected: None,
            broken: false,
            server_id: None,
            greeting,
            expect_bytes: 0,
            _slot: slot,
            rtt: Duration::ZERO,
        };
        // Capabilities change at login (Gmail adds UIDPLUS and MOVE only then). The
        // smallest command there is also measures the round trip.
        let asked = std::time::Instant::now();
        session.refresh_capabilities().await?;
        session.rtt = asked.elapsed();
        if session.has("ID") {
            let cmd = format!(
                "ID (\"name\" \"mailferry\" \"version\" \"{}\")",
                crate::VERSION
            );
            let mut server_id = None;
            let result = session
                .run(&cmd, "ID", &mut |r| {
                    if let Response::Id(Some(map)) = r {
                        server_id = Some(
                            map.iter()
                                .map(|(k, v)| (k.to_string(), v.to_string()))
                                .collect::<HashMap<_, _>>(),
                        );
                    }
                })
                .await;
            match result {
                Ok(_) => {
                    session.server_id = server_id;
                    observer.step(Step::Id, Ok("sent".into()));
                }
                Err(e) => {
                    observer.step(Step::Id, Err(&e));
                    return Err(e);
                }
            }
        } else {
            observer.step(Step::Id, Ok("not offered by the server; not needed".into()));
        }
        Ok(session)
    }

    /// Logs in with the mechanism [`crate::sasl::choose`] picks: LOGIN with the password, or
    /// an OAuth2 token (read again for every new connection, and once more when refused).
    /// The secret goes on the wire here and nowhere else.
    async fn login(
        endpoint: &Endpoint,
        client: async_imap::Client<BufStream<Stream>>,
        offered: Option<&HashSet<String>>,
        observer: &mut dyn StepObserver,
    ) -> Result<Inner> {
        use crate::sasl::{self, Mechanism};
        let host = endpoint.host.as_str();
        let has = |m: &str| offered.is_some_and(|o| o.contains(m));
        let mechanism = sasl::choose(
            endpoint.auth,
            offered.map(|_| &has as &dyn Fn(&str) -> bool),
            endpoint.password.expose(),
        );
        let refused = |text: String| Error::Login {
            host: host.into(),
            user: endpoint.user.clone(),
            hint: login_hint(endpoint, &text),
            server_text: text,
        };
        let result = match mechanism {
            Mechanism::Login => client
                .login(&endpoint.user, endpoint.password.expose())
                .await
                .map_err(|(e, _)| e),
            m => {
                let token = read_token(endpoint, m, false).await?;
                match authenticate(endpoint, client, m, &token).await {
                    Ok(s) => Ok(s),
                    // A refused token is read again once (it may have just expired).
                    Err((async_imap::error::Error::No(_), Some(client), _)) if m.is_oauth() => {
                        let token = read_token(endpoint, m, true).await?;
                        authenticate(endpoint, client, m, &token)
                            .await
                            .map_err(|(e, _, challenge)| with_challenge(e, challenge))
                    }
                    Err((e, _, challenge)) => Err(with_challenge(e, challenge)),
                }
            }
        };
        match result {
            Ok(inner) => {
                let how = match mechanism {
                    Mechanism::Login => String::new(),
                    m if m.is_oauth() => format!(
                        " ({}, token from {}{})",
                        m.name(),
                        endpoint.credential.describe_source(),
                        token_lifetime(&endpoint.credential.current())
                    ),
                    m => format!(" ({})", m.name()),
                };
                observer.step(Step::Login, Ok(format!("as {}{how}", endpoint.user)));
                Ok(inner)
            }
            Err(e) => {
                let err = match e {
                    async_imap::error::Error::No(text) | async_imap::error::Error::Bad(text) => {
                        refused(server_words(&text))
                    }
                    other => imap_error(host, mechanism.name(), other, endpoint.idle_timeout),
                };
                observer.step(Step::Login, Err(&err));
                Err(err)
            }
        }
    }

    async fn starttls(
        endpoint: &Endpoint,
        mut client: async_imap::Client<BufStream<Stream>>,
        observer: &mut dyn StepObserver,
    ) -> Result<async_imap::Client<BufStream<Stream>>> {
        let host = endpoint.host.as_str();
        let idle = endpoint.idle_timeout;
        let caps_ok = client
            .run_command_and_check_ok("CAPABILITY", None)
            .await
            .map_err(|e| imap_error(host, "CAPABILITY", e, idle));
        // The capability list went to async-imap's unsolicited channel; ask STARTTLS directly.
        if let Err(e) = caps_ok {
            observer.step(Step::Tls, Err(&e));
            return Err(e);
        }
        if let Err(e) = client.run_command_and_check_ok("STARTTLS", None).await {
            let err = match e {
                async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_) => {
                    Error::Unsupported {
                        host: host.into(),
                        what: "the server does not offer STARTTLS on this port; use `tls: implicit` on port 993".into(),
                    }
                }
                other => imap_error(host, "STARTTLS", other, idle),
            };
            observer.step(Step::Tls, Err(&err));
            return Err(err);
        }
        let Transport::Plain(tcp) = client.into_inner().into_inner().into_transport() else {
            return Err(Error::Protocol {
                host: host.into(),
                detail: "STARTTLS on a TLS connection".into(),
            });
        };
        let tls = super::stream::handshake(endpoint, tcp, observer).await?;
        Ok(async_imap::Client::new(BufStream::new(Stream::new(
            Transport::Tls(Box::new(tls)),
            idle,
        ))))
    }

    pub fn host(&self) -> &str {
        &self.endpoint.host
    }

    pub fn greeting(&self) -> &str {
        &self.greeting
    }

    pub fn server_id(&self) -> Option<&HashMap<String, String>> {
        self.server_id.as_ref()
    }

    /// Whether the server advertises a capability (case-insensitive, e.g. "UIDPLUS").
    pub fn has(&self, cap: &str) -> bool {
        self.caps.contains(&cap.to_ascii_uppercase())
    }

    pub fn capabilities(&self) -> impl Iterator<Item = &str> {
        self.caps.iter().map(String::as_str)
    }

    /// `APPENDLIMIT=n`, when advertised.
    pub fn append_limit(&self) -> Option<u64> {
        self.caps
            .iter()
            .find_map(|c| c.strip_prefix("APPENDLIMIT=")?.parse().ok())
    }

    /// The round trip measured at login (one small command, answered at once).
    pub fn rtt(&self) -> Duration {
        self.rtt
    }

    /// A session that saw an I/O or protocol failure must be replaced, not reused.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    pub fn selected(&self) -> Option<&MailboxState> {
        self.selected.as_ref()
    }

    async fn refresh_capabilities(&mut self) -> Result<()> {
        let mut caps = HashSet::new();
        self.run("CAPABILITY", "CAPABILITY", &mut |r| {
            if let Response::Capabilities(list) = r {
                for c in list {
                    caps.insert(match c {
                        imap_proto::Capability::Imap4rev1 => "IMAP4REV1".to_string(),
                        imap_proto::Capability::Auth(a) => format!("AUTH={}", a.to_uppercase()),
                        imap_proto::Capability::Atom(a) => a.to_uppercase(),
                    });
                }
            }
        })
        .await?;
        self.caps = caps;
        Ok(())
    }

    async fn send(&mut self, cmd: &str, what: &str) -> Result<imap_proto::RequestId> {
        if self.broken {
            return Err(Error::ConnectionLost {
                host: self.endpoint.host.clone(),
                detail: "session was broken by an earlier failure".into(),
            });
        }
        // Whatever built it, nothing read from a server, an archive or a file may end this
        // command early and start another.
        if let Some(why) = super::wire::unsafe_line(cmd) {
            return Err(Error::Message(format!(
                "{what}: not sent, as the command would hold {why} (from a folder name, flag or date read from a server or a file)"
            )));
        }
        tracing::debug!(host = %self.endpoint.host, command = what, "imap command");
        match self.inner.run_command(cmd).await {
            Ok(tag) => Ok(tag),
            Err(e) => {
                self.broken = true;
                Err(imap_error(
                    &self.endpoint.host,
                    what,
                    e,
                    self.endpoint.idle_timeout,
                ))
            }
        }
    }

    /// Reads one response. Untagged data goes to `on`; the rest comes back as an [`Event`].
    async fn next(
        &mut self,
        what: &str,
        on: &mut (dyn FnMut(&Response<'_>) + Send),
    ) -> Result<Event> {
        let resp = match self.inner.read_response().await {
            Ok(Some(r)) => r,
            Ok(None) => {
                self.broken = true;
                return Err(Error::ConnectionLost {
                    host: self.endpoint.host.clone(),
                    detail: format!("closed during {what}"),
                });
            }
            Err(e) => {
                self.broken = true;
                return Err(io_error(
                    &self.endpoint.host,
                    what,
                    e,
                    self.endpoint.idle_timeout,
                ));
            }
        };
        Ok(match resp.parsed() {
            Response::Done {
                tag,
                status,
                outcome,
            } => Event::Tagged {
                tag: tag.clone(),
                result: self.completion(what, status, outcome),
            },
            Response::Continue(_) => Event::Continue,
            Response::Data {
                status: Status::Bye,
                outcome,
            } => {
                self.broken = true;
                Event::Bye(outcome.information.as_deref().unwrap_or("").to_string())
            }
            other => {
                on(other);
                Event::Other
            }
        })
    }

    /// Turns a tagged completion into [`Done`] or an error quoting the server.
    fn completion(
        &self,
        what: &str,
        status: &Status,
        outcome: &imap_proto::Outcome<'_>,
    ) -> Result<Done> {
        let text = outcome
            .information
            .as_deref()
            .unwrap_or("")
            .trim()
            .to_string();
        let status = match status {
            Status::Ok | Status::PreAuth => {
                let mut done = Done::default();
                match &outcome.code {
                    Some(imap_proto::ResponseCode::ReadOnly) => done.read_only = true,
                    Some(imap_proto::ResponseCode::AppendUid(validity, uids)) => {
                        use imap_proto::rfc4315::UidSetMember;
                        const MAX_UIDS: usize = 10_000;
                        for m in uids {
                            match m {
                                UidSetMember::Uid(u) => done.appenduids.push(*u),
                                UidSetMember::UidRange(r) => done
                                    .appenduids
                                    .extend(r.clone().take(MAX_UIDS - done.appenduids.len())),
                            }
                            if done.appenduids.len() >= MAX_UIDS {
                                break;
                            }
                        }
                        done.appenduid = done.appenduids.first().map(|u| (*validity, *u));
                    }
                    _ => {}
                }
                return Ok(done);
            }
            Status::No => "NO",
            Status::Bad => "BAD",
            Status::Bye => "BYE",
        };
        let code = outcome
            .code
            .as_ref()
            .map(code_name)
            .or_else(|| code_from_text(&text));
        let hint = self.hint_for(what, &text);
        Err(Error::Server {
            host: self.endpoint.host.clone(),
            command: what.to_string(),
            status,
            text,
            code,
            hint,
        })
    }

    fn hint_for(&self, what: &str, text: &str) -> Option<String> {
        if text.contains("Unsafe Login") {
            return Some(
                "NetEase refuses folders until the client identifies itself with IMAP ID; mailferry sends it when the server advertises ID. If this persists, log in to the web mail once, check Settings (设置) -> POP3/SMTP/IMAP is enabled, and try again later.".into(),
            );
        }
        let lower = text.to_ascii_lowercase();
        if what.starts_with("APPEND")
            && (lower.contains("size") || lower.contains("large") || lower.contains("limit"))
        {
            return Some(
                "the target refuses a message this large; set filters.max_size to skip such messages, or move it by hand".into(),
            );
        }
        if text.contains("UID parameters") {
            return Some("the server rejected a UID range; please report this".into());
        }
        None
    }

    /// The stream no longer matches the commands sent: the session cannot be trusted.
    fn out_of_step(&mut self, what: &str) -> Error {
        self.broken = true;
        Error::Protocol {
            host: self.endpoint.host.clone(),
            detail: format!("{what}: reply out of step with the commands sent"),
        }
    }

    fn bye(&self, text: &str, what: &str) -> Error {
        Error::ConnectionLost {
            host: self.endpoint.host.clone(),
            detail: format!("BYE \"{text}\" during {what}"),
        }
    }

    /// Reads to the completion of `tag`.
    async fn finish(
        &mut self,
        tag: &imap_proto::RequestId,
        what: &str,
        on: &mut (dyn FnMut(&Response<'_>) + Send),
    ) -> Result<Done> {
        let started = tokio::time::Instant::now();
        let expect = std::mem::take(&mut self.expect_bytes);
        let cap = untagged_cap(self.selected.as_ref().map_or(0, |s| s.exists));
        let mut responses = 0usize;
        loop {
            let allowed = command_deadline(self.endpoint.idle_timeout, expect, responses);
            let left = allowed.saturating_sub(started.elapsed());
            let event = match tokio::time::timeout(left, self.next(what, on)).await {
                Ok(e) => e?,
                Err(_) => {
                    self.broken = true;
                    return Err(Error::Timeout {
                        host: self.endpoint.host.clone(),
                        what: format!("{what} (still unfinished; the server sends too slowly)"),
                        after: allowed,
                    });
                }
            };
            match event {
                Event::Tagged { tag: t, result } if t == *tag => {
                    tracing::trace!(host = %self.endpoint.host, command = what, ms = started.elapsed().as_millis() as u64, "imap answer");
                    return result;
                }
                // A completion or continuation for nothing we sent: out of step.
                Event::Tagged { .. } | Event::Continue => return Err(self.out_of_step(what)),
                Event::Bye(text) => return Err(self.bye(&text, what)),
                Event::Other => {
                    responses += 1;
                    if responses > cap {
                        self.broken = true;
                        return Err(Error::Protocol {
                            host: self.endpoint.host.clone(),
                            detail: format!(
                                "{what}: the server sent more than {cap} responses to one command"
                            ),
                        });
                    }
                }
            }
        }
    }

    /// The next command is expected to bring about this many bytes (a FETCH of known
    /// messages): its deadline grows with them.
    pub fn expect_bytes(&mut self, bytes: u64) {
        self.expect_bytes = bytes;
    }

    /// Runs one command to completion, handing untagged responses to `on`.
    pub async fn run(
        &mut self,
        cmd: &str,
        what: &str,
        on: &mut (dyn FnMut(&Response<'_>) + Send),
    ) -> Result<Done> {
        let tag = self.send(cmd, what).await?;
        self.finish(&tag, what, on).await
    }

    /// LIST "" "*", with roles from special-use attributes.
    pub async fn list(&mut self) -> Result<Vec<ListEntry>> {
        let mut out = Vec::new();
        self.run("LIST \"\" \"*\"", "LIST", &mut |r| {
            if let Response::MailboxData(MailboxDatum::List(data)) = r {
                out.push(list_entry(data));
            }
        })
        .await?;
        Ok(out)
    }

    /// CREATE, treating "already exists" as success.
    pub async fn create(&mut self, wire: &str) -> Result<()> {
        let what = format!("CREATE {}", quote(wire));
        match self.run(&what, &what, &mut |_| {}).await {
            Ok(_) => Ok(()),
            Err(Error::Server { code, text, .. })
                if code.as_deref() == Some("ALREADYEXISTS")
                    || text.to_ascii_lowercase().contains("exist") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// SELECT (read-write). Needed on the target to learn PERMANENTFLAGS.
    pub async fn select(&mut self, wire: &str) -> Result<&MailboxState> {
        self.open("SELECT", wire).await
    }

    /// EXAMINE (read-only): the only way the source and `verify` open folders.
    pub async fn examine(&mut self, wire: &str) -> Result<&MailboxState> {
        self.open("EXAMINE", wire).await
    }

    async fn open(&mut self, verb: &str, wire: &str) -> Result<&MailboxState> {
        let cmd = format!("{verb} {}", quote(wire));
        self.selected = None;
        let mut st = MailboxState {
            wire: wire.to_string(),
            read_only: verb == "EXAMINE",
            ..Default::default()
        };
        let done = self
            .run(&cmd, &cmd, &mut |r| match r {
                Response::MailboxData(MailboxDatum::Exists(n)) => st.exists = *n,
                Response::MailboxData(MailboxDatum::Flags(f)) => {
                    st.flags = f.iter().map(|s| s.to_string()).collect()
                }
                Response::Data {
                    status: Status::Ok,
                    outcome,
                } => match &outcome.code {
                    Some(imap_proto::ResponseCode::UidValidity(v)) => st.uidvalidity = Some(*v),
                    Some(imap_proto::ResponseCode::UidNext(v)) => st.uidnext = Some(*v),
                    Some(imap_proto::ResponseCode::PermanentFlags(f)) => {
                        st.permanent_flags = f.iter().map(|s| s.to_string()).collect()
                    }
                    _ => {}
                },
                _ => {}
            })
            .await?;
        st.read_only |= done.read_only;
        Ok(self.selected.insert(st))
    }

    /// Every UID of the selected folder, ascending, each once (`UID FETCH 1:* (UID)`).
    pub async fn all_uids(&mut self) -> Result<Vec<u32>> {
        let mut uids = Vec::new();
        self.uid_fetch("1:*", "(UID)", &mut |r| {
            uids.extend(r.uid);
            Ok(())
        })
        .await?;
        uids.sort_unstable();
        uids.dedup();
        Ok(uids)
    }

    /// UID FETCH, handing each message to `each` as it arrives, so only one message's bytes
    /// are held at a time. Responses without a UID (unsolicited flag updates) are skipped.
    pub async fn uid_fetch(
        &mut self,
        set: &str,
        items: &str,
        each: &mut (dyn FnMut(FetchRecord) -> Result<()> + Send),
    ) -> Result<()> {
        let sent = self.send_uid_fetch(set, items).await?;
        self.finish_uid_fetch(sent, each).await
    }

    /// Sends a UID FETCH without waiting for its answer, so several can be on the way at
    /// once (one round trip for the lot); each is then read with
    /// [`Session::finish_uid_fetch`], in the order sent.
    pub async fn send_uid_fetch(&mut self, set: &str, items: &str) -> Result<SentFetch> {
        let cmd = format!("UID FETCH {set} {items}");
        let what = format!(
            "UID FETCH in {}",
            self.selected
                .as_ref()
                .map(|s| quote(&s.wire))
                .unwrap_or_default()
        );
        let expect = std::mem::take(&mut self.expect_bytes);
        let tag = self.send(&cmd, &what).await?;
        Ok(SentFetch { tag, what, expect })
    }

    /// Reads the answer to a FETCH sent by [`Session::send_uid_fetch`].
    pub async fn finish_uid_fetch(
        &mut self,
        sent: SentFetch,
        each: &mut (dyn FnMut(FetchRecord) -> Result<()> + Send),
    ) -> Result<()> {
        let mut failed: Option<Error> = None;
        self.expect_bytes = sent.expect;
        self.finish(&sent.tag, &sent.what, &mut |r| {
            if let Response::Fetch(seq, attrs) = r {
                let rec = fetch_record(*seq, attrs);
                // Keep reading to the completion so the connection stays in step.
                if rec.uid.is_some()
                    && failed.is_none()
                    && let Err(e) = each(rec)
                {
                    failed = Some(e);
                }
            }
        })
        .await?;
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// APPEND sent raw: keeps APPENDUID and the server's refusal text, uses LITERAL+ when
    /// offered (one round trip less per message), and writes the body from one buffer.
    pub async fn append(
        &mut self,
        wire: &str,
        flags: &[String],
        internaldate: Option<&str>,
        body: &[u8],
    ) -> Result<Appended> {
        let uids = self
            .append_many(
                wire,
                &[AppendItem {
                    flags,
                    internaldate,
                    body,
                }],
            )
            .await?;
        Ok(Appended {
            uid: uids.first().copied().flatten(),
        })
    }

    /// Several messages in one APPEND (RFC 3502 MULTIAPPEND; one command, one server-side
    /// transaction: all are stored or none). Callers check [`Session::has`]("MULTIAPPEND")
    /// before passing more than one. Returns each message's (UIDVALIDITY, UID) when the
    /// server reports APPENDUID.
    pub async fn append_many(
        &mut self,
        wire: &str,
        items: &[AppendItem<'_>],
    ) -> Result<Vec<Option<(u32, u32)>>> {
        let allowed = self.append_deadline(items);
        match tokio::time::timeout(allowed, self.append_many_within(wire, items)).await {
            Ok(r) => r,
            Err(_) => Err(self.append_timed_out(wire, allowed)),
        }
    }

    /// A server that takes the upload a byte now and then never trips the idle timeout: the
    /// whole APPEND has a deadline that grows with its bytes.
    fn append_deadline(&self, items: &[AppendItem<'_>]) -> Duration {
        let total: u64 = items.iter().map(|i| i.body.len() as u64).sum();
        command_deadline(self.endpoint.idle_timeout, total, items.len())
    }

    fn append_timed_out(&mut self, wire: &str, allowed: Duration) -> Error {
        self.broken = true;
        Error::Timeout {
            host: self.endpoint.host.clone(),
            what: format!(
                "APPEND to {} (still unfinished; the server takes the message too slowly)",
                quote(wire)
            ),
            after: allowed,
        }
    }

    async fn append_many_within(
        &mut self,
        wire: &str,
        items: &[AppendItem<'_>],
    ) -> Result<Vec<Option<(u32, u32)>>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let sent = self.write_append(wire, items).await?;
        self.finish_append(sent).await
    }

    /// Writes an APPEND of `items` (waiting for continuations without LITERAL+).
    async fn write_append(&mut self, wire: &str, items: &[AppendItem<'_>]) -> Result<SentAppend> {
        let what = format!("APPEND to {}", quote(wire));
        let literal_plus = self.has("LITERAL+");
        let header = |item: &AppendItem<'_>| {
            let mut h = String::new();
            let (flags, dropped) = super::wire::flags(item.flags);
            if !dropped.is_empty() {
                tracing::warn!("{what}: flags {dropped:?} are not valid IMAP flags; left out");
            }
            if !flags.is_empty() {
                h.push_str(" (");
                h.push_str(&flags.join(" "));
                h.push(')');
            }
            if let Some(given) = item.internaldate {
                match super::wire::internaldate(given) {
                    Some(d) => h.push_str(&format!(" \"{d}\"")),
                    None => tracing::warn!(
                        "{what}: received date {given:?} is not a valid INTERNALDATE; the server's date is used"
                    ),
                }
            }
            h.push_str(&format!(
                " {{{}{}}}",
                item.body.len(),
                if literal_plus { "+" } else { "" }
            ));
            h
        };
        let cmd = format!("APPEND {}{}", quote(wire), header(&items[0]));
        let tag = self.send(&cmd, &what).await?;
        let host = self.endpoint.host.clone();
        let idle = self.endpoint.idle_timeout;
        for (n, item) in items.iter().enumerate() {
            if n > 0 {
                let more = format!("{}\r\n", header(item));
                if let Err(e) = self.inner.get_mut().write_all(more.as_bytes()).await {
                    self.broken = true;
                    return Err(io_error(&host, &what, e, idle));
                }
                if !literal_plus && let Err(e) = self.inner.get_mut().flush().await {
                    self.broken = true;
                    return Err(io_error(&host, &what, e, idle));
                }
            }
            if !literal_plus {
                self.await_continuation(&tag, &what).await?;
            }
            if let Err(e) = self.inner.get_mut().write_all(item.body).await {
                self.broken = true;
                return Err(io_error(&host, &what, e, idle));
            }
        }
        let stream = self.inner.get_mut();
        let end = async {
            stream.write_all(b"\r\n").await?;
            stream.flush().await
        };
        if let Err(e) = end.await {
            self.broken = true;
            return Err(io_error(&host, &what, e, idle));
        }
        Ok(SentAppend {
            tag,
            what,
            count: items.len(),
        })
    }

    /// Reads the answer to an APPEND: each message's (UIDVALIDITY, UID) where the server
    /// reports APPENDUID.
    async fn finish_append(&mut self, sent: SentAppend) -> Result<Vec<Option<(u32, u32)>>> {
        let done = self.finish(&sent.tag, &sent.what, &mut |_| {}).await?;
        let mut uids = vec![None; sent.count];
        // APPENDUID lists the new UIDs in the order the messages were sent (RFC 4315); a
        // list that does not match the count is not used.
        if let Some((validity, _)) = done.appenduid
            && done.appenduids.len() == sent.count
        {
            for (slot, uid) in uids.iter_mut().zip(&done.appenduids) {
                *slot = Some((validity, *uid));
            }
        }
        Ok(uids)
    }

    /// Waits for the `+` that lets a synchronizing literal go. Untagged data may come first
    /// (e.g. `* OK [ALERT]`): async-imap's own append gives up there and leaves the server
    /// waiting for a literal that never comes.
    async fn await_continuation(&mut self, tag: &imap_proto::RequestId, what: &str) -> Result<()> {
        loop {
            match self.next(what, &mut |_| {}).await? {
                Event::Continue => return Ok(()),
                Event::Tagged { tag: t, result } if t == *tag => {
                    // Refused before the literal (e.g. too large): the connection is fine.
                    result?;
                    return Err(Error::Protocol {
                        host: self.endpoint.host.clone(),
                        detail: format!("{what}: completed without taking the message"),
                    });
                }
                Event::Tagged { .. } => return Err(self.out_of_step(what)),
                Event::Bye(text) => return Err(self.bye(&text, what)),
                Event::Other => {}
            }
        }
    }

    /// Sets exactly these flags on the messages (`UID STORE set FLAGS.SILENT (...)`).
    pub async fn uid_store_flags(&mut self, set: &str, flags: &[String]) -> Result<()> {
        let what = format!(
            "UID STORE in {}",
            self.selected
                .as_ref()
                .map(|s| quote(&s.wire))
                .unwrap_or_default()
        );
        let (flags, dropped) = super::wire::flags(flags);
        if !dropped.is_empty() {
            tracing::warn!("{what}: flags {dropped:?} are not valid IMAP flags; left out");
        }
        let cmd = format!("UID STORE {set} FLAGS.SILENT ({})", flags.join(" "));
        self.run(&cmd, &what, &mut |_| {}).await.map(|_| ())
    }

    /// NOOP: lets the server report changes, keeps the connection alive.
    pub async fn noop(&mut self) -> Result<()> {
        self.run("NOOP", "NOOP", &mut |_| {}).await.map(|_| ())
    }

    /// Adds these flags to the messages, leaving their others alone
    /// (`UID STORE set +FLAGS.SILENT (...)`).
    pub async fn uid_add_flags(&mut self, set: &str, flags: &[String]) -> Result<()> {
        let kept = self.selected.clone();
        let what = format!(
            "UID STORE +FLAGS in {}",
            kept.as_ref().map(|s| quote(&s.wire)).unwrap_or_default()
        );
        let (safe, dropped) = super::wire::flags(flags);
        if !dropped.is_empty() {
            tracing::warn!("{what}: flags {dropped:?} are not valid IMAP flags; left out");
        }
        if safe.is_empty() {
            return Ok(());
        }
        let cmd = format!("UID STORE {set} +FLAGS.SILENT ({})", safe.join(" "));
        self.run(&cmd, &what, &mut |_| {}).await.map(|_| ())
    }

    pub async fn logout(mut self) {
        if !self.broken {
            let _ = tokio::time::timeout(
                Duration::from_secs(5),
                self.run("LOGOUT", "LOGOUT", &mut |_| {}),
            )
            .await;
        }
    }
}

/// The server's own words from an async-imap NO/BAD error, which arrives formatted as
/// `code: Some(..), info: Some("text")`.
/// An OAuth2 exchange: the first message, then the acknowledgement of a failure challenge
/// (whose text is kept, for the error).
struct OAuthExchange {
    first: Option<Vec<u8>>,
    ack: &'static [u8],
    challenge: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl async_imap::Authenticator for OAuthExchange {
    type Response = Vec<u8>;

    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        match self.first.take() {
            Some(first) => first,
            None => {
                if let Ok(mut c) = self.challenge.lock() {
                    *c = Some(crate::sasl::describe_challenge(challenge));
                }
                self.ack.to_vec()
            }
        }
    }
}

type AuthFailure = (
    async_imap::error::Error,
    Option<async_imap::Client<BufStream<Stream>>>,
    Option<String>,
);

/// AUTHENTICATE with one SASL mechanism (no SASL-IR: the first message waits for the
/// server's continuation, as NetEase requires).
async fn authenticate(
    endpoint: &Endpoint,
    client: async_imap::Client<BufStream<Stream>>,
    mechanism: crate::sasl::Mechanism,
    secret: &Secret,
) -> std::result::Result<Inner, AuthFailure> {
    let challenge = std::sync::Arc::new(std::sync::Mutex::new(None));
    let exchange = OAuthExchange {
        first: Some(crate::sasl::initial_response(
            mechanism,
            &endpoint.user,
            secret.expose(),
            &endpoint.host,
            endpoint.port,
        )),
        ack: mechanism.failure_ack(),
        challenge: challenge.clone(),
    };
    client
        .authenticate(mechanism.name(), exchange)
        .await
        .map_err(|(e, client)| {
            let said = challenge.lock().ok().and_then(|mut c| c.take());
            (e, Some(client), said)
        })
}

/// A refusal with the server's failure challenge added to its words.
fn with_challenge(
    e: async_imap::error::Error,
    challenge: Option<String>,
) -> async_imap::error::Error {
    match (e, challenge) {
        (async_imap::error::Error::No(text), Some(c)) => {
            async_imap::error::Error::No(format!("{} ({c})", server_words(&text)))
        }
        (e, _) => e,
    }
}

/// A token for a new login, read off the async threads (a token command may take a while).
pub(crate) async fn read_token(
    endpoint: &Endpoint,
    mechanism: crate::sasl::Mechanism,
    force: bool,
) -> Result<Secret> {
    if !mechanism.is_oauth() {
        return Ok(endpoint.password.clone());
    }
    let credential = endpoint.credential.clone();
    tokio::task::spawn_blocking(move || credential.token(force))
        .await
        .map_err(|e| Error::Invalid(format!("reading the token stopped unexpectedly: {e}")))?
        .map_err(Error::from)
}

/// `, expires in 59 min` for a JWT that says when it expires.
fn token_lifetime(token: &Secret) -> String {
    match crate::sasl::jwt_expiry(token.expose()) {
        Some(exp) => format!(
            ", expires in {} min",
            (exp - chrono::Utc::now().timestamp()).max(0) / 60
        ),
        None => String::new(),
    }
}

/// Refuses, before connecting, a password for a provider that accepts only OAuth2 (unless
/// the profile named a password mechanism itself).
pub(crate) fn oauth_required(endpoint: &Endpoint) -> Result<()> {
    let mechanism = crate::sasl::choose(endpoint.auth, None, endpoint.password.expose());
    match endpoint.provider {
        Some(p)
            if p.oauth_only
                && !mechanism.is_oauth()
                && endpoint.auth == crate::sasl::AuthMethod::Auto =>
        {
            Err(Error::Login {
                host: endpoint.host.clone(),
                user: endpoint.user.clone(),
                server_text: "not sent: the secret given is a password, not an OAuth2 token".into(),
                hint: oauth_hint(p.display),
            })
        }
        _ => Ok(()),
    }
}

/// What to do when a provider wants OAuth2.
pub(crate) fn oauth_hint(provider: &str) -> String {
    crate::i18n::ta("hint-oauth", &[("provider", provider.to_string())])
}

fn server_words(text: &str) -> String {
    let Some(start) = text.find("info: Some(\"") else {
        return text.trim().to_string();
    };
    let inner = &text[start + "info: Some(\"".len()..];
    let inner = inner.strip_suffix("\")").unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out.trim().to_string()
}

fn login_hint(endpoint: &Endpoint, server_text: &str) -> String {
    login_hint_for(endpoint, server_text, "hint-login-generic")
}

/// What to do about a refused login: OAuth2 when the server says passwords are off, else the
/// provider's hint, else `generic` (a message id).
pub(crate) fn login_hint_for(endpoint: &Endpoint, server_text: &str, generic: &str) -> String {
    if server_text.contains("Basic authentication is disabled") {
        return oauth_hint(endpoint.provider.map_or("This server", |p| p.display));
    }
    crate::i18n::t(endpoint.provider.map_or(generic, |p| p.login_hint))
}

/// What the session makes of one untagged response as a server sent it: a FETCH record or a
/// LIST entry. For tests and fuzzing of the response handling; `None` for anything else, or
/// bytes that do not parse.
pub fn interpret(wire: &[u8]) -> (Option<FetchRecord>, Option<ListEntry>) {
    match Response::parse(wire) {
        Ok((_, Response::Fetch(seq, attrs))) => (Some(fetch_record(seq, &attrs)), None),
        Ok((_, Response::MailboxData(MailboxDatum::List(data)))) => (None, Some(list_entry(&data))),
        _ => (None, None),
    }
}

fn list_entry(data: &imap_proto::MailboxListData<'_>) -> ListEntry {
    let mut attributes = Vec::new();
    let mut role = None;
    let mut noselect = false;
    for a in &data.name_attributes {
        let (text, r) = match a {
            NameAttribute::NoInferiors => ("\\Noinferiors".to_string(), None),
            NameAttribute::NoSelect => {
                noselect = true;
                ("\\Noselect".to_string(), None)
            }
            NameAttribute::Marked => ("\\Marked".to_string(), None),
            NameAttribute::Unmarked => ("\\Unmarked".to_string(), None),
            NameAttribute::All => ("\\All".to_string(), Some(Role::All)),
            NameAttribute::Archive => ("\\Archive".to_string(), Some(Role::Archive)),
            NameAttribute::Drafts => ("\\Drafts".to_string(), Some(Role::Drafts)),
            NameAttribute::Flagged => ("\\Flagged".to_string(), Some(Role::Flagged)),
            NameAttribute::Junk => ("\\Junk".to_string(), Some(Role::Junk)),
            NameAttribute::Sent => ("\\Sent".to_string(), Some(Role::Sent)),
            NameAttribute::Trash => ("\\Trash".to_string(), Some(Role::Trash)),
            NameAttribute::Extension(e) => {
                let e = e.to_string();
                let lower = e.to_ascii_lowercase();
                if lower == "\\nonexistent" {
                    noselect = true;
                }
                // XLIST-style names some servers still send.
                let r = match lower.as_str() {
                    "\\spam" => Some(Role::Junk),
                    "\\allmail" => Some(Role::All),
                    "\\starred" => Some(Role::Flagged),
                    "\\inbox" => Some(Role::Inbox),
                    _ => None,
                };
                (e, r)
            }
            #[allow(unreachable_patterns)]
            _ => continue,
        };
        attributes.push(text);
        if role.is_none() {
            role = r;
        }
    }
    ListEntry {
        wire: unescape_quoted(&data.name),
        delimiter: data.delimiter.as_ref().map(|d| d.to_string()),
        attributes,
        role,
        noselect,
    }
}

/// imap-proto hands back a quoted mailbox name with its escapes (`\\"`, `\\\\`) still in.
fn unescape_quoted(name: &str) -> String {
    if !name.contains('\\') {
        return name.to_string();
    }
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n @ ('\\' | '"')) => out.push(n),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn fetch_record(seq: u32, attrs: &[AttributeValue<'_>]) -> FetchRecord {
    let mut rec = FetchRecord {
        seq,
        ..Default::default()
    };
    for a in attrs {
        match a {
            AttributeValue::Uid(u) => rec.uid = Some(*u),
            AttributeValue::Flags(f) => {
                rec.flags = Some(crate::flags::intern(
                    f.iter()
                        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                        .map(|f| f.to_string())
                        .collect(),
                ))
            }
            AttributeValue::InternalDate(d) => rec.internaldate = Some(d.to_string()),
            AttributeValue::Rfc822Size(s) => rec.size = Some(*s),
            AttributeValue::Rfc822(Some(b)) => rec.body = Some(b.to_vec()),
            AttributeValue::BodySection {
                section,
                index,
                data,
            } => {
                let bytes = data.as_ref().map(|d| d.to_vec()).unwrap_or_default();
                match section {
                    None => {
                        rec.body = Some(bytes);
                        rec.body_origin = *index;
                    }
                    Some(imap_proto::SectionPath::Full(imap_proto::MessageSection::Text)) => {
                        rec.text = Some(bytes)
                    }
                    Some(_) => rec.header = Some(bytes),
                }
            }
            AttributeValue::Rfc822Header(Some(b)) => rec.header = Some(b.to_vec()),
            AttributeValue::BodyStructure(bs) => {
                rec.bodystructure = Some(super::bodystructure::Summary::from_proto(bs))
            }
            AttributeValue::GmailMsgId(id) => rec.gm_msgid = Some(*id),
            AttributeValue::GmailLabels(labels) => {
                rec.gm_labels = Some(labels.iter().map(|l| l.to_string()).collect())
            }
            _ => {}
        }
    }
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_names_are_unescaped_once() {
        assert_eq!(unescape_quoted(r#"C:\\backup"#), r"C:\backup");
        assert_eq!(unescape_quoted(r#"Tom's \"notes\""#), r#"Tom's "notes""#);
        assert_eq!(unescape_quoted("INBOX"), "INBOX");
        assert_eq!(quote(&unescape_quoted(r#"a\\b"#)), r#""a\\b""#);
    }

    #[test]
    fn quoting_escapes_quotes_and_backslashes() {
        assert_eq!(quote("INBOX"), "\"INBOX\"");
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }

    #[test]
    fn keywords_kept_only_when_the_server_allows() {
        let netease = MailboxState {
            permanent_flags: ["\\Answered", "\\Seen", "\\Deleted", "\\Draft", "\\Flagged"]
                .map(String::from)
                .to_vec(),
            ..Default::default()
        };
        assert!(netease.keeps_flag("\\Seen"));
        assert!(!netease.keeps_flag("$Forwarded"));
        let qq = MailboxState {
            permanent_flags: ["\\*", "\\Seen"].map(String::from).to_vec(),
            ..Default::default()
        };
        assert!(qq.keeps_flag("$Forwarded"));
        assert!(!qq.keeps_flag("\\Answered"));
    }

    #[test]
    fn login_refusals_quote_the_server_verbatim() {
        assert_eq!(
            server_words(
                r#"code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")"#
            ),
            "[AUTHENTICATIONFAILED] Authentication failed."
        );
        assert_eq!(
            server_words(r#"code: None, info: Some("Login fail. \"x\" 登录失败")"#),
            "Login fail. \"x\" 登录失败"
        );
        assert_eq!(server_words("plain text"), "plain text");
    }

    #[test]
    fn response_codes_in_text_are_found() {
        assert_eq!(
            code_from_text("[UNAVAILABLE] try later").as_deref(),
            Some("UNAVAILABLE")
        );
        assert_eq!(code_from_text("no code"), None);
    }
}
