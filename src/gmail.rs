//! Gmail as a source: each label is shown as a folder and `[Gmail]/All Mail` holds every
//! message, so a message with three labels is listed four times. Copied folder by folder it
//! would arrive four times. Here each message (by `X-GM-MSGID`) is given to one source folder
//! by a fixed order, and the other folders leave it out:
//!
//! 1. Sent, then Drafts;
//! 2. user labels, in the folder plan's order;
//! 3. INBOX;
//! 4. All Mail, whose messages (those with no other label) go to an `Archive` folder.
//!
//! Trash and Spam are not in All Mail and keep what they hold. Starred and Important are views
//! of All Mail, not folders: they are not copied (a starred message carries `\Flagged`).
//! `gmail: { labels: all }` keeps a copy in every label folder instead, and leaves out of
//! Archive only what another folder carries. The assignment is a pure function of what the
//! server lists, so every run, resumed or repeated, and `verify`, decide alike.

use std::collections::{HashMap, HashSet};

use crate::folders::PlannedFolder;
use crate::imap::{Session, uidset};
use crate::mapping::ListedFolder;
use crate::providers::Role;

pub use crate::providers::{GMAIL_ARCHIVE_FOLDER as ARCHIVE_FOLDER, GMAIL_EXTENSION as EXTENSION};

pub use crate::profile::GmailLabels as LabelMode;

/// Whether a listed folder is a view of All Mail rather than a folder of its own.
pub fn is_view(f: &ListedFolder) -> bool {
    crate::providers::is_gmail_view(&f.name, f.role)
}

/// One message as one folder lists it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub folder: String,
    pub uid: u32,
    pub msgid: u64,
    pub labels: Vec<String>,
}

/// The decision: which UIDs each folder leaves to another, and every message's labels.
#[derive(Debug, Clone, Default)]
pub struct Assignment {
    pub elsewhere: HashMap<String, HashSet<u32>>,
    pub labels: HashMap<(String, u32), Vec<String>>,
}

impl Assignment {
    /// Whether `folder` leaves message `uid` to another folder.
    pub fn leaves(&self, folder: &str, uid: u32) -> bool {
        self.elsewhere.get(folder).is_some_and(|s| s.contains(&uid))
    }

    pub fn left_out(&self) -> usize {
        self.elsewhere.values().map(HashSet::len).sum()
    }
}

/// A folder's place in the order; `None` for folders that keep everything (Trash, Spam).
fn rank(role: Option<Role>, position: usize) -> Option<usize> {
    match role {
        Some(Role::Sent) => Some(0),
        Some(Role::Drafts) => Some(1),
        Some(Role::Inbox) => Some(1_000_000),
        Some(Role::All) => Some(2_000_000),
        Some(Role::Trash | Role::Junk) => None,
        _ => Some(2 + position),
    }
}

/// Decides, from the folders in plan order (name, role) and what each lists.
pub fn assign(
    folders: &[(String, Option<Role>)],
    listed: &[Listed],
    mode: LabelMode,
) -> Assignment {
    let ranks: HashMap<&str, Option<usize>> = folders
        .iter()
        .enumerate()
        .map(|(i, (name, role))| (name.as_str(), rank(*role, i)))
        .collect();
    let all_mail: HashSet<&str> = folders
        .iter()
        .filter(|(_, r)| *r == Some(Role::All))
        .map(|(n, _)| n.as_str())
        .collect();
    let mut by_msgid: HashMap<u64, Vec<&Listed>> = HashMap::new();
    let mut out = Assignment::default();
    for l in listed {
        out.labels
            .insert((l.folder.clone(), l.uid), l.labels.clone());
        if ranks.get(l.folder.as_str()).copied().flatten().is_some() {
            by_msgid.entry(l.msgid).or_default().push(l);
        }
    }
    for copies in by_msgid.values() {
        if copies.len() < 2 {
            continue;
        }
        let rank_of = |l: &Listed| {
            ranks
                .get(l.folder.as_str())
                .copied()
                .flatten()
                .unwrap_or(usize::MAX)
        };
        let leave: Vec<&&Listed> = match mode {
            LabelMode::One => {
                let Some(owner) = copies
                    .iter()
                    .min_by_key(|l| (rank_of(l), l.folder.clone(), l.uid))
                else {
                    continue;
                };
                copies
                    .iter()
                    .filter(|l| !(l.folder == owner.folder && l.uid == owner.uid))
                    .collect()
            }
            LabelMode::All => {
                let elsewhere = copies.iter().any(|l| !all_mail.contains(l.folder.as_str()));
                copies
                    .iter()
                    .filter(|l| elsewhere && all_mail.contains(l.folder.as_str()))
                    .collect()
            }
        };
        for l in leave {
            out.elsewhere
                .entry(l.folder.clone())
                .or_default()
                .insert(l.uid);
        }
    }
    out
}

