//! Profile + what the servers report -> a Plan: which folders, mapped where, which messages
//! selected after filters. `plan` prints it; `run` carries it out. Building a plan only reads
//! (EXAMINE and `BODY.PEEK`), so it changes nothing anywhere.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::NaiveDate;
use serde::Serialize;

use crate::archive::StoredFolder;
use crate::checkpoint::StoredPlan;
use crate::dates::parse_internaldate;
use crate::error::{Error, Result};
use crate::fingerprint::{self, Fingerprint};
use crate::flags::FlagSet;
use crate::folders::{self, FolderMap, PlannedFolder};
use crate::imap::bodystructure::Summary;
use crate::imap::session::{FetchRecord, SentFetch};
use crate::imap::{Session, uidset};
use crate::mapping::ListedFolder;
use crate::profile::{AttachmentFilter, Filters};
use crate::providers::{Provider, Role};
use crate::reconcile::{Identified, Identity};
use crate::sides::{SourceSide, TargetSide};

/// UIDs per metadata FETCH.
const META_CHUNK: usize = 500;

/// One source message chosen for copying.
#[derive(Debug, Clone)]
pub struct SourceMessage {
    pub uid: u32,
    pub size: u32,
    pub flags: FlagSet,
    /// INTERNALDATE as the source printed it.
    pub internaldate: Option<String>,
    /// Its fingerprint, the loose key for IMAP sources ([`fingerprint::loose_key`]) and,
    /// for look-alikes, its SHA-256s: what the reconcile pairs it by, read in place.
    pub id: Identity,
    pub message_id: Option<String>,
    /// The attachment filter could not decide from BODYSTRUCTURE; decide from the body.
    pub undecided: bool,
    /// Gmail labels (`X-GM-LABELS`), kept in a backup's manifest.
    pub labels: Vec<String>,
}

impl Identified for SourceMessage {
    fn identity(&self) -> &Identity {
        &self.id
    }
}

impl SourceMessage {
    /// A message known only by its UID (its metadata could not be read).
    pub fn unreadable(uid: u32) -> SourceMessage {
        SourceMessage {
            uid,
            size: 0,
            flags: FlagSet::default(),
            internaldate: None,
            id: Identity::new(Fingerprint::UNKNOWN),
            message_id: None,
            undecided: false,
            labels: Vec::new(),
        }
    }
}

/// One source folder and where it goes.
#[derive(Debug, Clone, Serialize)]
pub struct FolderPlan {
    /// Decoded source name.
    pub source: String,
    /// Decoded target name.
    pub target: String,
    pub role: Option<Role>,
    /// Messages in the folder and their bytes.
    pub messages: u64,
    pub bytes: u64,
    /// Messages the filters select, and their bytes.
    pub selected: u64,
    pub selected_bytes: u64,
    /// Problems noticed while reading the folder (count mismatches, unparseable structures).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub source_wire: String,
    #[serde(skip)]
    pub uidvalidity: u32,
    #[serde(skip)]
    pub chosen: Vec<SourceMessage>,
    /// How many messages needed the body to decide the attachment filter.
    #[serde(skip)]
    pub structure_fallbacks: u64,
    /// UIDs whose metadata the server answered in a form that cannot be read: left out of
    /// the copy and listed as failures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<u32>,
}

impl FolderPlan {
    pub fn filtered(&self) -> u64 {
        self.messages - self.selected
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub messages: u64,
    pub bytes: u64,
    pub selected: u64,
    pub selected_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub folders: Vec<FolderPlan>,
    pub totals: Totals,
    /// Source folders left out by the folder rules.
    pub excluded: Vec<String>,
    /// Things the user should know (workers capped, map keys that matched nothing).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Plan {
    pub fn compute_totals(&mut self) {
        let mut t = Totals::default();
        for f in &self.folders {
            t.messages += f.messages;
            t.bytes += f.bytes;
            t.selected += f.selected;
            t.selected_bytes += f.selected_bytes;
        }
        self.totals = t;
    }
}

/// The source's folders, decoded.
pub async fn list_folders(
    session: &mut Session,
    provider: Option<&Provider>,
) -> Result<Vec<ListedFolder>> {
    let entries = session.list().await?;
    Ok(entries
        .iter()
        .map(|e| {
            ListedFolder::from_list(
                &e.wire,
                e.delimiter.as_deref(),
                e.role,
                e.noselect,
                provider,
            )
        })
        .collect())
}

/// Why a message is left out, or that it is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Take,
    Skip,
    /// Attachment filter active but no usable structure: decide from the body.
    Undecided,
}

