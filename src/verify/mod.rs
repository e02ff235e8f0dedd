//! `verify`: proves, message by message, that the target holds what the source has.
//!
//! Folders are paired through the same mapping and filters as `run` (several source folders
//! may share a target folder; they are compared together against it). Messages are identified
//! by content, never by UID: by [`Fingerprint`] (size plus a hash of a few header fields) by
//! default, or by the SHA-256 of the whole message with `deep`. Identities are compared as
//! multisets: two identical source copies need two target copies; target copies beyond the
//! source's count are duplicates, target messages whose identity the source folder lacks are
//! extra. Matched pairs are then compared for flags (only those the target folder can keep,
//! `\Recent` ignored) and INTERNALDATE (as instants).
//!
//! Everything here only reads: folders are opened with EXAMINE and messages fetched with
//! `BODY.PEEK`, on both sides; a missing target folder is reported, never created. The two
//! sides of a folder are read at the same time, one connection each.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use crate::archive::{ArchiveError, MessageStore, StoredFolder};
use crate::error::{Error, Result, Side};
use crate::fingerprint::{self, Fingerprint, content_sha256};
use crate::folders::{self, FolderMap};
use crate::imap::bodystructure::Summary;
use crate::imap::{Endpoint, MailboxState, Session, uidset};
use crate::mapping::ListedFolder;
use crate::plan::{self, Decision};
use crate::profile::{Filters, Profile};
use crate::progress::{Event, Progress};
use crate::reconcile::{self, Identity};

mod compare;
mod model;
mod render;

pub use compare::{comparable_flags, compare, same_instant};
pub use model::*;

/// Examples shown per kind of problem unless asked otherwise.
pub const DEFAULT_EXAMPLES: usize = 5;
/// UIDs per metadata or header FETCH.
const META_CHUNK: usize = 500;
/// UIDs per whole-message FETCH (`--deep`); the session holds one message at a time.
const BODY_CHUNK: usize = 100;
/// Tries per folder and side before a connection failure ends the verification.
const MAX_ATTEMPTS: u32 = crate::retry::POLICY.attempts;

/// Which flags a target folder keeps.
#[derive(Debug, Clone)]
enum FlagRoom {
    /// Archives keep everything.
    All,
    /// From EXAMINE. Servers usually answer EXAMINE with an empty PERMANENTFLAGS (read-only),
    /// so the FLAGS list, the flags the folder has defined, stands in for it.
    Folder(MailboxState),
}

impl FlagRoom {
    fn keeps(&self, flag: &str) -> bool {
        match self {
            FlagRoom::All => true,
            FlagRoom::Folder(st) => {
                (st.permanent_flags.is_empty() && st.flags.is_empty()) || st.keeps_flag(flag)
            }
        }
    }
}

/// Header facts shown in reports.
#[derive(Debug, Clone, Default)]
struct Described {
    message_id: Option<String>,
    subject: Option<String>,
    from: Option<String>,
    date: Option<String>,
}

impl Described {
    fn from_headers(headers: &[u8]) -> Described {
        let (subject, from, date) = fingerprint::summary_fields(headers);
        Described {
            message_id: fingerprint::message_id(headers),
            subject,
            from,
            date,
        }
    }
}

/// One connection to an IMAP side, replaced when it breaks.
struct Conn<'p> {
    endpoint: Endpoint,
    /// Boxed: a session is large and the reader enum holds one.
    session: Option<Box<Session>>,
    progress: &'p dyn Progress,
}

impl<'p> Conn<'p> {
    fn new(endpoint: &Endpoint, progress: &'p dyn Progress) -> Self {
        Conn {
            endpoint: endpoint.clone(),
            session: None,
            progress,
        }
    }

    async fn get(&mut self) -> Result<&mut Session> {
        if self.session.as_ref().is_none_or(|s| s.is_broken()) {
            self.session = None;
            self.session = Some(Box::new(Session::connect(&self.endpoint).await?));
        }
        self.session
            .as_deref_mut()
            .ok_or_else(|| Error::ConnectionLost {
                host: self.endpoint.host.clone(),
                detail: "no session".into(),
            })
    }

    /// After a failure: `Ok` to try again on a fresh connection, or the error to give up with.
    async fn recover(&mut self, e: Error, attempt: &mut u32) -> Result<()> {
        // Only trouble a new connection can cure: a refused login is not retried (lockouts).
        if *attempt + 1 >= MAX_ATTEMPTS || !e.is_retryable() {
            return Err(e);
        }
        *attempt += 1;
        self.progress.event(Event::Reconnecting {
            side: self.endpoint.side,
            attempt: *attempt,
            reason: e.to_string(),
        });
        self.session = None;
        tokio::time::sleep(crate::retry::POLICY.delay(*attempt, e.server_text())).await;
        Ok(())
    }

    async fn close(self) {
        if let Some(s) = self.session {
            s.logout().await;
        }
    }
}

async fn examined<'s>(s: &'s mut Session, wire: &str) -> Result<&'s mut Session> {
    if s.selected().map(|m| m.wire.as_str()) != Some(wire) {
        s.examine(wire).await?;
    }
    Ok(s)
}

/// Fetches whole messages (`BODY.PEEK[]`) in batches, handing each to `each`; returns the
/// UIDs the server did not return (deleted meanwhile).
async fn fetch_bodies(
    conn: &mut Conn<'_>,
    wire: &str,
    uids: &[u32],
    sizes: &HashMap<u32, u64>,
    each: &mut (dyn FnMut(u32, &[u8]) + Send),
) -> Result<BTreeSet<u32>> {
    let mut pending: BTreeSet<u32> = uids.iter().copied().collect();
    let mut attempt = 0;
    loop {
        let r: Result<()> = async {
            let s = examined(conn.get().await?, wire).await?;
            let list: Vec<u32> = pending.iter().copied().collect();
            for (set, members) in uidset::chunks(&list, BODY_CHUNK) {
                s.expect_bytes(members.iter().filter_map(|u| sizes.get(u)).sum());
                s.uid_fetch(&set, "(UID BODY.PEEK[])", &mut |r| {
                    if let (Some(uid), Some(body)) = (r.uid, r.body.as_deref())
                        && pending.remove(&uid)
                    {
                        each(uid, body);
                    }
                    Ok(())
                })
                .await?;
            }
            Ok(())
        }
        .await;
        match r {
            Ok(()) => return Ok(pending),
            Err(e) => conn.recover(e, &mut attempt).await?,
        }
    }
}

/// Sizes by UID, for the deadline of a whole-message FETCH.
fn item_sizes(items: &[Item]) -> HashMap<u32, u64> {
    items
        .iter()
        .filter_map(|i| i.uid.map(|u| (u, i.size)))
        .collect()
}

