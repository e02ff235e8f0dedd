//! Pairing both sides of a folder through the one reconcile, then comparing each pair's flags
//! and received date. Pure.

use super::{Comparison, Item, ItemKey};
use crate::flags::{self, FlagSet};
use crate::reconcile::{self, Match};

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

/// Item indexes sorted by key (ties in index order): a lookup list a few bytes per message,
/// where a map of keys would cost several times as much on a 100,000-message folder.
fn sorted_by_key(items: &[Item]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..items.len() as u32).collect();
    order.sort_by(|&a, &b| items[a as usize].key().cmp(&items[b as usize].key()));
    order
}

/// The indexes in `order` (from [`sorted_by_key`]) of the items with this key, in index order.
fn with_key<'a>(
    order: &'a [u32],
    items: &'a [Item],
    key: ItemKey<'_>,
) -> impl Iterator<Item = usize> + 'a {
    let start = order.partition_point(|&i| items[i as usize].key() < key);
    let end = start + order[start..].partition_point(|&i| items[i as usize].key() <= key);
    order[start..end].iter().map(|&i| i as usize)
}

/// Pairs the two sides through [`reconcile`] (the one presence decision) and compares the
/// pairs. Within one identity, copies that agree on flags and date are paired first, so a
/// reordering never shows as a difference.
pub fn compare(source: &[Item], target: &[Item], keeps: &dyn Fn(&str) -> bool) -> Comparison {
    let mut out = Comparison::default();
    // Shared sets: a folder holds a handful of distinct ones, whatever its size.
    let src_flags: Vec<FlagSet> = source
        .iter()
        .map(|s| flags::intern(comparable_flags(&s.flags, keeps)))
        .collect();
    let dst_flags: Vec<FlagSet> = target
        .iter()
        .map(|t| flags::intern(comparable_flags(&t.flags, keeps)))
        .collect();
    let agree = |s: usize, d: usize| {
        same_flags(&src_flags[s], &dst_flags[d])
            && same_instant(
                source[s].internaldate.as_deref(),
                target[d].internaldate.as_deref(),
            )
    };
    // Preferred pairs: same identity, same flags and date.
    let by_key = sorted_by_key(target);
    let mut taken = vec![false; target.len()];
    let mut hints = Vec::new();
    for (s, item) in source.iter().enumerate() {
        if let Some(d) = with_key(&by_key, target, item.key()).find(|&d| !taken[d] && agree(s, d)) {
            taken[d] = true;
            hints.push((s, d));
        }
    }
    drop(by_key);
    let r = reconcile::reconcile(source, target, &hints);
    let source_keys = sorted_by_key(source);
    for &(s, d, how) in &r.pairs {
        out.present.push((s, d));
        if let Match::Changed { size_delta } = how {
            out.changed.push((s, d, size_delta));
        }
        if !same_flags(&src_flags[s], &dst_flags[d]) {
            out.flags
                .push((s, d, src_flags[s].to_vec(), dst_flags[d].to_vec()));
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
        if with_key(&source_keys, source, target[d].key())
            .next()
            .is_some()
        {
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
