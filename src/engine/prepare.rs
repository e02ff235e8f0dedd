//! Before copying: the folder plan (stored with the job and reused), target folders found or
//! created, and, per target folder, one [`reconcile`] of the source messages against what the
//! target holds. What it lacks is queued; copies already there get their flags brought over
//! as the profile's flag policy says.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{
    BATCH_BYTES, BATCH_MESSAGES, Batch, FolderRun, PART_BYTES, RunOptions, TargetFolder,
    blocking_err,
};
use crate::archive::{ArchiveWriter, KnownMessage, MessageStore};
use crate::checkpoint::{self, Checkpoint};
use crate::error::{Error, Result, Side};
use crate::fingerprint::{self, Fingerprint, content_sha256};
use crate::flags::FlagSet;
use crate::flags::{self, Change, FlagPolicy};
use crate::imap::{Session, mutf7, uidset};
use crate::mapping::ListedFolder;
use crate::plan::{self, FolderPlan, SourceMessage};
use crate::profile::Profile;
use crate::progress::{Event, Progress};
use crate::reconcile::{self, Identity, canonical_sha256};
use crate::report::{FolderReport, Report};
use crate::sides::{SourceSide, TargetSide, job_label};

/// What the run starts from.
pub(super) struct Prepared {
    pub report: Report,
    pub folders: Vec<FolderRun>,
    pub queue: VecDeque<Batch>,
    pub checkpoint: Checkpoint,
    pub source: Option<Session>,
    /// The planner's target connection: the first append worker's.
    pub target: Option<Session>,
    pub writer: Option<ArchiveWriter>,
    pub left: u64,
    pub bytes: u64,
    pub present: u64,
    /// Messages the target cannot take (larger than it accepts), never fetched: (folder run,
    /// message, why). They fail when the run starts, listed like any failure.
    pub refused: Vec<(usize, SourceMessage, String)>,
}

/// What a target folder holds, one entry per message in parallel columns: the identities go
/// to reconcile as they are, without a copy (a large folder holds 100,000 of them).
#[derive(Default)]
struct TargetList {
    uids: Vec<u32>,
    ids: Vec<Identity>,
    flags: Vec<FlagSet>,
}