/// Subject, From, Date and Message-ID of some messages of one folder, fetched in bulk.
async fn describe_imap(
    conn: &mut Conn<'_>,
    wire: &str,
    uids: &[u32],
) -> Result<HashMap<u32, Described>> {
    let mut out = HashMap::new();
    if uids.is_empty() {
        return Ok(out);
    }
    let items = format!("(UID {})", fingerprint::fetch_item());
    let mut attempt = 0;
    loop {
        let r: Result<()> = async {
            let s = examined(conn.get().await?, wire).await?;
            let pending: Vec<u32> = uids
                .iter()
                .copied()
                .filter(|u| !out.contains_key(u))
                .collect();
            for (set, _) in uidset::chunks(&pending, META_CHUNK) {
                s.uid_fetch(&set, &items, &mut |r| {
                    if let (Some(uid), Some(h)) = (r.uid, r.header.as_deref()) {
                        out.insert(uid, Described::from_headers(h));
                    }
                    Ok(())
                })
                .await?;
            }
            Ok(())
        }
        .await;
        match r {
            Ok(()) => return Ok(out),
            Err(e) => conn.recover(e, &mut attempt).await?,
        }
    }
}

fn archive_error(e: ArchiveError) -> Error {
    Error::Invalid(e.to_string())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Invalid(format!("reading the archive stopped unexpectedly: {e}")))?
}

/// What one side of a folder pair holds.
#[derive(Debug, Default)]
struct Scan {
    items: Vec<Item>,
    filtered: u64,
    warnings: Vec<String>,
    /// The server refused the folder (a `NO`): reported, not fatal.
    refused: Option<String>,
}

/// A source folder: from IMAP LIST, or a store's folder.
#[derive(Debug, Clone)]
struct SourceFolder {
    listed: ListedFolder,
    stored: Option<StoredFolder>,
}

/// Target folders mapped to, with their source folders, in source LIST order.
#[derive(Debug)]
struct Group {
    target: String,
    sources: Vec<SourceFolder>,
}

/// A side being read: an IMAP connection or a store.
enum Reader<'p> {
    Imap {
        conn: Conn<'p>,
        folders: Vec<ListedFolder>,
    },
    Store {
        store: Arc<dyn MessageStore>,
        folders: Vec<StoredFolder>,
    },
}

impl<'p> Reader<'p> {
    async fn open(location: &Location, progress: &'p dyn Progress, side: Side) -> Result<Self> {
        match location {
            Location::Imap(ep) => {
                let mut conn = Conn::new(ep, progress);
                let mut attempt = 0;
                let folders = loop {
                    let r = match conn.get().await {
                        Ok(s) => match side {
                            Side::Source => plan::listing(s, ep.provider).await.map(|(f, _)| f),
                            Side::Target => plan::listing(s, ep.provider).await.map(|(f, _)| f),
                        },
                        Err(e) => Err(e),
                    };
                    match r {
                        Ok(f) => break f,
                        Err(e) => conn.recover(e, &mut attempt).await?,
                    }
                };
                Ok(Reader::Imap { conn, folders })
            }
            Location::Store { store, .. } => {
                let s = store.clone();
                let folders = blocking(move || s.folders().map_err(archive_error)).await?;
                Ok(Reader::Store {
                    store: store.clone(),
                    folders,
                })
            }
        }
    }

    /// The folders as LIST entries, for the folder mapper.
    fn listed(&self) -> Vec<ListedFolder> {
        match self {
            Reader::Imap { folders, .. } => folders.clone(),
            Reader::Store { folders, .. } => folders.iter().map(store_listed).collect(),
        }
    }

    async fn close(self) {
        if let Reader::Imap { conn, .. } = self {
            conn.close().await;
        }
    }
}

/// A store folder named as the folder plan names it (the same function `run` uses).
fn store_listed(f: &StoredFolder) -> ListedFolder {
    ListedFolder {
        wire: f.name.clone(),
        ..plan::listed_from_store(&f.name, f.role)
    }
}

/// The server answered NO/BAD about this folder: the connection is fine, the folder is not.
fn refused(e: &Error) -> bool {
    matches!(e, Error::Server { .. }) && !e.is_retryable()
}

/// Reads one IMAP source folder through the plan's own scan (same filters as `run`), then the
/// bodies when `deep` or when the attachment filter needs them.
async fn imap_source_folder(
    conn: &mut Conn<'_>,
    folder: &ListedFolder,
    target: &str,
    filters: &Filters,
    index: usize,
    deep: bool,
) -> Result<Scan> {
    let mut scan = Scan::default();
    let mut attempt = 0;
    let planned = loop {
        let r = match conn.get().await {
            Ok(s) => plan::scan_folder(s, folder, target.to_string(), filters).await,
            Err(e) => Err(e),
        };
        match r {
            Ok(p) => break p,
            Err(e) if refused(&e) => {
                scan.refused = Some(e.to_string());
                return Ok(scan);
            }
            Err(e) => conn.recover(e, &mut attempt).await?,
        }
    };
    scan.filtered = planned.filtered();
    scan.warnings.extend(planned.warnings.iter().cloned());
    let mut undecided = HashSet::new();
    scan.items.reserve_exact(planned.chosen.len());
    for m in planned.chosen {
        if m.undecided {
            undecided.insert(m.uid);
        }
        scan.items.push(Item {
            folder: index,
            handle: m.uid as u64,
            uid: Some(m.uid),
            id: m.id,
            size: m.size as u64,
            flags: m.flags,
            internaldate: m.internaldate,
        });
    }
    if !deep && undecided.is_empty() {
        return Ok(scan);
    }
    let wanted: Vec<u32> = scan
        .items
        .iter()
        .filter_map(|i| i.uid)
        .filter(|u| deep || undecided.contains(u))
        .collect();
    let mut skip = HashSet::new();
    let mut hashes = HashMap::new();
    let sizes = item_sizes(&scan.items);
    let gone = fetch_bodies(conn, &folder.wire, &wanted, &sizes, &mut |uid, body| {
        if undecided.contains(&uid)
            && plan::decide_attachments(filters, &Summary::from_message(body)) == Decision::Skip
        {
            skip.insert(uid);
        } else if deep {
            hashes.insert(
                uid,
                (content_sha256(body), reconcile::canonical_sha256(body)),
            );
        }
    })
    .await;
    let gone = match gone {
        Ok(g) => g,
        Err(e) if refused(&e) => {
            scan.refused = Some(e.to_string());
            scan.items.clear();
            return Ok(scan);
        }
        Err(e) => return Err(e),
    };
    if !gone.is_empty() {
        scan.warnings.push(format!(
            "{} messages vanished from the source while reading (deleted meanwhile?); not compared",
            gone.len()
        ));
    }
    scan.filtered += skip.len() as u64;
    scan.items.retain_mut(|i| {
        let uid = i.handle as u32;
        if skip.contains(&uid) || gone.contains(&uid) {
            return false;
        }
        if let Some((h, c)) = hashes.remove(&uid) {
            i.id.set_sha256(&h);
            i.id.set_canonical(&c);
        }
        true
    });
    Ok(scan)
}

