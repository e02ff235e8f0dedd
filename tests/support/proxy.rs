//! A TCP proxy in front of Dovecot's plain port that adds provider behaviour no real server
//! here shows ([`Quirk`]), and records every command it sees.
//!
//! Each client connection gets its own upstream connection and two threads. Both directions
//! are framed by line with IMAP literal awareness, so message bytes inside literals are passed
//! through untouched and never taken for commands or responses:
//! - client -> server: after a line ending in a synchronising literal `{n}` the proxy waits for
//!   the server's `+` continuation (or its tagged refusal) before it expects the n bytes;
//!   a LITERAL+ `{n+}` literal follows at once.
//! - server -> client: a whole response (lines and literals) is written under one lock, so
//!   replies the proxy makes up itself never land inside a server response.
//!
//! ```ignore
//! let proxy = Proxy::start(dovecot().plain_port(), vec![Quirk::RequireIdBeforeSelect]);
//! // point the tool at 127.0.0.1:proxy.port() (plain), then:
//! assert!(proxy.commands().iter().any(|c| c.contains(" ID ")));
//! ```

#![allow(dead_code)] // Each test binary uses a different part of the support code.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};

use super::imap_client::literal_at_end;

/// One provider behaviour the proxy imposes on top of Dovecot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quirk {
    /// NetEase (Coremail): SELECT/EXAMINE before an `ID` command on the same connection gets
    /// `TAG NO SELECT Unsafe Login. Please contact kefu@188.com for help` (not forwarded).
    RequireIdBeforeSelect,
    /// QQ: a `UID FETCH/STORE/COPY/MOVE/EXPUNGE/SEARCH` whose set has a descending range `a:b`
    /// (a > b, or `*:b`; `a:*` is fine) gets `TAG BAD UID parameters!` (not forwarded).
    RejectDescendingUidSets,
    /// Drops the connection (both sides) once exactly `bytes` server->client bytes have been
    /// forwarded on it, for the first `times` connections that get that far.
    CutAfterServerBytes { bytes: usize, times: usize },
    /// An APPEND whose message literal is larger than this gets
    /// `TAG NO [LIMIT] Message too large`: instead of the `+` continuation for `{n}`, or after
    /// swallowing the literal for `{n+}`. Checked on the command's first line (where every
    /// client that quotes the mailbox name announces the message literal).
    RejectAppendsLargerThan(usize),
    /// A server that ignores partial ranges: `BODY.PEEK[]<o.n>` is forwarded as `BODY.PEEK[]`,
    /// so every part request is answered with the whole message.
    IgnoreFetchRanges,
    /// `APPENDLIMIT=n` is added to every CAPABILITY the server sends (RFC 7889).
    AdvertiseAppendLimit(usize),
    /// The first `times` APPENDs get `TAG NO [UNAVAILABLE] Throttled, try again later` (not
    /// forwarded), as a provider answers a client it rate-limits.
    ThrottleAppends { times: usize },
    /// The server's FETCH responses about this UID are garbled into something no IMAP parser
    /// accepts (`FETCH ((`); with `body_only`, only those carrying the whole message.
    GarbleFetchOf { uid: u32, body_only: bool },
    /// Once `after` bytes went to the client on a connection, the rest goes one byte every
    /// `every_ms`: never silent long enough for an idle timeout, never finishing either.
    Trickle { after: usize, every_ms: u64 },
    /// Before each `OK Fetch completed`, `lines` untagged responses no command asked for.
    FloodBeforeFetchDone { lines: usize },
    /// Gmail: `X-GM-EXT-1` in CAPABILITY, special-use on `[Gmail]/...` folders, and
    /// `X-GM-MSGID`/`X-GM-LABELS` on FETCH answers from this table, keyed by (decoded folder
    /// name, UID); the items are taken out of the FETCH commands Dovecot sees.
    Gmail(GmailTable),
}

/// [`Quirk::Gmail`]'s table: (decoded folder, UID) -> (X-GM-MSGID, X-GM-LABELS).
pub type GmailTable = BTreeMap<(String, u32), (u64, Vec<String>)>;