impl TargetList {
    /// Room for `n` messages, as far as a count a server or file gave can be trusted.
    fn with_capacity(n: usize) -> TargetList {
        let n = n.min(1 << 20);
        TargetList {
            uids: Vec::with_capacity(n),
            ids: Vec::with_capacity(n),
            flags: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, uid: u32, identity: Identity, flags: FlagSet) {
        self.uids.push(uid);
        self.ids.push(identity);
        self.flags.push(flags);
    }
}

/// The target wire name for a decoded `/`-separated name.
fn target_wire(name: &str, delimiter: &str) -> String {
    if name.eq_ignore_ascii_case("INBOX") {
        return "INBOX".into();
    }
    name.split('/')
        .map(mutf7::encode)
        .collect::<Vec<_>>()
        .join(delimiter)
}

/// Every message of the selected target folder, and its highest UID.
async fn read_target(session: &mut Session, exists: u32) -> Result<(TargetList, u32)> {
    let mut out = TargetList::with_capacity(exists as usize);
    let mut seen = BTreeSet::new();
    if exists == 0 {
        return Ok((out, 0));
    }
    let items = format!("(UID FLAGS RFC822.SIZE {})", fingerprint::fetch_item());
    session
        .uid_fetch("1:*", &items, &mut |r| {
            if let (Some(uid), Some(size)) = (r.uid, r.size)
                && seen.insert(uid)
            {
                out.push(
                    uid,
                    Identity::from_fetch(
                        r.header.as_deref().unwrap_or_default(),
                        r.text.as_deref().unwrap_or_default(),
                        size as u64,
                    ),
                    r.flags.clone().unwrap_or_default(),
                );
            }
            Ok(())
        })
        .await?;
    let max = out.uids.iter().copied().max().unwrap_or(0);
    Ok((out, max))
}

/// Exact and canonical SHA-256 of whole messages, by UID, in the selected folder.
async fn body_hashes(
    session: &mut Session,
    uids: &[u32],
) -> Result<HashMap<u32, (String, String)>> {
    let mut out = HashMap::new();
    for (set, members) in uidset::chunks(uids, 20) {
        // Sizes are not known here: allow each of the 20 a generous 4 MiB at the slowest rate.
        session.expect_bytes(members.len() as u64 * 4 * 1024 * 1024);
        session
            .uid_fetch(&set, "(UID BODY.PEEK[])", &mut |r| {
                if let (Some(u), Some(b)) = (r.uid, r.body.as_ref()) {
                    out.insert(u, (content_sha256(b), canonical_sha256(b)));
                }
                Ok(())
            })
            .await?;
    }
    Ok(out)
}

/// The target folders of the plan, found or created, with what each holds.
struct TargetState {
    folder: Arc<TargetFolder>,
    messages: TargetList,
    /// Message ids of an archive folder, in the order of `messages`.
    archive: bool,
    /// Archive: ids of the messages an earlier backup found deleted on the source.
    gone: std::collections::HashSet<u32>,
}

pub(super) async fn prepare(
    profile: &Profile,
    source_side: &SourceSide,
    target_side: &TargetSide,
    progress: &Arc<dyn Progress>,
    opts: &RunOptions,
    side: &mut Side,
) -> Result<Prepared> {
    let mut target: Option<Session> = None;
    let mut writer: Option<ArchiveWriter> = None;
    // A dry run's view of an archive target: folder -> what it holds.
    let mut preview: HashMap<String, Vec<KnownMessage>> = HashMap::new();

    *side = Side::Target;
    let (target_listing, delimiter) = match target_side {
        TargetSide::Imap(ep) => {
            let mut t = Session::connect(ep).await?;
            let listing = plan::listing(&mut t, ep.provider).await?;
            target = Some(t);
            listing
        }
        TargetSide::Archive(a) => {
            let dir = a.path.clone();
            let (format, level) = (a.format, a.compression_level);
            let seal = a.encryption.clone();
            let names = if opts.dry_run {
                // A dry run reads the archive as a restore would: no lock, no recovery.
                if dir.exists() {
                    preview = tokio::task::spawn_blocking(move || archive_preview(&dir))
                        .await
                        .map_err(blocking_err)??;
                }
                preview.keys().cloned().collect()
            } else {
                let w = tokio::task::spawn_blocking(move || {
                    ArchiveWriter::open(&dir, format, level, seal.as_ref())
                })
                .await
                .map_err(blocking_err)??;
                let names = w.folders();
                writer = Some(w);
                names
            };
            let listed = names
                .iter()
                .map(|n| plan::listed_from_store(n, None))
                .collect();
            (listed, "/".to_string())
        }
    };

    let job = job_label(source_side, target_side);
    let checkpoint = if opts.dry_run {
        Checkpoint::open_read_only(&profile.state_dir, &job)
    } else {
        Checkpoint::open(&profile.state_dir, &job)?
    };
    let stored = checkpoint.stored_plan()?;
    *side = Side::Source;
    let planned = plan::plan_job(
        profile,
        source_side,
        target_side,
        &target_listing,
        stored.as_ref(),
    )
    .await?;
    let mut plan = planned.plan;
    plan::check_not_empty(&mut plan)?;
    if !opts.dry_run {
        checkpoint.save_plan(&planned.map.to_stored_over(stored.as_ref()))?;
    }
    let mut source = planned.source;

    let mut report = Report {
        dry_run: opts.dry_run,
        warnings: plan.notes.clone(),
        not_carried: match source_side {
            SourceSide::Store { problems, .. } => problems.clone(),
            SourceSide::Imap(_) => Vec::new(),
        },
        ..Default::default()
    };
    for f in &plan.folders {
        for w in &f.warnings {
            report.warnings.push(format!("{}: {w}", f.source));
        }
    }

    *side = Side::Target;
    if let Some(w) = writer.as_mut()
        && !opts.dry_run
    {
        w.begin_run()?;
    }
    let mut targets: BTreeMap<String, TargetState> = BTreeMap::new();
    for f in &plan.folders {
        if targets.contains_key(&f.target) {
            continue;
        }
        let state = open_target(
            f,
            target.as_mut(),
            writer.as_mut(),
            &preview,
            &target_listing,
            &delimiter,
            opts,
            progress,
            &mut report,
        )
        .await?;
        targets.insert(f.target.clone(), state);
    }

    let mut prepared = Prepared {
        report,
        folders: Vec::new(),
        queue: VecDeque::new(),
        checkpoint,
        source: None,
        target: None,
        writer: None,
        left: 0,
        bytes: 0,
        present: 0,
        refused: Vec::new(),
    };
    let limit = size_limit(target.as_ref(), target_side);
    let policy = if target.is_some() {
        profile.flags
    } else {
        // An archive is a record of the source: its flags follow the source's.
        FlagPolicy::Mirror
    };
    // A backup notes which archived messages the source deleted, for retention. Only when it
    // sees whole folders: a filter, or POP3's window, leaves out mail that was not deleted.
    let track_deletions = !opts.dry_run
        && profile.filters.selects_everything()
        && !matches!(profile.source, crate::profile::Source::Pop3(_));
    let folders = plan.folders;
    let mut runs: Vec<Option<(FolderPlan, FolderReport, Vec<SourceMessage>)>> = Vec::new();
    for fp in folders {
        let report = FolderReport {
            source: fp.source.clone(),
            target: fp.target.clone(),
            selected: fp.selected,
            filtered: fp.filtered(),
            ..Default::default()
        };
        runs.push(Some((fp, report, Vec::new())));
    }
    for (name, ts) in &mut targets {
        let members: Vec<usize> = runs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.as_ref().is_some_and(|r| r.0.target == *name))
            .map(|(i, _)| i)
            .collect();
        let reader = match (source.as_mut(), source_side) {
            (Some(s), _) => Reader::Imap(s),
            (None, SourceSide::Store { store, .. }) => Reader::Store(store.clone()),
            (None, SourceSide::Imap(_)) => Reader::None,
        };
        settle_target(
            track_deletions,
            &members,
            &mut runs,
            ts,
            reader,
            target.as_mut(),
            writer.as_mut(),
            &prepared.checkpoint,
            policy,
            opts,
            &mut prepared.report,
        )
        .await?;
    }
    for (idx, run) in runs.into_iter().enumerate() {
        let Some((mut fp, mut folder_report, left)) = run else {
            continue;
        };
        let Some(ts) = targets.get(&fp.target) else {
            return Err(Error::Invalid(format!(
                "no target folder for {}",
                fp.source
            )));
        };
        let bytes: u64 = left.iter().map(|m| m.size as u64).sum();
        prepared.left += left.len() as u64;
        prepared.bytes += bytes;
        prepared.present += folder_report.already_present;
        let unreadable = std::mem::take(&mut fp.unreadable);
        let remaining = (left.len() + unreadable.len()) as u64;
        for uid in unreadable {
            let why = "the source server's answer about this message is not valid IMAP, so it cannot be read; it was left out. Copy it by hand (a mail client may show it), or report it to the provider".to_string();
            prepared
                .refused
                .push((idx, SourceMessage::unreadable(uid), why));
        }
        let (left, too_big): (Vec<SourceMessage>, Vec<SourceMessage>) = left
            .into_iter()
            .partition(|m| limit.as_ref().is_none_or(|(l, _)| u64::from(m.size) <= *l));
        if let Some((l, who)) = &limit {
            for m in too_big {
                let why = format!(
                    "the message is {} bytes and {who} accepts at most {l} per message; it was not fetched. Leave it out with filters.max_size, or save it from the source another way",
                    m.size
                );
                prepared.refused.push((idx, m, why));
            }
        }
        if opts.dry_run {
            // What the run would do: copy what is queued, fail what is refused up front.
            folder_report.copied = left.len() as u64;
            folder_report.bytes = left.iter().map(|m| u64::from(m.size)).sum();
            folder_report.failed = prepared.refused.iter().filter(|r| r.0 == idx).count() as u64;
        } else {
            queue_batches(idx, left, &mut prepared.queue);
        }
        prepared.folders.push(FolderRun {
            plan: fp,
            target: ts.folder.clone(),
            report: Mutex::new(folder_report),
            flags_not_kept: Mutex::new(BTreeSet::new()),
            remaining: AtomicU64::new(remaining),
            started: Instant::now(),
        });
    }
    prepared.target = target.take();
    prepared.source = source.take();
    prepared.writer = writer;
    Ok(prepared)
}