/// Reads one IMAP target folder: flags, dates, fingerprints (and hashes when `deep`).
async fn imap_target_folder(
    conn: &mut Conn<'_>,
    wire: &str,
    deep: bool,
) -> Result<(Scan, FlagRoom)> {
    let mut attempt = 0;
    let items_spec = format!(
        "(UID FLAGS INTERNALDATE RFC822.SIZE {})",
        fingerprint::fetch_item()
    );
    let (mut scan, room) = loop {
        let r: Result<(Scan, FlagRoom)> = async {
            let s = conn.get().await?;
            let state = s.examine(wire).await?.clone();
            let mut scan = Scan::default();
            if state.exists == 0 {
                return Ok((scan, FlagRoom::Folder(state)));
            }
            let uids = s.all_uids().await?;
            scan.items.reserve_exact(uids.len());
            for (set, members) in uidset::chunks(&uids, META_CHUNK) {
                let mut wanted: HashSet<u32> = members.into_iter().collect();
                s.uid_fetch(&set, &items_spec, &mut |r| {
                    // Each UID once, and only full answers: an unsolicited FETCH (a flag
                    // change by another client) carries no size or header.
                    if r.size.is_none() {
                        return Ok(());
                    }
                    let Some(uid) = r.uid.filter(|u| wanted.remove(u)) else {
                        return Ok(());
                    };
                    let headers = r.header.unwrap_or_default();
                    let size = r.size.unwrap_or(0) as u64;
                    scan.items.push(Item {
                        folder: 0,
                        handle: uid as u64,
                        uid: Some(uid),
                        id: Identity::from_fetch(
                            &headers,
                            r.text.as_deref().unwrap_or_default(),
                            size,
                        ),
                        size,
                        flags: r.flags.unwrap_or_default(),
                        internaldate: r.internaldate,
                    });
                    Ok(())
                })
                .await?;
            }
            Ok((scan, FlagRoom::Folder(state)))
        }
        .await;
        match r {
            Ok(v) => break v,
            Err(e) if refused(&e) => {
                let scan = Scan {
                    refused: Some(e.to_string()),
                    ..Default::default()
                };
                return Ok((scan, FlagRoom::All));
            }
            Err(e) => conn.recover(e, &mut attempt).await?,
        }
    };
    if deep && !scan.items.is_empty() {
        let uids: Vec<u32> = scan.items.iter().filter_map(|i| i.uid).collect();
        let mut hashes = HashMap::new();
        let sizes = item_sizes(&scan.items);
        let gone = fetch_bodies(conn, wire, &uids, &sizes, &mut |uid, body| {
            hashes.insert(
                uid,
                (content_sha256(body), reconcile::canonical_sha256(body)),
            );
        })
        .await?;
        if !gone.is_empty() {
            scan.warnings.push(format!(
                "{} target messages vanished while reading (deleted meanwhile?); not compared",
                gone.len()
            ));
        }
        scan.items
            .retain_mut(|i| match hashes.remove(&(i.handle as u32)) {
                Some((h, c)) => {
                    i.id.set_sha256(&h);
                    i.id.set_canonical(&c);
                    true
                }
                None => false,
            });
    }
    Ok((scan, room))
}

/// Reads one store folder as a source (applying the filters) or as a target (`filters` None).
fn store_folder(
    store: &dyn MessageStore,
    folder: &StoredFolder,
    filters: Option<&Filters>,
    index: usize,
    deep: bool,
) -> Result<Scan> {
    let mut scan = Scan::default();
    for m in &folder.messages {
        let meta = &m.meta;
        let mut body = None;
        if let Some(filters) = filters {
            let decision = plan::decide(filters, meta.internaldate.as_deref(), meta.size, None);
            let decision = match decision {
                Decision::Undecided => {
                    let raw = store.read(&folder.name, m.id).map_err(archive_error)?;
                    let d = plan::decide_attachments(filters, &Summary::from_message(&raw));
                    body = Some(raw);
                    d
                }
                d => d,
            };
            if decision == Decision::Skip {
                scan.filtered += 1;
                continue;
            }
        }
        let (sha256, canonical) = if deep {
            let raw = match body.take() {
                Some(b) => b,
                None => store.read(&folder.name, m.id).map_err(archive_error)?,
            };
            (
                Some(content_sha256(&raw)),
                Some(reconcile::canonical_sha256(&raw)),
            )
        } else {
            (None, None)
        };
        let mut id = Identity::new(Fingerprint::from_stored(&meta.fingerprint));
        if let Some(h) = sha256 {
            id.set_sha256(&h);
        }
        if let Some(c) = canonical {
            id.set_canonical(&c);
        }
        scan.items.push(Item {
            folder: index,
            handle: m.id,
            uid: meta.source_uid,
            id,
            size: meta.size,
            flags: crate::flags::intern(meta.flags.clone()),
            internaldate: meta.internaldate.clone(),
        });
    }
    Ok(scan)
}

fn describe_store(
    store: &dyn MessageStore,
    folder: &str,
    ids: &[u64],
) -> Result<HashMap<u64, Described>> {
    let mut out = HashMap::new();
    for &id in ids {
        let raw = store.read(folder, id).map_err(archive_error)?;
        out.insert(id, Described::from_headers(fingerprint::header_block(&raw)));
    }
    Ok(out)
}

