//! THE folder plan: which source folders a job carries and the target folder of each. `plan`,
//! `run`, `verify`, backups and restores all get their folders from [`plan`], so they cannot
//! disagree; docs/folders.md gives the rules.
//!
//! - A role (Sent, Drafts, Trash, Junk, Archive) is held by one source folder: the one with the
//!   special-use attribute, else the one with the source preset's name, else the shortest name.
//!   Other folders whose names suggest the role are ordinary folders and keep their names.
//! - An archive keeps the source's names unless `folders.map` says otherwise.
//! - Empty folders are planned too, so they are created on the target and kept in archives.
//!   Containers that only hold folders (`\Noselect`) are not: the server makes them when it
//!   creates their children, and a restore does the same.
//! - The plan is stored with the job's state on its first run and reused, so what a job does
//!   never changes under it when the target grows folders; new source folders are added. When
//!   the folder rules change, folders that move are named in the notes.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::checkpoint::StoredPlan;
use crate::mapping::{FolderMapper, ListedFolder, MapReason, MappingError, RoleHints};
use crate::profile::FolderRules;
use crate::providers::{Provider, Role};

/// What kind of place the folders go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Imap,
    Archive,
}

/// Everything the folder plan depends on.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub source: &'a [ListedFolder],
    pub target: &'a [ListedFolder],
    pub rules: &'a FolderRules,
    pub source_provider: Option<&'static Provider>,
    pub target_provider: Option<&'static Provider>,
    pub target_kind: TargetKind,
    /// The plan stored by an earlier run of the same job.
    pub stored: Option<&'a StoredPlan>,
    /// The source is Gmail (`X-GM-EXT-1`): its views (Starred, Important) are not folders,
    /// and All Mail goes to `Archive` (the gmail module of this layer explains why).
    pub gmail: bool,
}

/// One source folder and where it goes.
#[derive(Debug, Clone)]
pub struct PlannedFolder {
    pub source: ListedFolder,
    /// Decoded, `/`-separated target name.
    pub target: String,
    pub reason: MapReason,
    /// A stored plan decided the target (rather than this run's rules).
    pub kept: bool,
}

impl PlannedFolder {
    /// The role the folder holds in this plan (none for a folder that lost its role).
    pub fn role(&self) -> Option<Role> {
        self.source.role
    }
}

/// A folder whose target changed because the folder rules changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub source: String,
    pub before: String,
    pub now: String,
}

#[derive(Debug, Clone)]
pub struct FolderMap {
    pub folders: Vec<PlannedFolder>,
    /// Source folders the rules leave out.
    pub excluded: Vec<String>,
    pub moved: Vec<Moved>,
    pub notes: Vec<String>,
    /// Identifies the rules this plan was made under.
    pub rules_key: String,
}

impl FolderMap {
    /// The plan as stored with the job's state.
    pub fn to_stored(&self) -> StoredPlan {
        StoredPlan {
            rules_key: self.rules_key.clone(),
            targets: self
                .folders
                .iter()
                .map(|f| (f.source.name.clone(), f.target.clone()))
                .collect(),
        }
    }

    /// The plan to store, keeping what an earlier plan under the same rules said of source
    /// folders this run did not see (a folder missing from one LIST keeps its target).
    pub fn to_stored_over(&self, previous: Option<&StoredPlan>) -> StoredPlan {
        let mut out = self.to_stored();
        if let Some(p) = previous.filter(|p| p.rules_key == self.rules_key) {
            for (source, target) in &p.targets {
                out.targets
                    .entry(source.clone())
                    .or_insert_with(|| target.clone());
            }
        }
        out
    }

    /// The planned folder of a source folder.
    pub fn get(&self, source: &str) -> Option<&PlannedFolder> {
        self.folders.iter().find(|f| f.source.name == source)
    }
}

/// A `/`-separated name whose components hold no `delimiter` (replaced by `_`), so each
/// component stays one level on a target that separates levels with it (`Clients.2024` on a
/// target using `.`).
fn without_delimiter(name: &str, delimiter: char) -> String {
    name.split('/')
        .map(|c| c.replace(delimiter, "_"))
        .collect::<Vec<_>>()
        .join("/")
}

