//! Folder globs, compiled one way for the whole crate: the profile checks them with this and
//! the folder rules match with it, so a profile that loads also maps.
//!
//! Brackets are literal (Gmail's `[Gmail]/Spam` is a name, not a character class); `*`, `?`
//! and `{a,b}` keep their glob meaning; `*` crosses `/`; `\` escapes.

use globset::{Glob, GlobBuilder};

/// Compiles a folder glob, or says in a few words why it does not compile.
pub fn folder_glob(pattern: &str, case_insensitive: bool) -> Result<Glob, String> {
    GlobBuilder::new(&glob_syntax(pattern))
        .literal_separator(false)
        .backslash_escape(true)
        .case_insensitive(case_insensitive)
        .build()
        .map_err(|e| {
            // globset suggests `[{]`, which is a literal bracket pair in this syntax.
            let kind = e.kind().to_string();
            kind.split(" (maybe escape")
                .next()
                .unwrap_or(&kind)
                .to_owned()
        })
}

fn glob_syntax(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push('\\');
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_are_literal_and_star_crosses_levels() {
        let g = folder_glob("[Gmail]/*", false).unwrap().compile_matcher();
        assert!(g.is_match("[Gmail]/Sent Mail"));
        assert!(!g.is_match("G/x"));
        let g = folder_glob("其他文件夹*", false).unwrap().compile_matcher();
        assert!(g.is_match("其他文件夹/工作/2024"));
        assert!(folder_glob("a{b", false).is_err());
    }
}