impl Reader<'_> {
    async fn scan_source(
        &mut self,
        group: &Group,
        filters: &Filters,
        deep: bool,
        gmail: Option<&crate::gmail::Assignment>,
    ) -> Result<Scan> {
        let mut all = Scan::default();
        for (index, f) in group.sources.iter().enumerate() {
            let mut scan = match self {
                Reader::Imap { conn, .. } => {
                    imap_source_folder(conn, &f.listed, &group.target, filters, index, deep).await?
                }
                Reader::Store { store, .. } => {
                    let Some(folder) = f.stored.clone() else {
                        continue;
                    };
                    let (store, filters) = (store.clone(), filters.clone());
                    blocking(move || {
                        store_folder(store.as_ref(), &folder, Some(&filters), index, deep)
                    })
                    .await?
                }
            };
            if let Some(a) = gmail {
                let before = scan.items.len();
                scan.items
                    .retain(|i| i.uid.is_none_or(|u| !a.leaves(&f.listed.name, u)));
                scan.filtered += (before - scan.items.len()) as u64;
            }
            if all.items.is_empty() {
                all.items = scan.items;
            } else {
                all.items.extend(scan.items);
            }
            all.filtered += scan.filtered;
            let prefix = if group.sources.len() > 1 {
                format!("{}: ", f.listed.name)
            } else {
                String::new()
            };
            all.warnings
                .extend(scan.warnings.into_iter().map(|w| format!("{prefix}{w}")));
            if let Some(r) = scan.refused {
                all.refused = Some(format!("source {}: {r}", f.listed.name));
            }
        }
        Ok(all)
    }

    /// The target folder for `group`, or `None` when it does not exist.
    async fn scan_target(&mut self, group: &Group, deep: bool) -> Result<Option<(Scan, FlagRoom)>> {
        match self {
            Reader::Imap { conn, folders } => {
                let Some(wire) = folders
                    .iter()
                    .find(|t| t.name == group.target && t.selectable)
                    .map(|t| t.wire.clone())
                else {
                    return Ok(None);
                };
                let (mut scan, room) = imap_target_folder(conn, &wire, deep).await?;
                if let Some(r) = scan.refused.take() {
                    scan.refused = Some(format!("target {}: {r}", group.target));
                }
                Ok(Some((scan, room)))
            }
            Reader::Store { store, folders } => {
                let Some(folder) = store_target_folder(folders, group) else {
                    return Ok(None);
                };
                let folder = folder.clone();
                let store = store.clone();
                let scan =
                    blocking(move || store_folder(store.as_ref(), &folder, None, 0, deep)).await?;
                Ok(Some((scan, FlagRoom::All)))
            }
        }
    }

    /// Header facts for the given items of a folder (`source`: which source folder; `None`
    /// for the target folder).
    async fn describe(
        &mut self,
        group: &Group,
        source: Option<usize>,
        handles: &[u64],
    ) -> Result<HashMap<u64, Described>> {
        if handles.is_empty() {
            return Ok(HashMap::new());
        }
        match self {
            Reader::Imap { conn, folders } => {
                let wire = match source {
                    Some(i) => group.sources.get(i).map(|f| f.listed.wire.clone()),
                    None => folders
                        .iter()
                        .find(|t| t.name == group.target && t.selectable)
                        .map(|t| t.wire.clone()),
                };
                let Some(wire) = wire else {
                    return Ok(HashMap::new());
                };
                let uids: Vec<u32> = handles.iter().map(|h| *h as u32).collect();
                let found = describe_imap(conn, &wire, &uids).await?;
                Ok(found.into_iter().map(|(k, v)| (k as u64, v)).collect())
            }
            Reader::Store { store, folders } => {
                let name = match source {
                    Some(i) => group.sources.get(i).map(|f| f.listed.name.clone()),
                    None => store_target_folder(folders, group).map(|f| f.name.clone()),
                };
                let Some(name) = name else {
                    return Ok(HashMap::new());
                };
                let (store, ids) = (store.clone(), handles.to_vec());
                blocking(move || describe_store(store.as_ref(), &name, &ids)).await
            }
        }
    }
}

/// The archive folder holding a group: the mapped name, else the (single) source folder's own
/// name, as a backup may keep source names.
fn store_target_folder<'a>(folders: &'a [StoredFolder], group: &Group) -> Option<&'a StoredFolder> {
    folders
        .iter()
        .find(|f| f.name == group.target)
        .or_else(|| match group.sources.as_slice() {
            [only] => folders.iter().find(|f| f.name == only.listed.name),
            _ => None,
        })
}

/// Compares the profile's source with its target, folder by folder. Reads only. Errors are
/// fatal ones (cannot connect, log in, or list); a folder the server refuses is reported in
/// its [`FolderVerdict::error`] and the others are still compared.
pub async fn verify(
    profile: &Profile,
    source: &Location,
    target: &Location,
    progress: &dyn Progress,
    opts: &VerifyOptions,
) -> Result<Verdict> {
    let started = Instant::now();
    let (src, dst) = tokio::join!(
        Reader::open(source, progress, Side::Source),
        Reader::open(target, progress, Side::Target)
    );
    let (mut src, mut dst) = match (src, dst) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), Ok(d)) => {
            d.close().await;
            return Err(e);
        }
        (Ok(s), Err(e)) => {
            s.close().await;
            return Err(e);
        }
        (Err(e), Err(_)) => return Err(e),
    };
    let result = verify_opened(profile, source, target, &mut src, &mut dst, progress, opts).await;
    tokio::join!(src.close(), dst.close());
    let mut verdict = result?;
    verdict.seconds = started.elapsed().as_secs_f64();
    Ok(verdict)
}

fn provider(location: &Location) -> Option<&'static crate::providers::Provider> {
    match location {
        Location::Imap(ep) => ep.provider,
        Location::Store { .. } => None,
    }
}

/// Groups the planned source folders by their target folder, in plan order.
fn groups(src: &Reader<'_>, map: &FolderMap) -> Vec<Group> {
    let listed = src.listed();
    let stored: Vec<Option<StoredFolder>> = match src {
        Reader::Imap { folders, .. } => vec![None; folders.len()],
        Reader::Store { folders, .. } => folders.iter().cloned().map(Some).collect(),
    };
    let mut out: Vec<Group> = Vec::new();
    for pf in &map.folders {
        let Some(i) = listed.iter().position(|l| l.name == pf.source.name) else {
            continue;
        };
        let folder = SourceFolder {
            listed: listed[i].clone(),
            stored: stored[i].clone(),
        };
        match out.iter_mut().find(|g| g.target == pf.target) {
            Some(g) => g.sources.push(folder),
            None => out.push(Group {
                target: pf.target.clone(),
                sources: vec![folder],
            }),
        }
    }
    out
}

async fn verify_opened(
    profile: &Profile,
    source: &Location,
    target: &Location,
    src: &mut Reader<'_>,
    dst: &mut Reader<'_>,
    progress: &dyn Progress,
    opts: &VerifyOptions,
) -> Result<Verdict> {
    let target_kind = match target {
        Location::Imap(_) => folders::TargetKind::Imap,
        Location::Store { .. } => folders::TargetKind::Archive,
    };
    let (src_listed, dst_listed) = (src.listed(), dst.listed());
    let gmail = match src {
        Reader::Imap { conn, .. } => conn.get().await?.has(crate::gmail::EXTENSION),
        Reader::Store { .. } => false,
    };
    let map = folders::plan(&folders::Inputs {
        source: &src_listed,
        target: &dst_listed,
        rules: &profile.folders,
        source_provider: provider(source),
        target_provider: provider(target),
        target_kind,
        stored: opts.stored.as_ref(),
        gmail,
    })?;
    // Gmail: each message is expected only in the folder `run` gave it.
    let assignment = match src {
        Reader::Imap { conn, .. } if gmail => {
            Some(crate::gmail::survey(conn.get().await?, &map.folders, &profile.gmail).await?)
        }
        _ => None,
    };
    let groups = groups(src, &map);
    if groups.is_empty() {
        return Err(Error::Invalid(
            "no source folder matches folders.include/exclude; check the patterns with `mailferry plan`"
                .into(),
        ));
    }
    let method = if opts.deep {
        Method::Sha256
    } else {
        Method::Fingerprint
    };
    let mut verdict = Verdict {
        ok: true,
        method,
        totals: VerifyTotals::default(),
        folders: Vec::new(),
        problems: Vec::new(),
        warnings: Vec::new(),
        seconds: 0.0,
    };
    for group in &groups {
        let (s, t) = tokio::join!(
            src.scan_source(group, &profile.filters, opts.deep, assignment.as_ref()),
            dst.scan_target(group, opts.deep)
        );
        let (s, t) = (s?, t?);
        let (folder, problems) = judge(group, s, t);
        let problems = fill_in(src, dst, group, problems).await?;
        for w in &folder.warnings {
            progress.event(Event::Warning {
                message: format!("{}: {w}", folder.source),
            });
        }
        if let Some(e) = &folder.error {
            progress.event(Event::Warning { message: e.clone() });
        }
        progress.event(Event::FolderDone {
            source: folder.source.clone(),
        });
        verdict.folders.push(folder);
        verdict.problems.extend(problems);
    }
    verdict.add_up();
    Ok(verdict)
}

