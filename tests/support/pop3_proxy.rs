//! A line-based TCP proxy in front of Dovecot's plain POP3 port that plays a POP3 server's
//! quirks: no UIDL, a connection cut in the middle of an answer, a slow RETR. It records the
//! commands it saw (passwords masked), so tests can prove nothing but reads was sent.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pop3Quirk {
    /// CAPA does not list UIDL and the UIDL command gets `-ERR` (RFC 1939 makes it optional).
    NoUidl,
    /// The first `times` connections that pass `bytes` server->client bytes are cut there.
    CutAfterServerBytes { bytes: usize, times: usize },
    /// Each RETR waits this long before it is forwarded.
    DelayRetr(Duration),
}

pub struct Pop3Proxy {
    port: u16,
    shared: Arc<Shared>,
}

struct Shared {
    upstream: u16,
    quirks: Vec<Pop3Quirk>,
    commands: Mutex<Vec<String>>,
    cuts: AtomicUsize,
    stopping: AtomicBool,
}

impl Pop3Proxy {
    pub fn start(upstream: u16, quirks: Vec<Pop3Quirk>) -> Pop3Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            upstream,
            quirks,
            commands: Mutex::new(Vec::new()),
            cuts: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
        });
        let s = shared.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(client) = conn {
                    let s = s.clone();
                    thread::spawn(move || serve(client, s));
                }
            }
        });
        Pop3Proxy { port, shared }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every command seen, line end removed; `PASS` and `AUTH` arguments read `***`.
    pub fn commands(&self) -> Vec<String> {
        self.shared.commands.lock().unwrap().clone()
    }

    /// How many connections were cut by [`Pop3Quirk::CutAfterServerBytes`].
    pub fn cuts(&self) -> usize {
        self.shared.cuts.load(Ordering::SeqCst)
    }
}

impl Drop for Pop3Proxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(client: TcpStream, s: Arc<Shared>) {
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", s.upstream)) else {
        return;
    };
    let to_client = Arc::new(Mutex::new(client.try_clone().unwrap()));
    let (c2, u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    let (down_client, down_s) = (to_client.clone(), s.clone());
    let down = thread::spawn(move || server_to_client(u2, down_client, c2, down_s));
    client_to_server(client, upstream, to_client, s);
    let _ = down.join();
}

fn client_to_server(
    client: TcpStream,
    mut upstream: TcpStream,
    to_client: Arc<Mutex<TcpStream>>,
    s: Arc<Shared>,
) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        let verb = text
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let shown = match verb.as_str() {
            "PASS" | "AUTH" => format!("{verb} ***"),
            _ => text.clone(),
        };
        s.commands.lock().unwrap().push(shown);
        if verb == "UIDL" && s.quirks.contains(&Pop3Quirk::NoUidl) {
            let _ = to_client
                .lock()
                .unwrap()
                .write_all(b"-ERR Unknown command: UIDL\r\n");
            continue;
        }
        if verb == "RETR" {
            for q in &s.quirks {
                if let Pop3Quirk::DelayRetr(d) = q {
                    thread::sleep(*d);
                }
            }
        }
        if upstream.write_all(&line).is_err() {
            break;
        }
    }
    let _ = upstream.shutdown(Shutdown::Both);
}

fn server_to_client(
    upstream: TcpStream,
    to_client: Arc<Mutex<TcpStream>>,
    client: TcpStream,
    s: Arc<Shared>,
) {
    let mut reader = BufReader::new(upstream.try_clone().unwrap());
    let mut line = Vec::new();
    let mut sent = 0usize;
    let cut_at = s.quirks.iter().find_map(|q| match q {
        Pop3Quirk::CutAfterServerBytes { bytes, times } => Some((*bytes, *times)),
        _ => None,
    });
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if s.quirks.contains(&Pop3Quirk::NoUidl) && line.eq_ignore_ascii_case(b"UIDL\r\n") {
            continue;
        }
        if let Some((bytes, times)) = cut_at
            && sent + line.len() > bytes
            && s.cuts
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
                    (c < times).then_some(c + 1)
                })
                .is_ok()
        {
            let _ = to_client
                .lock()
                .unwrap()
                .write_all(&line[..bytes.saturating_sub(sent)]);
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream.shutdown(Shutdown::Both);
            return;
        }
        sent += line.len();
        if to_client.lock().unwrap().write_all(&line).is_err() {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
}