/// The roles that one folder holds and the target can have a home for.
fn exclusive(role: Role) -> bool {
    matches!(
        role,
        Role::Sent | Role::Drafts | Role::Trash | Role::Junk | Role::Archive
    )
}

/// Gives each exclusive role to one selected source folder; the others lose it.
fn assign_roles(folders: &mut [ListedFolder], source_provider: Option<&Provider>) -> RoleHints {
    let mut hints = RoleHints::default();
    let mut by_role: BTreeMap<Role, Vec<usize>> = BTreeMap::new();
    for (i, f) in folders.iter().enumerate() {
        if let Some(r) = f.role.filter(|r| exclusive(*r))
            && f.selectable
        {
            by_role.entry(r).or_default().push(i);
        }
    }
    for (role, idxs) in by_role {
        let preset = source_provider.and_then(|p| p.special_folder(role));
        let Some(&win) = idxs.iter().min_by_key(|&&i| {
            let f = &folders[i];
            (
                !f.special_use,
                preset.is_none_or(|p| p != f.name),
                f.name.chars().count(),
                f.name.clone(),
            )
        }) else {
            continue;
        };
        hints.winners.insert(role, folders[win].name.clone());
        for &i in &idxs {
            if i != win {
                hints.demoted.insert(folders[i].name.clone());
                folders[i].role = None;
                folders[i].special_use = false;
            }
        }
    }
    hints
}

