//! Which source folders are copied, and the target folder each one lands in.
//!
//! Names here are decoded (UTF-8) and `/`-separated whatever the server's delimiter; the
//! session encodes them back (modified UTF-7, server delimiter) on the wire. Decisions, in
//! order:
//! 1. an explicit `folders.map` entry (by source name, or by role as `\Sent`);
//! 2. INBOX -> INBOX;
//! 3. a folder with a role (Sent, Drafts, Trash, Junk, Archive) goes to the target's folder
//!    with that role, else the target preset's name for it, else a generic name;
//! 4. anything else is a user folder and keeps its name, moved out of the source's user-folder
//!    container (QQ `其他文件夹/`) and into the target's.
//!
//! Nothing is skipped unless the profile excludes it. Several source folders may share a
//! target (both accounts' Trash, say); the messages are merged there.

use std::collections::BTreeMap;

use globset::{GlobSet, GlobSetBuilder};

use crate::profile::FolderRules;
use crate::providers::{Provider, Role, role_from_name};

use crate::imap::mutf7;

/// One LIST entry, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFolder {
    /// The name as LIST returned it (modified UTF-7, server delimiter): what SELECT needs.
    pub wire: String,
    /// Decoded, with the server's delimiter replaced by `/`; a leading INBOX is spelled `INBOX`.
    pub name: String,
    pub delimiter: Option<char>,
    pub role: Option<Role>,
    /// Whether `role` came from a LIST special-use attribute rather than the name.
    pub special_use: bool,
    /// False for `\NoSelect` / `\NonExistent` containers (QQ's `其他文件夹`).
    pub selectable: bool,
}

impl ListedFolder {
    /// Builds an entry from LIST's mailbox name, delimiter and attributes. The role is the
    /// special-use attribute's, else recognised from the name (provider table, then generic
    /// names); INBOX in any case is always the inbox.
    pub fn from_list(
        wire: &str,
        delimiter: Option<&str>,
        attributes_role: Option<Role>,
        noselect: bool,
        provider: Option<&Provider>,
    ) -> ListedFolder {
        let delimiter = delimiter.and_then(|d| d.chars().next());
        // Decode per component, so a delimiter that is also a base64 character ('+' or ',')
        // cannot split a shifted sequence.
        let decoded: Vec<String> = match delimiter {
            Some(d) => wire.split(d).map(mutf7::decode_lossy).collect(),
            None => vec![mutf7::decode_lossy(wire)],
        };
        let name = canonical_inbox(&decoded.join("/"));
        let (role, special_use) = if name == "INBOX" {
            (Some(Role::Inbox), attributes_role == Some(Role::Inbox))
        } else if let Some(role) = attributes_role {
            (Some(role), true)
        } else {
            (role_from_name(&name, provider), false)
        };
        ListedFolder {
            wire: wire.to_string(),
            name,
            delimiter,
            role,
            special_use,
            selectable: !noselect,
        }
    }
}

pub use crate::profile::MappingError;

/// What the source listing tells about the target's role folders (see
/// [`FolderMapper::with_hints`]).
#[derive(Debug, Clone, Default)]
pub struct RoleHints {
    /// The source folder that holds each role.
    pub winners: BTreeMap<Role, String>,
    /// Source folders whose name suggests a role another folder holds.
    pub demoted: std::collections::BTreeSet<String>,
}

/// Why a folder maps where it does, for plan output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapReason {
    /// A `folders.map` entry.
    Explicit,
    Inbox,
    /// The target already has a folder with this role.
    TargetFolder(Role),
    /// The target preset's name for this role.
    ProviderFolder(Role),
    /// A generic name for this role (`Sent`, `Trash`, ...).
    DefaultFolder(Role),
    UserFolder,
}

/// Decides selection and target names for one job.
#[derive(Debug)]
pub struct FolderMapper {
    include: Option<Patterns>,
    exclude: Option<Patterns>,
    /// Normalised source name -> target.
    by_name: BTreeMap<String, String>,
    by_role: BTreeMap<Role, String>,
    /// The target's existing selectable folder for each role.
    target_roles: BTreeMap<Role, String>,
    target_provider: Option<&'static Provider>,
    source_provider: Option<&'static Provider>,
}

#[derive(Debug)]
struct Patterns {
    set: GlobSet,
    /// The same patterns case-insensitively, tried only on INBOX.
    inbox: GlobSet,
}