/// The running proxy; dropping it closes the listener and every connection through it.
pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("port", &self.port)
            .field("quirks", &self.shared.quirks)
            .finish_non_exhaustive()
    }
}

struct Shared {
    upstream_port: u16,
    quirks: Vec<Quirk>,
    commands: Mutex<Vec<String>>,
    connections: AtomicUsize,
    /// Most connections open at one time.
    most_open: AtomicUsize,
    cuts_done: AtomicUsize,
    throttled: AtomicUsize,
    stopping: AtomicBool,
    /// Sockets of live connections, so that dropping the proxy can close them.
    live: Mutex<HashMap<usize, (TcpStream, TcpStream)>>,
}

/// What the server->client side tells the client->server side.
#[derive(Debug)]
enum Event {
    /// A `+` continuation request.
    Continuation,
    /// A tagged completion, with its tag.
    Tagged(String),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Proxy {
    /// Listens on a free loopback port and forwards each connection to 127.0.0.1:`upstream_port`.
    pub fn start(upstream_port: u16, quirks: Vec<Quirk>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy: bind a loopback port");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            upstream_port,
            quirks,
            commands: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            most_open: AtomicUsize::new(0),
            cuts_done: AtomicUsize::new(0),
            throttled: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            live: Mutex::new(HashMap::new()),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name(format!("proxy-{port}-accept"))
            .spawn(move || accept_loop(listener, accept_shared))
            .unwrap();
        Proxy {
            port,
            shared,
            accept: Some(accept),
        }
    }

    /// The port to connect to (127.0.0.1, plain IMAP).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every client command seen, in order, CRLF removed, including those the proxy refused.
    /// Literal contents are left out (the `{n}` markers stay); LOGIN passwords and SASL data
    /// read `***`.
    pub fn commands(&self) -> Vec<String> {
        lock(&self.shared.commands).clone()
    }

    /// How many client connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// The most connections clients held open at the same time (counted from the kernel's
    /// table of the clients' sockets each time one is accepted).
    pub fn most_open(&self) -> usize {
        self.shared.most_open.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes accept()
        for (client, upstream) in lock(&self.shared.live).values() {
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream.shutdown(Shutdown::Both);
        }
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

impl Shared {
    fn has(&self, quirk: &Quirk) -> bool {
        self.quirks.contains(quirk)
    }

    fn append_limit(&self) -> Option<usize> {
        self.quirks.iter().find_map(|q| match q {
            Quirk::RejectAppendsLargerThan(n) => Some(*n),
            _ => None,
        })
    }

    fn garble(&self) -> Option<(u32, bool)> {
        self.quirks.iter().find_map(|q| match q {
            Quirk::GarbleFetchOf { uid, body_only } => Some((*uid, *body_only)),
            _ => None,
        })
    }

    fn trickle(&self) -> Option<(usize, u64)> {
        self.quirks.iter().find_map(|q| match q {
            Quirk::Trickle { after, every_ms } => Some((*after, *every_ms)),
            _ => None,
        })
    }

    fn flood(&self) -> Option<usize> {
        self.quirks.iter().find_map(|q| match q {
            Quirk::FloodBeforeFetchDone { lines } => Some(*lines),
            _ => None,
        })
    }

    fn gmail(&self) -> Option<&GmailTable> {
        self.quirks.iter().find_map(|q| match q {
            Quirk::Gmail(t) => Some(t),
            _ => None,
        })
    }

    fn advertised_limit(&self) -> Option<usize> {
        self.quirks.iter().find_map(|q| match q {
            Quirk::AdvertiseAppendLimit(n) => Some(*n),
            _ => None,
        })
    }

    /// Whether this APPEND is one of the throttled ones.
    fn throttle(&self) -> bool {
        let times = self.quirks.iter().find_map(|q| match q {
            Quirk::ThrottleAppends { times } => Some(*times),
            _ => None,
        });
        times.is_some_and(|t| {
            self.throttled
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
                    (c < t).then_some(c + 1)
                })
                .is_ok()
        })
    }

    fn cut(&self) -> Option<(usize, usize)> {
        self.quirks.iter().find_map(|q| match q {
            Quirk::CutAfterServerBytes { bytes, times } => Some((*bytes, *times)),
            _ => None,
        })
    }

    fn record(&self, command: String) -> usize {
        let mut commands = lock(&self.commands);
        commands.push(command);
        commands.len() - 1
    }

    fn extend_record(&self, index: usize, more: &str) {
        if let Some(c) = lock(&self.commands).get_mut(index) {
            c.push_str(more);
        }
    }
}

/// Connections clients hold open to `port` right now, as the kernel sees the client side: a
/// client's close shows here at once, where the proxy's own threads notice it a moment later.
fn clients_open(port: u16) -> usize {
    let port_of = |addr: &str| {
        addr.rsplit(':')
            .next()
            .and_then(|p| u16::from_str_radix(p, 16).ok())
    };
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .map(|table| {
            table
                .lines()
                .skip(1)
                .filter(|l| {
                    let cols: Vec<&str> = l.split_whitespace().collect();
                    // Established (01), to the proxy's port, from another port (a client).
                    cols.len() > 3
                        && cols[3] == "01"
                        && port_of(cols[2]) == Some(port)
                        && port_of(cols[1]) != Some(port)
                })
                .count()
        })
        .sum()
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for (id, stream) in listener.incoming().enumerate() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(client) = stream else { continue };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        if let Ok(addr) = client.local_addr() {
            shared
                .most_open
                .fetch_max(clients_open(addr.port()), Ordering::SeqCst);
        }
        let shared = Arc::clone(&shared);
        let _ = thread::Builder::new()
            .name(format!("proxy-conn-{id}"))
            .spawn(move || serve(id, client, shared));
    }
}