/// A problem before its header facts are fetched: which side and item it is about.
#[derive(Debug)]
struct Pending {
    problem: Problem,
    /// `Some(source folder index)` for a source item, `None` for a target item.
    side: Option<usize>,
    handle: u64,
}

fn problem(kind: ProblemKind, group: &Group, item: &Item, on_source: bool, deep: bool) -> Problem {
    let folder = if on_source {
        group
            .sources
            .get(item.folder)
            .map(|f| f.listed.name.clone())
            .unwrap_or_default()
    } else {
        group.target.clone()
    };
    Problem {
        kind,
        folder,
        target_folder: group.target.clone(),
        uid: if on_source { item.uid } else { None },
        target_uid: if on_source { None } else { item.uid },
        // Read with Subject and From when the problems are described (see `fill_in`).
        message_id: None,
        subject: None,
        from: None,
        date: None,
        size: item.size,
        fingerprint: item.id.fingerprint.to_string(),
        sha256: if deep {
            item.id.sha256().map(str::to_string)
        } else {
            None
        },
        source_flags: None,
        target_flags: None,
        source_internaldate: None,
        target_internaldate: None,
    }
}

/// Turns both sides' scans into the folder's counts and its problems (header facts pending).
fn judge(group: &Group, s: Scan, t: Option<(Scan, FlagRoom)>) -> (FolderVerdict, Vec<Pending>) {
    let mut folder = FolderVerdict {
        source: group
            .sources
            .iter()
            .map(|f| f.listed.name.as_str())
            .collect::<Vec<_>>()
            .join(" + "),
        target: group.target.clone(),
        target_exists: t.is_some(),
        source_messages: s.items.len() as u64,
        filtered: s.filtered,
        warnings: s.warnings,
        error: s.refused,
        ..Default::default()
    };
    let (t, room) = t.unwrap_or_else(|| (Scan::default(), FlagRoom::All));
    folder.target_messages = t.items.len() as u64;
    folder.warnings.extend(t.warnings);
    if folder.error.is_none() {
        folder.error = t.refused;
    }
    if folder.error.is_some() {
        // Half a folder compared proves nothing either way.
        return (folder, Vec::new());
    }
    let deep = s
        .items
        .iter()
        .chain(&t.items)
        .any(|i| i.id.sha256().is_some());
    let keeps = |f: &str| room.keeps(f);
    let c = compare(&s.items, &t.items, &keeps);
    let mut ignored = BTreeSet::new();
    for i in &s.items {
        for f in i.flags.iter() {
            if !f.eq_ignore_ascii_case("\\Recent") && !room.keeps(f) {
                ignored.insert(f.clone());
            }
        }
    }
    folder.flags_ignored = ignored.into_iter().collect();
    folder.present = c.present.len() as u64;
    folder.missing = c.missing.len() as u64;
    folder.extra = c.extra.len() as u64;
    folder.duplicates = c.duplicates.len() as u64;
    folder.flags_differ = c.flags.len() as u64;
    folder.date_differ = c.dates.len() as u64;
    folder.changed_by_server = c.changed.len() as u64;
    for &(si, ti, delta) in c.changed.iter().take(DEFAULT_EXAMPLES) {
        let what = match delta {
            0 => "with bytes changed".to_string(),
            d if d < 0 => format!("with {} byte(s) removed", -d),
            d => format!("with {d} byte(s) added"),
        };
        folder.warnings.push(format!(
            "source UID {} is present as target UID {}, stored {what} by the server (line ends or trailing whitespace)",
            s.items[si].uid.map_or("?".into(), |u| u.to_string()),
            t.items[ti].uid.map_or("?".into(), |u| u.to_string()),
        ));
    }

    let mut out = Vec::new();
    let src_pending = |kind, i: usize| {
        let item = &s.items[i];
        Pending {
            problem: problem(kind, group, item, true, deep),
            side: Some(item.folder),
            handle: item.handle,
        }
    };
    for &i in &c.missing {
        out.push(src_pending(ProblemKind::Missing, i));
    }
    for (kind, list) in [
        (ProblemKind::Extra, &c.extra),
        (ProblemKind::Duplicate, &c.duplicates),
    ] {
        for &i in list {
            let item = &t.items[i];
            out.push(Pending {
                problem: problem(kind, group, item, false, deep),
                side: None,
                handle: item.handle,
            });
        }
    }
    for (si, ti, sf, tf) in &c.flags {
        let mut p = src_pending(ProblemKind::Flags, *si);
        p.problem.target_uid = t.items[*ti].uid;
        p.problem.source_flags = Some(sf.clone());
        p.problem.target_flags = Some(tf.clone());
        out.push(p);
    }
    for &(si, ti) in &c.dates {
        let mut p = src_pending(ProblemKind::Date, si);
        p.problem.target_uid = t.items[ti].uid;
        p.problem.source_internaldate = s.items[si].internaldate.clone();
        p.problem.target_internaldate = t.items[ti].internaldate.clone();
        out.push(p);
    }
    (folder, out)
}