impl Patterns {
    fn new(list: &'static str, patterns: &[String]) -> Result<Option<Patterns>, MappingError> {
        if patterns.is_empty() {
            return Ok(None);
        }
        let mut set = GlobSetBuilder::new();
        let mut inbox = GlobSetBuilder::new();
        for pattern in patterns {
            let glob = canonical_inbox(pattern.trim());
            for (builder, ci) in [(&mut set, false), (&mut inbox, true)] {
                let g = crate::globs::folder_glob(&glob, ci).map_err(|detail| {
                    MappingError::BadGlob {
                        list,
                        pattern: pattern.clone(),
                        detail,
                    }
                })?;
                builder.add(g);
            }
        }
        let build = |b: GlobSetBuilder| {
            b.build().map_err(|e| MappingError::BadGlob {
                list,
                pattern: patterns.join(", "),
                detail: e.to_string(),
            })
        };
        Ok(Some(Patterns {
            set: build(set)?,
            inbox: build(inbox)?,
        }))
    }

    fn matches(&self, names: &[&str]) -> bool {
        names
            .iter()
            .any(|n| self.set.is_match(n) || (*n == "INBOX" && self.inbox.is_match(n)))
    }
}

/// Spells a leading INBOX component `INBOX` (IMAP treats it case-insensitively).
fn canonical_inbox(name: &str) -> String {
    let (head, tail) = match name.split_once('/') {
        Some((h, t)) => (h, Some(t)),
        None => (name, None),
    };
    if !head.eq_ignore_ascii_case("INBOX") {
        return name.to_string();
    }
    match tail {
        Some(t) => format!("INBOX/{t}"),
        None => "INBOX".to_string(),
    }
}

fn child_of<'a>(name: &'a str, parent: &str) -> Option<&'a str> {
    name.strip_prefix(parent)?.strip_prefix('/')
}

fn generic_name(role: Role) -> Option<&'static str> {
    Some(match role {
        Role::Sent => "Sent",
        Role::Drafts => "Drafts",
        Role::Trash => "Trash",
        Role::Junk => "Junk",
        Role::Archive => "Archive",
        Role::Inbox | Role::All | Role::Flagged => return None,
    })
}

impl FolderMapper {
    /// Validates the profile's folder rules against what the target has.
    pub fn new(
        rules: &FolderRules,
        target_provider: Option<&'static Provider>,
        target_folders: &[ListedFolder],
        source_provider: Option<&'static Provider>,
    ) -> Result<Self, MappingError> {
        Self::with_hints(
            rules,
            target_provider,
            target_folders,
            source_provider,
            &RoleHints::default(),
        )
    }

    /// As [`FolderMapper::new`], with what the source's folders say about the target's: a
    /// target folder named like a source folder that holds a role is that role's home, and one
    /// named like a source folder that lost its role to another keeps that folder's mail,
    /// never the role's (so a rerun maps as the first run did).
    pub fn with_hints(
        rules: &FolderRules,
        target_provider: Option<&'static Provider>,
        target_folders: &[ListedFolder],
        source_provider: Option<&'static Provider>,
        hints: &RoleHints,
    ) -> Result<Self, MappingError> {
        let include = Patterns::new("include", &rules.include)?;
        let exclude = Patterns::new("exclude", &rules.exclude)?;

        let mut by_name = BTreeMap::new();
        let mut by_role = BTreeMap::new();
        for (key, target) in &rules.map {
            let bad = |reason| MappingError::BadTarget {
                key: key.clone(),
                target: target.clone(),
                reason,
            };
            if target.trim().is_empty() {
                return Err(bad("the target is empty"));
            }
            if target.split('/').any(str::is_empty) {
                return Err(bad("the target has an empty path component"));
            }
            let target = canonical_inbox(target);
            let key_trimmed = key.trim().trim_end_matches('/');
            if key_trimmed.starts_with('\\') {
                let role = Role::from_attribute(key_trimmed)
                    .ok_or_else(|| MappingError::UnknownRole { key: key.clone() })?;
                by_role.insert(role, target);
            } else {
                by_name.insert(canonical_inbox(key_trimmed), target);
            }
        }

        let mut target_roles = BTreeMap::new();
        for role in Role::ALL {
            let preset = target_provider.and_then(|p| p.special_folder(role));
            let winner = hints.winners.get(&role);
            let candidates = target_folders.iter().filter(|f| {
                f.selectable
                    && f.role == Some(role)
                    && (f.special_use || !hints.demoted.contains(&f.name))
            });
            // An attribute beats a name; the preset's own name beats other names; the source
            // role folder's own name beats the rest; then the listing's order.
            let best = candidates.min_by_key(|f| {
                (
                    !f.special_use,
                    preset.is_none_or(|p| !p.eq_ignore_ascii_case(&f.name)),
                    winner.is_none_or(|w| *w != f.name),
                )
            });
            if let Some(f) = best {
                target_roles.insert(role, f.name.clone());
            }
        }

        Ok(FolderMapper {
            include,
            exclude,
            by_name,
            by_role,
            target_roles,
            target_provider,
            source_provider,
        })
    }

