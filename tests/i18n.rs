//! The interface in Chinese and English: both catalogues hold the same message ids, every id
//! the code names exists, and with `LANG=zh_CN.UTF-8` a refused authorization code, a bad
//! profile key, `doctor`, `plan` and the run summary print the Chinese catalogue's text (with
//! `LANG=C`, the English one). Expected text is taken from the catalogues, never typed here.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use mailferry::i18n::{CATALOGUES, Lang, format_in, ids};
use support::*;

fn catalogue(lang: Lang) -> &'static str {
    CATALOGUES.iter().find(|(l, _)| *l == lang).unwrap().1
}

/// A message of the catalogue, with every argument replaced by `@`, cut at the first one:
/// the fixed text a line starts with.
fn lead(lang: Lang, id: &str, args: &[&str]) -> String {
    let args: Vec<(&str, String)> = args.iter().map(|a| (*a, "@".to_string())).collect();
    let full = format_in(lang, id, &args).unwrap_or_else(|| panic!("{id} missing"));
    full.split('@').next().unwrap().to_string()
}

#[test]
fn both_catalogues_hold_the_same_ids_and_parse() {
    let en: Vec<String> = ids(catalogue(Lang::En));
    let zh: Vec<String> = ids(catalogue(Lang::ZhCn));
    assert!(en.len() > 40, "{en:?}");
    let (a, b): (BTreeSet<_>, BTreeSet<_>) = (en.iter().collect(), zh.iter().collect());
    assert_eq!(a.len(), en.len(), "an id is defined twice in en");
    assert_eq!(b.len(), zh.len(), "an id is defined twice in zh-CN");
    let only_en: Vec<_> = a.difference(&b).collect();
    let only_zh: Vec<_> = b.difference(&a).collect();
    assert!(
        only_en.is_empty() && only_zh.is_empty(),
        "only en: {only_en:?}; only zh-CN: {only_zh:?}"
    );
    for id in &en {
        for lang in [Lang::En, Lang::ZhCn] {
            assert!(
                format_in(lang, id, &[]).is_some(),
                "{id} has no value in {lang:?}"
            );
        }
    }
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

/// Message ids the code names: the first argument of `t(` / `ta(`, and the ids kept in
/// tables (`login_hint: "hint-login-qq"`), recognised by their prefixes.
fn ids_in_code() -> BTreeSet<String> {
    const PREFIXES: &[&str] = &[
        "hint-",
        "pop3-window",
        "col-",
        "run-",
        "plan-",
        "progress-",
        "profile-",
        "doctor-",
        "login-",
        "side-",
    ];
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut out = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, _) in text.match_indices('"') {
            let rest = &text[i + 1..];
            let Some(end) = rest.find('"') else { continue };
            let lit = &rest[..end];
            let is_id = !lit.is_empty()
                && lit
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            let before = &text[..i];
            let called = ["t(", "ta("].iter().any(|call| {
                before.strip_suffix(call).is_some_and(|b| {
                    !b.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                })
            });
            if is_id && (called || PREFIXES.iter().any(|p| lit.starts_with(p))) {
                out.insert(lit.to_string());
            }
        }
    }
    out
}

#[test]
fn every_id_the_code_names_is_in_the_catalogues() {
    let known: BTreeSet<String> = ids(catalogue(Lang::En)).into_iter().collect();
    let used = ids_in_code();
    assert!(
        used.contains("hint-login-qq") && used.contains("run-total"),
        "{used:?}"
    );
    // `side-{side}` and `step-{slug}` are built at run time; their parts are checked below.
    let missing: Vec<_> = used
        .iter()
        .filter(|id| !known.contains(*id) && !id.ends_with('-'))
        .collect();
    assert!(
        missing.is_empty(),
        "ids used in src/ but not in the catalogues: {missing:?}"
    );
    for step in mailferry::imap::Step::ALL {
        let id = format!(
            "step-{}",
            step.label()
                .to_ascii_lowercase()
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join("-")
        );
        assert!(known.contains(&id), "{id}");
    }
    for extra in [
        "step-list-folders",
        "step-open-inbox",
        "step-password",
        "step-oldest-message",
        "side-source",
        "side-target",
    ] {
        assert!(known.contains(extra), "{extra}");
    }
}

