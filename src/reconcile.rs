//! THE presence decision: which source messages a target folder already holds, and which it
//! lacks. `run` (to IMAP and to archives) and `verify` both pair messages here, so they cannot
//! disagree. Pure: no I/O, unit-tested below.
//!
//! Messages are matched as multisets (two identical source copies need two target copies), in
//! three passes:
//! 1. **checkpoint hints**: a row saying source message S was stored as target message T pairs
//!    them, but only when T's content still confirms it. A row is never proof: a message the
//!    target visibly lacks is copied whatever the checkpoint says.
//! 2. **exact identity**: the same [`Fingerprint`] (size, selected headers, start of the body);
//!    where both sides' SHA-256 is known (look-alikes, `verify --deep`), it must agree too.
//! 3. **server-changed copies**: the same headers and body start, a size within
//!    [`size_tolerance`], and, where known, the same canonical SHA-256 (line ends and stray CRs
//!    normalized, trailing whitespace ignored). Servers rewrite bytes on APPEND (Dovecot stores a
//!    body line ending CR CR LF as CR LF; some add or fold headers); such a copy is present,
//!    reported with its size difference, never copied again.

use std::collections::HashMap;

use crate::fingerprint::{Fingerprint, Hash12};

/// One message on either side, reduced to what identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub fingerprint: Fingerprint,
    /// [`crate::fingerprint::loose_key`], where the side's FETCH data gave it.
    pub loose: Option<Hash12>,
    /// Read only for some messages (look-alikes, `verify --deep`, archives): one pointer
    /// when absent, since a large folder holds an identity per message.
    hashes: Option<Box<Hashes>>,
}

/// SHA-256s of a message's bytes, as far as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Hashes {
    /// Of the bytes as IMAP serves them (bare LF counted as CRLF).
    sha256: Option<Box<str>>,
    /// Of the canonical form (see [`canonical_sha256`]).
    canonical: Option<Box<str>>,
}

/// Whatever carries an [`Identity`]: the reconcile reads it where it lies, so a large folder's
/// messages are not copied into a second list to be paired.
pub trait Identified {
    fn identity(&self) -> &Identity;
}

impl Identified for Identity {
    fn identity(&self) -> &Identity {
        self
    }
}

impl Identity {
    pub fn new(fingerprint: Fingerprint) -> Identity {
        Identity::with_loose(fingerprint, None)
    }

    /// From one FETCH's header fields, body start and size: the fingerprint and loose key.
    pub fn from_fetch(headers: &[u8], text: &[u8], size: u64) -> Identity {
        let (fingerprint, loose) = crate::fingerprint::fingerprint_and_loose(headers, text, size);
        Identity::with_loose(fingerprint, Some(loose))
    }

    fn with_loose(fingerprint: Fingerprint, loose: Option<Hash12>) -> Identity {
        Identity {
            fingerprint,
            loose,
            hashes: None,
        }
    }

    /// SHA-256 of the bytes as IMAP serves them (bare LF counted as CRLF), when read.
    pub fn sha256(&self) -> Option<&str> {
        self.hashes.as_ref()?.sha256.as_deref()
    }

    /// SHA-256 of the canonical form (see [`canonical_sha256`]), when read.
    pub fn canonical(&self) -> Option<&str> {
        self.hashes.as_ref()?.canonical.as_deref()
    }

    pub fn set_sha256(&mut self, sha256: &str) {
        self.hashes.get_or_insert_default().sha256 = Some(sha256.into());
    }

    pub fn set_canonical(&mut self, canonical: &str) {
        self.hashes.get_or_insert_default().canonical = Some(canonical.into());
    }
}

/// How a pair was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    Exact,
    /// The target's copy differs from the source's by this many bytes (target minus source).
    Changed {
        size_delta: i64,
    },
}

/// The outcome for one target folder. Indexes point into the slices given to [`reconcile`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// (source, target, how).
    pub pairs: Vec<(usize, usize, Match)>,
    /// Source messages the target lacks: to copy, or missing.
    pub missing: Vec<usize>,
    /// Target messages no source message accounts for.
    pub unmatched: Vec<usize>,
}