/// Reads every planned folder's `X-GM-MSGID` and `X-GM-LABELS` (one cheap FETCH a folder)
/// and decides.
pub async fn survey(
    session: &mut Session,
    planned: &[PlannedFolder],
    rules: &crate::profile::GmailRules,
) -> crate::Result<Assignment> {
    let mut listed = Vec::new();
    let mut order = Vec::new();
    for pf in planned {
        order.push((pf.source.name.clone(), pf.role()));
        let state = session.examine(&pf.source.wire).await?.clone();
        if state.exists == 0 {
            continue;
        }
        let uids = session.all_uids().await?;
        for (set, _) in uidset::chunks(&uids, 1000) {
            session
                .uid_fetch(&set, "(UID X-GM-MSGID X-GM-LABELS)", &mut |r| {
                    if let (Some(uid), Some(msgid)) = (r.uid, r.gm_msgid) {
                        listed.push(Listed {
                            folder: pf.source.name.clone(),
                            uid,
                            msgid,
                            labels: r.gm_labels.clone().unwrap_or_default(),
                        });
                    }
                    Ok(())
                })
                .await?;
        }
    }
    Ok(assign(&ordered(order, &rules.order), &listed, rules.labels))
}

/// The folders with the profile's `gmail.order` labels moved first, in that order (the plan's
/// order otherwise).
pub fn ordered(
    mut folders: Vec<(String, Option<Role>)>,
    first: &[String],
) -> Vec<(String, Option<Role>)> {
    let place = |name: &str| first.iter().position(|f| f == name).unwrap_or(first.len());
    folders.sort_by_key(|(name, role)| {
        if role.is_none() {
            place(name)
        } else {
            first.len()
        }
    });
    folders
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(folder: &str, uid: u32, msgid: u64) -> Listed {
        Listed {
            folder: folder.into(),
            uid,
            msgid,
            labels: Vec::new(),
        }
    }

    fn folders() -> Vec<(String, Option<Role>)> {
        vec![
            ("INBOX".into(), Some(Role::Inbox)),
            ("[Gmail]/Sent Mail".into(), Some(Role::Sent)),
            ("[Gmail]/Trash".into(), Some(Role::Trash)),
            ("[Gmail]/All Mail".into(), Some(Role::All)),
            ("Work".into(), None),
            ("Travel".into(), None),
        ]
    }

    fn listed() -> Vec<Listed> {
        vec![
            // A: INBOX, Work, Travel, All Mail -> Work (the first user label).
            l("INBOX", 1, 100),
            l("Work", 1, 100),
            l("Travel", 1, 100),
            l("[Gmail]/All Mail", 1, 100),
            // B: sent and in INBOX -> Sent.
            l("INBOX", 2, 200),
            l("[Gmail]/Sent Mail", 1, 200),
            l("[Gmail]/All Mail", 2, 200),
            // C: only in All Mail -> stays there (Archive).
            l("[Gmail]/All Mail", 3, 300),
            // D: in Trash only.
            l("[Gmail]/Trash", 1, 400),
        ]
    }

    #[test]
    fn each_message_goes_to_one_folder_by_the_order() {
        let a = assign(&folders(), &listed(), LabelMode::One);
        assert!(!a.leaves("Work", 1));
        assert!(a.leaves("INBOX", 1) && a.leaves("Travel", 1) && a.leaves("[Gmail]/All Mail", 1));
        assert!(!a.leaves("[Gmail]/Sent Mail", 1));
        assert!(a.leaves("INBOX", 2) && a.leaves("[Gmail]/All Mail", 2));
        assert!(!a.leaves("[Gmail]/All Mail", 3));
        assert!(!a.leaves("[Gmail]/Trash", 1));
        assert_eq!(a.left_out(), 5);
    }

    #[test]
    fn labels_all_keeps_every_label_and_only_thins_all_mail() {
        let a = assign(&folders(), &listed(), LabelMode::All);
        assert!(!a.leaves("INBOX", 1) && !a.leaves("Work", 1) && !a.leaves("Travel", 1));
        assert!(a.leaves("[Gmail]/All Mail", 1) && a.leaves("[Gmail]/All Mail", 2));
        assert!(!a.leaves("[Gmail]/All Mail", 3));
        assert_eq!(a.left_out(), 2);
    }

    #[test]
    fn the_profile_can_put_a_label_first() {
        let folders = ordered(folders(), &["Travel".to_string()]);
        let a = assign(&folders, &listed(), LabelMode::One);
        assert!(!a.leaves("Travel", 1) && a.leaves("Work", 1));
    }

    #[test]
    fn the_order_does_not_depend_on_listing_order() {
        let mut reversed = listed();
        reversed.reverse();
        let a = assign(&folders(), &listed(), LabelMode::One);
        let b = assign(&folders(), &reversed, LabelMode::One);
        assert_eq!(a.elsewhere, b.elsewhere);
    }
}
