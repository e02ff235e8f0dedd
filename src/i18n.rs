//! Text for people in their language: one Fluent catalogue per language
//! (`locales/<lang>/mailferry.ftl`, built into the binary), chosen once per process by the
//! command line from `--lang`, `MAILFERRY_LANG` or the locale. JSON output, logs and exit codes
//! do not go through here: they stay language-neutral.
//!
//! Fluent (Project Fluent's `fluent-bundle`) rather than a key-value catalogue: its messages
//! carry named arguments and plural rules, so a translation can reorder a sentence instead of
//! gluing fragments, and the catalogues are plain files translators know.

use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};

/// The languages mailferry speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    ZhCn,
}

/// The catalogues, as shipped.
pub const CATALOGUES: &[(Lang, &str)] = &[
    (Lang::En, include_str!("../locales/en/mailferry.ftl")),
    (Lang::ZhCn, include_str!("../locales/zh-CN/mailferry.ftl")),
];

static CHOSEN: OnceLock<Lang> = OnceLock::new();

/// Chooses the language for this process (the first call wins).
pub fn set(lang: Lang) {
    let _ = CHOSEN.set(lang);
}

/// The language chosen, English until one is.
pub fn lang() -> Lang {
    CHOSEN.get().copied().unwrap_or(Lang::En)
}

impl Lang {
    /// `zh`, `zh_CN.UTF-8`, `zh-Hans` -> Chinese; `en_US`, `C`, `POSIX` -> English.
    pub fn parse(tag: &str) -> Option<Lang> {
        let t = tag.trim().to_ascii_lowercase();
        if t.is_empty() {
            None
        } else if t.starts_with("zh") {
            Some(Lang::ZhCn)
        } else {
            Some(Lang::En)
        }
    }

    /// An explicit choice (`--lang`, `MAILFERRY_LANG`), else the locale variables in POSIX
    /// order of precedence: the first of `LC_ALL`, `LC_MESSAGES`, `LANG` that is set.
    pub fn detect(explicit: &[Option<String>], locale: &[Option<String>]) -> Lang {
        explicit
            .iter()
            .chain(locale.iter())
            .flatten()
            .find_map(|v| Lang::parse(v))
            .unwrap_or(Lang::En)
    }
}

fn bundle(lang: Lang) -> &'static FluentBundle<FluentResource> {
    static BUNDLES: OnceLock<Vec<(Lang, FluentBundle<FluentResource>)>> = OnceLock::new();
    let all = BUNDLES.get_or_init(|| {
        CATALOGUES
            .iter()
            .map(|(l, text)| (*l, build(*l, text)))
            .collect()
    });
    all.iter()
        .find(|(l, _)| *l == lang)
        .map(|(_, b)| b)
        .unwrap_or(&all[0].1)
}

fn build(lang: Lang, text: &str) -> FluentBundle<FluentResource> {
    let tag = match lang {
        Lang::En => "en",
        Lang::ZhCn => "zh-CN",
    };
    let id = tag.parse().unwrap_or_default();
    let mut b = FluentBundle::new_concurrent(vec![id]);
    // No Unicode isolation marks around arguments: they show as junk in many terminals.
    b.set_use_isolating(false);
    // A catalogue that does not parse is a build mistake caught by tests/i18n.rs; what parses
    // is still used.
    let resource = FluentResource::try_new(text.to_string()).unwrap_or_else(|(r, _)| r);
    let _ = b.add_resource(resource);
    b
}

/// The message `id` in the chosen language.
pub fn t(id: &str) -> String {
    ta(id, &[])
}

/// The message `id` with its arguments, in the chosen language; the English one when the
/// chosen catalogue lacks it, the id itself when both do.
pub fn ta(id: &str, args: &[(&str, String)]) -> String {
    format_in(lang(), id, args)
        .or_else(|| format_in(Lang::En, id, args))
        .unwrap_or_else(|| id.to_string())
}

/// The message in one language, if that catalogue has it.
pub fn format_in(lang: Lang, id: &str, args: &[(&str, String)]) -> Option<String> {
    let b = bundle(lang);
    let pattern = b.get_message(id)?.value()?;
    let mut fargs = FluentArgs::new();
    for (k, v) in args {
        fargs.set(*k, v.clone());
    }
    let mut errors = Vec::new();
    Some(
        b.format_pattern(pattern, Some(&fargs), &mut errors)
            .into_owned(),
    )
}

/// The message ids of a catalogue's text, in order.
pub fn ids(text: &str) -> Vec<String> {
    let resource = FluentResource::try_new(text.to_string()).unwrap_or_else(|(r, _)| r);
    resource
        .entries()
        .filter_map(|e| match e {
            fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_string()),
            _ => None,
        })
        .collect()
}

/// A doctor step's label (`DNS lookup`) in the chosen language: `step-dns-lookup`.
pub fn step(label: &str) -> String {
    let slug: String = label
        .to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let id = format!("step-{slug}");
    format_in(lang(), &id, &[]).unwrap_or_else(|| label.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_locale_decides_unless_told() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            Lang::detect(&[], &[None, None, s("zh_CN.UTF-8")]),
            Lang::ZhCn
        );
        assert_eq!(
            Lang::detect(&[], &[s("C"), None, s("zh_CN.UTF-8")]),
            Lang::En
        );
        assert_eq!(Lang::detect(&[s("zh-CN")], &[s("C")]), Lang::ZhCn);
        assert_eq!(Lang::detect(&[None, s("en")], &[s("zh_TW")]), Lang::En);
        assert_eq!(Lang::detect(&[], &[s(""), None, None]), Lang::En);
    }

    #[test]
    fn messages_take_their_arguments_in_both_languages() {
        let args = [("line", "4".to_string())];
        assert_eq!(
            format_in(Lang::En, "profile-line", &args).unwrap(),
            "line 4"
        );
        assert_eq!(
            format_in(Lang::ZhCn, "profile-line", &args).unwrap(),
            "第 4 行"
        );
        assert_eq!(
            step("DNS lookup"),
            format_in(lang(), "step-dns-lookup", &[]).unwrap()
        );
        assert_eq!(step("no such step"), "no such step");
        let oauth = format_in(Lang::En, "hint-oauth", &[("provider", "X".into())]).unwrap();
        assert!(oauth.contains("password: { command:"), "{oauth}");
    }
}