/// Fetches Subject, From, Date (and Message-ID) for every problem, in bulk per folder and side.
async fn fill_in(
    src: &mut Reader<'_>,
    dst: &mut Reader<'_>,
    group: &Group,
    pending: Vec<Pending>,
) -> Result<Vec<Problem>> {
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let mut src_handles: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    let mut dst_handles = Vec::new();
    for p in &pending {
        match p.side {
            Some(i) => src_handles.entry(i).or_default().push(p.handle),
            None => dst_handles.push(p.handle),
        }
    }
    let source_side = async {
        let mut all = HashMap::new();
        for (i, handles) in &src_handles {
            let found = src.describe(group, Some(*i), handles).await?;
            all.insert(*i, found);
        }
        Ok::<_, Error>(all)
    };
    let (found_src, found_dst) = tokio::join!(source_side, dst.describe(group, None, &dst_handles));
    let (found_src, found_dst) = (found_src?, found_dst?);
    Ok(pending
        .into_iter()
        .map(|p| {
            let d = match p.side {
                Some(i) => found_src.get(&i).and_then(|m| m.get(&p.handle)),
                None => found_dst.get(&p.handle),
            };
            let mut problem = p.problem;
            if let Some(d) = d {
                problem.subject = d.subject.clone();
                problem.from = d.from.clone();
                problem.date = d.date.clone();
                if problem.message_id.is_none() {
                    problem.message_id = d.message_id.clone();
                }
            }
            problem
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(folder: usize, uid: u32, key: &str, flags: &[&str], date: Option<&str>) -> Item {
        Item {
            folder,
            handle: uid as u64,
            uid: Some(uid),
            id: Identity::new(crate::fingerprint::testing::fp(&format!("100:{key}"))),
            size: 100,
            flags: flags.iter().map(|s| s.to_string()).collect(),
            internaldate: date.map(str::to_string),
        }
    }

    const D: Option<&str> = Some("07-Jul-2021 02:44:25 +0800");

    fn all(_: &str) -> bool {
        true
    }

    #[test]
    fn identical_sides_have_no_problems() {
        let s = vec![item(0, 1, "a", &["\\Seen"], D), item(0, 2, "b", &[], D)];
        let t = vec![item(0, 7, "b", &[], D), item(0, 9, "a", &["\\Seen"], D)];
        let c = compare(&s, &t, &all);
        assert_eq!(c.present.len(), 2);
        assert!(c.missing.is_empty() && c.extra.is_empty() && c.duplicates.is_empty());
        assert!(c.flags.is_empty() && c.dates.is_empty());
    }

    #[test]
    fn two_source_copies_need_two_target_copies() {
        let s = vec![item(0, 1, "a", &[], D), item(0, 2, "a", &[], D)];
        let t = vec![item(0, 5, "a", &[], D)];
        let c = compare(&s, &t, &all);
        assert_eq!(c.present.len(), 1);
        assert_eq!(c.missing, vec![1]);
    }

    #[test]
    fn copies_beyond_the_source_count_are_duplicates_and_unknown_ones_extra() {
        let s = vec![item(0, 1, "a", &[], D)];
        let t = vec![
            item(0, 5, "a", &[], D),
            item(0, 6, "a", &[], D),
            item(0, 7, "zzz", &[], D),
        ];
        let c = compare(&s, &t, &all);
        assert_eq!(c.present, vec![(0, 0)]);
        assert_eq!(c.duplicates, vec![1]);
        assert_eq!(c.extra, vec![2]);
        assert!(c.missing.is_empty());
    }

    #[test]
    fn flags_ignore_recent_order_and_case() {
        let s = vec![item(0, 1, "a", &["\\Seen", "$Forwarded", "\\Recent"], D)];
        let t = vec![item(0, 5, "a", &["$forwarded", "\\SEEN"], D)];
        assert!(compare(&s, &t, &all).flags.is_empty());
        let t = vec![item(0, 5, "a", &["\\Seen"], D)];
        let c = compare(&s, &t, &all);
        assert_eq!(c.flags.len(), 1);
        assert_eq!(c.flags[0].2, vec!["$Forwarded", "\\Seen"]);
        assert_eq!(c.flags[0].3, vec!["\\Seen"]);
    }

    #[test]
    fn keywords_the_target_cannot_keep_are_not_a_difference() {
        // NetEase-like target: system flags only.
        let st = MailboxState {
            permanent_flags: ["\\Answered", "\\Seen", "\\Deleted", "\\Draft", "\\Flagged"]
                .map(String::from)
                .to_vec(),
            ..Default::default()
        };
        let room = FlagRoom::Folder(st);
        let keeps = |f: &str| room.keeps(f);
        let s = vec![item(0, 1, "a", &["\\Seen", "$Forwarded"], D)];
        let t = vec![item(0, 5, "a", &["\\Seen"], D)];
        assert!(compare(&s, &t, &keeps).flags.is_empty());
        // ...but a lost \Seen is.
        let t = vec![item(0, 5, "a", &[], D)];
        assert_eq!(compare(&s, &t, &keeps).flags.len(), 1);
    }

    #[test]
    fn examine_without_permanentflags_falls_back_to_the_folder_flags() {
        // What Dovecot answers to EXAMINE: PERMANENTFLAGS () and the defined FLAGS.
        let room = FlagRoom::Folder(MailboxState {
            flags: [
                "\\Answered",
                "\\Flagged",
                "\\Deleted",
                "\\Seen",
                "\\Draft",
                "$Forwarded",
            ]
            .map(String::from)
            .to_vec(),
            ..Default::default()
        });
        assert!(room.keeps("$Forwarded"));
        assert!(room.keeps("\\seen"));
        assert!(!room.keeps("$Junk"));
        // A server that says nothing at all: everything counts.
        assert!(FlagRoom::Folder(MailboxState::default()).keeps("$Junk"));
        assert!(FlagRoom::All.keeps("$Junk"));
    }

    #[test]
    fn dates_compare_as_instants() {
        assert!(same_instant(
            Some("07-Jul-2021 02:44:25 +0800"),
            Some("06-Jul-2021 18:44:25 +0000")
        ));
        assert!(same_instant(
            Some(" 7-Jul-2021 02:44:25 +0800"),
            Some("07-Jul-2021 02:44:25 +0800")
        ));
        assert!(!same_instant(
            Some("07-Jul-2021 02:44:25 +0800"),
            Some("07-Jul-2021 02:44:25 +0000")
        ));
        assert!(!same_instant(Some("07-Jul-2021 02:44:25 +0800"), None));
        assert!(same_instant(None, Some("07-Jul-2021 02:44:25 +0800")));
        let s = vec![item(0, 1, "a", &[], D)];
        let t = vec![item(0, 5, "a", &[], Some("07-Jul-2021 02:44:26 +0800"))];
        assert_eq!(compare(&s, &t, &all).dates, vec![(0, 0)]);
    }

    #[test]
    fn matching_copies_are_paired_first() {
        // Two identical messages, one read and one not, listed in the other order on the
        // target: no flag difference.
        let s = vec![item(0, 1, "a", &["\\Seen"], D), item(0, 2, "a", &[], D)];
        let t = vec![item(0, 5, "a", &[], D), item(0, 6, "a", &["\\Seen"], D)];
        let c = compare(&s, &t, &all);
        assert!(c.flags.is_empty());
        assert_eq!(c.present, vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn sha256_counts_bare_lf_as_crlf() {
        assert_eq!(content_sha256(b"a\nb\n"), content_sha256(b"a\r\nb\r\n"));
        assert_ne!(content_sha256(b"a\r\nb\r\n"), content_sha256(b"a\r\nc\r\n"));
        assert_eq!(
            content_sha256(b"x"),
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"x"))
        );
    }

    fn group(target: &str, sources: &[&str]) -> Group {
        Group {
            target: target.into(),
            sources: sources
                .iter()
                .map(|s| SourceFolder {
                    listed: ListedFolder::from_list(s, Some("/"), None, false, None),
                    stored: None,
                })
                .collect(),
        }
    }

    fn scan(items: Vec<Item>) -> Scan {
        Scan {
            items,
            ..Default::default()
        }
    }

    #[test]
    fn a_missing_target_folder_means_everything_is_missing() {
        let g = group("Archive", &["Archive"]);
        let (f, p) = judge(
            &g,
            scan(vec![item(0, 1, "a", &[], D), item(0, 2, "b", &[], D)]),
            None,
        );
        assert!(!f.target_exists);
        assert_eq!((f.source_messages, f.missing, f.present), (2, 2, 0));
        assert!(!f.ok());
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|p| p.problem.kind == ProblemKind::Missing));
    }

    #[test]
    fn problems_name_their_folder_and_side() {
        let g = group("INBOX", &["INBOX", "Old"]);
        let s = scan(vec![
            item(0, 1, "a", &["\\Seen"], D),
            item(1, 2, "b", &[], D),
        ]);
        let t = scan(vec![item(0, 10, "a", &[], D), item(0, 11, "c", &[], D)]);
        let (f, p) = judge(&g, s, Some((t, FlagRoom::All)));
        assert_eq!(f.source, "INBOX + Old");
        assert_eq!((f.missing, f.extra, f.flags_differ), (1, 1, 1));
        let missing = p
            .iter()
            .find(|p| p.problem.kind == ProblemKind::Missing)
            .unwrap();
        assert_eq!(missing.problem.folder, "Old");
        assert_eq!(missing.problem.uid, Some(2));
        assert_eq!(missing.side, Some(1));
        let extra = p
            .iter()
            .find(|p| p.problem.kind == ProblemKind::Extra)
            .unwrap();
        assert_eq!(extra.problem.folder, "INBOX");
        assert_eq!(extra.problem.target_uid, Some(11));
        assert_eq!(extra.side, None);
        let flags = p
            .iter()
            .find(|p| p.problem.kind == ProblemKind::Flags)
            .unwrap();
        assert_eq!(
            (flags.problem.uid, flags.problem.target_uid),
            (Some(1), Some(10))
        );
    }

    #[test]
    fn unstorable_flags_are_listed_as_not_compared() {
        let g = group("INBOX", &["INBOX"]);
        let room = FlagRoom::Folder(MailboxState {
            permanent_flags: vec!["\\Seen".into()],
            ..Default::default()
        });
        let s = scan(vec![item(0, 1, "a", &["\\Seen", "$Label1"], D)]);
        let t = scan(vec![item(0, 10, "a", &["\\Seen"], D)]);
        let (f, _) = judge(&g, s, Some((t, room)));
        assert!(f.ok());
        assert_eq!(f.flags_ignored, vec!["$Label1"]);
    }

    #[test]
    fn a_refused_folder_is_not_ok_and_lists_no_problems() {
        let g = group("INBOX", &["INBOX"]);
        let mut s = scan(vec![item(0, 1, "a", &[], D)]);
        s.refused = Some("source INBOX: NO".into());
        let (f, p) = judge(&g, s, Some((scan(vec![]), FlagRoom::All)));
        assert!(!f.ok());
        assert!(p.is_empty());
    }

    fn verdict_with(problems: Vec<Problem>, folder: FolderVerdict) -> Verdict {
        let mut v = Verdict {
            ok: true,
            method: Method::Fingerprint,
            totals: VerifyTotals::default(),
            folders: vec![folder],
            problems,
            warnings: vec![],
            seconds: 0.0,
        };
        v.add_up();
        v
    }

    fn missing_problem(uid: u32) -> Problem {
        Problem {
            kind: ProblemKind::Missing,
            folder: "INBOX".into(),
            target_folder: "INBOX".into(),
            uid: Some(uid),
            target_uid: None,
            message_id: Some(format!("<m{uid}@x>")),
            subject: Some(format!("report {uid} 报告")),
            from: Some("a@example.com".into()),
            date: Some("2021-01-01T10:00:00+08:00".into()),
            size: 1234,
            fingerprint: "1234:abc".into(),
            sha256: None,
            source_flags: None,
            target_flags: None,
            source_internaldate: None,
            target_internaldate: None,
        }
    }

    #[test]
    fn json_has_the_promised_shape() {
        let folder = FolderVerdict {
            source: "INBOX".into(),
            target: "INBOX".into(),
            target_exists: true,
            source_messages: 3,
            target_messages: 2,
            present: 2,
            missing: 1,
            ..Default::default()
        };
        let v = verdict_with(vec![missing_problem(3)], folder);
        let j: serde_json::Value = serde_json::to_value(&v).unwrap();
        assert_eq!(j["ok"], false);
        assert_eq!(j["method"], "fingerprint");
        assert_eq!(j["totals"]["missing"], 1);
        assert_eq!(j["totals"]["source_messages"], 3);
        let f = &j["folders"][0];
        for key in [
            "source",
            "target",
            "source_messages",
            "target_messages",
            "missing",
            "extra",
            "flags_differ",
            "date_differ",
            "duplicates",
        ] {
            assert!(f.get(key).is_some(), "folders[0] lacks {key}");
        }
        let p = &j["problems"][0];
        assert_eq!(p["kind"], "missing");
        assert_eq!(p["folder"], "INBOX");
        assert_eq!(p["message_id"], "<m3@x>");
        assert_eq!(p["subject"], "report 3 报告");
        assert_eq!(p["date"], "2021-01-01T10:00:00+08:00");
        assert_eq!(v.exit_code(), 1);
    }

    #[test]
    fn deep_method_is_named_sha256() {
        assert_eq!(serde_json::to_value(Method::Sha256).unwrap(), "sha256");
    }

    #[test]
    fn a_clean_verdict_exits_zero_and_says_so() {
        let folder = FolderVerdict {
            source: "INBOX".into(),
            target: "INBOX".into(),
            target_exists: true,
            source_messages: 2,
            target_messages: 2,
            present: 2,
            ..Default::default()
        };
        let v = verdict_with(vec![], folder);
        assert!(v.ok);
        assert_eq!(v.exit_code(), 0);
        let text = v.render(5);
        assert!(text.contains("OK: verified by fingerprints"), "{text}");
        assert!(text.contains("--deep"), "{text}");
    }

    #[test]
    fn examples_are_limited_but_every_missing_message_is_listed() {
        let folder = FolderVerdict {
            source: "INBOX".into(),
            target: "INBOX".into(),
            target_exists: true,
            source_messages: 8,
            missing: 8,
            ..Default::default()
        };
        let v = verdict_with((1..=8).map(missing_problem).collect(), folder);
        let text = v.render(3);
        assert!(
            text.contains("missing on the target (8, first 3):"),
            "{text}"
        );
        assert!(
            text.contains("uid 3:") && !text.contains("uid 4:"),
            "{text}"
        );
        assert!(text.contains("NOT OK"), "{text}");
        let lines = v.missing_lines();
        assert_eq!(lines.lines().count(), 8);
        let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
        for key in [
            "folder",
            "uid",
            "message_id",
            "subject",
            "date",
            "size",
            "fingerprint",
        ] {
            assert!(first.get(key).is_some(), "missing line lacks {key}");
        }
        assert_eq!(first["uid"], 1);
    }

    /// A store held in memory, standing in for an archive.
    struct MemStore(Vec<(String, Vec<Vec<u8>>, Vec<String>)>);

    impl MessageStore for MemStore {
        fn folders(&self) -> std::result::Result<Vec<StoredFolder>, ArchiveError> {
            Ok(self
                .0
                .iter()
                .map(|(name, msgs, flags)| StoredFolder {
                    name: name.clone(),
                    role: None,
                    messages: msgs
                        .iter()
                        .enumerate()
                        .map(|(i, raw)| crate::archive::StoredMessage {
                            id: i as u64,
                            meta: crate::archive::MessageMeta {
                                folder: name.clone(),
                                role: None,
                                flags: flags.clone(),
                                internaldate: D.map(str::to_string),
                                size: raw.len() as u64,
                                sha256: String::new(),
                                fingerprint: Fingerprint::from_message(raw).to_string(),
                                message_id: None,
                                source_uidvalidity: None,
                                source_uid: Some(i as u32 + 1),
                                labels: Vec::new(),
                            },
                        })
                        .collect(),
                })
                .collect())
        }

        fn read(&self, folder: &str, id: u64) -> std::result::Result<Vec<u8>, ArchiveError> {
            self.0
                .iter()
                .find(|f| f.0 == folder)
                .and_then(|f| f.1.get(id as usize).cloned())
                .ok_or_else(|| ArchiveError::Invalid {
                    path: folder.into(),
                    detail: "no such message".into(),
                })
        }
    }

    fn msg(n: u32) -> Vec<u8> {
        format!("Message-ID: <m{n}@x>\r\nFrom: a@example.com\r\nSubject: s{n}\r\nDate: Mon, 1 Jan 2021 10:00:00 +0800\r\n\r\nbody {n}\r\n").into_bytes()
    }

    fn profile() -> Profile {
        profile_with("")
    }

    fn profile_with(extra: &str) -> Profile {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yaml");
        std::fs::write(
            &path,
            format!("source: {{ archive: {{ path: a }} }}\ntarget: {{ imap: {{ host: 127.0.0.1, port: 1143, tls: none, user: u, password: {{ env: MF_NO_SUCH_VAR }} }} }}\n{extra}"),
        )
        .unwrap();
        Profile::load(&path).unwrap()
    }

    fn store(folders: Vec<(&str, Vec<Vec<u8>>)>) -> Location {
        Location::Store {
            store: Arc::new(MemStore(
                folders
                    .into_iter()
                    .map(|(n, m)| (n.to_string(), m, vec!["\\Seen".to_string()]))
                    .collect(),
            )),
            label: "mem".into(),
        }
    }

    #[tokio::test]
    async fn store_to_store_finds_missing_and_duplicates_by_either_method() {
        let src = store(vec![
            ("INBOX", vec![msg(1), msg(2), msg(3)]),
            ("Work", vec![msg(4)]),
        ]);
        // The target lost message 2, holds 3 twice, and has no Work folder; its copy of 1
        // has LF line ends, which is still the same message either way.
        let lf: Vec<u8> = msg(1).into_iter().filter(|&b| b != b'\r').collect();
        let dst = store(vec![("INBOX", vec![lf, msg(3), msg(3)])]);
        for deep in [false, true] {
            let v = verify(
                &profile(),
                &src,
                &dst,
                &crate::progress::Silent,
                &VerifyOptions { deep, stored: None },
            )
            .await
            .unwrap();
            assert!(!v.ok);
            assert_eq!(
                v.method,
                if deep {
                    Method::Sha256
                } else {
                    Method::Fingerprint
                }
            );
            let inbox = &v.folders[0];
            assert_eq!(
                (inbox.present, inbox.missing, inbox.duplicates, inbox.extra),
                (2, 1, 1, 0)
            );
            let work = &v.folders[1];
            assert!(!work.target_exists);
            assert_eq!(work.missing, 1);
            let missing: Vec<_> = v
                .problems
                .iter()
                .filter(|p| p.kind == ProblemKind::Missing)
                .collect();
            assert_eq!(missing.len(), 2);
            assert_eq!(missing[0].subject.as_deref(), Some("s2"));
            assert_eq!(missing[0].message_id.as_deref(), Some("<m2@x>"));
            assert_eq!(missing[1].folder, "Work");
            assert_eq!(v.totals.missing, 2);
        }
    }

    #[tokio::test]
    async fn messages_the_filters_leave_out_are_not_expected_on_the_target() {
        // No message has an attachment: the attachment filter reads each body and drops it.
        let src = store(vec![("INBOX", vec![msg(1), msg(2)])]);
        let dst = store(vec![("INBOX", vec![])]);
        let p = profile_with("filters: { attachments: only }\n");
        let v = verify(
            &p,
            &src,
            &dst,
            &crate::progress::Silent,
            &VerifyOptions::default(),
        )
        .await
        .unwrap();
        assert!(v.ok, "{v:?}");
        assert_eq!((v.totals.source_messages, v.totals.filtered), (0, 2));
    }

    #[tokio::test]
    async fn folder_rules_apply_as_in_run() {
        let src = store(vec![
            ("INBOX", vec![msg(1)]),
            ("Junk", vec![msg(2)]),
            ("Work", vec![msg(3)]),
        ]);
        let dst = store(vec![
            ("INBOX", vec![msg(1)]),
            ("Projects/Work", vec![msg(3)]),
        ]);
        let p = profile_with("folders: { exclude: [Junk], map: { Work: Projects/Work } }\n");
        let v = verify(
            &p,
            &src,
            &dst,
            &crate::progress::Silent,
            &VerifyOptions::default(),
        )
        .await
        .unwrap();
        assert!(v.ok, "{v:?}");
        let pairs: Vec<(&str, &str)> = v
            .folders
            .iter()
            .map(|f| (f.source.as_str(), f.target.as_str()))
            .collect();
        assert_eq!(pairs, vec![("INBOX", "INBOX"), ("Work", "Projects/Work")]);
    }

    #[test]
    fn verify_can_be_spawned() {
        fn is_send<T: Send>(_: &T) {}
        let p = profile();
        let src = store(vec![]);
        let opts = VerifyOptions::default();
        let fut = verify(&p, &src, &src, &crate::progress::Silent, &opts);
        is_send(&fut);
    }
}