/// How far a server-changed copy's size may be from the source's: 1 KiB plus 1 %.
pub fn size_tolerance(size: u64) -> u64 {
    1024 + size / 100
}

/// Two known values must agree; an unknown one agrees with anything.
fn agree(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

fn exact(s: &Identity, t: &Identity) -> bool {
    s.fingerprint == t.fingerprint && agree(s.sha256(), t.sha256())
}

fn changed(s: &Identity, t: &Identity) -> Option<Match> {
    let (ss, ts) = (s.fingerprint.size, t.fingerprint.size);
    let same_content =
        s.fingerprint.content == t.fingerprint.content || (s.loose.is_some() && s.loose == t.loose);
    if !same_content || ss.abs_diff(ts) > size_tolerance(ss) || !agree(s.canonical(), t.canonical())
    {
        return None;
    }
    Some(Match::Changed {
        size_delta: ts as i64 - ss as i64,
    })
}

/// Pairs source and target messages of one target folder. `hints` are checkpoint rows as
/// (source index, target index).
pub fn reconcile<S: Identified, T: Identified>(
    source: &[S],
    target: &[T],
    hints: &[(usize, usize)],
) -> Reconciled {
    let mut s_free = vec![true; source.len()];
    let mut t_free = vec![true; target.len()];
    let mut out = Reconciled {
        pairs: Vec::with_capacity(source.len().min(target.len())),
        ..Reconciled::default()
    };

    for &(si, ti) in hints {
        let (Some(s), Some(t)) = (source.get(si), target.get(ti)) else {
            continue;
        };
        if !s_free[si] || !t_free[ti] {
            continue;
        }
        let (s, t) = (s.identity(), t.identity());
        let how = if exact(s, t) {
            Some(Match::Exact)
        } else {
            changed(s, t)
        };
        if let Some(how) = how {
            s_free[si] = false;
            t_free[ti] = false;
            out.pairs.push((si, ti, how));
        }
    }

    let mut by_fp: HashMap<&Fingerprint, Vec<usize>> = HashMap::new();
    let mut by_content: HashMap<Hash12, Vec<usize>> = HashMap::new();
    for (ti, t) in target.iter().map(Identified::identity).enumerate() {
        if t_free[ti] {
            by_fp.entry(&t.fingerprint).or_default().push(ti);
            by_content
                .entry(t.fingerprint.content)
                .or_default()
                .push(ti);
            if let Some(l) = t.loose {
                by_content.entry(l).or_default().push(ti);
            }
        }
    }

    // Exact: sources whose bytes are known first, so a look-alike cannot take their copy.
    let mut order: Vec<usize> = (0..source.len()).filter(|&i| s_free[i]).collect();
    order.sort_by_key(|&i| source[i].identity().sha256().is_none());
    for si in order {
        let s = source[si].identity();
        let Some(cands) = by_fp.get(&s.fingerprint) else {
            continue;
        };
        let pick = cands
            .iter()
            .copied()
            .filter(|&ti| t_free[ti] && exact(s, target[ti].identity()))
            // A copy whose bytes are known to be this message beats one whose bytes are not.
            .min_by_key(|&ti| target[ti].identity().sha256().is_none());
        if let Some(ti) = pick {
            s_free[si] = false;
            t_free[ti] = false;
            out.pairs.push((si, ti, Match::Exact));
        }
    }

    // Server-changed copies: every candidate pair at once, closest sizes first, so a message
    // never takes the copy of a look-alike whose size is nearer to it.
    let mut candidates: Vec<(u64, usize, usize, Match)> = Vec::new();
    for (si, s) in source.iter().map(Identified::identity).enumerate() {
        if !s_free[si] {
            continue;
        }
        let size = s.fingerprint.size;
        let keys = [Some(s.fingerprint.content), s.loose];
        let mut seen = std::collections::HashSet::new();
        for ti in keys
            .into_iter()
            .flatten()
            .filter_map(|k| by_content.get(&k))
            .flatten()
            .copied()
        {
            if t_free[ti]
                && seen.insert(ti)
                && let Some(how) = changed(s, target[ti].identity())
            {
                let diff = target[ti].identity().fingerprint.size.abs_diff(size);
                candidates.push((diff, si, ti, how));
            }
        }
    }
    candidates.sort_by_key(|c| (c.0, c.1, c.2));
    for (_, si, ti, how) in candidates {
        if s_free[si] && t_free[ti] {
            s_free[si] = false;
            t_free[ti] = false;
            out.pairs.push((si, ti, how));
        }
    }

    out.missing = (0..source.len()).filter(|&i| s_free[i]).collect();
    out.unmatched = (0..target.len()).filter(|&i| t_free[i]).collect();
    out.pairs.sort_unstable_by_key(|p| (p.0, p.1));
    out
}

/// Fingerprints whose messages cannot be told apart without their bytes: more source copies
/// than target copies, and some on the target. Their SHA-256 on both sides settles which ones
/// are there.
pub fn ambiguous<S: Identified, T: Identified>(source: &[S], target: &[T]) -> Vec<Fingerprint> {
    let mut counts: HashMap<&Fingerprint, (usize, usize)> = HashMap::new();
    for s in source {
        counts.entry(&s.identity().fingerprint).or_default().0 += 1;
    }
    for t in target {
        if let Some(c) = counts.get_mut(&t.identity().fingerprint) {
            c.1 += 1;
        }
    }
    let mut out: Vec<Fingerprint> = counts
        .into_iter()
        .filter(|(_, (s, t))| *s >= 2 && *t > 0 && *t < *s)
        .map(|(f, _)| *f)
        .collect();
    out.sort();
    out
}

/// SHA-256 of a message's canonical form: every line end is LF, carriage returns anywhere are
/// dropped, and trailing whitespace at the end of the message is ignored. Two copies with the
/// same canonical hash differ only in what servers are known to change.
pub fn canonical_sha256(raw: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let end = raw
        .iter()
        .rposition(|b| !b" \t\r\n".contains(b))
        .map_or(0, |p| p + 1);
    let mut h = Sha256::new();
    let mut start = 0;
    for (i, &b) in raw[..end].iter().enumerate() {
        if b == b'\r' {
            h.update(&raw[start..i]);
            start = i + 1;
        }
    }
    h.update(&raw[start..end]);
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::testing::{fp, h12};

    fn id(text: &str) -> Identity {
        Identity::new(fp(text))
    }

    fn with_sha(fp: &str, sha: &str) -> Identity {
        let mut i = id(fp);
        i.set_sha256(sha);
        i
    }

    #[test]
    fn identical_sides_pair_exactly() {
        let s = vec![id("10:a"), id("20:b")];
        let r = reconcile(&s, &s, &[]);
        assert_eq!(r.pairs, vec![(0, 0, Match::Exact), (1, 1, Match::Exact)]);
        assert!(r.missing.is_empty() && r.unmatched.is_empty());
    }

    #[test]
    fn copies_are_a_multiset() {
        let s = vec![id("10:a"), id("10:a"), id("10:a")];
        let t = vec![id("10:a")];
        let r = reconcile(&s, &t, &[]);
        assert_eq!(r.pairs.len(), 1);
        assert_eq!(r.missing.len(), 2);
        let r = reconcile(&t, &s, &[]);
        assert_eq!(r.unmatched.len(), 2);
    }

    #[test]
    fn a_checkpoint_row_the_target_contradicts_is_ignored() {
        // The row says source 0 is target 0, but target 0 is another message.
        let s = vec![id("10:a")];
        let t = vec![id("30:zzz")];
        let r = reconcile(&s, &t, &[(0, 0)]);
        assert_eq!(r.missing, vec![0]);
        assert_eq!(r.unmatched, vec![0]);
        // And a row pointing past the target (folder emptied) is ignored too.
        let r = reconcile::<_, Identity>(&s, &[], &[(0, 5)]);
        assert_eq!(r.missing, vec![0]);
    }

    #[test]
    fn a_checkpoint_row_picks_which_copy_among_identical_ones() {
        let s = vec![id("10:a"), id("10:a")];
        let t = vec![id("10:a"), id("10:a")];
        let r = reconcile(&s, &t, &[(0, 1)]);
        assert_eq!(r.pairs, vec![(0, 1, Match::Exact), (1, 0, Match::Exact)]);
    }

    #[test]
    fn look_alikes_are_told_apart_by_their_bytes() {
        let s = vec![with_sha("10:a", "A"), with_sha("10:a", "B")];
        let t = vec![with_sha("10:a", "B")];
        let r = reconcile(&s, &t, &[]);
        assert_eq!(r.pairs, vec![(1, 0, Match::Exact)]);
        assert_eq!(r.missing, vec![0]);
        assert_eq!(ambiguous(&[id("10:a"), id("10:a")], &[id("10:a")]).len(), 1);
        assert!(ambiguous::<_, Identity>(&[id("10:a"), id("10:a")], &[]).is_empty());
        assert!(ambiguous(&[id("10:a")], &[id("10:a")]).is_empty());
    }

    #[test]
    fn a_copy_the_server_changed_is_present_and_says_by_how_much() {
        let s = vec![id("1000:abc"), id("500:def")];
        let t = vec![id("999:abc")];
        let r = reconcile(&s, &t, &[]);
        assert_eq!(r.pairs, vec![(0, 0, Match::Changed { size_delta: -1 })]);
        assert_eq!(r.missing, vec![1]);
        // Beyond the tolerance it is another message.
        let r = reconcile(&[id("1000:abc")], &[id("5000:abc")], &[]);
        assert_eq!(r.missing, vec![0]);
        // Exact copies are taken before changed ones.
        let r = reconcile(&[id("1000:abc")], &[id("999:abc"), id("1000:abc")], &[]);
        assert_eq!(r.pairs, vec![(0, 1, Match::Exact)]);
    }

    #[test]
    fn a_loose_key_matches_a_copy_whose_body_start_changed() {
        let mut a = id("1000:abc");
        a.loose = Some(h12("L"));
        let mut b = id("998:xyz");
        b.loose = Some(h12("L"));
        let r = reconcile(&[a], &[b], &[]);
        assert_eq!(r.pairs, vec![(0, 0, Match::Changed { size_delta: -2 })]);
    }

    #[test]
    fn changed_copies_go_to_the_nearest_size_whatever_the_order() {
        // Two look-alikes of 5000 and 5300 bytes; the target holds only the second, stored
        // 10 bytes shorter. The first must not take it.
        let s = vec![id("5000:abc"), id("5300:abc")];
        let t = vec![id("5290:abc")];
        let r = reconcile(&s, &t, &[]);
        assert_eq!(r.pairs, vec![(1, 0, Match::Changed { size_delta: -10 })]);
        assert_eq!(r.missing, vec![0]);
    }

    #[test]
    fn canonical_hashes_must_agree_when_known() {
        let mut a = id("1000:abc");
        a.set_canonical("x");
        let mut b = id("999:abc");
        b.set_canonical("y");
        assert_eq!(reconcile(&[a.clone()], &[b], &[]).missing, vec![0]);
        let mut c = id("999:abc");
        c.set_canonical("x");
        assert_eq!(reconcile(&[a], &[c], &[]).pairs.len(), 1);
    }

    #[test]
    fn canonical_form_ignores_what_servers_change() {
        let a = canonical_sha256(b"Subject: x\r\n\r\nline\r\r\nmore\r\n");
        let b = canonical_sha256(b"Subject: x\r\n\r\nline\r\nmore\r\n  \r\n");
        let c = canonical_sha256(b"Subject: x\n\nline\nmore");
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_ne!(a, canonical_sha256(b"Subject: x\r\n\r\nline\r\nmoRe\r\n"));
    }
}