/// What an archive holds, read without the writer (for a dry run): folder -> messages.
fn archive_preview(dir: &std::path::Path) -> Result<HashMap<String, Vec<KnownMessage>>> {
    let store = crate::archive::ArchiveStore::open(dir)?;
    Ok(store
        .folders()?
        .into_iter()
        .map(|f| {
            let known = f
                .messages
                .into_iter()
                .map(|m| KnownMessage {
                    id: m.id,
                    fingerprint: m.meta.fingerprint,
                    sha256: m.meta.sha256,
                    size: m.meta.size,
                    flags: m.meta.flags,
                    message_id: m.meta.message_id,
                    source_uidvalidity: m.meta.source_uidvalidity,
                    source_uid: m.meta.source_uid,
                    gone: false,
                })
                .collect();
            (f.name, known)
        })
        .collect())
}

/// Finds or creates one target folder and reads what it holds.
#[allow(clippy::too_many_arguments)]
async fn open_target(
    f: &FolderPlan,
    target: Option<&mut Session>,
    writer: Option<&mut ArchiveWriter>,
    preview: &HashMap<String, Vec<KnownMessage>>,
    listing: &[ListedFolder],
    delimiter: &str,
    opts: &RunOptions,
    progress: &Arc<dyn Progress>,
    report: &mut Report,
) -> Result<TargetState> {
    let Some(t) = target else {
        // An archive: what each folder holds comes from its manifest.
        let known = match writer.as_deref() {
            Some(w) => w.known(&f.target),
            None => preview.get(&f.target).cloned().unwrap_or_default(),
        };
        if known.is_empty() && !listing.iter().any(|l| l.name == f.target) {
            report.created_folders.push(f.target.clone());
            if let Some(w) = writer
                && !opts.dry_run
            {
                // Recorded now, so an empty folder is kept too.
                w.ensure_folder(&f.target, f.role)?;
            }
        }
        let gone = known
            .iter()
            .filter(|k| k.gone)
            .map(|k| u32::try_from(k.id).unwrap_or(u32::MAX))
            .collect();
        let mut messages = TargetList::with_capacity(known.len());
        for k in known {
            let mut identity = Identity::new(Fingerprint::from_stored(&k.fingerprint));
            if !k.sha256.is_empty() {
                identity.set_sha256(&k.sha256);
            }
            let uid = u32::try_from(k.id).unwrap_or(u32::MAX);
            messages.push(uid, identity, crate::flags::intern(k.flags));
        }
        return Ok(TargetState {
            folder: Arc::new(TargetFolder::new(
                f.target.clone(),
                f.target.clone(),
                Default::default(),
                0,
            )),
            messages,
            archive: true,
            gone,
        });
    };
    let existing = listing
        .iter()
        .find(|l| l.name == f.target && l.selectable)
        .map(|l| l.wire.clone());
    let wire = match existing {
        Some(w) => w,
        None => {
            let wire = target_wire(&f.target, delimiter);
            report.created_folders.push(f.target.clone());
            if opts.dry_run {
                // Nothing there yet: everything selected would be copied.
                return Ok(TargetState {
                    folder: Arc::new(TargetFolder::new(
                        f.target.clone(),
                        wire,
                        Default::default(),
                        0,
                    )),
                    messages: TargetList::default(),
                    archive: false,
                    gone: Default::default(),
                });
            }
            t.create(&wire).await?;
            progress.event(Event::FolderCreated {
                target: f.target.clone(),
            });
            wire
        }
    };
    let state = if opts.dry_run {
        t.examine(&wire).await?.clone()
    } else {
        t.select(&wire).await?.clone()
    };
    let (messages, max_uid) = read_target(t, state.exists).await?;
    Ok(TargetState {
        folder: Arc::new(TargetFolder::new(f.target.clone(), wire, state, max_uid)),
        messages,
        archive: false,
        gone: Default::default(),
    })
}