/// A stable key of the rules and presets a plan depends on.
fn rules_key(inputs: &Inputs<'_>) -> String {
    let text = format!(
        "{:?}|{:?}|{:?}|{:?}",
        inputs.rules,
        inputs.source_provider.map(|p| p.id),
        inputs.target_provider.map(|p| p.id),
        inputs.target_kind
    );
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

/// Decides the folder plan. Pure: the same inputs give the same plan.
pub fn plan(inputs: &Inputs<'_>) -> Result<FolderMap, MappingError> {
    let probe = FolderMapper::new(
        inputs.rules,
        inputs.target_provider,
        inputs.target,
        inputs.source_provider,
    )?;
    let mut candidates: Vec<ListedFolder> = Vec::new();
    let mut excluded = Vec::new();
    // Containers (`\Noselect`: QQ's 其他文件夹, Gmail's [Gmail], a parent that only holds
    // folders) are not planned: the server makes them when it creates their children.
    for f in inputs.source.iter().filter(|f| f.selectable) {
        if inputs.gmail && crate::providers::is_gmail_view(&f.name, f.role) {
            continue;
        }
        if probe.is_selected(f) {
            candidates.push(f.clone());
        } else {
            excluded.push(f.name.clone());
        }
    }
    let hints = assign_roles(&mut candidates, inputs.source_provider);
    let mapper = FolderMapper::with_hints(
        inputs.rules,
        inputs.target_provider,
        inputs.target,
        inputs.source_provider,
        &hints,
    )?;
    let key = rules_key(inputs);
    // The target's hierarchy delimiter, when it is not `/`: a name component holding it would
    // become two levels there.
    let delimiter = inputs
        .target
        .iter()
        .find_map(|f| f.delimiter)
        .filter(|d| *d != '/');
    let mut out = FolderMap {
        folders: Vec::new(),
        excluded,
        moved: Vec::new(),
        notes: Vec::new(),
        rules_key: key.clone(),
    };
    for f in candidates {
        let (mut target, reason) = mapper.decide(&f);
        if inputs.target_kind == TargetKind::Archive && reason != MapReason::Explicit {
            target = f.name.clone();
        }
        if inputs.gmail && f.role == Some(Role::All) && reason != MapReason::Explicit {
            target = crate::providers::GMAIL_ARCHIVE_FOLDER.to_string();
        }
        if let Some(d) = delimiter {
            target = without_delimiter(&target, d);
        }
        let mut kept = false;
        if let Some(before) = inputs.stored.and_then(|s| s.targets.get(&f.name)) {
            if inputs.stored.is_some_and(|s| s.rules_key == key) {
                kept = *before != target;
                target = before.clone();
            } else if *before != target {
                out.moved.push(Moved {
                    source: f.name.clone(),
                    before: before.clone(),
                    now: target.clone(),
                });
            }
        }
        out.folders.push(PlannedFolder {
            source: f,
            target,
            reason,
            kept,
        });
    }
    out.folders.sort_by(|a, b| {
        let rank = |r: Option<Role>| r.map(|r| r as u8).unwrap_or(u8::MAX);
        (rank(a.role()), &a.source.name).cmp(&(rank(b.role()), &b.source.name))
    });
    notes(&mut out, &mapper, inputs.source);
    Ok(out)
}

fn notes(out: &mut FolderMap, mapper: &FolderMapper, sources: &[ListedFolder]) {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    let mut merged = BTreeSet::new();
    for f in &out.folders {
        if let Some(other) = seen.insert(&f.target, &f.source.name) {
            merged.insert(format!(
                "{other} and {} are merged into {}",
                f.source.name, f.target
            ));
        }
    }
    out.notes.extend(merged);
    for m in &out.moved {
        out.notes.push(format!(
            "the folder rules changed: {} now goes to {} (it went to {}; mail already copied there stays)",
            m.source, m.now, m.before
        ));
    }
    for key in mapper.unused_map_keys(sources) {
        out.notes.push(format!(
            "folders.map: no source folder is called {key:?}; check the spelling"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::lookup;

    fn folder(name: &str, special: Option<Role>, selectable: bool) -> ListedFolder {
        ListedFolder::from_list(name, Some("/"), special, !selectable, None)
    }

    fn inputs<'a>(
        source: &'a [ListedFolder],
        target: &'a [ListedFolder],
        rules: &'a FolderRules,
        stored: Option<&'a StoredPlan>,
    ) -> Inputs<'a> {
        Inputs {
            source,
            target,
            rules,
            source_provider: None,
            target_provider: None,
            target_kind: TargetKind::Imap,
            stored,
            gmail: false,
        }
    }

    fn table(p: &FolderMap) -> Vec<(String, String)> {
        p.folders
            .iter()
            .map(|f| (f.source.name.clone(), f.target.clone()))
            .collect()
    }

    fn source() -> Vec<ListedFolder> {
        vec![
            folder("INBOX", None, true),
            folder("已发送", Some(Role::Sent), true),
            folder("Sent Items", None, true),
            folder("空文件夹", None, true),
            folder("Archive", None, false),
            folder("Archive/2023", None, true),
        ]
    }

    #[test]
    fn a_role_goes_to_the_special_use_folder_and_look_alikes_keep_their_names() {
        let src = source();
        let rules = FolderRules::default();
        let p = plan(&inputs(&src, &[], &rules, None)).unwrap();
        let t: BTreeMap<_, _> = table(&p).into_iter().collect();
        assert_eq!(t["已发送"], "已发送");
        assert_eq!(t["Sent Items"], "Sent Items");
        assert_eq!(t["空文件夹"], "空文件夹");
        assert_eq!(t["Archive/2023"], "Archive/2023");
        assert!(
            p.notes.iter().all(|n| !n.contains("merged")),
            "{:?}",
            p.notes
        );
    }

    #[test]
    fn the_same_plan_after_the_target_has_both_folders() {
        // The first run created both folders on a target without special-use attributes;
        // recomputed without any stored plan, nothing moves.
        let src = source();
        let rules = FolderRules::default();
        let first = plan(&inputs(&src, &[], &rules, None)).unwrap();
        let target: Vec<ListedFolder> = ["INBOX", "Sent Items", "已发送", "空文件夹", "Archive"]
            .iter()
            .map(|n| folder(n, None, true))
            .collect();
        let again = plan(&inputs(&src, &target, &rules, None)).unwrap();
        assert_eq!(table(&first), table(&again));
    }

    #[test]
    fn a_target_sent_folder_takes_the_role_folder_only() {
        let src = source();
        let target = vec![folder("Sent", Some(Role::Sent), true)];
        let rules = FolderRules::default();
        let p = plan(&inputs(&src, &target, &rules, None)).unwrap();
        assert_eq!(p.get("已发送").unwrap().target, "Sent");
        assert_eq!(p.get("Sent Items").unwrap().target, "Sent Items");
    }

    #[test]
    fn a_stored_plan_wins_under_the_same_rules_and_new_folders_are_added() {
        let src = source();
        let rules = FolderRules::default();
        let mut stored = plan(&inputs(&src, &[], &rules, None)).unwrap().to_stored();
        stored
            .targets
            .insert("Sent Items".into(), "Old/Sent Items".into());
        stored.targets.remove("空文件夹");
        let target = vec![folder("Sent", Some(Role::Sent), true)];
        let p = plan(&inputs(&src, &target, &rules, Some(&stored))).unwrap();
        assert_eq!(p.get("Sent Items").unwrap().target, "Old/Sent Items");
        assert_eq!(p.get("已发送").unwrap().target, "已发送");
        assert_eq!(p.get("空文件夹").unwrap().target, "空文件夹");
        assert!(p.moved.is_empty());
    }

    #[test]
    fn a_folder_missing_from_one_listing_keeps_its_stored_target() {
        let src = source();
        let rules = FolderRules::default();
        let mut stored = plan(&inputs(&src, &[], &rules, None)).unwrap().to_stored();
        stored
            .targets
            .insert("Gone for now".into(), "Somewhere".into());
        let p = plan(&inputs(&src, &[], &rules, Some(&stored))).unwrap();
        let again = p.to_stored_over(Some(&stored));
        assert_eq!(again.targets["Gone for now"], "Somewhere");
        let mut other = rules.clone();
        other.exclude.push("x".into());
        let changed = plan(&inputs(&src, &[], &other, Some(&stored))).unwrap();
        assert!(
            !changed
                .to_stored_over(Some(&stored))
                .targets
                .contains_key("Gone for now")
        );
    }

    #[test]
    fn a_name_holding_the_targets_delimiter_stays_one_level() {
        let src = vec![
            folder("Clients.2024", None, true),
            folder("a/b.c", None, true),
        ];
        let target = vec![ListedFolder::from_list(
            "INBOX",
            Some("."),
            None,
            false,
            None,
        )];
        let rules = FolderRules::default();
        let p = plan(&inputs(&src, &target, &rules, None)).unwrap();
        assert_eq!(p.get("Clients.2024").unwrap().target, "Clients_2024");
        assert_eq!(p.get("a/b.c").unwrap().target, "a/b_c");
        // A `/` target keeps the names as they are.
        let p = plan(&inputs(&src, &[], &rules, None)).unwrap();
        assert_eq!(p.get("Clients.2024").unwrap().target, "Clients.2024");
    }

    #[test]
    fn changed_rules_move_folders_and_say_so() {
        let src = source();
        let stored = plan(&inputs(&src, &[], &FolderRules::default(), None))
            .unwrap()
            .to_stored();
        let mut rules = FolderRules::default();
        rules.map.insert("Sent Items".into(), "Old Sent".into());
        let p = plan(&inputs(&src, &[], &rules, Some(&stored))).unwrap();
        assert_eq!(p.get("Sent Items").unwrap().target, "Old Sent");
        assert_eq!(
            p.moved,
            vec![Moved {
                source: "Sent Items".into(),
                before: "Sent Items".into(),
                now: "Old Sent".into()
            }]
        );
        assert!(p.notes.iter().any(|n| n.contains("now goes to Old Sent")));
    }

    #[test]
    fn archives_keep_source_names_and_provider_containers_are_left_out() {
        let qq = lookup("qq");
        let src = vec![
            ListedFolder::from_list("INBOX", Some("/"), None, false, qq),
            ListedFolder::from_list("Sent Messages", Some("/"), Some(Role::Sent), false, qq),
            ListedFolder::from_list("&UXZO1mWHTvZZOQ-", Some("/"), None, true, qq),
            ListedFolder::from_list("&UXZO1mWHTvZZOQ-/work", Some("/"), None, false, qq),
        ];
        let rules = FolderRules::default();
        let mut i = inputs(&src, &[], &rules, None);
        i.source_provider = qq;
        i.target_kind = TargetKind::Archive;
        let p = plan(&i).unwrap();
        assert_eq!(
            table(&p),
            vec![
                ("INBOX".to_string(), "INBOX".to_string()),
                ("Sent Messages".into(), "Sent Messages".into()),
                ("其他文件夹/work".into(), "其他文件夹/work".into()),
            ]
        );
    }
}
