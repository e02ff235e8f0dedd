//! One POP3 connection, read-only: it knows CAPA, STLS, USER/PASS, AUTH PLAIN, STAT, UIDL,
//! LIST, TOP, RETR and QUIT, and nothing that changes the mailbox (no DELE, ever).
//!
//! The discipline is the IMAP session's: every read and write has an idle timeout (the same
//! [`Stream`]); every line and every response has a byte cap; `-ERR` becomes an error quoting
//! the server; a connection that saw an I/O or protocol failure is marked broken and never
//! reused; the password goes on the wire once and nowhere else. Commands carry numbers only,
//! never text from a server or a file.

use std::collections::BTreeSet;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufStream};

use super::wire::{self, Line, Status};
use crate::error::{Error, Result};
use crate::imap::session::{login_hint_for, oauth_required, read_token};
use crate::imap::stream::{Stream, Transport, dial, handshake};
use crate::imap::{Endpoint, Step, StepObserver};
use crate::providers::TlsMode;

/// Commands sent back to back before their answers are read, when the server allows it.
const PIPELINE: usize = 64;

pub struct Pop3Session {
    io: BufStream<Stream>,
    endpoint: Endpoint,
    caps: BTreeSet<String>,
    greeting: String,
    broken: bool,
    /// This connection's place in a batch's budget for the host, if there is one.
    slot: Option<crate::imap::limit::HostSlot>,
}

impl std::fmt::Debug for Pop3Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pop3Session")
            .field("host", &self.endpoint.host)
            .field("user", &self.endpoint.user)
            .field("caps", &self.caps)
            .field("broken", &self.broken)
            .finish()
    }
}

impl Pop3Session {
    pub async fn connect(endpoint: &Endpoint) -> Result<Pop3Session> {
        Self::connect_observed(endpoint, &mut ()).await
    }

    /// Connects and logs in, reporting each step (DNS, TCP, TLS, greeting, CAPA, login).
    pub async fn connect_observed(
        endpoint: &Endpoint,
        observer: &mut dyn StepObserver,
    ) -> Result<Pop3Session> {
        if let Err(e) = oauth_required(endpoint) {
            observer.step(Step::Login, Err(&e));
            return Err(e);
        }
        let slot = crate::imap::limit::slot(endpoint).await;
        let tcp = dial(endpoint, observer).await?;
        let transport = match endpoint.tls {
            TlsMode::Implicit => {
                Transport::Tls(Box::new(handshake(endpoint, tcp, observer).await?))
            }
            _ => Transport::Plain(tcp),
        };
        let mut session = Pop3Session {
            io: BufStream::new(Stream::new(transport, endpoint.idle_timeout)),
            endpoint: endpoint.clone(),
            caps: BTreeSet::new(),
            greeting: String::new(),
            broken: false,
            slot,
        };
        let greeting = session.greeting().await;
        observer.step(Step::Greeting, greeting.as_ref().map(|g| g.clone()));
        session.greeting = greeting?;
        let caps = session.capa().await;
        observer.step(Step::Capabilities, caps.as_ref().map(|c| c.clone()));
        caps?;
        if endpoint.tls == TlsMode::Starttls {
            session = session.stls(observer).await?;
        }
        let login = session.login().await;
        observer.step(Step::Login, login.as_ref().map(|m| m.clone()));
        login?;
        // Some servers list more once the user is known.
        session.capa().await?;
        Ok(session)
    }

    pub fn host(&self) -> &str {
        &self.endpoint.host
    }

    pub fn greeting_text(&self) -> &str {
        &self.greeting
    }

    /// Whether the server advertised a capability (`UIDL`, `TOP`, `SASL PLAIN`, ...).
    pub fn has(&self, cap: &str) -> bool {
        self.caps.contains(&cap.to_ascii_uppercase())
    }

    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// STAT: messages and their total size.
    pub async fn stat(&mut self) -> Result<(u32, u64)> {
        let text = self.command("STAT").await?;
        wire::stat(&text).ok_or_else(|| self.protocol(format!("STAT answered {text:?}")))
    }