/// Where source messages can be read again, to hash look-alikes.
enum Reader<'a> {
    Imap(&'a mut Session),
    Store(Arc<dyn MessageStore>),
    None,
}

/// Headers, size and body start cannot tell apart messages that differ further on. Where such
/// a group is partly on the target, the bytes decide which ones are there: every message of the
/// group, on both sides, gets its SHA-256 (as IMAP serves it) and canonical SHA-256.
async fn tell_lookalikes_apart(
    runs: &[Option<(FolderPlan, FolderReport, Vec<SourceMessage>)>],
    owner: &[usize],
    msgs: &mut [SourceMessage],
    ts: &mut TargetState,
    mut source: Reader<'_>,
    target: Option<&mut Session>,
) -> Result<()> {
    let ambiguous = reconcile::ambiguous(msgs, &ts.messages.ids);
    if ambiguous.is_empty() {
        return Ok(());
    }
    let wanted: BTreeSet<&Fingerprint> = ambiguous.iter().collect();
    // Source messages to hash, by run (source folder).
    let mut by_run: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (k, (r, m)) in owner.iter().zip(msgs.iter()).enumerate() {
        if wanted.contains(&m.id.fingerprint) {
            by_run.entry(*r).or_default().push(k);
        }
    }
    for (r, ks) in by_run {
        let Some((fp, _, _)) = runs[r].as_ref() else {
            continue;
        };
        let uids: Vec<u32> = ks.iter().map(|&k| msgs[k].uid).collect();
        let hashes = match &mut source {
            Reader::Imap(session) => {
                let session: &mut Session = session;
                session.examine(&fp.source_wire).await?;
                body_hashes(session, &uids).await?
            }
            Reader::Store(store) => {
                let (store, folder) = (store.clone(), fp.source_wire.clone());
                let ids = uids.clone();
                tokio::task::spawn_blocking(move || store_hashes(store.as_ref(), &folder, &ids))
                    .await
                    .map_err(blocking_err)??
            }
            Reader::None => HashMap::new(),
        };
        for &k in &ks {
            if let Some((sha, canon)) = hashes.get(&msgs[k].uid) {
                msgs[k].id.set_sha256(sha);
                msgs[k].id.set_canonical(canon);
            }
        }
    }
    if let Some(t) = target {
        let list = &mut ts.messages;
        let uids: Vec<u32> = (0..list.uids.len())
            .filter(|&k| wanted.contains(&list.ids[k].fingerprint))
            .map(|k| list.uids[k])
            .collect();
        t.examine(&ts.folder.wire).await?;
        let hashes = body_hashes(t, &uids).await?;
        for (uid, id) in list.uids.iter().zip(list.ids.iter_mut()) {
            if let Some((sha, canon)) = hashes.get(uid) {
                id.set_sha256(sha);
                id.set_canonical(canon);
            }
        }
    }
    tracing::info!(folder = %ts.folder.name, groups = ambiguous.len(), "told apart messages with equal headers by their bytes");
    Ok(())
}

