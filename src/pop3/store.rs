//! A POP3 mailbox as a message store: one folder, INBOX, read with TOP and RETR and never
//! changed. The engine, plan and verify read it as they read an archive.
//!
//! Identity: messages are listed by number, remembered by UIDL where the server offers it.
//! After a reconnect the numbers are found again by UIDL (a message deleted meanwhile by
//! another client shifts them); without UIDL the listing must be unchanged, or the run stops
//! asking for a rerun. Presence on the target is decided by content, as for every source, so
//! neither a lost state dir nor a server without UIDL can add a copy twice.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, FixedOffset, Utc};
use tokio::runtime::Handle;

use super::session::Pop3Session;
use super::wire;
use crate::archive::{ArchiveError, MessageMeta, MessageStore, StoredFolder, StoredMessage};
use crate::dates::{format_internaldate, received_date};
use crate::error::{Error, Result};
use crate::fingerprint::{self, Fingerprint, TEXT_FETCH};
use crate::imap::Endpoint;
use crate::providers::Role;

/// Body lines asked with TOP: enough for the fingerprint's body start in almost every message.
const TOP_LINES: u32 = 20;
/// Messages whose TOP answers are held at once while listing.
const TOP_CHUNK: usize = 256;
/// POP3 serves INBOX only.
pub const FOLDER: &str = "INBOX";
/// A mailbox whose oldest message is younger than this is probably cut by the provider's
/// POP3 window (QQ and NetEase serve the last 30 days by default).
const WINDOW_DAYS: i64 = 31;

pub struct Pop3Store {
    endpoint: Endpoint,
    /// Copies are marked `\Seen` (`pop3: { seen: true }`).
    seen: bool,
    runtime: Handle,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    session: Option<Pop3Session>,
    /// The listing, by message number at the time of listing (the store's message ids).
    entries: HashMap<u64, Entry>,
    has_uidl: bool,
    listed_count: u32,
    /// Listing id -> number on the current connection, after a reconnect.
    renumbered: Option<HashMap<u64, u32>>,
    /// A connection newer than the listing is in use: its numbers must be found again.
    needs_renumber: bool,
    notes: Vec<String>,
}

#[derive(Debug, Clone)]
struct Entry {
    uidl: Option<String>,
    size: u64,
}

impl std::fmt::Debug for Pop3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pop3Store")
            .field("host", &self.endpoint.host)
            .field("user", &self.endpoint.user)
            .finish()
    }
}

impl Pop3Store {
    /// Connects and logs in once, so that a wrong password or an unreachable server stops the
    /// job before anything else happens. Must be called inside the runtime.
    pub async fn open(endpoint: Endpoint, seen: bool) -> Result<Pop3Store> {
        let session = Pop3Session::connect(&endpoint).await?;
        Ok(Pop3Store {
            endpoint,
            seen,
            runtime: Handle::current(),
            state: Mutex::new(State {
                session: Some(session),
                ..State::default()
            }),
        })
    }

    /// `pop3://user@host:port`, the job's source label.
    pub fn label(endpoint: &Endpoint) -> String {
        format!(
            "pop3://{}@{}:{}",
            endpoint.user, endpoint.host, endpoint.port
        )
    }