    /// UIDL for every message, or `None` when the server does not offer it.
    pub async fn uidl(&mut self) -> Result<Option<Vec<(u32, String)>>> {
        match self.command("UIDL").await {
            Ok(_) => {}
            Err(Error::Server { .. }) => return Ok(None),
            Err(e) => return Err(e),
        }
        let mut out = Vec::new();
        for l in self.listing_lines().await? {
            let Some((n, uidl)) = wire::numbered(&l) else {
                return Err(self.protocol(format!(
                    "UIDL line {:?} is not `number id`",
                    String::from_utf8_lossy(&l)
                )));
            };
            if !wire::valid_uidl(uidl) {
                // Not a usable id: the message is then known by its content alone.
                continue;
            }
            out.push((n, uidl.to_string()));
        }
        Ok(Some(out))
    }

    /// LIST: every message's number and size.
    pub async fn list(&mut self) -> Result<Vec<(u32, u64)>> {
        self.command("LIST").await?;
        let mut out = Vec::new();
        for l in self.listing_lines().await? {
            let parsed = wire::numbered(&l).and_then(|(n, s)| Some((n, s.parse().ok()?)));
            match parsed {
                Some(p) => out.push(p),
                None => {
                    return Err(self.protocol(format!(
                        "LIST line {:?} is not `number size`",
                        String::from_utf8_lossy(&l)
                    )));
                }
            }
        }
        Ok(out)
    }

    /// TOP for several messages: each one's header and first `lines` body lines, sent back to
    /// back when the server allows PIPELINING. `cap(n)` bounds what one answer may hold.
    pub async fn top_many(
        &mut self,
        numbers: &[u32],
        lines: u32,
        cap: impl Fn(u32) -> usize,
    ) -> Result<Vec<Vec<u8>>> {
        let chunk = if self.has("PIPELINING") { PIPELINE } else { 1 };
        let mut out = Vec::with_capacity(numbers.len());
        for group in numbers.chunks(chunk) {
            for n in group {
                self.send(&format!("TOP {n} {lines}")).await?;
            }
            self.flush().await?;
            // Every answer is read, even after a refusal, so the connection stays in step.
            let mut first_err = None;
            for n in group {
                match self.status("TOP").await {
                    Ok(_) => out.push(self.multiline(cap(*n), 0).await?),
                    Err(e @ Error::Server { .. }) => {
                        first_err.get_or_insert(e);
                    }
                    Err(e) => return Err(e),
                }
            }
            if let Some(e) = first_err {
                return Err(e);
            }
        }
        Ok(out)
    }

    /// RETR: one whole message, dot-unstuffed, no larger than `cap` bytes. `expected` (the
    /// LIST size) sizes the buffer once, so a large message is never copied while it grows.
    pub async fn retr(&mut self, n: u32, expected: u64, cap: usize) -> Result<Vec<u8>> {
        self.command(&format!("RETR {n}")).await?;
        let expected = usize::try_from(expected).unwrap_or(usize::MAX);
        self.multiline(cap, expected.saturating_add(2)).await
    }

    /// QUIT: ends the session without deleting anything (nothing was marked).
    pub async fn quit(mut self) {
        if !self.broken {
            let _ = self.command("QUIT").await;
        }
        let _ = self.io.shutdown().await;
    }