/// Exact and canonical SHA-256 of messages of a store folder, by id.
fn store_hashes(
    store: &dyn MessageStore,
    folder: &str,
    ids: &[u32],
) -> Result<HashMap<u32, (String, String)>> {
    let mut out = HashMap::new();
    for &id in ids {
        let raw = store.read(folder, id as u64)?;
        out.insert(id, (content_sha256(&raw), canonical_sha256(&raw)));
    }
    Ok(out)
}

/// Reconciles every source folder that goes to one target folder against it: fills each
/// folder's `already_present` and the messages left to copy, and brings flags over.
#[allow(clippy::too_many_arguments)]
async fn settle_target(
    track_deletions: bool,
    members: &[usize],
    runs: &mut [Option<(FolderPlan, FolderReport, Vec<SourceMessage>)>],
    ts: &mut TargetState,
    source: Reader<'_>,
    mut target: Option<&mut Session>,
    writer: Option<&mut ArchiveWriter>,
    checkpoint: &Checkpoint,
    policy: FlagPolicy,
    opts: &RunOptions,
    report: &mut Report,
) -> Result<()> {
    // Every source message headed here, and the run (source folder) each comes from. Moved,
    // not copied: a large folder's list is the largest thing a run holds.
    let mut msgs: Vec<SourceMessage> = Vec::new();
    let mut owner: Vec<usize> = Vec::new();
    for &i in members {
        if let Some((fp, _, _)) = runs[i].as_mut() {
            let mut chosen = std::mem::take(&mut fp.chosen);
            owner.resize(owner.len() + chosen.len(), i);
            if msgs.is_empty() {
                msgs = chosen;
            } else {
                msgs.append(&mut chosen);
            }
        }
    }
    let uidvalidity = ts.folder.state.uidvalidity.unwrap_or(0);
    let rows = if ts.archive {
        checkpoint::Copies::default()
    } else {
        checkpoint.copies(&ts.folder.name, uidvalidity)?
    };

    tell_lookalikes_apart(runs, &owner, &mut msgs, ts, source, target.as_deref_mut()).await?;

    // Checkpoint rows as hints: (source, target) index pairs.
    // Target UID -> index, as one sorted list (a map would cost several times as much).
    let mut by_uid: Vec<(u32, u32)> = (0..)
        .zip(&ts.messages.uids)
        .map(|(k, &uid)| (uid, k))
        .collect();
    by_uid.sort_unstable();
    let index_of = |uid: u32| {
        by_uid
            .binary_search_by_key(&uid, |&(u, _)| u)
            .ok()
            .map(|at| by_uid[at].1 as usize)
    };
    let mut hints = Vec::with_capacity(rows.len().min(msgs.len()));
    for (k, (i, m)) in owner.iter().zip(&msgs).enumerate() {
        let row = runs[*i]
            .as_ref()
            .and_then(|(fp, _, _)| rows.get(&fp.source, fp.uidvalidity, m.uid));
        if let Some(t) = row.and_then(|r| r.target_uid).and_then(index_of) {
            hints.push((k, t));
        }
    }
    drop(by_uid);
    let result = reconcile::reconcile(&msgs, &ts.messages.ids, &hints);

    // Copies already there: count them, record them, bring flags over.
    let state = &ts.folder.state;
    let keeps =
        |f: &str| state.keeps_flag(f) || state.permanent_flags.is_empty() && state.flags.is_empty();
    let mut adds: BTreeMap<Vec<String>, Vec<u32>> = BTreeMap::new();
    let mut sets: BTreeMap<Vec<String>, Vec<u32>> = BTreeMap::new();
    // Written only once the flags they describe are on the target: a row saying a copy holds
    // a flag the STORE never set would keep `add` from ever setting it.
    let mut rows_to_write = Vec::new();
    let mut writer = writer;
    if ts.archive
        && track_deletions
        && let Some(w) = writer.as_deref_mut()
    {
        // Retention counts from the first backup that found a message deleted on the source.
        let paired: std::collections::HashSet<usize> =
            result.pairs.iter().map(|&(_, t, _)| t).collect();
        let (mut gone, mut back) = (Vec::new(), Vec::new());
        for (t, &uid) in ts.messages.uids.iter().enumerate() {
            match (paired.contains(&t), ts.gone.contains(&uid)) {
                (false, false) => gone.push(uid as u64),
                (true, true) => back.push(uid as u64),
                _ => {}
            }
        }
        w.mark_seen(&ts.folder.name, gone, back)?;
    }
    for &(k, t, _) in &result.pairs {
        let (i, m) = (&owner[k], &msgs[k]);
        let (t_uid, t_flags) = (ts.messages.uids[t], &ts.messages.flags[t]);
        let Some((fp, fr, _)) = runs[*i].as_mut() else {
            continue;
        };
        fr.already_present += 1;
        let row = rows.get(&fp.source, fp.uidvalidity, m.uid);
        let change = flags::change(
            policy,
            &m.flags,
            row.map(|r| rows.flags(r)),
            t_flags,
            &keeps,
        );
        match change {
            Change::None => {}
            Change::Add(f) => {
                fr.flags_updated += 1;
                adds.entry(f).or_default().push(t_uid);
            }
            Change::Set(f) => {
                fr.flags_updated += 1;
                sets.entry(f).or_default().push(t_uid);
            }
        }
        if !opts.dry_run && !ts.archive {
            // What the copy now holds from the source: later runs add only what the source
            // gains after this. A row the run found (no record) keeps today's source flags.
            let flags = match (policy, row) {
                (FlagPolicy::Never, Some(r)) => rows.flags(r).to_vec(),
                _ => flags::canonical_set(&m.flags),
            };
            // A row that already says all this is not written again (a no-op rerun of a
            // large folder writes nothing).
            let unchanged = row.is_some_and(|r| {
                r.target_uid == Some(t_uid)
                    && r.fingerprint == m.id.fingerprint
                    && rows.flags(r) == &flags[..]
            });
            if unchanged {
                continue;
            }
            rows_to_write.push(checkpoint::Done {
                folder: fp.source.clone(),
                uidvalidity: fp.uidvalidity,
                uid: m.uid,
                fingerprint: m.id.fingerprint.to_string(),
                target_folder: ts.folder.name.clone(),
                target_uidvalidity: uidvalidity,
                target_uid: Some(t_uid),
                flags,
            });
        }
    }
    for &i in members {
        if let Some((fp, _, _)) = runs[i].as_ref()
            && !ts.archive
            && checkpoint.renumbered(&fp.source, fp.uidvalidity)?
        {
            report.warnings.push(format!(
                "{}: the server renumbered this folder (UIDVALIDITY changed); messages were re-identified by content",
                fp.source
            ));
        }
    }
    if !opts.dry_run && (!adds.is_empty() || !sets.is_empty()) {
        if let Some(t) = target.as_mut() {
            t.select(&ts.folder.wire).await?;
            for (f, uids) in &adds {
                for (set, _) in uidset::chunks(uids, 500) {
                    t.uid_add_flags(&set, f).await?;
                }
            }
            for (f, uids) in &sets {
                for (set, _) in uidset::chunks(uids, 500) {
                    t.uid_store_flags(&set, f).await?;
                }
            }
        } else if let Some(w) = writer {
            for (f, ids) in &sets {
                for id in ids {
                    w.update_flags(&ts.folder.name, *id as u64, f.clone())?;
                }
            }
        }
    }
    for row in rows_to_write {
        checkpoint.record_done(row);
    }
    hand_on_missing(runs, owner, msgs, &result.missing);
    Ok(())
}

