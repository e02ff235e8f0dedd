//! Flags: the one canonical form, and what a rerun does to a copy's flags.
//!
//! A new copy is given the source's flags as they are (`\Deleted` too: the copy is the
//! message as the source holds it). The policy (`flags:` in a profile) decides what later runs
//! do to copies already on the target:
//! - `add` (default): add the flags the source gained since the copy was made, and nothing the
//!   target's user took away or added is touched. `\Deleted` is never carried.
//! - `mirror`: make the target's flags equal the source's (`\Deleted` included).
//! - `never`: leave the target's flags alone.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// One message's flags as a server listed them. Shared: a folder of 100,000 messages holds a
/// handful of distinct sets, so each message keeps a pointer rather than its own strings.
pub type FlagSet = Arc<[String]>;

/// Distinct sets kept for sharing; past this many, sets are no longer shared (a server that
/// gives every message its own keyword costs what it would without sharing, and no more).
const SHARED_SETS: usize = 4096;

static SETS: Mutex<Option<HashSet<FlagSet>>> = Mutex::new(None);

/// The shared copy of this flag set (see [`FlagSet`]).
pub fn intern(flags: Vec<String>) -> FlagSet {
    let Ok(mut guard) = SETS.lock() else {
        return flags.into();
    };
    let sets = guard.get_or_insert_with(HashSet::new);
    if let Some(s) = sets.get(flags.as_slice()) {
        return s.clone();
    }
    let set: FlagSet = flags.into();
    if sets.len() < SHARED_SETS {
        sets.insert(set.clone());
    }
    set
}

/// What a rerun does to the flags of copies already on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlagPolicy {
    #[default]
    Add,
    Mirror,
    Never,
}

/// One flag spelled canonically: system flags as `\Seen` whatever their case, keywords as
/// given. `None` for `\Recent`, which no client can set.
pub fn canonical(flag: &str) -> Option<String> {
    if flag.eq_ignore_ascii_case("\\Recent") {
        return None;
    }
    if let Some(rest) = flag.strip_prefix('\\') {
        let mut c = rest.to_ascii_lowercase();
        if let Some(first) = c.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        return Some(format!("\\{c}"));
    }
    Some(flag.to_string())
}

/// A flag set in canonical form: sorted, without `\Recent`, and without duplicates (flags
/// are case-insensitive in IMAP; a keyword keeps its first spelling).
pub fn canonical_set<S: AsRef<str>>(flags: &[S]) -> Vec<String> {
    let mut seen = std::collections::BTreeMap::new();
    for f in flags.iter().filter_map(|f| canonical(f.as_ref())) {
        seen.entry(f.to_ascii_lowercase()).or_insert(f);
    }
    let mut out: Vec<String> = seen.into_values().collect();
    out.sort();
    out
}

fn is_deleted(f: &str) -> bool {
    f.eq_ignore_ascii_case("\\Deleted")
}

/// What to do to one copy's flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    None,
    /// `+FLAGS`: add these.
    Add(Vec<String>),
    /// `FLAGS`: replace the set with this.
    Set(Vec<String>),
}

/// Decides a copy's flag change. `given` is what the copy was given when made (from the
/// checkpoint); without it (state lost) `add` changes nothing, since what the target's user did
/// since cannot be told from what the copy came with. All sets are compared canonically, and
/// only over flags the target can keep (`keeps`).
pub fn change(
    policy: FlagPolicy,
    source: &[String],
    given: Option<&[String]>,
    target: &[String],
    keeps: &dyn Fn(&str) -> bool,
) -> Change {
    let keep = |set: Vec<String>| -> Vec<String> { set.into_iter().filter(|f| keeps(f)).collect() };
    let source = keep(canonical_set(source));
    let target = keep(canonical_set(target));
    match policy {
        FlagPolicy::Never => Change::None,
        FlagPolicy::Mirror if source != target => Change::Set(source),
        FlagPolicy::Mirror => Change::None,
        FlagPolicy::Add => {
            let Some(given) = given else {
                return Change::None;
            };
            let given = canonical_set(given);
            let add: Vec<String> = source
                .into_iter()
                .filter(|f| !is_deleted(f) && !given.contains(f) && !target.contains(f))
                .collect();
            if add.is_empty() {
                Change::None
            } else {
                Change::Add(add)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(f: &[&str]) -> Vec<String> {
        f.iter().map(|s| s.to_string()).collect()
    }

    fn all(_: &str) -> bool {
        true
    }

    #[test]
    fn canonical_spelling() {
        assert_eq!(
            canonical_set(&[
                "\\SEEN",
                "$Work",
                "\\Recent",
                "\\seen",
                "\\flagged",
                "$work"
            ]),
            v(&["$Work", "\\Flagged", "\\Seen"])
        );
    }

    #[test]
    fn add_keeps_what_the_target_user_did() {
        // Copied with \Seen; the user then unread it and flagged it on the target.
        let given = v(&["\\Seen"]);
        let c = change(
            FlagPolicy::Add,
            &v(&["\\Seen"]),
            Some(&given),
            &v(&["\\Flagged"]),
            &all,
        );
        assert_eq!(c, Change::None);
        // The source gained \Answered since: only that is added.
        let c = change(
            FlagPolicy::Add,
            &v(&["\\Seen", "\\Answered"]),
            Some(&given),
            &v(&["\\Flagged"]),
            &all,
        );
        assert_eq!(c, Change::Add(v(&["\\Answered"])));
    }

    #[test]
    fn a_later_deleted_is_carried_only_when_mirroring() {
        let src = v(&["\\Deleted", "\\Seen"]);
        let c = change(FlagPolicy::Add, &src, Some(&[]), &[], &all);
        assert_eq!(c, Change::Add(v(&["\\Seen"])));
        let c = change(FlagPolicy::Mirror, &src, Some(&[]), &v(&["$x"]), &all);
        assert_eq!(c, Change::Set(src));
    }

    #[test]
    fn without_a_record_add_and_never_change_nothing() {
        let src = v(&["\\Seen"]);
        assert_eq!(change(FlagPolicy::Add, &src, None, &[], &all), Change::None);
        assert_eq!(
            change(FlagPolicy::Never, &src, Some(&[]), &[], &all),
            Change::None
        );
    }

    #[test]
    fn flags_the_target_cannot_keep_are_not_a_difference() {
        let keeps = |f: &str| f.starts_with('\\');
        let c = change(
            FlagPolicy::Mirror,
            &v(&["\\Seen", "$Work"]),
            None,
            &v(&["\\Seen"]),
            &keeps,
        );
        assert_eq!(c, Change::None);
    }
}
