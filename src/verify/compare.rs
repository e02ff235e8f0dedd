//! Pairing both sides of a folder through the one reconcile, then comparing each pair's flags
//! and received date. Pure.

use std::collections::{HashMap, HashSet};

use super::{Comparison, Item};
use crate::fingerprint::Fingerprint;
use crate::reconcile::{self, Identity, Match};

/// Flags as compared: the canonical set ([`crate::flags::canonical_set`]) of those the target
/// folder can keep.
pub fn comparable_flags(flags: &[String], keeps: &dyn Fn(&str) -> bool) -> Vec<String> {
    crate::flags::canonical_set(flags)
        .into_iter()
        .filter(|f| keeps(f))
        .collect()
}

fn same_flags(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
}

/// Whether two INTERNALDATEs name the same instant. A source without a date has nothing to
/// keep; two unreadable dates are compared as text.
pub fn same_instant(source: Option<&str>, target: Option<&str>) -> bool {
    let Some(s) = source else { return true };
    let Some(t) = target else { return false };
    match (
        crate::dates::parse_internaldate(s),
        crate::dates::parse_internaldate(t),
    ) {
        (Some(a), Some(b)) => a == b,
        (None, None) => s.trim() == t.trim(),
        _ => false,
    }
}

/// Pairs the two sides through [`reconcile`] (the one presence decision) and compares the
/// pairs. Within one identity, copies that agree on flags and date are paired first, so a
/// reordering never shows as a difference.
pub fn compare(source: &[Item], target: &[Item], keeps: &dyn Fn(&str) -> bool) -> Comparison {
    let mut out = Comparison::default();
    let identity = |i: &Item| Identity {
        fingerprint: Fingerprint(i.fingerprint.clone()),
        sha256: (i.key != i.fingerprint).then(|| i.key.clone()),
        canonical: i.canonical.clone(),
        loose: i.loose.clone(),
    };
    let src_ids: Vec<Identity> = source.iter().map(identity).collect();
    let dst_ids: Vec<Identity> = target.iter().map(identity).collect();
    let src_flags: Vec<Vec<String>> = source
        .iter()
        .map(|s| comparable_flags(&s.flags, keeps))
        .collect();
    let dst_flags: Vec<Vec<String>> = target
        .iter()
        .map(|t| comparable_flags(&t.flags, keeps))
        .collect();
    let agree = |s: usize, d: usize| {
        same_flags(&src_flags[s], &dst_flags[d])
            && same_instant(
                source[s].internaldate.as_deref(),
                target[d].internaldate.as_deref(),
            )
    };
    // Preferred pairs: same identity, same flags and date.
    let mut by_key: HashMap<&str, Vec<usize>> = HashMap::new();
    for (d, t) in target.iter().enumerate() {
        by_key.entry(&t.key).or_default().push(d);
    }
    let mut taken = vec![false; target.len()];
    let mut hints = Vec::new();
    for (s, item) in source.iter().enumerate() {
        if let Some(ds) = by_key.get(item.key.as_str())
            && let Some(&d) = ds.iter().find(|&&d| !taken[d] && agree(s, d))
        {
            taken[d] = true;
            hints.push((s, d));
        }
    }
    let r = reconcile::reconcile(&src_ids, &dst_ids, &hints);
    let source_keys: HashSet<&str> = source.iter().map(|i| i.key.as_str()).collect();
    for &(s, d, how) in &r.pairs {
        out.present.push((s, d));
        if let Match::Changed { size_delta } = how {
            out.changed.push((s, d, size_delta));
        }
        if !same_flags(&src_flags[s], &dst_flags[d]) {
            out.flags
                .push((s, d, src_flags[s].clone(), dst_flags[d].clone()));
        }
        if !same_instant(
            source[s].internaldate.as_deref(),
            target[d].internaldate.as_deref(),
        ) {
            out.dates.push((s, d));
        }
    }
    out.missing = r.missing;
    for d in r.unmatched {
        if source_keys.contains(target[d].key.as_str()) {
            out.duplicates.push(d);
        } else {
            out.extra.push(d);
        }
    }
    // HashMap order is arbitrary: report in folder and UID order.
    out.present.sort_unstable();
    out.missing.sort_unstable();
    out.extra.sort_unstable();
    out.duplicates.sort_unstable();
    out.flags.sort_unstable_by_key(|x| x.0);
    out.dates.sort_unstable();
    out.changed.sort_unstable();
    out
}