/// Puts the messages a target lacks on their runs' lists to copy, in place: the list is
/// filtered where it lies and, when it all comes from one run, handed over whole.
fn hand_on_missing(
    runs: &mut [Option<(FolderPlan, FolderReport, Vec<SourceMessage>)>],
    owner: Vec<usize>,
    mut msgs: Vec<SourceMessage>,
    missing: &[usize],
) {
    let mut keep = vec![false; msgs.len()];
    for &k in missing {
        if let Some(slot) = keep.get_mut(k) {
            *slot = true;
        }
    }
    let owners: Vec<usize> = owner
        .iter()
        .zip(&keep)
        .filter(|(_, kept)| **kept)
        .map(|(&i, _)| i)
        .collect();
    let mut k = 0;
    msgs.retain(|_| {
        k += 1;
        keep[k - 1]
    });
    drop(keep);
    if msgs.len() < msgs.capacity() / 2 {
        msgs.shrink_to_fit();
    }
    if let Some(&first) = owners.first()
        && owners.iter().all(|&i| i == first)
    {
        if let Some((_, _, left)) = runs[first].as_mut() {
            if left.is_empty() {
                *left = msgs;
            } else {
                left.append(&mut msgs);
            }
        }
        return;
    }
    for (i, m) in owners.into_iter().zip(msgs) {
        if let Some((_, _, left)) = runs[i].as_mut() {
            left.push(m);
        }
    }
}

