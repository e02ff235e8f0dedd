//! The crate's layers, bottom up, and the rule that keeps them: a module imports only from its
//! own layer or below, and no group of modules imports each other in a loop. docs/architecture.md
//! says why this is a test and not a workspace of crates.
//!
//! Every module must be placed in [`LAYERS`]: a new one fails here until it is given a layer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path prefix -> layer. The longest matching prefix places a module.
const LAYERS: &[(&str, u8)] = &[
    // 0 model: plain types and pure functions, no I/O.
    ("crypt", 0),
    ("dates", 0),
    ("fingerprint", 0),
    ("flags", 0),
    ("globs", 0),
    ("i18n", 0),
    ("imap::bodystructure", 0),
    ("imap::mutf7", 0),
    ("imap::uidset", 0),
    ("imap::wire", 0),
    ("pop3::wire", 0),
    ("providers", 0),
    ("retry", 0),
    ("sasl", 0),
    ("secret", 0),
    ("text", 0),
    // 1 adapters: the wire, the disk, the profile file; the core's error and progress types.
    ("archive", 1),
    ("checkpoint", 1),
    ("disk", 1),
    ("error", 1),
    ("imap", 1),
    ("pop3", 1),
    ("profile", 1),
    ("progress", 1),
    // 2 domain: the decisions and the jobs built on them.
    ("batch", 2),
    ("doctor", 2),
    ("engine", 2),
    ("folders", 2),
    ("gmail", 2),
    ("init", 2),
    ("mapping", 2),
    ("plan", 2),
    ("reconcile", 2),
    ("schedule", 2),
    ("report", 2),
    ("sides", 2),
    ("verify", 2),
    // 3 presentation: the command line.
    ("cli", 3),
    ("main", 3),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/a/b.rs` -> `a::b`; `src/a/mod.rs` -> `a`.
fn module_of(file: &Path) -> String {
    let rel = file.strip_prefix(src()).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// The placed unit a module path belongs to (the longest prefix in [`LAYERS`]).
fn unit(path: &str) -> Option<(&'static str, u8)> {
    LAYERS
        .iter()
        .filter(|(p, _)| path == *p || path.starts_with(&format!("{p}::")))
        .max_by_key(|(p, _)| p.len())
        .copied()
}

/// Module paths a file names through `crate::` or `super::`, resolved from the crate root.
fn imports(file: &Path, module: &str, text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    // `super` in a/b.rs is a; in a/mod.rs (module a) it is the crate root: one level up
    // from the module either way.
    let _ = file;
    let mut parent: Vec<&str> = module.split("::").collect();
    parent.pop();
    // Unit tests sit in nested modules (where `super` means something else) and may use
    // anything: only the code above them is checked.
    for line in text
        .lines()
        .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
    {
        let code = line.split("//").next().unwrap_or("");
        for (prefix, base) in [("crate::", Vec::new()), ("super::", parent.clone())] {
            let mut rest = code;
            while let Some(at) = rest.find(prefix) {
                let before = rest[..at].chars().last();
                rest = &rest[at + prefix.len()..];
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let names: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
                    let end = group.find('}').unwrap_or(group.len());
                    group[..end]
                        .split(',')
                        .map(|n| path_head(n.trim()))
                        .filter(|n| !n.is_empty())
                        .collect()
                } else {
                    vec![path_head(rest)]
                };
                for n in names {
                    let mut full: Vec<String> = base.iter().map(|s| s.to_string()).collect();
                    full.extend(n.split("::").map(str::to_string));
                    out.insert(full.join("::"));
                }
            }
        }
    }
    out
}

/// The leading `a::b::c` of a path expression.
fn path_head(s: &str) -> String {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(s.len());
    s[..end].trim_end_matches(':').to_string()
}

/// Unit -> units it imports.
fn graph() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut g: BTreeMap<&'static str, BTreeSet<&'static str>> = BTreeMap::new();
    for f in files {
        let module = module_of(&f);
        if module == "lib" {
            continue;
        }
        let (from, _) = unit(&module)
            .unwrap_or_else(|| panic!("{module} ({}) has no layer in LAYERS", f.display()));
        let text = std::fs::read_to_string(&f).unwrap();
        let entry = g.entry(from).or_default();
        for path in imports(&f, &module, &text) {
            if let Some((to, _)) = unit(&path)
                && to != from
            {
                entry.insert(to);
            }
        }
    }
    g
}

fn layer(u: &str) -> u8 {
    LAYERS.iter().find(|(p, _)| *p == u).unwrap().1
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let mut wrong = Vec::new();
    for (from, tos) in graph() {
        for to in tos {
            if layer(to) > layer(from) {
                wrong.push(format!(
                    "{from} (layer {}) imports {to} (layer {})",
                    layer(from),
                    layer(to)
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "upward imports:\n{}", wrong.join("\n"));
}

#[test]
fn no_modules_import_each_other_in_a_loop() {
    let g = graph();
    // Depth-first search with colours; a grey node reached again closes a cycle.
    fn visit<'a>(
        n: &'a str,
        g: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        colour: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
        found: &mut Vec<String>,
    ) {
        colour.insert(n, 1);
        stack.push(n);
        for &m in g.get(n).into_iter().flatten() {
            match colour.get(m).copied().unwrap_or(0) {
                0 => visit(m, g, colour, stack, found),
                1 => {
                    let at = stack.iter().position(|s| *s == m).unwrap();
                    let mut cycle: Vec<&str> = stack[at..].to_vec();
                    cycle.push(m);
                    found.push(cycle.join(" -> "));
                }
                _ => {}
            }
        }
        stack.pop();
        colour.insert(n, 2);
    }
    let mut colour = BTreeMap::new();
    let mut found = Vec::new();
    for &n in g.keys() {
        if colour.get(n).copied().unwrap_or(0) == 0 {
            visit(n, &g, &mut colour, &mut Vec::new(), &mut found);
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn the_checker_sees_imports() {
    let file = src().join("engine/prepare.rs");
    let text = "use crate::{folders::TargetKind, plan};\nuse super::Batch;\n// crate::cli\n";
    let got = imports(&file, "engine::prepare", text);
    let want: BTreeSet<String> = ["folders::TargetKind", "plan", "engine::Batch"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(got, want);
}