    fn error(&self, e: Error) -> ArchiveError {
        ArchiveError::Io {
            path: Self::label(&self.endpoint).into(),
            detail: e.to_string(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the listing half-written: it is replaced whole.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `op` on a live session, reconnecting and retrying under the one retry policy.
    fn with_session<T>(
        &self,
        state: &mut State,
        mut op: impl AsyncFnMut(&mut Pop3Session, &mut State) -> Result<T>,
    ) -> Result<T> {
        self.runtime.block_on(async {
            let mut attempt = 0;
            loop {
                attempt += 1;
                let mut session = match state.session.take() {
                    Some(s) if !s.is_broken() => s,
                    _ => match Pop3Session::connect(&self.endpoint).await {
                        Ok(s) => {
                            state.renumbered = None;
                            state.needs_renumber = !state.entries.is_empty();
                            s
                        }
                        Err(e) if e.is_retryable() && !crate::retry::POLICY.exhausted(attempt) => {
                            tokio::time::sleep(crate::retry::POLICY.delay(attempt, None)).await;
                            continue;
                        }
                        Err(e) => return Err(e),
                    },
                };
                let r = op(&mut session, state).await;
                let broken = session.is_broken();
                if !broken {
                    state.session = Some(session);
                }
                match r {
                    Err(e)
                        if broken
                            && e.is_retryable()
                            && !crate::retry::POLICY.exhausted(attempt) =>
                    {
                        tracing::info!("POP3: {e}; reconnecting");
                        tokio::time::sleep(crate::retry::POLICY.delay(attempt, None)).await;
                    }
                    other => return other,
                }
            }
        })
    }
}

impl Drop for Pop3Store {
    fn drop(&mut self) {
        // QUIT politely when possible; nothing was marked for deletion either way.
        let session = self.state.get_mut().ok().and_then(|s| s.session.take());
        if let Some(s) = session {
            self.runtime.spawn(s.quit());
        }
    }
}

impl MessageStore for Pop3Store {
    fn folders(&self) -> Result<Vec<StoredFolder>, ArchiveError> {
        let mut state = self.lock();
        let seen = self.seen;
        let listing = self
            .with_session(&mut state, async |s, _| list_mailbox(s, seen).await)
            .map_err(|e| self.error(e))?;
        state.entries = listing
            .messages
            .iter()
            .map(|(m, e)| (m.id, e.clone()))
            .collect();
        state.has_uidl = listing.has_uidl;
        state.listed_count = listing.count;
        state.renumbered = None;
        state.needs_renumber = false;
        state.notes = window_note(listing.oldest, Utc::now(), self.endpoint.provider)
            .into_iter()
            .collect();
        Ok(vec![StoredFolder {
            name: FOLDER.to_string(),
            role: Some(Role::Inbox),
            messages: listing.messages.into_iter().map(|(m, _)| m).collect(),
        }])
    }

    fn read(&self, folder: &str, id: u64) -> Result<Vec<u8>, ArchiveError> {
        let mut state = self.lock();
        let entry = match (folder == FOLDER).then(|| state.entries.get(&id)).flatten() {
            Some(e) => e.clone(),
            None => {
                return Err(self.error(Error::Invalid(format!(
                    "message {id} of {folder} was not listed"
                ))));
            }
        };
        self.with_session(&mut state, async |s, st| {
            let number = current_number(s, st, id).await?;
            let mut raw = s.retr(number, entry.size, answer_cap(entry.size)).await?;
            wire::strip_added_line_end(&mut raw, entry.size);
            Ok(raw)
        })
        .map_err(|e| self.error(e))
    }

    fn notes(&self) -> Vec<String> {
        self.lock().notes.clone()
    }

    fn close(&self) {
        let session = self.lock().session.take();
        if let Some(s) = session {
            self.runtime.block_on(s.quit());
        }
    }
}

/// The most one answer for a message of `size` listed bytes may hold: LIST sizes are exact
/// on most servers, and a little off on some.
fn answer_cap(size: u64) -> usize {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    size.saturating_add((size / 4).max(1 << 20))
}

/// The message's number on this connection: the listing's own until a reconnect, then found
/// again by UIDL, or kept only if the listing is unchanged.
async fn current_number(s: &mut Pop3Session, st: &mut State, id: u64) -> Result<u32> {
    if st.needs_renumber {
        // A new connection (the old one failed): the numbers may have moved.
        st.renumbered = Some(renumber(s, st).await?);
        st.needs_renumber = false;
    }
    let number = match &st.renumbered {
        Some(map) => map.get(&id).copied(),
        None => u32::try_from(id).ok(),
    };
    number.ok_or_else(|| {
        Error::Message(format!(
            "message {id} is no longer on the server (deleted by another client since it was listed)"
        ))
    })
}

async fn renumber(s: &mut Pop3Session, st: &State) -> Result<HashMap<u64, u32>> {
    if st.has_uidl
        && let Some(uidls) = s.uidl().await?
    {
        let now: HashMap<&str, u32> = uidls.iter().map(|(n, u)| (u.as_str(), *n)).collect();
        return Ok(st
            .entries
            .iter()
            .filter_map(|(id, e)| Some((*id, *now.get(e.uidl.as_deref()?)?)))
            .collect());
    }
    let (count, _) = s.stat().await?;
    let sizes: HashMap<u32, u64> = s.list().await?.into_iter().collect();
    let unchanged = count == st.listed_count
        && st
            .entries
            .iter()
            .all(|(id, e)| u32::try_from(*id).is_ok_and(|n| sizes.get(&n) == Some(&e.size)));
    if !unchanged {
        return Err(Error::Invalid(
            "the POP3 mailbox changed since it was listed and the server gives no UIDL to find its messages again: run again (nothing is copied twice)".into(),
        ));
    }
    Ok(st
        .entries
        .keys()
        .filter_map(|id| Some((*id, u32::try_from(*id).ok()?)))
        .collect())
}

struct Listing {
    messages: Vec<(StoredMessage, Entry)>,
    has_uidl: bool,
    count: u32,
    oldest: Option<DateTime<FixedOffset>>,
}

/// STAT, UIDL, LIST, then TOP (pipelined) for each message's header and body start.
async fn list_mailbox(s: &mut Pop3Session, seen: bool) -> Result<Listing> {
    let (count, _) = s.stat().await?;
    let uidls: Option<HashMap<u32, String>> = if s.has("UIDL") {
        s.uidl().await?.map(|v| v.into_iter().collect())
    } else {
        None
    };
    let sizes = s.list().await?;
    let mut listing = Listing {
        messages: Vec::with_capacity(sizes.len()),
        has_uidl: uidls.is_some(),
        count,
        oldest: None,
    };
    let size_of: HashMap<u32, u64> = sizes.iter().copied().collect();
    let numbers: Vec<u32> = sizes.iter().map(|(n, _)| *n).collect();
    let cap = |n: u32| answer_cap(size_of.get(&n).copied().unwrap_or(0));
    for chunk in numbers.chunks(TOP_CHUNK) {
        let tops = if s.has("TOP") {
            s.top_many(chunk, TOP_LINES, cap).await?
        } else {
            Vec::new()
        };
        for (i, &n) in chunk.iter().enumerate() {
            let size = size_of.get(&n).copied().unwrap_or(0);
            let meta = match tops.get(i).and_then(|t| describe(t, size, TOP_LINES)) {
                Some(m) => m,
                // TOP too short for the fingerprint, or not offered: the whole message.
                None => {
                    let mut raw = s.retr(n, size, cap(n)).await?;
                    wire::strip_added_line_end(&mut raw, size);
                    describe(&raw, size, u32::MAX).unwrap_or_else(|| whole(&raw, size))
                }
            };
            let mut meta = meta;
            if seen {
                meta.flags.push("\\Seen".into());
            }
            if let Some(d) = meta
                .internaldate
                .as_deref()
                .and_then(crate::dates::parse_internaldate)
            {
                listing.oldest = Some(listing.oldest.map_or(d, |o| o.min(d)));
            }
            let uidl = uidls.as_ref().and_then(|u| u.get(&n).cloned());
            listing.messages.push((
                StoredMessage {
                    id: u64::from(n),
                    meta,
                },
                Entry { uidl, size },
            ));
        }
    }
    Ok(listing)
}

/// A message's metadata from its TOP answer (`lines` body lines asked), or `None` when the
/// answer holds too little of the body to fingerprint it as IMAP would.
fn describe(top: &[u8], size: u64, lines: u32) -> Option<MessageMeta> {
    let headers = fingerprint::header_block(top);
    let body = fingerprint::body_start(top);
    let body_lines = body.iter().filter(|&&b| b == b'\n').count();
    let whole = body_lines < lines as usize || top.len() as u64 >= size;
    if body.len() < TEXT_FETCH && !whole {
        return None;
    }
    let mut text = &body[..body.len().min(TEXT_FETCH)];
    // A whole message that the server ended with a CRLF it does not hold.
    let added = whole && top.len() as u64 == size + 2 && top.ends_with(b"\r\n");
    if added && text.len() == body.len() {
        text = &text[..text.len().saturating_sub(2)];
    }
    Some(meta(headers, text, size))
}

fn whole(raw: &[u8], size: u64) -> MessageMeta {
    let body = fingerprint::body_start(raw);
    meta(
        fingerprint::header_block(raw),
        &body[..body.len().min(TEXT_FETCH)],
        size,
    )
}

fn meta(headers: &[u8], text: &[u8], size: u64) -> MessageMeta {
    MessageMeta {
        folder: FOLDER.to_string(),
        role: Some(Role::Inbox),
        flags: Vec::new(),
        internaldate: received_date(headers).map(format_internaldate),
        size,
        sha256: String::new(),
        fingerprint: Fingerprint::from_fetch(headers, text, size).to_string(),
        message_id: fingerprint::message_id(headers),
        source_uidvalidity: None,
        source_uid: None,
        labels: Vec::new(),
    }
}

/// The note for a mailbox whose oldest message is recent enough that the provider's POP3
/// window (30 days by default at QQ and NetEase) probably hides older mail.
pub(crate) fn window_note(
    oldest: Option<DateTime<FixedOffset>>,
    now: DateTime<Utc>,
    provider: Option<&crate::providers::Provider>,
) -> Option<String> {
    let days = (now - oldest?.with_timezone(&Utc)).num_days();
    if days > WINDOW_DAYS {
        return None;
    }
    let how = provider
        .and_then(|p| p.pop3_window_hint)
        .unwrap_or(crate::providers::POP3_WINDOW_HINT);
    Some(crate::i18n::ta(
        "pop3-window",
        &[("days", days.to_string()), ("how", crate::i18n::t(how))],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_answers_fingerprint_as_the_whole_message_does() {
        let body: String = (0..40)
            .map(|i| format!("line {i} of the body\r\n"))
            .collect();
        let raw = format!("Message-ID: <a@b>\r\nSubject: x\r\n\r\n{body}");
        let size = raw.len() as u64;
        let whole_fp = Fingerprint::from_message(raw.as_bytes()).to_string();
        // TOP 20: the header and 20 lines, more than the fingerprint needs.
        let top: String = raw.split_inclusive("\r\n").take(23).collect();
        let m = describe(top.as_bytes(), size, 20).unwrap();
        assert_eq!(m.fingerprint, whole_fp);
        assert_eq!(m.message_id.as_deref(), Some("<a@b>"));
        // Too few bytes in 3 lines, and not the whole message: not enough.
        let top: String = raw.split_inclusive("\r\n").take(6).collect();
        assert!(describe(top.as_bytes(), size, 3).is_none());
    }

    #[test]
    fn a_short_message_without_final_line_end_fingerprints_as_stored() {
        let stored = b"Subject: short\r\n\r\nno line end";
        let served = b"Subject: short\r\n\r\nno line end\r\n";
        let m = describe(served, stored.len() as u64, 20).unwrap();
        assert_eq!(m.fingerprint, Fingerprint::from_message(stored).to_string());
    }

    #[test]
    fn the_window_note_appears_for_a_young_mailbox_only() {
        let now = Utc::now();
        let days_ago = |d: i64| Some((now - chrono::Duration::days(d)).fixed_offset());
        let note = window_note(days_ago(29), now, None).unwrap();
        assert!(note.contains("29 day(s)"), "{note}");
        assert!(note.contains("30 days"), "{note}");
        assert!(window_note(days_ago(365), now, None).is_none());
        assert!(window_note(None, now, None).is_none());
    }
}