fn serve(id: usize, client: TcpStream, shared: Arc<Shared>) {
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", shared.upstream_port)) else {
        return; // dropping `client` closes it: the client sees the server as unreachable
    };
    let clones = (|| {
        let _ = client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        Ok::<_, io::Error>((
            client.try_clone()?,
            upstream.try_clone()?,
            client.try_clone()?,
            upstream.try_clone()?,
            client.try_clone()?,
            upstream.try_clone()?,
        ))
    })();
    let Ok((client_out, upstream_in, client_cut, upstream_cut, client_live, upstream_live)) =
        clones
    else {
        return;
    };
    lock(&shared.live).insert(id, (client_live, upstream_live));
    let client_out = Arc::new(Mutex::new(client_out));
    let (events_tx, events_rx) = mpsc::channel();
    // The folder the client selected last (decoded), for [`Quirk::Gmail`].
    let selected = Arc::new(Mutex::new(String::new()));

    let s2c = {
        let shared = Arc::clone(&shared);
        let client_out = Arc::clone(&client_out);
        let selected = Arc::clone(&selected);
        thread::Builder::new()
            .name(format!("proxy-conn-{id}-s2c"))
            .spawn(move || {
                let _ = server_to_client(
                    BufReader::new(upstream_in),
                    &client_out,
                    &events_tx,
                    &shared,
                    (&client_cut, &upstream_cut),
                    &selected,
                );
                // Upstream closed (LOGOUT, kick, cut): the client must see it too.
                let _ = client_cut.shutdown(Shutdown::Both);
                let _ = upstream_cut.shutdown(Shutdown::Both);
            })
    };
    let mut upstream_w = upstream;
    let _ = client_to_server(
        BufReader::new(client),
        &mut upstream_w,
        &client_out,
        &events_rx,
        &shared,
        &selected,
    );
    // The client is done: let the server see EOF, then wait for its side to wind down.
    let _ = upstream_w.shutdown(Shutdown::Write);
    if let Ok(s2c) = s2c {
        let _ = s2c.join();
    }
    lock(&shared.live).remove(&id);
}