    async fn greeting(&mut self) -> Result<String> {
        let host = self.endpoint.host.clone();
        match self.read_status().await {
            Ok(Status::Ok(text)) => Ok(text),
            Ok(Status::Err(text)) => Err(Error::ConnectionLost {
                host,
                detail: format!("the server refused the session at once: \"{text}\""),
            }),
            Err(Error::Protocol { detail, .. }) if self.endpoint.tls != TlsMode::Implicit => {
                Err(Error::Protocol {
                    host,
                    detail: format!(
                        "{detail} (is this a TLS port? port 995 needs `tls: implicit`)"
                    ),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// CAPA (RFC 2449). A server without it offers what RFC 1939 requires: USER, and
    /// probably TOP and UIDL, which are then tried.
    async fn capa(&mut self) -> Result<String> {
        match self.command("CAPA").await {
            Ok(_) => {
                let lines = self.listing_lines().await?;
                self.caps = wire::capabilities(&lines);
                let mut shown: Vec<&str> = self.caps.iter().map(String::as_str).collect();
                shown.retain(|c| !c.starts_with("SASL "));
                Ok(shown.join(" "))
            }
            Err(Error::Server { .. }) => {
                self.caps = ["USER", "TOP", "UIDL"].map(String::from).into();
                Ok("CAPA not offered; assuming USER, TOP and UIDL".into())
            }
            Err(e) => Err(e),
        }
    }

    async fn stls(mut self, observer: &mut dyn StepObserver) -> Result<Pop3Session> {
        let host = self.endpoint.host.clone();
        if let Err(e) = self.command("STLS").await {
            let err = match e {
                Error::Server { text, .. } => Error::Unsupported {
                    host,
                    what: format!(
                        "the server does not offer STLS on this port (\"{text}\"); use `tls: implicit` on port 995"
                    ),
                },
                other => other,
            };
            observer.step(Step::Tls, Err(&err));
            return Err(err);
        }
        let endpoint = self.endpoint.clone();
        let Transport::Plain(tcp) = self.io.into_inner().into_transport() else {
            return Err(Error::Protocol {
                host,
                detail: "STLS on a TLS connection".into(),
            });
        };
        let tls = handshake(&endpoint, tcp, observer).await?;
        let mut session = Pop3Session {
            io: BufStream::new(Stream::new(
                Transport::Tls(Box::new(tls)),
                endpoint.idle_timeout,
            )),
            endpoint,
            caps: BTreeSet::new(),
            greeting: self.greeting,
            broken: false,
            slot: self.slot,
        };
        // What was offered before TLS is forgotten (RFC 2595).
        session.capa().await?;
        Ok(session)
    }

    /// An OAuth2 token (AUTH XOAUTH2 / OAUTHBEARER) when [`crate::sasl::choose`] says so;
    /// else USER/PASS where offered (or when CAPA said nothing of SASL), else AUTH PLAIN.
    async fn login(&mut self) -> Result<String> {
        let user = self.endpoint.user.clone();
        let refused = |s: &Self, text: String| Error::Login {
            host: s.endpoint.host.clone(),
            user: user.clone(),
            hint: login_hint(&s.endpoint, &text),
            server_text: text,
        };
        let sasl_offered = self.caps.iter().any(|c| c.starts_with("SASL "));
        let has = |m: &str| self.has(&format!("SASL {m}"));
        let mechanism = crate::sasl::choose(
            self.endpoint.auth,
            sasl_offered.then_some(&has as &dyn Fn(&str) -> bool),
            self.endpoint.password.expose(),
        );
        if mechanism.is_oauth() {
            for force in [false, true] {
                let token = read_token(&self.endpoint, mechanism, force).await?;
                match self.oauth_exchange(mechanism, &token).await? {
                    Ok(()) => {
                        return Ok(format!(
                            "as {user} ({}, token from {})",
                            mechanism.name(),
                            self.endpoint.credential.describe_source()
                        ));
                    }
                    // A refused token is read again once (it may have just expired).
                    Err(_) if !force => continue,
                    Err(text) => return Err(refused(self, text)),
                }
            }
        }
        if self.has("USER") || !self.has("SASL PLAIN") {
            if user.contains(['\r', '\n', '\0']) {
                return Err(refused(self, "the user name holds a line break".into()));
            }
            match self.command(&format!("USER {user}")).await {
                Ok(_) => {}
                Err(Error::Server { text, .. }) => return Err(refused(self, text)),
                Err(e) => return Err(e),
            }
            let pass = format!("PASS {}", self.endpoint.password.expose());
            match self.secret_command(&pass).await {
                Ok(_) => Ok(format!("as {user} (USER/PASS)")),
                Err(Error::Server { text, .. }) => Err(refused(self, text)),
                Err(e) => Err(e),
            }
        } else {
            let token = base64::engine::general_purpose::STANDARD
                .encode(format!("\0{user}\0{}", self.endpoint.password.expose()));
            match self.secret_command(&format!("AUTH PLAIN {token}")).await {
                Ok(_) => Ok(format!("as {user} (AUTH PLAIN)")),
                Err(Error::Server { text, .. }) => Err(refused(self, text)),
                Err(e) => Err(e),
            }
        }
    }

    /// AUTH with an OAuth2 mechanism: Ok(Err(server words)) when the token is refused.
    async fn oauth_exchange(
        &mut self,
        mechanism: crate::sasl::Mechanism,
        token: &crate::secret::Secret,
    ) -> Result<std::result::Result<(), String>> {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        self.send(&format!("AUTH {}", mechanism.name())).await?;
        self.flush().await?;
        if let Some(refusal) = self.continuation().await? {
            return Ok(Err(refusal));
        }
        let first = crate::sasl::initial_response(
            mechanism,
            &self.endpoint.user,
            token.expose(),
            &self.endpoint.host,
            self.endpoint.port,
        );
        self.send_hidden(&b64(&first)).await?;
        let mut line = Vec::new();
        self.read_line(&mut line, wire::MAX_LINE).await?;
        if let Some(challenge) = line.strip_prefix(b"+ ").or(line.strip_prefix(b"+\r\n")) {
            // The failure challenge: acknowledged, then the server says no.
            let said = base64::engine::general_purpose::STANDARD
                .decode(String::from_utf8_lossy(challenge).trim())
                .map(|c| crate::sasl::describe_challenge(&c))
                .unwrap_or_default();
            self.send_hidden(&b64(mechanism.failure_ack())).await?;
            return Ok(match self.status("AUTH").await {
                Ok(_) => Ok(()),
                Err(Error::Server { text, .. }) => Err(format!("{text} ({said})")),
                Err(e) => return Err(e),
            });
        }
        match wire::status(&line) {
            Some(Status::Ok(_)) => Ok(Ok(())),
            Some(Status::Err(text)) => Ok(Err(text)),
            None => Err(self.protocol("AUTH answered neither +OK, -ERR nor a challenge".into())),
        }
    }

    /// Reads the `+ ` continuation of an AUTH; Some(words) when the server refused instead.
    async fn continuation(&mut self) -> Result<Option<String>> {
        let mut line = Vec::new();
        self.read_line(&mut line, wire::MAX_LINE).await?;
        if line.starts_with(b"+ ") || line.starts_with(b"+\r") {
            return Ok(None);
        }
        match wire::status(&line) {
            Some(Status::Err(text)) => Ok(Some(text)),
            _ => Err(self.protocol("AUTH answered neither a continuation nor -ERR".into())),
        }
    }

    /// Sends a line that carries a secret: errors name it "authentication", never its text.
    async fn send_hidden(&mut self, line: &str) -> Result<()> {
        if line.contains(['\r', '\n', '\0']) {
            return Err(Error::Invalid(
                "an authentication line holds a line break".into(),
            ));
        }
        let mut bytes = line.as_bytes().to_vec();
        bytes.extend_from_slice(b"\r\n");
        let r = self.io.write_all(&bytes).await;
        r.map_err(|e| self.io_failure("sending authentication", e))?;
        self.flush().await
    }

    /// Sends a command and reads its status line; `-ERR` becomes [`Error::Server`].
    async fn command(&mut self, line: &str) -> Result<String> {
        self.send(line).await?;
        self.flush().await?;
        self.status(verb(line)).await
    }

    /// A command that carries the password: never shown in any error.
    async fn secret_command(&mut self, line: &str) -> Result<String> {
        if line.contains(['\r', '\n', '\0']) {
            return Err(Error::Invalid(
                "the password holds a line break, which POP3 cannot send".into(),
            ));
        }
        self.command(line).await
    }

    async fn send(&mut self, line: &str) -> Result<()> {
        if self.broken {
            return Err(Error::ConnectionLost {
                host: self.endpoint.host.clone(),
                detail: "the connection failed earlier and is not reused".into(),
            });
        }
        // Nothing read from a server or a file reaches a command; this keeps it so.
        if line.contains(['\r', '\n', '\0']) {
            return Err(Error::Invalid(format!(
                "refusing to send a {} command holding a line break",
                verb(line)
            )));
        }
        let what = verb(line).to_string();
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        let r = self.io.write_all(&bytes).await;
        r.map_err(|e| self.io_failure(&format!("sending {what}"), e))
    }

    async fn flush(&mut self) -> Result<()> {
        let r = self.io.flush().await;
        r.map_err(|e| self.io_failure("sending", e))
    }

    async fn status(&mut self, verb: &str) -> Result<String> {
        match self.read_status().await? {
            Status::Ok(text) => Ok(text),
            Status::Err(text) => Err(Error::Server {
                host: self.endpoint.host.clone(),
                command: verb.to_string(),
                status: "-ERR",
                code: response_code(&text),
                hint: err_hint(&self.endpoint, &text),
                text,
            }),
        }
    }

    async fn read_status(&mut self) -> Result<Status> {
        let mut line = Vec::new();
        self.read_line(&mut line, wire::MAX_LINE).await?;
        match wire::status(&line) {
            Some(s) => Ok(s),
            None => Err(self.protocol(format!(
                "expected +OK or -ERR, got {:?}",
                String::from_utf8_lossy(&line[..line.len().min(200)])
            ))),
        }
    }

    /// The lines of a CAPA, UIDL or LIST answer.
    async fn listing_lines(&mut self) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        loop {
            let mut l = Vec::new();
            self.read_line(&mut l, wire::MAX_LINE).await?;
            match wire::line(&l) {
                Line::End => return Ok(out),
                Line::Data(d) => out.push(d.to_vec()),
            }
        }
    }

    /// A multi-line answer, dot-unstuffed, each line read straight into the result.
    async fn multiline(&mut self, cap: usize, expected: usize) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(expected.min(cap));
        loop {
            let start = out.len();
            self.read_line(&mut out, cap.saturating_add(3)).await?;
            match wire::line(&out[start..]) {
                Line::End => {
                    out.truncate(start);
                    return Ok(out);
                }
                Line::Data(d) if d.len() < out.len() - start => {
                    out.remove(start);
                }
                Line::Data(_) => {}
            }
            if out.len() > cap {
                return Err(self.protocol(format!(
                    "the server sent more than the {cap} bytes it announced"
                )));
            }
        }
    }

    /// Appends one line (with its end) to `out`, failing once `out` would pass `cap`.
    async fn read_line(&mut self, out: &mut Vec<u8>, cap: usize) -> Result<()> {
        loop {
            let buf = match self.io.fill_buf().await {
                Ok(b) => b,
                Err(e) => return Err(self.io_failure("reading", e)),
            };
            if buf.is_empty() {
                self.broken = true;
                return Err(Error::ConnectionLost {
                    host: self.endpoint.host.clone(),
                    detail: "closed in the middle of an answer".into(),
                });
            }
            let (take, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(p) => (p + 1, true),
                None => (buf.len(), false),
            };
            if out.len() + take > cap {
                return Err(self.protocol(format!("an answer passed its limit of {cap} bytes")));
            }
            out.extend_from_slice(&buf[..take]);
            self.io.consume(take);
            if done {
                return Ok(());
            }
        }
    }

    fn io_failure(&mut self, what: &str, e: std::io::Error) -> Error {
        self.broken = true;
        let host = self.endpoint.host.clone();
        match e.kind() {
            std::io::ErrorKind::TimedOut => Error::Timeout {
                host,
                what: what.to_string(),
                after: self.endpoint.idle_timeout,
            },
            std::io::ErrorKind::InvalidData => Error::Protocol {
                host,
                detail: format!("{what}: {e}"),
            },
            _ => Error::ConnectionLost {
                host,
                detail: format!("{what}: {e}"),
            },
        }
    }

    fn protocol(&mut self, detail: String) -> Error {
        self.broken = true;
        Error::Protocol {
            host: self.endpoint.host.clone(),
            detail,
        }
    }
}

fn verb(line: &str) -> &str {
    line.split(' ').next().unwrap_or(line)
}

/// `[IN-USE]`, `[AUTH]`, `[SYS/TEMP]` (RFC 2449, 3206).
fn response_code(text: &str) -> Option<String> {
    let rest = text.strip_prefix('[')?;
    Some(rest[..rest.find(']')?].to_string())
}

fn err_hint(endpoint: &Endpoint, text: &str) -> Option<String> {
    match response_code(text).as_deref() {
        Some("IN-USE") => Some(
            "another program holds the mailbox open (a mail client checking POP3): close it and run again".into(),
        ),
        Some("SYS/TEMP") => Some("the server has a passing problem: run again later".into()),
        Some("AUTH") => Some(login_hint(endpoint, text)),
        _ => None,
    }
}

fn login_hint(endpoint: &Endpoint, server_text: &str) -> String {
    login_hint_for(endpoint, server_text, "hint-login-generic-pop3")
}