/// Applies the date and size filters, and the attachment filters when a structure is known.
pub fn decide(
    filters: &Filters,
    internaldate: Option<&str>,
    size: u64,
    structure: Option<&Summary>,
) -> Decision {
    if filters.since.is_some() || filters.before.is_some() {
        // A message without a readable date is kept: losing mail is worse than an extra copy.
        if let Some(date) = internaldate.and_then(parse_internaldate) {
            let day: NaiveDate = date.date_naive();
            if filters.since.is_some_and(|s| day < s) || filters.before.is_some_and(|b| day >= b) {
                return Decision::Skip;
            }
        }
    }
    if filters.max_size.is_some_and(|m| size > m) {
        return Decision::Skip;
    }
    if !attachment_filter_active(filters) {
        return Decision::Take;
    }
    match structure {
        Some(s) => decide_attachments(filters, s),
        None => Decision::Undecided,
    }
}

pub fn attachment_filter_active(filters: &Filters) -> bool {
    filters.attachments != AttachmentFilter::Any || filters.max_attachment_size.is_some()
}

pub fn decide_attachments(filters: &Filters, s: &Summary) -> Decision {
    let has = !s.attachments.is_empty();
    let keep = match filters.attachments {
        AttachmentFilter::Any => true,
        AttachmentFilter::Only => has,
        AttachmentFilter::None => !has,
    } && filters.max_attachment_size.is_none_or(|m| s.largest() <= m);
    if keep { Decision::Take } else { Decision::Skip }
}

/// One metadata FETCH, its records.
async fn fetch_meta(
    session: &mut Session,
    _folder: &ListedFolder,
    set: &str,
    items: &str,
) -> Result<Vec<crate::imap::session::FetchRecord>> {
    let mut records = Vec::new();
    session
        .uid_fetch(set, items, &mut |r| {
            records.push(r);
            Ok(())
        })
        .await?;
    Ok(records)
}

/// Metadata FETCHes sent ahead of the chunk being read.
const PIPELINE: usize = 4;

/// A folder's metadata chunks, with up to [`PIPELINE`] FETCHes on the way at once: one round
/// trip for several chunks, not one each (a far server costs its latency once).
#[derive(Default)]
struct Ahead {
    /// (chunk, command) sent and not yet read, in order.
    sent: VecDeque<(usize, SentFetch)>,
    /// The next chunk to send.
    next: usize,
    /// Records of a later chunk that came with an earlier one's answer (a server may answer
    /// pipelined commands in any order before their completions).
    early: HashMap<usize, Vec<FetchRecord>>,
}

impl Ahead {
    /// The records of chunk `i` (chunks are read in order).
    async fn records(
        &mut self,
        session: &mut Session,
        folder: &ListedFolder,
        chunks: &[(String, Vec<u32>)],
        i: usize,
        items: &str,
    ) -> Result<Vec<FetchRecord>> {
        self.next = self.next.max(i);
        while self.next < chunks.len() && self.next < i + PIPELINE {
            match session.send_uid_fetch(&chunks[self.next].0, items).await {
                Ok(sent) => self.sent.push_back((self.next, sent)),
                Err(_) if !self.sent.is_empty() => break,
                Err(e) => return Err(e),
            }
            self.next += 1;
        }
        let sent = match self.sent.front() {
            Some((j, _)) if *j == i => self.sent.pop_front().map(|(_, sent)| sent),
            _ => None,
        };
        let Some(sent) = sent else {
            self.abandon(session, i).await;
            return fetch_meta(session, folder, &chunks[i].0, items).await;
        };
        let mut out = self.early.remove(&i).unwrap_or_default();
        let early = &mut self.early;
        let result = session
            .finish_uid_fetch(sent, &mut |r| {
                let owner = r
                    .uid
                    .map_or(i, |u| chunks.partition_point(|(_, m)| m.last() < Some(&u)));
                if owner > i && owner < chunks.len() {
                    early.entry(owner).or_default().push(r);
                } else {
                    out.push(r);
                }
                Ok(())
            })
            .await;
        match result {
            Ok(()) => Ok(out),
            Err(e) => {
                self.abandon(session, i).await;
                Err(e)
            }
        }
    }