/// Forwards whole responses, counting bytes for [`Quirk::CutAfterServerBytes`].
fn server_to_client(
    mut upstream: BufReader<TcpStream>,
    client: &Mutex<TcpStream>,
    events: &Sender<Event>,
    shared: &Shared,
    sockets: (&TcpStream, &TcpStream),
    selected: &Mutex<String>,
) -> io::Result<()> {
    let mut cutter = Cutter {
        left: shared.cut().map(|(bytes, _)| bytes),
        shared,
        sockets,
        trickle: shared.trickle(),
        sent: 0,
    };
    let mut line = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        line.clear();
        if upstream.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        // Tell the other side before the client can see this and send its next command.
        if line.starts_with(b"+") {
            let _ = events.send(Event::Continuation);
        } else if !line.starts_with(b"*") {
            let tag = line.split(|&b| b == b' ').next().unwrap_or_default();
            let _ = events.send(Event::Tagged(String::from_utf8_lossy(tag).into_owned()));
        }
        if let Some(n) = shared.advertised_limit() {
            line = with_append_limit(&line, n);
        }
        if let Some((uid, body_only)) = shared.garble() {
            line = garbled(&line, uid, body_only);
        }
        if let Some(table) = shared.gmail() {
            line = gmail_response(&line, table, &lock(selected));
        }
        let mut out = lock(client);
        if let Some(n) = shared.flood()
            && !line.starts_with(b"*")
            && String::from_utf8_lossy(&line).contains("OK Fetch completed")
        {
            for _ in 0..n {
                cutter.forward(&mut out, b"* OK still working\r\n")?;
            }
        }
        cutter.forward(&mut out, &line)?;
        while let Some((mut left, _)) = literal_at_end(&line) {
            while left > 0 {
                let want = left.min(chunk.len());
                let n = upstream.read(&mut chunk[..want])?;
                if n == 0 {
                    return Ok(());
                }
                cutter.forward(&mut out, &chunk[..n])?;
                left -= n;
            }
            line.clear();
            if upstream.read_until(b'\n', &mut line)? == 0 {
                return Ok(());
            }
            cutter.forward(&mut out, &line)?;
        }
        out.flush()?;
    }
}

struct Cutter<'a> {
    /// Bytes still to forward before cutting; `None` once this connection is spared.
    left: Option<usize>,
    shared: &'a Shared,
    sockets: (&'a TcpStream, &'a TcpStream),
    /// [`Quirk::Trickle`]: after how many bytes, and the pause between bytes then.
    trickle: Option<(usize, u64)>,
    sent: usize,
}

impl Cutter<'_> {
    fn forward(&mut self, out: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
        if let Some(left) = self.left {
            if bytes.len() < left {
                self.left = Some(left - bytes.len());
            } else {
                let times = self.shared.cut().map_or(0, |(_, t)| t);
                let claimed = self
                    .shared
                    .cuts_done
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
                        (c < times).then_some(c + 1)
                    })
                    .is_ok();
                if claimed {
                    out.write_all(&bytes[..left])?;
                    out.flush()?;
                    let _ = self.sockets.0.shutdown(Shutdown::Both);
                    let _ = self.sockets.1.shutdown(Shutdown::Both);
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "cut by proxy",
                    ));
                }
                self.left = None;
            }
        }
        if let Some((after, every_ms)) = self.trickle
            && self.sent + bytes.len() > after
        {
            for &b in bytes {
                if self.sent >= after {
                    out.flush()?;
                    std::thread::sleep(std::time::Duration::from_millis(every_ms));
                }
                out.write_all(&[b])?;
                self.sent += 1;
            }
            return Ok(());
        }
        self.sent += bytes.len();
        out.write_all(bytes)
    }
}

/// The first words of a command line: tag, command (uppercased) and the rest split on spaces.
struct CommandLine {
    tag: String,
    name: String,
    args: Vec<String>,
}

impl CommandLine {
    fn parse(line: &[u8]) -> CommandLine {
        let text = String::from_utf8_lossy(trim_crlf(line)).into_owned();
        let mut words = text.split(' ').map(str::to_string);
        let tag = words.next().unwrap_or_default();
        let name = words.next().unwrap_or_default().to_ascii_uppercase();
        CommandLine {
            tag,
            name,
            args: words.collect(),
        }
    }