/// The largest message the target takes, and who says so: the server's APPENDLIMIT, or the
/// provider's known limit (QQ refuses messages over about 68 MB without saying so up front).
fn size_limit(target: Option<&Session>, side: &TargetSide) -> Option<(u64, String)> {
    let server = target
        .and_then(|t| t.append_limit())
        .map(|l| (l, "the target (APPENDLIMIT)".to_string()));
    let preset = side
        .provider()
        .and_then(|p| p.append_limit.map(|l| (l, p.display.to_string())));
    match (server, preset) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// Cuts a folder's messages into batches in UID order, bounded in count and bytes; a large
/// message goes alone (it is fetched in parts).
fn queue_batches(folder: usize, left: Vec<SourceMessage>, queue: &mut VecDeque<Batch>) {
    let mut batch = Vec::new();
    let mut batch_bytes = 0u64;
    let push = |batch: &mut Vec<SourceMessage>, queue: &mut VecDeque<Batch>| {
        if !batch.is_empty() {
            queue.push_back(Batch {
                folder,
                split: false,
                messages: std::mem::take(batch),
            });
        }
    };
    for m in left {
        let size = m.size as u64;
        if batch.len() >= BATCH_MESSAGES || batch_bytes + size > BATCH_BYTES || size > PART_BYTES {
            push(&mut batch, queue);
            batch_bytes = 0;
        }
        batch_bytes += size;
        batch.push(m);
        if size > PART_BYTES {
            push(&mut batch, queue);
            batch_bytes = 0;
        }
    }
    push(&mut batch, queue);
}