    /// After chunk `i` failed: what was sent ahead is read and dropped (the connection stays
    /// in step), and sent again when its turn comes.
    async fn abandon(&mut self, session: &mut Session, i: usize) {
        for (_, sent) in self.sent.drain(..) {
            if session.is_broken() {
                break;
            }
            let _ = session.finish_uid_fetch(sent, &mut |_| Ok(())).await;
        }
        self.sent.clear();
        self.early.clear();
        self.next = i + 1;
    }
}

/// Reads metadata for `uids` after an answer could not be read: halves the set on each
/// unreadable answer (on a fresh connection) until the message it is about stands alone; that
/// one is left out and named in `unreadable`, and the others are read.
async fn read_narrowing(
    session: &mut Session,
    folder: &ListedFolder,
    uids: &[u32],
    items: &str,
    unreadable: &mut Vec<u32>,
) -> Result<Vec<crate::imap::session::FetchRecord>> {
    let mut out = Vec::new();
    let mut stack = vec![uids.to_vec()];
    while let Some(part) = stack.pop() {
        if session.is_broken() {
            *session = Session::connect(&session.endpoint.clone()).await?;
        }
        if session.selected().map(|m| m.wire.as_str()) != Some(folder.wire.as_str()) {
            session.examine(&folder.wire).await?;
        }
        let Some((set, _)) = uidset::chunks(&part, part.len()).into_iter().next() else {
            continue;
        };
        match fetch_meta(session, folder, &set, items).await {
            Ok(records) => out.extend(records),
            Err(Error::Protocol { .. }) if part.len() == 1 => unreadable.push(part[0]),
            Err(Error::Protocol { .. }) => {
                let (a, b) = part.split_at(part.len() / 2);
                stack.push(b.to_vec());
                stack.push(a.to_vec());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Reads one source folder's messages (metadata only) and applies the filters.
pub async fn scan_folder(
    session: &mut Session,
    folder: &ListedFolder,
    target: String,
    filters: &Filters,
) -> Result<FolderPlan> {
    let state = session.examine(&folder.wire).await?.clone();
    let mut plan = FolderPlan {
        source: folder.name.clone(),
        target,
        role: folder.role,
        messages: 0,
        bytes: 0,
        selected: 0,
        selected_bytes: 0,
        warnings: Vec::new(),
        source_wire: folder.wire.clone(),
        uidvalidity: state.uidvalidity.unwrap_or(0),
        chosen: Vec::new(),
        structure_fallbacks: 0,
        unreadable: Vec::new(),
    };
    if state.exists == 0 {
        return Ok(plan);
    }
    // Enumerate UIDs first (cheap), then fetch metadata in ascending bounded sets.
    let uids = session.all_uids().await?;
    if uids.len() as u32 != state.exists {
        plan.warnings.push(format!(
            "the server reported {} messages but listed {}; copying the {} listed",
            state.exists,
            uids.len(),
            uids.len()
        ));
    }
    let want_structure = attachment_filter_active(filters);
    let header_item = fingerprint::fetch_item();
    let items = if want_structure {
        format!("(UID FLAGS INTERNALDATE RFC822.SIZE {header_item} BODYSTRUCTURE)")
    } else {
        format!("(UID FLAGS INTERNALDATE RFC822.SIZE {header_item})")
    };
    let chunks = uidset::chunks(&uids, META_CHUNK);
    // One exact allocation for the folder's list, not a doubling one: it is what a large
    // folder's memory is made of.
    plan.chosen.reserve_exact(uids.len());
    let mut ahead = Ahead::default();
    for (i, (_, members)) in chunks.iter().enumerate() {
        let mut structure_usable = want_structure;
        let records = match ahead.records(session, folder, &chunks, i, &items).await {
            Ok(r) => r,
            Err(e) if want_structure && e.poisons_connection() => {
                // imap-proto cannot parse some real BODYSTRUCTUREs and drops the connection;
                // fetch this chunk again without it and decide from the bodies later.
                tracing::warn!(folder = %folder.name, "BODYSTRUCTURE unreadable ({e}); deciding from message bodies");
                structure_usable = false;
                let items = format!("(UID FLAGS INTERNALDATE RFC822.SIZE {header_item})");
                read_narrowing(session, folder, members, &items, &mut plan.unreadable).await?
            }
            Err(e @ Error::Protocol { .. }) => {
                tracing::warn!(folder = %folder.name, "an answer could not be read ({e}); narrowing it down");
                read_narrowing(session, folder, members, &items, &mut plan.unreadable).await?
            }
            Err(e) => return Err(e),
        };
        let wanted: std::collections::HashSet<u32> = members.iter().copied().collect();
        let mut seen = std::collections::HashSet::new();
        for r in records {
            let Some(uid) = r.uid else { continue };
            // Unsolicited FETCH responses (another client changing flags meanwhile) carry
            // no size: they are not the answer to this command.
            let Some(size) = r.size else { continue };
            if !wanted.contains(&uid) || !seen.insert(uid) {
                continue;
            }
            plan.messages += 1;
            plan.bytes += size as u64;
            let headers = r.header.unwrap_or_default();
            let structure = if structure_usable {
                r.bodystructure.as_ref()
            } else {
                None
            };
            let decision = decide(filters, r.internaldate.as_deref(), size as u64, structure);
            if decision == Decision::Skip {
                continue;
            }
            if decision == Decision::Undecided {
                plan.structure_fallbacks += 1;
            }
            plan.selected += 1;
            plan.selected_bytes += size as u64;
            plan.chosen.push(SourceMessage {
                uid,
                size,
                flags: r.flags.unwrap_or_default(),
                internaldate: r.internaldate,
                id: Identity::from_fetch(
                    &headers,
                    r.text.as_deref().unwrap_or_default(),
                    size as u64,
                ),
                message_id: fingerprint::message_id(&headers),
                undecided: decision == Decision::Undecided,
                labels: Vec::new(),
            });
        }
    }
    if plan.chosen.len() < plan.chosen.capacity() / 2 {
        plan.chosen.shrink_to_fit();
    }
    // Messages whose answer could not be read are in the folder, and chosen: they fail.
    plan.messages += plan.unreadable.len() as u64;
    plan.selected += plan.unreadable.len() as u64;
    if plan.messages < uids.len() as u64 {
        plan.warnings.push(format!(
            "{} messages vanished while reading (deleted on the server meanwhile?)",
            uids.len() as u64 - plan.messages
        ));
    }
    if plan.structure_fallbacks > 0 {
        plan.warnings.push(format!(
            "{} messages had no usable BODYSTRUCTURE; the attachment filter decides from their bodies",
            plan.structure_fallbacks
        ));
    }
    Ok(plan)
}

/// A planned folder with nothing read yet.
fn unscanned(pf: &PlannedFolder) -> FolderPlan {
    FolderPlan {
        source: pf.source.name.clone(),
        target: pf.target.clone(),
        role: pf.role(),
        messages: 0,
        bytes: 0,
        selected: 0,
        selected_bytes: 0,
        warnings: Vec::new(),
        source_wire: pf.source.wire.clone(),
        uidvalidity: 0,
        chosen: Vec::new(),
        structure_fallbacks: 0,
        unreadable: Vec::new(),
    }
}

fn empty_plan(map: &FolderMap) -> Plan {
    Plan {
        folders: Vec::new(),
        totals: Totals::default(),
        excluded: map.excluded.clone(),
        notes: map.notes.clone(),
    }
}

/// Scans folders of the map, taking the next unscanned one each time, until none is left.
async fn scan_some(
    s: &mut Session,
    map: &FolderMap,
    filters: &Filters,
    next: &std::sync::atomic::AtomicUsize,
) -> Result<Vec<(usize, FolderPlan)>> {
    let mut done = Vec::new();
    loop {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let Some(pf) = map.folders.get(i) else {
            return Ok(done);
        };
        let mut fp = scan_folder(s, &pf.source, pf.target.clone(), filters).await?;
        fp.role = pf.role();
        done.push((i, fp));
    }
}

/// Scans an IMAP source's folders as the folder map plans them: on `connections` sessions
/// at once where there are several folders (each folder costs round trips; a far server's
/// latency is then paid once per session, not once per folder).
pub async fn build(
    source: &mut Session,
    map: &FolderMap,
    filters: &Filters,
    connections: usize,
) -> Result<Plan> {
    let mut plan = empty_plan(map);
    // A batch shares each host's connections among accounts: its planning takes one.
    let extra = if source.endpoint.limit.is_some() {
        0
    } else {
        connections.min(map.folders.len()).saturating_sub(1)
    };
    let mut sessions = vec![];
    if extra > 0 {
        let endpoint = source.endpoint.clone();
        let opened =
            futures::future::join_all((0..extra).map(|_| Session::connect(&endpoint))).await;
        // A helper that cannot connect only means less parallel planning.
        sessions.extend(opened.into_iter().flatten());
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<Vec<(usize, FolderPlan)>>> = futures::future::join_all(
        std::iter::once(source)
            .chain(sessions.iter_mut())
            .map(|s| scan_some(s, map, filters, &next)),
    )
    .await;
    futures::future::join_all(sessions.into_iter().map(Session::logout)).await;
    let mut scanned = Vec::new();
    for r in results {
        scanned.extend(r?);
    }
    scanned.sort_by_key(|(i, _)| *i);
    plan.folders = scanned.into_iter().map(|(_, fp)| fp).collect();
    plan.compute_totals();
    Ok(plan)
}

/// A folder of a message store as the folder plan sees it: the stored name is already decoded.
pub fn listed_from_store(name: &str, role: Option<Role>) -> ListedFolder {
    let name = if name.eq_ignore_ascii_case("INBOX") {
        "INBOX".to_string()
    } else {
        name.to_string()
    };
    let role = if name == "INBOX" {
        Some(Role::Inbox)
    } else {
        role.or_else(|| crate::providers::role_from_name(&name, None))
    };
    ListedFolder {
        wire: name.clone(),
        special_use: role.is_some(),
        name,
        delimiter: Some('/'),
        role,
        selectable: true,
    }
}

/// Reads a message store's folders as the folder map plans them. Message ids take the place
/// of UIDs; UIDVALIDITY is 0.
pub fn from_store(stored: Vec<StoredFolder>, map: &FolderMap, filters: &Filters) -> Result<Plan> {
    let mut plan = empty_plan(map);
    let mut by_name: BTreeMap<String, StoredFolder> = stored
        .into_iter()
        .map(|f| (listed_from_store(&f.name, f.role).name, f))
        .collect();
    for pf in &map.folders {
        let mut fp = unscanned(pf);
        let Some(f) = by_name.remove(&pf.source.name) else {
            plan.folders.push(fp);
            continue;
        };
        fp.source_wire = f.name.clone();
        for m in f.messages {
            let size = m.meta.size;
            fp.messages += 1;
            fp.bytes += size;
            let decision = decide(filters, m.meta.internaldate.as_deref(), size, None);
            if decision == Decision::Skip {
                continue;
            }
            fp.selected += 1;
            fp.selected_bytes += size;
            let Ok(uid) = u32::try_from(m.id) else {
                fp.warnings.push(format!(
                    "message {} is beyond what one folder can hold",
                    m.id
                ));
                continue;
            };
            fp.chosen.push(SourceMessage {
                uid,
                size: u32::try_from(size).unwrap_or(u32::MAX),
                flags: crate::flags::intern(m.meta.flags),
                internaldate: m.meta.internaldate,
                id: Identity::new(Fingerprint::from_stored(&m.meta.fingerprint)),
                message_id: m.meta.message_id,
                undecided: decision == Decision::Undecided,
                labels: Vec::new(),
            });
        }
        plan.folders.push(fp);
    }
    plan.compute_totals();
    Ok(plan)
}

/// Gmail: each message stays only in the folder [`crate::gmail::assign`] gave it, and
/// carries its labels.
pub fn leave_to_other_labels(plan: &mut Plan, a: &crate::gmail::Assignment) {
    let mut left = 0u64;
    for fp in &mut plan.folders {
        let before = fp.chosen.len();
        let name = fp.source.clone();
        let gone_bytes: u64 = fp
            .chosen
            .iter()
            .filter(|m| a.leaves(&name, m.uid))
            .map(|m| u64::from(m.size))
            .sum();
        fp.chosen.retain(|m| !a.leaves(&name, m.uid));
        for m in &mut fp.chosen {
            if let Some(l) = a.labels.get(&(name.clone(), m.uid)) {
                m.labels = l.clone();
            }
        }
        let gone = (before - fp.chosen.len()) as u64;
        if gone > 0 {
            fp.selected = fp.selected.saturating_sub(gone);
            fp.selected_bytes = fp.selected_bytes.saturating_sub(gone_bytes);
            fp.warnings.push(format!(
                "{gone} message(s) are carried in another label's folder (Gmail shows one message in every label)"
            ));
            left += gone;
        }
    }
    if left > 0 {
        plan.notes.push(format!(
            "Gmail: {left} listing(s) of messages with several labels are copied once; `gmail: {{ labels: all }}` keeps a copy per label"
        ));
    }
    plan.compute_totals();
}

/// Refuses a plan whose folder rules leave nothing out of a source that has folders; a
/// source with no folders at all is not an error, just nothing to do (said in the notes).
pub fn check_not_empty(plan: &mut Plan) -> Result<()> {
    if !plan.folders.is_empty() {
        return Ok(());
    }
    if plan.excluded.is_empty() {
        plan.notes
            .push("the source has no folders with messages: nothing to copy".into());
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "no source folder matches folders.include/exclude (left out: {}); check the patterns with `mailferry plan`",
        plan.excluded.join(", ")
    )))
}

/// The folders of an IMAP account, decoded, and its hierarchy delimiter.
pub async fn listing(
    session: &mut Session,
    provider: Option<&Provider>,
) -> Result<(Vec<ListedFolder>, String)> {
    let entries = session.list().await?;
    let delimiter = entries
        .iter()
        .find_map(|e| e.delimiter.clone())
        .unwrap_or_else(|| "/".to_string());
    let folders = entries
        .iter()
        .map(|e| {
            ListedFolder::from_list(
                &e.wire,
                e.delimiter.as_deref(),
                e.role,
                e.noselect,
                provider,
            )
        })
        .collect();
    Ok((folders, delimiter))
}

/// A job's plan: the folder map and every planned folder scanned.
pub struct Planned {
    pub plan: Plan,
    pub map: FolderMap,
    /// The source connection the scan used (IMAP sources), for reuse.
    pub source: Option<Session>,
}

/// Lists the source, decides the folder map (through [`folders::plan`], the one place that
/// decides it) and scans the planned folders. Reads only.
pub async fn plan_job(
    profile: &crate::profile::Profile,
    source: &SourceSide,
    target: &TargetSide,
    target_listing: &[ListedFolder],
    stored: Option<&StoredPlan>,
) -> Result<Planned> {
    let inputs = |source_listing, gmail| folders::Inputs {
        source: source_listing,
        target: target_listing,
        rules: &profile.folders,
        source_provider: source.provider(),
        target_provider: target.provider(),
        target_kind: target.kind(),
        stored,
        gmail,
    };
    let mut planned = match source {
        SourceSide::Imap(ep) => {
            let mut s = Session::connect(ep).await?;
            let (listed, _) = listing(&mut s, ep.provider).await?;
            let gmail = s.has(crate::gmail::EXTENSION);
            let map = folders::plan(&inputs(&listed, gmail))?;
            let mut plan = build(&mut s, &map, &profile.filters, profile.workers).await?;
            if gmail {
                let a = crate::gmail::survey(&mut s, &map.folders, &profile.gmail).await?;
                leave_to_other_labels(&mut plan, &a);
            }
            Planned {
                plan,
                map,
                source: Some(s),
            }
        }
        SourceSide::Store { store, .. } => {
            let st = store.clone();
            let stored_folders = tokio::task::spawn_blocking(move || st.folders())
                .await
                .map_err(|e| Error::Invalid(format!("a background task failed: {e}")))??;
            let listed: Vec<ListedFolder> = stored_folders
                .iter()
                .map(|f| listed_from_store(&f.name, f.role))
                .collect();
            let map = folders::plan(&inputs(&listed, false))?;
            let mut plan = from_store(stored_folders, &map, &profile.filters)?;
            plan.notes.extend(store.notes());
            Planned {
                plan,
                map,
                source: None,
            }
        }
    };
    planned.plan.notes.extend(profile.notes.iter().cloned());
    Ok(planned)
}

/// The plan for any source and target, changing nothing: IMAP folders are only listed and
/// EXAMINEd, an archive target's manifest and the job's stored folder plan only read.
pub async fn for_sides(
    profile: &crate::profile::Profile,
    source: &SourceSide,
    target: &TargetSide,
) -> Result<Plan> {
    let target_listing = match target {
        TargetSide::Imap(ep) => {
            let mut t = Session::connect(ep).await?;
            let (folders, _) = listing(&mut t, ep.provider).await?;
            t.logout().await;
            folders
        }
        TargetSide::Archive(_) => Vec::new(),
    };
    let stored = crate::checkpoint::read_stored_plan(
        &profile.state_dir,
        &crate::sides::job_label(source, target),
    )?;
    let planned = plan_job(profile, source, target, &target_listing, stored.as_ref()).await?;
    if let Some(s) = planned.source {
        s.logout().await;
    }
    Ok(planned.plan)
}

/// The human table of a plan.
pub fn render(plan: &Plan) -> String {
    use std::fmt::Write as _;
    let human = crate::text::human_bytes;
    let mut out = String::new();
    let pad = crate::text::pad;
    let w = crate::text::name_width(
        plan.folders
            .iter()
            .flat_map(|f| [f.source.as_str(), f.target.as_str()]),
    );
    let (t, r) = (crate::i18n::t, crate::text::rpad);
    let _ = writeln!(
        out,
        "{}  {}  {} {} {} {} {}",
        pad(&t("col-source"), w),
        pad(&t("col-target"), w),
        pad(&t("col-role"), 8),
        r(&t("col-messages"), 8),
        r(&t("col-bytes"), 10),
        r(&t("col-selected"), 8),
        r(&t("col-selected-bytes"), 10)
    );
    for f in &plan.folders {
        let _ = writeln!(
            out,
            "{}  {}  {:<8} {:>8} {:>10} {:>8} {:>10}",
            pad(&f.source, w),
            pad(&f.target, w),
            f.role
                .map(|r| format!("{r:?}").to_lowercase())
                .unwrap_or_else(|| "-".into()),
            f.messages,
            human(f.bytes),
            f.selected,
            human(f.selected_bytes)
        );
        for warn in &f.warnings {
            let _ = writeln!(out, "  {}: {warn}", t("warning"));
        }
    }
    let totals = &plan.totals;
    let _ = writeln!(
        out,
        "{}",
        crate::i18n::ta(
            "plan-total",
            &[
                ("messages", totals.messages.to_string()),
                ("bytes", human(totals.bytes)),
                ("selected", totals.selected.to_string()),
                ("selected_bytes", human(totals.selected_bytes)),
            ],
        )
    );
    if !plan.excluded.is_empty() {
        let folders = plan.excluded.join(", ");
        let _ = writeln!(
            out,
            "{}",
            crate::i18n::ta("plan-left-out", &[("folders", folders)])
        );
    }
    for n in &plan.notes {
        let _ = writeln!(out, "{}: {n}", t("note"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters() -> Filters {
        Filters::default()
    }

    #[test]
    fn date_filters_use_the_internaldate_own_day() {
        let mut f = filters();
        f.since = NaiveDate::from_ymd_opt(2021, 1, 1);
        f.before = NaiveDate::from_ymd_opt(2022, 1, 1);
        assert_eq!(
            decide(&f, Some("31-Dec-2020 23:59:59 +0800"), 1, None),
            Decision::Skip
        );
        assert_eq!(
            decide(&f, Some(" 1-Jan-2021 00:00:00 +0800"), 1, None),
            Decision::Take
        );
        assert_eq!(
            decide(&f, Some("31-Dec-2021 23:59:59 -0500"), 1, None),
            Decision::Take
        );
        assert_eq!(
            decide(&f, Some("01-Jan-2022 00:00:00 +0000"), 1, None),
            Decision::Skip
        );
        // Unreadable date: kept rather than lost.
        assert_eq!(decide(&f, Some("garbage"), 1, None), Decision::Take);
    }

    #[test]
    fn size_and_attachment_filters() {
        let mut f = filters();
        f.max_size = Some(100);
        assert_eq!(decide(&f, None, 101, None), Decision::Skip);
        assert_eq!(decide(&f, None, 100, None), Decision::Take);
        f.attachments = AttachmentFilter::Only;
        assert_eq!(decide(&f, None, 10, None), Decision::Undecided);
        let with = Summary {
            attachments: vec![50],
        };
        let without = Summary::default();
        assert_eq!(decide(&f, None, 10, Some(&with)), Decision::Take);
        assert_eq!(decide(&f, None, 10, Some(&without)), Decision::Skip);
        f.attachments = AttachmentFilter::None;
        assert_eq!(decide(&f, None, 10, Some(&with)), Decision::Skip);
        f.attachments = AttachmentFilter::Any;
        f.max_attachment_size = Some(40);
        assert_eq!(decide(&f, None, 10, Some(&with)), Decision::Skip);
        assert_eq!(decide(&f, None, 10, Some(&without)), Decision::Take);
    }
}