    /// The subcommand of `UID ...`, uppercased.
    fn uid_command(&self) -> Option<String> {
        (self.name == "UID").then(|| self.args.first().map(|s| s.to_ascii_uppercase()))?
    }

    fn has_descending_uid_set(&self) -> bool {
        match self.uid_command().as_deref() {
            Some("FETCH" | "STORE" | "COPY" | "MOVE" | "EXPUNGE") => {
                self.args.get(1).is_some_and(|s| is_descending(s))
            }
            Some("SEARCH") => self.args[1..]
                .iter()
                .any(|w| is_descending(w.trim_matches(['(', ')']))),
            _ => false,
        }
    }

    /// What [`Proxy::commands`] shows: secrets replaced by `***`.
    fn redacted(&self, line: &[u8]) -> String {
        let text = String::from_utf8_lossy(trim_crlf(line)).into_owned();
        match self.name.as_str() {
            "LOGIN" => {
                let rest = text.splitn(3, ' ').nth(2).unwrap_or_default();
                let user = first_token(rest);
                let verb = text.split(' ').nth(1).unwrap_or_default();
                format!("{} {verb} {user} ***", self.tag)
            }
            "AUTHENTICATE" if self.args.len() > 1 => {
                let verb = text.split(' ').nth(1).unwrap_or_default();
                format!("{} {verb} {} ***", self.tag, self.args[0])
            }
            _ => text,
        }
    }
}

/// A quoted string (to its closing quote) or an atom (to the next space).
fn first_token(s: &str) -> &str {
    if let Some(body) = s.strip_prefix('"') {
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => return &s[..i + 2],
                _ => escaped = false,
            }
        }
        s
    } else {
        s.split(' ').next().unwrap_or_default()
    }
}

/// Whether a sequence set has a range going down: `5:1` or `*:3` (but `3:*` is fine).
fn is_descending(set: &str) -> bool {
    if set.is_empty()
        || !set
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ':' | ',' | '*'))
    {
        return false;
    }
    set.split(',').any(|part| match part.split_once(':') {
        Some((_, "*")) => false,
        Some(("*", _)) => true,
        Some((a, b)) => matches!((a.parse::<u64>(), b.parse::<u64>()), (Ok(a), Ok(b)) if a > b),
        None => false,
    })
}

/// An untagged FETCH response about `uid` made unparseable.
fn garbled(line: &[u8], uid: u32, body_only: bool) -> Vec<u8> {
    let text = String::from_utf8_lossy(line);
    let about = text.starts_with("* ")
        && text.contains(" FETCH (")
        && (text.contains(&format!("UID {uid} ")) || text.contains(&format!("UID {uid})")));
    // The bare `(UID n)` of listing UIDs is left alone: only answers carrying data are garbled.
    let data = text.contains("RFC822.SIZE") || text.contains("BODY[");
    if !about || !data || (body_only && !text.contains("BODY[]")) {
        return line.to_vec();
    }
    text.replacen(" FETCH (", " FETCH ((", 1).into_bytes()
}

