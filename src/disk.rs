//! The disk under the state dir and the archives: how much room is left, and what to say when
//! there is none.

use std::path::Path;

/// Bytes free to an unprivileged writer on the file system holding `path` (or its nearest
/// existing parent).
pub fn free_space(path: &Path) -> Option<u64> {
    let mut p = Some(path);
    while let Some(dir) = p {
        if dir.exists() {
            let st = rustix::fs::statvfs(dir).ok()?;
            return Some(st.f_bavail.saturating_mul(st.f_frsize));
        }
        p = dir.parent();
    }
    None
}

/// Whether an error's text is a full disk (or quota) as SQLite and the OS word it.
pub fn is_full(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("disk is full") || t.contains("no space left") || t.contains("quota exceeded")
}

/// What to tell the user when the disk holding `path` is full.
pub fn full_hint(path: &Path) -> String {
    let free = free_space(path)
        .map(|b| format!("{} free", crate::text::human_bytes(b)))
        .unwrap_or_else(|| "free space unknown".into());
    format!(
        "the disk holding {} is full ({free}): free some space and run the same command again; what was copied before is kept and nothing is copied twice",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_disks_are_recognised_and_named() {
        assert!(is_full("database or disk is full"));
        assert!(is_full("No space left on device (os error 28)"));
        assert!(!is_full("database is locked"));
        let dir = tempfile::tempdir().unwrap();
        assert!(free_space(&dir.path().join("not/yet")).is_some());
        assert!(full_hint(dir.path()).contains("free"));
    }
}