/// Runs the binary with a locale: exit code and everything it printed.
fn run_in(lang: &str, args: &[&str], profile: &Path, envs: &[(&str, &str)]) -> (i32, String) {
    output_of(
        Command::new(BIN)
            .args(args)
            .arg(profile)
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env_remove("MAILFERRY_LANG")
            .env("LANG", lang)
            .envs(envs.iter().copied()),
    )
}

#[test]
fn the_interface_speaks_the_locales_language() {
    let d = dovecot();
    for (locale, lang) in [("zh_CN.UTF-8", Lang::ZhCn), ("C", Lang::En)] {
        let (src, dst) = (d.new_user("i18nsrc"), d.new_user("i18ndst"));
        src.append("INBOX", b"Subject: hello\r\n\r\nbody\r\n", &[], None);
        let dir = tempfile::tempdir().unwrap();
        let profile = write_profile(
            dir.path(),
            &imap_yaml(&src, "MF_SRC"),
            &imap_yaml(&dst, "MF_DST"),
        );
        let envs = [
            ("MF_SRC", src.password.as_str()),
            ("MF_DST", dst.password.as_str()),
        ];

        // A refused authorization code: the refusal and its advice.
        let (code, text) = run_in(
            locale,
            &["run"],
            &profile,
            &[("MF_SRC", "wrong-code"), ("MF_DST", &dst.password)],
        );
        assert_eq!(code, 2, "{text}");
        assert!(
            text.contains(&format_in(lang, "hint-login-generic", &[]).unwrap()),
            "{locale}: {text}"
        );
        assert!(text.contains(&lead(lang, "error", &[])), "{locale}: {text}");

        // doctor: every step named in the language, and the verdict.
        let (code, text) = run_in(locale, &["doctor"], &profile, &envs);
        assert_eq!(code, 0, "{text}");
        assert!(
            text.contains(&format_in(lang, "step-dns-lookup", &[]).unwrap()),
            "{locale}: {text}"
        );
        assert!(
            text.contains(&format_in(lang, "doctor-all-passed", &[]).unwrap()),
            "{locale}: {text}"
        );

        // plan: its headings and total.
        let (code, text) = run_in(locale, &["plan"], &profile, &envs);
        assert_eq!(code, 0, "{text}");
        assert!(
            text.contains(&format_in(lang, "col-selected-bytes", &[]).unwrap()),
            "{locale}: {text}"
        );
        assert!(
            text.contains(&lead(
                lang,
                "plan-total",
                &["messages", "bytes", "selected", "selected_bytes"]
            )),
            "{locale}: {text}"
        );

        // run: the summary.
        let (code, text) = run_in(locale, &["run"], &profile, &envs);
        assert_eq!(code, 0, "{text}");
        assert!(
            text.contains(&format_in(lang, "col-present", &[]).unwrap()),
            "{locale}: {text}"
        );
        assert!(
            text.contains(&lead(
                lang,
                "run-total",
                &[
                    "copied", "verb", "present", "filtered", "failed", "bytes", "secs"
                ]
            )),
            "{locale}: {text}"
        );

        // A bad profile key, named with its line.
        std::fs::write(
            &profile,
            std::fs::read_to_string(&profile).unwrap() + "wokers: 2\n",
        )
        .unwrap();
        let (code, text) = run_in(locale, &["plan"], &profile, &envs);
        assert_eq!(code, 2, "{text}");
        assert!(
            text.contains(&format_in(lang, "profile-unknown-key", &[]).unwrap()),
            "{locale}: {text}"
        );
        assert!(
            text.contains(&lead(
                lang,
                "profile-did-you-mean",
                &["best", "what", "list"]
            )),
            "{locale}: {text}"
        );
    }
}

#[test]
fn lang_flag_and_variable_override_the_locale() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("bad.yaml");
    std::fs::write(&profile, "sorce: {}\n").unwrap();
    let unknown_zh = format_in(Lang::ZhCn, "profile-unknown-key", &[]).unwrap();
    let (_, text) = run_in("C", &["--lang", "zh-CN", "plan"], &profile, &[]);
    assert!(text.contains(&unknown_zh), "{text}");
    let (_, text) = run_in("C", &["plan"], &profile, &[("MAILFERRY_LANG", "zh")]);
    assert!(text.contains(&unknown_zh), "{text}");
    let (_, text) = run_in("zh_CN.UTF-8", &["--lang", "en", "plan"], &profile, &[]);
    assert!(!text.contains(&unknown_zh), "{text}");
    assert!(text.contains("unknown key"), "{text}");
}