/// `BODY.PEEK[]<o.n>` -> `BODY.PEEK[]` in a command line.
fn without_ranges(line: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(line).into_owned();
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("BODY.PEEK[]<") {
        let end = rest[at..].find('>').map_or(rest.len(), |e| at + e + 1);
        out.push_str(&rest[..at]);
        out.push_str("BODY.PEEK[]");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out.into_bytes()
}

/// A response line with `APPENDLIMIT=n` added to its CAPABILITY list, if it has one.
fn with_append_limit(line: &[u8], n: usize) -> Vec<u8> {
    let text = String::from_utf8_lossy(line);
    let Some(at) = text.find("CAPABILITY ") else {
        return line.to_vec();
    };
    let end = text[at..]
        .find([']', '\r', '\n'])
        .map_or(text.len(), |e| at + e);
    format!("{} APPENDLIMIT={n}{}", &text[..end], &text[end..]).into_bytes()
}

fn trim_crlf(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn client_to_server(
    mut client: BufReader<TcpStream>,
    upstream: &mut TcpStream,
    client_out: &Mutex<TcpStream>,
    events: &Receiver<Event>,
    shared: &Shared,
    selected: &Mutex<String>,
) -> io::Result<()> {
    let mut id_seen = false;
    // Tag of an AUTHENTICATE in progress: lines until its completion are SASL data.
    let mut sasl_tag: Option<String> = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        if client.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        if let Some(tag) = &sasl_tag {
            // The server side reports completion before the client can see it, so a finished
            // exchange is already in the channel when the next real command arrives.
            if events
                .try_iter()
                .any(|e| matches!(e, Event::Tagged(t) if t == *tag))
            {
                sasl_tag = None;
            } else {
                shared.record("***".to_string());
                upstream.write_all(&line)?;
                continue;
            }
        }

        let command = CommandLine::parse(&line);
        let index = shared.record(command.redacted(&line));
        let first_literal = literal_at_end(&line);
        let refusal = if shared.has(&Quirk::RequireIdBeforeSelect)
            && !id_seen
            && matches!(command.name.as_str(), "SELECT" | "EXAMINE")
        {
            Some("NO SELECT Unsafe Login. Please contact kefu@188.com for help")
        } else if shared.has(&Quirk::RejectDescendingUidSets) && command.has_descending_uid_set() {
            Some("BAD UID parameters!")
        } else if command.name == "APPEND"
            && matches!((shared.append_limit(), first_literal), (Some(max), Some((n, _))) if n > max)
        {
            Some("NO [LIMIT] Message too large")
        } else if command.name == "APPEND" && shared.throttle() {
            Some("NO [UNAVAILABLE] Throttled, try again later")
        } else {
            None
        };
        match command.name.as_str() {
            "ID" => id_seen = true,
            "AUTHENTICATE" => sasl_tag = Some(command.tag.clone()),
            _ => {}
        }

        // A MULTIAPPEND with LITERAL+ carries several messages in one command: read it whole
        // and refuse it (as a server would, all or nothing) when any message is too large.
        if refusal.is_none()
            && command.name == "APPEND"
            && let (Some(max), Some((_, false))) = (shared.append_limit(), first_literal)
        {
            let mut buffered = Vec::new();
            let mut current = std::mem::take(&mut line);
            let mut too_large = false;
            loop {
                buffered.extend_from_slice(&current);
                let Some((n, _)) = literal_at_end(&current) else {
                    break;
                };
                too_large |= n > max;
                let start = buffered.len();
                buffered.resize(start + n, 0);
                client.read_exact(&mut buffered[start..])?;
                current.clear();
                if client.read_until(b'\n', &mut current)? == 0 {
                    return Ok(());
                }
            }
            if too_large {
                let mut out = lock(client_out);
                out.write_all(
                    format!("{} NO [LIMIT] Message too large\r\n", command.tag).as_bytes(),
                )?;
                out.flush()?;
            } else {
                upstream.write_all(&buffered)?;
            }
            let _ = index;
            continue;
        }

        if let Some(refusal) = refusal {
            // LITERAL+ data arrives unasked and must be swallowed; after a synchronising `{n}`
            // the client waits for a `+` that never comes and takes this reply instead.
            let mut current = line.clone();
            while let Some((n, false)) = literal_at_end(&current) {
                io::copy(&mut (&mut client).take(n as u64), &mut io::sink())?;
                current.clear();
                if client.read_until(b'\n', &mut current)? == 0 {
                    return Ok(());
                }
            }
            let mut out = lock(client_out);
            out.write_all(format!("{} {refusal}\r\n", command.tag).as_bytes())?;
            out.flush()?;
            continue;
        }

        let secret = matches!(command.name.as_str(), "LOGIN" | "AUTHENTICATE");
        let mut current = std::mem::take(&mut line);
        if shared.gmail().is_some() {
            if matches!(command.name.as_str(), "SELECT" | "EXAMINE") {
                *lock(selected) = mailbox_argument(&current);
            }
            current = without_gmail_items(&current);
        }
        if shared.has(&Quirk::IgnoreFetchRanges) && command.name == "UID" {
            current = without_ranges(&current);
        }
        loop {
            let Some((n, sync)) = literal_at_end(&current) else {
                upstream.write_all(&current)?;
                break;
            };
            if sync {
                // Anything already queued predates this line and cannot answer it.
                while events.try_recv().is_ok() {}
            }
            upstream.write_all(&current)?;
            if sync {
                let go_ahead = loop {
                    match events.recv() {
                        Ok(Event::Continuation) => break true,
                        Ok(Event::Tagged(t)) if t == command.tag => break false,
                        Ok(_) => continue,
                        Err(_) => return Ok(()), // server side gone
                    }
                };
                if !go_ahead {
                    break; // refused by the server: the client will not send the literal
                }
            }
            let copied = io::copy(&mut (&mut client).take(n as u64), upstream)?;
            if copied < n as u64 {
                return Ok(());
            }
            current.clear();
            if client.read_until(b'\n', &mut current)? == 0 {
                return Ok(());
            }
            if !secret {
                shared.extend_record(index, &String::from_utf8_lossy(trim_crlf(&current)));
            }
        }
        line = current;
    }
}

/// The decoded mailbox of `TAG SELECT "name"` (or an atom).
fn mailbox_argument(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(trim_crlf(line)).into_owned();
    let arg = text.splitn(3, ' ').nth(2).unwrap_or("").trim();
    let wire = arg
        .strip_prefix('"')
        .and_then(|a| a.strip_suffix('"'))
        .map(|a| a.replace("\\\"", "\"").replace("\\\\", "\\"))
        .unwrap_or_else(|| arg.to_string());
    super::mutf7_decode(&wire).unwrap_or(wire)
}

/// A FETCH command without Gmail's items, which Dovecot does not know.
fn without_gmail_items(line: &[u8]) -> Vec<u8> {
    let mut text = String::from_utf8_lossy(line).into_owned();
    for item in [" X-GM-MSGID", " X-GM-LABELS", " X-GM-THRID"] {
        text = text.replace(item, "");
    }
    text.into_bytes()
}

/// A server line as Gmail would send it: the extension advertised, its folders marked, and
/// FETCH answers carrying the message's id and labels.
fn gmail_response(line: &[u8], table: &GmailTable, selected: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(line).into_owned();
    if text.starts_with("* CAPABILITY ") {
        return text.replacen("\r\n", " X-GM-EXT-1\r\n", 1).into_bytes();
    }
    if text.contains("[CAPABILITY ") {
        return text.replacen("] ", " X-GM-EXT-1] ", 1).into_bytes();
    }
    if text.starts_with("* LIST (") {
        for (name, attr) in [
            ("[Gmail]/All Mail", "\\All"),
            ("[Gmail]/Sent Mail", "\\Sent"),
            ("[Gmail]/Starred", "\\Flagged"),
            ("[Gmail]/Important", "\\Important"),
        ] {
            if text.contains(&format!("\"{name}\"")) && !text.contains(attr) {
                return text
                    .replacen("* LIST (", &format!("* LIST ({attr} "), 1)
                    .into_bytes();
            }
        }
        return line.to_vec();
    }
    let Some(rest) = text.strip_prefix("* ") else {
        return line.to_vec();
    };
    let Some(at) = rest.find(" FETCH (") else {
        return line.to_vec();
    };
    let items = &rest[at + " FETCH (".len()..];
    let uid = items
        .split([' ', ')'])
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[0] == "UID")
        .and_then(|w| w[1].parse::<u32>().ok());
    let Some((msgid, labels)) = uid.and_then(|u| table.get(&(selected.to_string(), u))) else {
        return line.to_vec();
    };
    let labels: Vec<String> = labels
        .iter()
        .map(|l| {
            if l.starts_with('\\') {
                l.clone()
            } else {
                format!("\"{l}\"")
            }
        })
        .collect();
    text.replacen(
        " FETCH (",
        &format!(
            " FETCH (X-GM-MSGID {msgid} X-GM-LABELS ({}) ",
            labels.join(" ")
        ),
        1,
    )
    .into_bytes()
}