    /// The names a pattern or map key may match: the full name, and the name inside the
    /// source's user-folder container (`工作` for QQ's `其他文件夹/工作`).
    fn match_names<'a>(&self, f: &'a ListedFolder) -> Vec<&'a str> {
        let mut names = vec![f.name.as_str()];
        if let Some(inner) = self
            .source_provider
            .and_then(|p| p.user_folder_parent)
            .and_then(|parent| child_of(&f.name, parent))
        {
            names.push(inner);
        }
        names
    }

    /// Whether the folder is copied: selectable, matching `include` (empty = all) and no
    /// `exclude`. Globs match decoded names, `*` crosses `/`, and INBOX in any case.
    pub fn is_selected(&self, f: &ListedFolder) -> bool {
        if !f.selectable {
            return false;
        }
        let names = self.match_names(f);
        let included = self.include.as_ref().is_none_or(|p| p.matches(&names));
        let excluded = self.exclude.as_ref().is_some_and(|p| p.matches(&names));
        included && !excluded
    }

    /// The decoded, `/`-separated target folder for a source folder.
    pub fn target_for(&self, f: &ListedFolder) -> String {
        self.decide(f).0
    }

    /// The target folder and why it was chosen.
    pub fn decide(&self, f: &ListedFolder) -> (String, MapReason) {
        let names = self.match_names(f);
        if let Some(t) = names.iter().find_map(|n| self.by_name.get(*n)) {
            return (t.clone(), MapReason::Explicit);
        }
        if let Some(t) = f.role.and_then(|r| self.by_role.get(&r)) {
            return (t.clone(), MapReason::Explicit);
        }
        if f.name == "INBOX" || f.role == Some(Role::Inbox) {
            return ("INBOX".to_string(), MapReason::Inbox);
        }
        if let Some(role) = f.role.filter(|r| generic_name(*r).is_some()) {
            if let Some(t) = self.target_roles.get(&role) {
                return (t.clone(), MapReason::TargetFolder(role));
            }
            if let Some(t) = self.target_provider.and_then(|p| p.special_folder(role)) {
                return (t.to_string(), MapReason::ProviderFolder(role));
            }
            // No home for this role on the target: the folder keeps its own name (a restore
            // gives back 已发送 as 已发送), as an ordinary folder there (QQ: under 其他文件夹/).
            let inner = names.get(1).copied().unwrap_or(&f.name);
            return (self.in_user_area(inner), MapReason::DefaultFolder(role));
        }
        let inner = names.get(1).copied().unwrap_or(&f.name);
        (self.in_user_area(inner), MapReason::UserFolder)
    }

    fn in_user_area(&self, name: &str) -> String {
        match self.target_provider.and_then(|p| p.user_folder_parent) {
            Some(parent) if child_of(name, parent).is_none() => format!("{parent}/{name}"),
            _ => name.to_string(),
        }
    }

    /// `folders.map` keys that match none of `sources`: most likely typos, worth a warning.
    pub fn unused_map_keys(&self, sources: &[ListedFolder]) -> Vec<String> {
        let mut unused: Vec<String> = self
            .by_name
            .keys()
            .filter(|k| {
                !sources
                    .iter()
                    .any(|f| self.match_names(f).contains(&k.as_str()))
            })
            .cloned()
            .collect();
        unused.extend(
            self.by_role
                .keys()
                .filter(|r| !sources.iter().any(|f| f.role == Some(**r)))
                .map(|r| r.attribute().to_string()),
        );
        unused
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::lookup;

    fn p(id: &str) -> Option<&'static Provider> {
        Some(lookup(id).unwrap())
    }

    fn rules(include: &[&str], exclude: &[&str], map: &[(&str, &str)]) -> FolderRules {
        FolderRules {
            include: include.iter().map(|s| s.to_string()).collect(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
            map: map
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// A real 163 LIST (providers.md 3.1), plus nested user folders.
    fn netease_list() -> Vec<ListedFolder> {
        let n = p("163");
        let l = |wire: &str, role| ListedFolder::from_list(wire, Some("/"), role, false, n);
        vec![
            l("INBOX", None),
            l("&g0l6P3ux-", Some(Role::Drafts)),
            l("&XfJT0ZAB-", Some(Role::Sent)),
            l("&XfJSIJZk-", Some(Role::Trash)),
            l("&V4NXPpCuTvY-", Some(Role::Junk)),
            l("&dcVr0mWHTvZZOQ-", None),
            l("&Xn9USpCuTvY-", None),
            l(&mutf7::encode("工作"), None),
            l(&mutf7::encode("客户"), None),
            l(&mutf7::encode("客户/2024"), None),
        ]
    }

    /// A real QQ LIST (providers.md 3.2): no special-use attributes.
    fn qq_list() -> Vec<ListedFolder> {
        let q = p("qq");
        let l = |wire, noselect| ListedFolder::from_list(wire, Some("/"), None, noselect, q);
        vec![
            l("&UXZO1mWHTvZZOQ-", true),
            l("INBOX", false),
            l("Sent Messages", false),
            l("Drafts", false),
            l("Deleted Messages", false),
            l("Junk", false),
            l("&UXZO1mWHTvZZOQ-/QQ&kK5O9ouilgU-", false),
            l("&UXZO1mWHTvZZOQ-/Github", false),
            l("&UXZO1mWHTvZZOQ-/&kdF7Gw-", false),
        ]
    }

    fn table(m: &FolderMapper, folders: &[ListedFolder]) -> Vec<(String, String)> {
        folders
            .iter()
            .filter(|f| m.is_selected(f))
            .map(|f| (f.name.clone(), m.target_for(f)))
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn list_entries_are_decoded_and_recognised() {
        let list = netease_list();
        assert_eq!(list[2].name, "已发送");
        assert_eq!(list[2].role, Some(Role::Sent));
        assert!(list[2].special_use);
        assert_eq!(list[9].name, "客户/2024");
        assert_eq!(list[9].role, None);
        let qq = qq_list();
        assert_eq!(qq[0].name, "其他文件夹");
        assert!(!qq[0].selectable);
        assert_eq!(qq[2].role, Some(Role::Sent));
        assert!(!qq[2].special_use);
        assert_eq!(qq[6].name, "其他文件夹/QQ邮件订阅");
        // A '.'-delimited server: names come out '/'-separated, INBOX canonical.
        let f = ListedFolder::from_list("inbox.&XfJT0ZAB-", Some("."), None, false, None);
        assert_eq!(f.name, "INBOX/已发送");
        assert_eq!(f.role, Some(Role::Sent));
        assert_eq!(f.delimiter, Some('.'));
        let f = ListedFolder::from_list("Inbox", Some("/"), None, false, None);
        assert_eq!((f.name.as_str(), f.role), ("INBOX", Some(Role::Inbox)));
        // Malformed names stay readable instead of failing the listing.
        let f = ListedFolder::from_list("&Jjo!-", Some("/"), None, false, None);
        assert_eq!(f.name, "&Jjo!-");
    }

    #[test]
    fn netease_to_qq_full_table() {
        let qq_target = qq_list();
        let m = FolderMapper::new(
            &rules(&[], &[], &[("工作", "Projects/Work")]),
            p("qq"),
            &qq_target,
            p("163"),
        )
        .unwrap();
        assert_eq!(
            table(&m, &netease_list()),
            pairs(&[
                ("INBOX", "INBOX"),
                ("草稿箱", "Drafts"),
                ("已发送", "Sent Messages"),
                ("已删除", "Deleted Messages"),
                ("垃圾邮件", "Junk"),
                ("病毒文件夹", "其他文件夹/病毒文件夹"),
                ("广告邮件", "其他文件夹/广告邮件"),
                ("工作", "Projects/Work"),
                ("客户", "其他文件夹/客户"),
                ("客户/2024", "其他文件夹/客户/2024"),
            ])
        );
        let sent = &netease_list()[2];
        assert_eq!(m.decide(sent).1, MapReason::TargetFolder(Role::Sent));
    }

    #[test]
    fn netease_to_qq_without_a_target_listing_uses_the_preset() {
        let m = FolderMapper::new(&rules(&[], &[], &[]), p("qq"), &[], p("163")).unwrap();
        let list = netease_list();
        assert_eq!(
            m.decide(&list[2]),
            (
                "Sent Messages".into(),
                MapReason::ProviderFolder(Role::Sent)
            )
        );
        assert_eq!(m.target_for(&list[7]), "其他文件夹/工作");
        // An archive folder has no home on QQ: it becomes a user folder there.
        let archive =
            ListedFolder::from_list("Archive", Some("/"), Some(Role::Archive), false, None);
        assert_eq!(m.target_for(&archive), "其他文件夹/Archive");
        // A source folder literally named like QQ's container is not merged into it.
        let odd = ListedFolder::from_list("&UXZO1mWHTvZZOQ-", Some("/"), None, false, None);
        assert_eq!(m.target_for(&odd), "其他文件夹/其他文件夹");
    }

    #[test]
    fn qq_source_to_a_generic_target() {
        let m = FolderMapper::new(&rules(&[], &[], &[]), None, &[], p("qq")).unwrap();
        assert_eq!(
            table(&m, &qq_list()),
            pairs(&[
                ("INBOX", "INBOX"),
                // The target has no special folders yet: the names stay.
                ("Sent Messages", "Sent Messages"),
                ("Drafts", "Drafts"),
                ("Deleted Messages", "Deleted Messages"),
                ("Junk", "Junk"),
                ("其他文件夹/QQ邮件订阅", "QQ邮件订阅"),
                ("其他文件夹/Github", "Github"),
                ("其他文件夹/金笛", "金笛"),
            ])
        );
    }

    #[test]
    fn qq_to_qq_keeps_user_folders_in_place() {
        let m = FolderMapper::new(&rules(&[], &[], &[]), p("qq"), &qq_list(), p("qq")).unwrap();
        let list = qq_list();
        assert_eq!(m.target_for(&list[7]), "其他文件夹/Github");
        assert_eq!(m.target_for(&list[4]), "Deleted Messages");
    }

    #[test]
    fn dovecot_like_target_keeps_its_own_sent_folder() {
        let l = |wire: &str, role| ListedFolder::from_list(wire, Some("/"), role, false, None);
        let target = vec![
            l("INBOX", None),
            l("Sent Messages", None),
            l("Sent", Some(Role::Sent)),
            l("Trash", Some(Role::Trash)),
            l("Spam", Some(Role::Junk)),
        ];
        let m = FolderMapper::new(&rules(&[], &[], &[]), None, &target, p("163")).unwrap();
        let list = netease_list();
        assert_eq!(m.target_for(&list[2]), "Sent");
        assert_eq!(m.target_for(&list[3]), "Trash");
        assert_eq!(m.target_for(&list[4]), "Spam");
        // No Drafts there: the folder keeps its own name.
        assert_eq!(
            m.decide(&list[1]),
            ("草稿箱".into(), MapReason::DefaultFolder(Role::Drafts))
        );
        assert_eq!(m.target_for(&list[9]), "客户/2024");
        // QQ's Sent Messages, recognised by name, also lands in the \Sent folder.
        let m = FolderMapper::new(&rules(&[], &[], &[]), None, &target, p("qq")).unwrap();
        assert_eq!(m.target_for(&qq_list()[2]), "Sent");
    }

    #[test]
    fn include_and_exclude_globs() {
        let list = netease_list();
        let selected = |r: FolderRules| -> Vec<String> {
            let m = FolderMapper::new(&r, p("qq"), &[], p("163")).unwrap();
            list.iter()
                .filter(|f| m.is_selected(f))
                .map(|f| f.name.clone())
                .collect()
        };
        assert_eq!(selected(rules(&[], &[], &[])).len(), list.len());
        assert_eq!(selected(rules(&["*"], &[], &[])).len(), list.len());
        let all_but_virus = selected(rules(&[], &["病毒*"], &[]));
        assert!(!all_but_virus.contains(&"病毒文件夹".to_string()));
        assert_eq!(all_but_virus.len(), list.len() - 1);
        // `*` crosses '/'.
        assert_eq!(selected(rules(&["客户*"], &[], &[])), ["客户", "客户/2024"]);
        assert_eq!(selected(rules(&["客户/*"], &[], &[])), ["客户/2024"]);
        // INBOX in any case.
        assert_eq!(selected(rules(&["inbox"], &[], &[])), ["INBOX"]);
        assert_eq!(selected(rules(&["in*"], &[], &[])), ["INBOX"]);
        assert_eq!(
            selected(rules(&["INBOX", "已*"], &["已删除"], &[])),
            ["INBOX", "已发送"]
        );
    }

    #[test]
    fn globs_see_names_inside_the_qq_container_and_gmail_brackets() {
        let m = FolderMapper::new(&rules(&[], &["QQ邮件订阅"], &[]), None, &[], p("qq")).unwrap();
        let list = qq_list();
        let names: Vec<_> = list
            .iter()
            .filter(|f| m.is_selected(f))
            .map(|f| f.name.as_str())
            .collect();
        assert!(!names.contains(&"其他文件夹/QQ邮件订阅"));
        assert!(names.contains(&"其他文件夹/Github"));
        // The \NoSelect container is never selected, even by '*'.
        assert!(!names.contains(&"其他文件夹"));

        let g = p("gmail");
        let spam = ListedFolder::from_list("[Gmail]/Spam", Some("/"), Some(Role::Junk), false, g);
        let mail =
            ListedFolder::from_list("[Gmail]/All Mail", Some("/"), Some(Role::All), false, g);
        let m = FolderMapper::new(&rules(&[], &["[Gmail]/Spam"], &[]), p("qq"), &[], g).unwrap();
        assert!(!m.is_selected(&spam));
        assert!(m.is_selected(&mail));
        // All Mail has no counterpart: kept as a user folder, not poured into Archive.
        assert_eq!(m.target_for(&mail), "其他文件夹/[Gmail]/All Mail");
    }

    #[test]
    fn explicit_map_wins_by_name_and_by_role() {
        let m = FolderMapper::new(
            &rules(
                &[],
                &[],
                &[
                    ("已发送", "163/Sent"),
                    ("\\Trash", "Old Trash"),
                    ("inbox", "inbox/163"),
                ],
            ),
            p("qq"),
            &qq_list(),
            p("163"),
        )
        .unwrap();
        let list = netease_list();
        assert_eq!(m.decide(&list[2]), ("163/Sent".into(), MapReason::Explicit));
        assert_eq!(m.target_for(&list[3]), "Old Trash");
        assert_eq!(m.target_for(&list[0]), "INBOX/163");
        assert_eq!(m.target_for(&list[4]), "Junk");
        assert!(m.unused_map_keys(&list).is_empty());
        assert_eq!(m.unused_map_keys(&list[..2]), ["已发送", "\\Trash"]);
    }

    #[test]
    fn two_sources_may_share_a_target() {
        let l = |wire: &str, role| ListedFolder::from_list(wire, Some("/"), role, false, p("163"));
        let a = l("&XfJSIJZk-", Some(Role::Trash));
        let b = l("Trash", None);
        let m = FolderMapper::new(&rules(&[], &[], &[]), p("qq"), &[], p("163")).unwrap();
        assert_eq!(m.target_for(&a), "Deleted Messages");
        assert_eq!(m.target_for(&b), "Deleted Messages");
    }

    #[test]
    fn bad_rules_are_errors_naming_the_rule() {
        let err = |r| {
            FolderMapper::new(&r, None, &[], None)
                .unwrap_err()
                .to_string()
        };
        let e = err(rules(&["{a,b"], &[], &[]));
        assert!(e.contains("folders.include") && e.contains("{a,b"), "{e}");
        let e = err(rules(&[], &[], &[("工作", "")]));
        assert!(e.contains("empty"), "{e}");
        let e = err(rules(&[], &[], &[("工作", "a//b")]));
        assert!(e.contains("a//b"), "{e}");
        let e = err(rules(&[], &[], &[("\\Outbox", "x")]));
        assert!(e.contains("\\Outbox") && e.contains("\\Sent"), "{e}");
    }
}
