//! Provider presets and quirks, in one table.
//!
//! Facts and their sources: docs/providers.md. Code asks this table instead of checking host
//! names, so a provider's quirk lives in exactly one place.

use serde::{Deserialize, Serialize};

/// The special-use role of a folder (RFC 6154), plus INBOX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Inbox,
    Sent,
    Drafts,
    Trash,
    Junk,
    Archive,
    All,
    Flagged,
}

impl Role {
    /// Every role, in display order.
    pub const ALL: [Role; 8] = [
        Role::Inbox,
        Role::Sent,
        Role::Drafts,
        Role::Trash,
        Role::Junk,
        Role::Archive,
        Role::All,
        Role::Flagged,
    ];

    /// The LIST attribute for this role (`\Sent`, ...); INBOX has none in RFC 6154, `\Inbox`
    /// comes from XLIST.
    pub fn attribute(self) -> &'static str {
        match self {
            Role::Inbox => "\\Inbox",
            Role::Sent => "\\Sent",
            Role::Drafts => "\\Drafts",
            Role::Trash => "\\Trash",
            Role::Junk => "\\Junk",
            Role::Archive => "\\Archive",
            Role::All => "\\All",
            Role::Flagged => "\\Flagged",
        }
    }

    /// The role of a LIST attribute (`\Sent`, case-insensitive). XLIST's `\Spam`, `\AllMail`,
    /// `\Starred` and `\Inbox` are accepted too, since QQ and NetEase advertise XLIST.
    pub fn from_attribute(attr: &str) -> Option<Role> {
        let a = attr.strip_prefix('\\')?.to_ascii_lowercase();
        Some(match a.as_str() {
            "inbox" => Role::Inbox,
            "sent" => Role::Sent,
            "drafts" => Role::Drafts,
            "trash" => Role::Trash,
            "junk" | "spam" => Role::Junk,
            "archive" => Role::Archive,
            "all" | "allmail" => Role::All,
            "flagged" | "starred" => Role::Flagged,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Inbox => "inbox",
            Role::Sent => "sent",
            Role::Drafts => "drafts",
            Role::Trash => "trash",
            Role::Junk => "junk",
            Role::Archive => "archive",
            Role::All => "all",
            Role::Flagged => "flagged",
        })
    }
}

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (port 993).
    Implicit,
    /// Plain connection upgraded with STARTTLS (port 143); refused if the server does not offer it.
    Starttls,
    /// No encryption. Only to loopback, or with `allow_insecure: true`.
    None,
}

/// One provider's preset and quirks.
///
/// Every folder is migrated: no preset skips a folder by default (virus or ad folders
/// included), so nothing is lost unless the profile excludes it.
#[derive(Debug)]
pub struct Provider {
    /// The key used in profiles (`provider: qq`).
    pub id: &'static str,
    /// Name shown to users.
    pub display: &'static str,
    /// Mail domains served; `lookup("163.com")` and addresses' domains resolve through these.
    pub domains: &'static [&'static str],
    pub host: &'static str,
    /// Other IMAP host names of the same service, for [`by_host`].
    pub other_hosts: &'static [&'static str],
    pub port: u16,
    pub tls: TlsMode,
    /// The server refuses SELECT until the client sends IMAP ID (NetEase "Unsafe Login").
    pub requires_id: bool,
    /// Names (decoded UTF-8, `/`-separated) of this provider's special folders: where mail of
    /// each role goes when this provider is the target, and how folders are recognised when
    /// LIST carries no special-use attributes.
    pub special_folders: &'static [(Role, &'static str)],
    /// The container user folders live under (QQ: `其他文件夹`, a `\NoSelect` parent). As a
    /// target, user folders are created below it; as a source, it is stripped from their names.
    pub user_folder_parent: Option<&'static str>,
    pub default_workers: usize,
    pub max_workers: usize,
    /// Largest message the server accepts by APPEND, in bytes, when known.
    pub append_limit: Option<u64>,
    /// Whether PERMANENTFLAGS lets keywords persist (NetEase: no `\*`).
    pub keeps_keywords: bool,
    /// How to get the secret IMAP takes (authorization code, app password or token), step by
    /// step with the settings' names as the web UI shows them: a catalogue message id, printed
    /// by `mailferry init`.
    pub code_steps: &'static str,
    /// Substrings of the provider's catch-all login failure, which also covers rate limiting:
    /// retried a few times before being reported as bad credentials.
    pub ambiguous_login_errors: &'static [&'static str],
    /// What to tell the user when login fails: a message id of the catalogue
    /// (`locales/*/mailferry.ftl`), shown with [`crate::i18n::t`].
    pub login_hint: &'static str,
    /// Passwords are refused; only OAuth2 tokens log in (Outlook.com since 2024-09-16).
    pub oauth_only: bool,
    /// Bytes the provider lets one account download over IMAP a day, when it says.
    pub daily_download_limit: Option<u64>,
    /// Bytes the provider lets one account upload (APPEND) over IMAP a day, when it says.
    pub daily_upload_limit: Option<u64>,
    /// The POP3 server (implicit TLS on [`POP3_TLS_PORT`]).
    pub pop3_host: &'static str,
    /// Where the provider's setting for how far back POP3 reaches is, when it has one (a
    /// message id of the catalogue).
    pub pop3_window_hint: Option<&'static str>,
}

/// The capability Gmail's IMAP server advertises.
pub const GMAIL_EXTENSION: &str = "X-GM-EXT-1";
/// Where a Gmail source's mail that is only in All Mail goes.
pub const GMAIL_ARCHIVE_FOLDER: &str = "Archive";

/// Whether a Gmail folder is a view of All Mail (Starred, Important) rather than a folder.
pub fn is_gmail_view(name: &str, role: Option<Role>) -> bool {
    let under_gmail = name.starts_with("[Gmail]/") || name.starts_with("[Google Mail]/");
    role == Some(Role::Flagged) || (under_gmail && name.ends_with("/Important"))
}

/// POP3 over implicit TLS, as every preset serves it.
pub const POP3_TLS_PORT: u16 = 995;
/// POP3 with STLS, or plain.
pub const POP3_PLAIN_PORT: u16 = 110;
/// The POP3 window advice when the provider is not known (a message id).
pub const POP3_WINDOW_HINT: &str = "pop3-window-generic";

impl Provider {
    /// This provider's folder name for `role`, if it has one.
    pub fn special_folder(&self, role: Role) -> Option<&'static str> {
        self.special_folders
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, name)| *name)
    }

    /// Whether a server's login refusal is this provider's catch-all text (possibly rate limiting).
    pub fn is_ambiguous_login_error(&self, server_text: &str) -> bool {
        let text = server_text.to_ascii_lowercase();
        self.ambiguous_login_errors
            .iter()
            .any(|s| text.contains(&s.to_ascii_lowercase()))
    }
}

const QQ_FOLDERS: &[(Role, &str)] = &[
    (Role::Sent, "Sent Messages"),
    (Role::Drafts, "Drafts"),
    (Role::Trash, "Deleted Messages"),
    (Role::Junk, "Junk"),
];
// QQ lists user folders under this \NoSelect parent (web UI: 我的文件夹).
const QQ_PARENT: Option<&str> = Some("其他文件夹");
// QQ's reply to a wrong code, a disabled IMAP service and rate limiting alike.
const QQ_LOGIN_ERRORS: &[&str] = &["Login fail"];
const QQ_HINT: &str = "hint-login-qq";
// Inferred, not advertised: QQ's web UI caps normal attachments at 50 MB.
const QQ_APPEND_LIMIT: Option<u64> = Some(50 * 1024 * 1024);

const NETEASE_FOLDERS: &[(Role, &str)] = &[
    (Role::Sent, "已发送"),
    (Role::Drafts, "草稿箱"),
    (Role::Trash, "已删除"),
    (Role::Junk, "垃圾邮件"),
];
// Coremail's reply to bad credentials, also seen when the account is risk-controlled (被风控).
const NETEASE_LOGIN_ERRORS: &[&str] = &["Login error or password error"];
const NETEASE_HINT: &str = "hint-login-netease";
// Advertised as APPENDLIMIT=71680000.
const NETEASE_APPEND_LIMIT: Option<u64> = Some(71_680_000);

/// QQ Mail; Foxmail and Exmail are the same server family.
const QQ: Provider = Provider {
    id: "qq",
    display: "QQ Mail",
    domains: &["qq.com", "vip.qq.com"],
    host: "imap.qq.com",
    other_hosts: &[],
    port: 993,
    tls: TlsMode::Implicit,
    requires_id: false,
    special_folders: QQ_FOLDERS,
    user_folder_parent: QQ_PARENT,
    // Limits undocumented; frequent connections trigger QQ's risk control.
    default_workers: 2,
    max_workers: 4,
    append_limit: QQ_APPEND_LIMIT,
    keeps_keywords: true,
    code_steps: "hint-code-qq",
    ambiguous_login_errors: QQ_LOGIN_ERRORS,
    login_hint: QQ_HINT,
    oauth_only: false,
    daily_download_limit: None,
    daily_upload_limit: None,
    pop3_host: "pop.qq.com",
    pop3_window_hint: Some("pop3-window-qq"),
};

/// NetEase 163; 126 and yeah.net run the same Coremail service.
const NETEASE_163: Provider = Provider {
    id: "163",
    display: "NetEase 163 Mail",
    domains: &["163.com"],
    host: "imap.163.com",
    other_hosts: &[],
    port: 993,
    tls: TlsMode::Implicit,
    requires_id: true,
    special_folders: NETEASE_FOLDERS,
    user_folder_parent: None,
    default_workers: 2,
    max_workers: 4,
    append_limit: NETEASE_APPEND_LIMIT,
    keeps_keywords: false,
    code_steps: "hint-code-netease",
    ambiguous_login_errors: NETEASE_LOGIN_ERRORS,
    login_hint: NETEASE_HINT,
    oauth_only: false,
    daily_download_limit: None,
    daily_upload_limit: None,
    pop3_host: "pop.163.com",
    pop3_window_hint: Some("pop3-window-netease"),
};

/// The presets, looked up by [`lookup`] and [`by_host`].
pub static PROVIDERS: &[Provider] = &[
    QQ,
    // Same server and account system as qq.
    Provider {
        id: "foxmail",
        display: "Foxmail (QQ Mail)",
        domains: &["foxmail.com"],
        ..QQ
    },
    Provider {
        id: "exmail",
        display: "Tencent Exmail (腾讯企业邮)",
        domains: &["exmail.qq.com"],
        host: "imap.exmail.qq.com",
        pop3_host: "pop.exmail.qq.com",
        login_hint: "hint-login-exmail",
        code_steps: "hint-code-exmail",
        ..QQ
    },
    NETEASE_163,
    Provider {
        id: "126",
        display: "NetEase 126 Mail",
        domains: &["126.com"],
        host: "imap.126.com",
        pop3_host: "pop.126.com",
        ..NETEASE_163
    },
    Provider {
        id: "yeah",
        display: "NetEase yeah.net Mail",
        domains: &["yeah.net"],
        host: "imap.yeah.net",
        pop3_host: "pop.yeah.net",
        ..NETEASE_163
    },
    Provider {
        id: "gmail",
        display: "Gmail",
        domains: &["gmail.com", "googlemail.com"],
        host: "imap.gmail.com",
        other_hosts: &[],
        port: 993,
        tls: TlsMode::Implicit,
        requires_id: false,
        // English names; other UI languages localise them, but Gmail sends special-use
        // attributes, which win over these names.
        special_folders: &[
            (Role::Sent, "[Gmail]/Sent Mail"),
            (Role::Drafts, "[Gmail]/Drafts"),
            (Role::Trash, "[Gmail]/Trash"),
            (Role::Junk, "[Gmail]/Spam"),
            (Role::All, "[Gmail]/All Mail"),
            (Role::Flagged, "[Gmail]/Starred"),
        ],
        user_folder_parent: None,
        // Gmail refuses more than 15 simultaneous connections per account.
        default_workers: 4,
        max_workers: 10,
        append_limit: Some(35_651_584),
        keeps_keywords: true,
        code_steps: "hint-code-gmail",
        ambiguous_login_errors: &[],
        login_hint: "hint-login-gmail",
        oauth_only: false,
        // Gmail's IMAP limits: 2,500 MB downloaded a day (500 MB uploaded).
        daily_download_limit: Some(2_500_000_000),
        daily_upload_limit: Some(500_000_000),
        pop3_host: "pop.gmail.com",
        pop3_window_hint: None,
    },
    Provider {
        id: "outlook",
        display: "Outlook.com",
        domains: &["outlook.com", "hotmail.com", "live.com", "msn.com"],
        host: "outlook.office365.com",
        other_hosts: &["imap-mail.outlook.com"],
        port: 993,
        tls: TlsMode::Implicit,
        requires_id: false,
        special_folders: &[
            (Role::Sent, "Sent"),
            (Role::Drafts, "Drafts"),
            (Role::Trash, "Deleted"),
            (Role::Junk, "Junk"),
            (Role::Archive, "Archive"),
        ],
        user_folder_parent: None,
        // Office 365 counts 20 connections per account, unclosed ones included.
        default_workers: 4,
        max_workers: 10,
        // Default maximum message size (45 MB); tenants may raise it.
        append_limit: Some(45 * 1024 * 1024),
        // Exchange's PERMANENTFLAGS has no `\*`, only system flags and $MDNSent.
        keeps_keywords: false,
        code_steps: "hint-code-outlook",
        ambiguous_login_errors: &[],
        login_hint: "hint-login-outlook",
        oauth_only: true,
        daily_download_limit: None,
        daily_upload_limit: None,
        pop3_host: "outlook.office365.com",
        pop3_window_hint: None,
    },
];

/// The preset named `id` (case-insensitive), also by mail domain (`163.com`, `foxmail.com`) or
/// by a full address's domain (`someone@126.com`).
pub fn lookup(id: &str) -> Option<&'static Provider> {
    let key = id.trim();
    let key = key.rsplit_once('@').map_or(key, |(_, domain)| domain);
    let key = key.trim_end_matches('.');
    PROVIDERS
        .iter()
        .find(|p| p.id.eq_ignore_ascii_case(key))
        .or_else(|| {
            PROVIDERS
                .iter()
                .find(|p| p.domains.iter().any(|d| d.eq_ignore_ascii_case(key)))
        })
}

/// The preset ids, for "unknown provider, known: ..." messages.
pub fn ids() -> Vec<&'static str> {
    PROVIDERS.iter().map(|p| p.id).collect()
}

/// The preset whose IMAP server is `host`, so a profile that names only a host still gets the
/// quirks. Exact host names first, then the longest mail domain the host lies under
/// (`imap.vip.163.com` -> 163); the first preset wins for a shared server (imap.qq.com -> qq).
pub fn by_host(host: &str) -> Option<&'static Provider> {
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let exact = PROVIDERS
        .iter()
        .find(|p| p.host == host || p.other_hosts.iter().any(|h| *h == host));
    if exact.is_some() {
        return exact;
    }
    PROVIDERS
        .iter()
        .flat_map(|p| p.domains.iter().map(move |d| (p, *d)))
        .filter(|(_, d)| {
            host.strip_suffix(d)
                .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
        })
        .max_by_key(|(_, d)| d.len())
        .map(|(p, _)| p)
}

/// Names that mean a role on most servers, compared case-insensitively.
const GENERIC_NAMES: &[(Role, &str)] = &[
    (Role::Sent, "Sent"),
    (Role::Sent, "Sent Messages"),
    (Role::Sent, "Sent Items"),
    (Role::Sent, "Sent Mail"),
    (Role::Sent, "已发送"),
    (Role::Sent, "已发送邮件"),
    (Role::Sent, "已发邮件"),
    (Role::Drafts, "Drafts"),
    (Role::Drafts, "Draft"),
    (Role::Drafts, "草稿箱"),
    (Role::Drafts, "草稿"),
    (Role::Trash, "Trash"),
    (Role::Trash, "Deleted Messages"),
    (Role::Trash, "Deleted Items"),
    (Role::Trash, "Deleted"),
    (Role::Trash, "Bin"),
    (Role::Trash, "已删除"),
    (Role::Trash, "已删除邮件"),
    // Gmail (zh) trash; 回收站 / 废纸篓 are the recycle bin in other clients.
    (Role::Trash, "垃圾桶"),
    (Role::Trash, "回收站"),
    (Role::Trash, "废纸篓"),
    (Role::Junk, "Junk"),
    (Role::Junk, "Spam"),
    (Role::Junk, "Junk E-mail"),
    (Role::Junk, "Junk Email"),
    (Role::Junk, "Junk Mail"),
    (Role::Junk, "垃圾邮件"),
    // Literally "trash can", but Chinese mail services (QQ's web UI among them) use it for
    // the spam folder ("请检查垃圾箱" = check your spam).
    (Role::Junk, "垃圾箱"),
    (Role::Archive, "Archive"),
    (Role::Archive, "Archives"),
    (Role::Archive, "归档"),
    (Role::Archive, "存档"),
];

/// Gmail's folders under `[Gmail]/` (or `[Google Mail]/`) beyond the generic names: these
/// only mean a role there, since a user folder called "Starred" elsewhere is just a folder.
const GMAIL_NAMES: &[(Role, &str)] = &[
    (Role::All, "All Mail"),
    (Role::All, "所有邮件"),
    (Role::Flagged, "Starred"),
    (Role::Flagged, "已加星标"),
];

fn find_role(table: &[(Role, &str)], name: &str) -> Option<Role> {
    table
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(name))
        .map(|(r, _)| *r)
}

/// The role of a folder recognised by its decoded, `/`-separated name, for servers whose LIST
/// carries no special-use attributes (QQ). The provider's own table first, then generic names
/// (case-insensitive), also below `INBOX/` (Courier-style `INBOX.Sent`) and `[Gmail]/`.
pub fn role_from_name(name: &str, provider: Option<&Provider>) -> Option<Role> {
    if name.eq_ignore_ascii_case("INBOX") {
        return Some(Role::Inbox);
    }
    if let Some(role) = provider.and_then(|p| find_role(p.special_folders, name)) {
        return Some(role);
    }
    if let Some(role) = find_role(GENERIC_NAMES, name) {
        return Some(role);
    }
    if let Some(rest) = strip_prefix_ci(name, "INBOX/") {
        return find_role(GENERIC_NAMES, rest);
    }
    let gmail =
        strip_prefix_ci(name, "[Gmail]/").or_else(|| strip_prefix_ci(name, "[Google Mail]/"));
    let rest = gmail?;
    find_role(GENERIC_NAMES, rest).or_else(|| find_role(GMAIL_NAMES, rest))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_id_domain_and_address() {
        assert_eq!(lookup("qq").map(|p| p.id), Some("qq"));
        assert_eq!(lookup("QQ").map(|p| p.id), Some("qq"));
        assert_eq!(lookup("163").map(|p| p.id), Some("163"));
        assert_eq!(lookup("163.com").map(|p| p.id), Some("163"));
        assert_eq!(lookup("126.COM").map(|p| p.id), Some("126"));
        assert_eq!(lookup("yeah.net").map(|p| p.id), Some("yeah"));
        assert_eq!(lookup("foxmail.com").map(|p| p.id), Some("foxmail"));
        assert_eq!(lookup("exmail.qq.com").map(|p| p.id), Some("exmail"));
        assert_eq!(lookup("hotmail.com").map(|p| p.id), Some("outlook"));
        assert_eq!(lookup("googlemail.com").map(|p| p.id), Some("gmail"));
        assert_eq!(lookup("someone@126.com").map(|p| p.id), Some("126"));
        assert!(lookup("sina").is_none());
        assert!(lookup("").is_none());
    }

    #[test]
    fn ids_lists_every_preset_once() {
        let ids = ids();
        assert_eq!(
            ids,
            [
                "qq", "foxmail", "exmail", "163", "126", "yeah", "gmail", "outlook"
            ]
        );
        for id in ids {
            assert_eq!(lookup(id).map(|p| p.id), Some(id));
        }
    }

    #[test]
    fn presets_match_the_researched_facts() {
        for p in PROVIDERS {
            assert_eq!(p.port, 993, "{}", p.id);
            assert_eq!(p.tls, TlsMode::Implicit, "{}", p.id);
            assert!(
                p.default_workers >= 1 && p.default_workers <= p.max_workers,
                "{}",
                p.id
            );
            assert!(!p.login_hint.is_empty(), "{}", p.id);
        }
        for id in ["163", "126", "yeah"] {
            let p = lookup(id).unwrap();
            assert!(p.requires_id && !p.keeps_keywords);
            assert_eq!(p.append_limit, Some(71_680_000));
            assert_eq!(p.special_folder(Role::Sent), Some("已发送"));
            assert!(crate::i18n::t(p.login_hint).contains("客户端授权码"));
        }
        let qq = lookup("qq").unwrap();
        assert!(!qq.requires_id);
        assert_eq!(qq.user_folder_parent, Some("其他文件夹"));
        assert_eq!(qq.special_folder(Role::Trash), Some("Deleted Messages"));
        assert!(crate::i18n::t(qq.login_hint).contains("授权码"));
        assert_eq!(lookup("foxmail").unwrap().host, "imap.qq.com");
        let gmail = lookup("gmail").unwrap();
        assert_eq!(gmail.append_limit, Some(35_651_584));
        assert!(gmail.max_workers < 15);
        assert!(crate::i18n::t(lookup("outlook").unwrap().login_hint).contains("OAuth2"));
    }

    #[test]
    fn ambiguous_login_errors_match_the_real_replies() {
        let qq = lookup("qq").unwrap();
        assert!(qq.is_ambiguous_login_error(
            "Login fail. Account is abnormal, service is not open, password is incorrect, login frequency limited, or system is busy."
        ));
        assert!(!qq.is_ambiguous_login_error("AUTHENTICATE failed"));
        let n = lookup("163").unwrap();
        assert!(n.is_ambiguous_login_error("LOGIN Login error or password error"));
        assert!(
            !lookup("gmail")
                .unwrap()
                .is_ambiguous_login_error("Login fail")
        );
    }

    #[test]
    fn by_host_finds_quirks_from_a_host_alone() {
        assert_eq!(by_host("imap.163.com").map(|p| p.id), Some("163"));
        assert_eq!(by_host("IMAP.126.COM.").map(|p| p.id), Some("126"));
        assert_eq!(by_host("imap.qq.com").map(|p| p.id), Some("qq"));
        assert_eq!(by_host("imap.exmail.qq.com").map(|p| p.id), Some("exmail"));
        assert_eq!(
            by_host("imap-mail.outlook.com").map(|p| p.id),
            Some("outlook")
        );
        assert_eq!(
            by_host("outlook.office365.com").map(|p| p.id),
            Some("outlook")
        );
        // Other NetEase hosts are the same Coremail server: they need ID too.
        assert_eq!(by_host("imap.vip.163.com").map(|p| p.id), Some("163"));
        assert!(by_host("imap.example.org").is_none());
        assert!(by_host("not163.com").is_none());
        assert!(by_host("").is_none());
    }

    #[test]
    fn role_from_name_knows_chinese_names() {
        let n = lookup("163");
        assert_eq!(role_from_name("已发送", n), Some(Role::Sent));
        assert_eq!(role_from_name("草稿箱", n), Some(Role::Drafts));
        assert_eq!(role_from_name("已删除", n), Some(Role::Trash));
        assert_eq!(role_from_name("垃圾邮件", n), Some(Role::Junk));
        assert_eq!(role_from_name("已发送邮件", None), Some(Role::Sent));
        assert_eq!(role_from_name("已发邮件", None), Some(Role::Sent));
        assert_eq!(role_from_name("草稿", None), Some(Role::Drafts));
        assert_eq!(role_from_name("已删除邮件", None), Some(Role::Trash));
        assert_eq!(role_from_name("垃圾箱", None), Some(Role::Junk));
        assert_eq!(role_from_name("归档", None), Some(Role::Archive));
        // Folders a user made, and NetEase's extra folders, have no role.
        assert_eq!(role_from_name("病毒文件夹", n), None);
        assert_eq!(role_from_name("广告邮件", n), None);
        assert_eq!(role_from_name("工作", n), None);
        assert_eq!(role_from_name("其他文件夹/垃圾邮件", lookup("qq")), None);
    }

    #[test]
    fn role_from_name_knows_english_names() {
        let qq = lookup("qq");
        assert_eq!(role_from_name("inbox", qq), Some(Role::Inbox));
        assert_eq!(role_from_name("Sent Messages", qq), Some(Role::Sent));
        assert_eq!(role_from_name("Deleted Messages", qq), Some(Role::Trash));
        assert_eq!(role_from_name("junk", qq), Some(Role::Junk));
        assert_eq!(role_from_name("Drafts", qq), Some(Role::Drafts));
        assert_eq!(role_from_name("Sent Items", None), Some(Role::Sent));
        assert_eq!(role_from_name("Deleted Items", None), Some(Role::Trash));
        assert_eq!(role_from_name("Junk E-mail", None), Some(Role::Junk));
        assert_eq!(role_from_name("Bin", None), Some(Role::Trash));
        assert_eq!(role_from_name("Archives", None), Some(Role::Archive));
        assert_eq!(role_from_name("INBOX/Sent", None), Some(Role::Sent));
        assert_eq!(role_from_name("Projects", None), None);
        assert_eq!(role_from_name("Starred", None), None);
    }

    #[test]
    fn role_from_name_knows_gmail_names() {
        let g = lookup("gmail");
        assert_eq!(role_from_name("[Gmail]/Sent Mail", g), Some(Role::Sent));
        assert_eq!(role_from_name("[Gmail]/All Mail", None), Some(Role::All));
        assert_eq!(role_from_name("[Gmail]/Starred", None), Some(Role::Flagged));
        assert_eq!(role_from_name("[Gmail]/Spam", None), Some(Role::Junk));
        assert_eq!(role_from_name("[Gmail]/Bin", None), Some(Role::Trash));
        assert_eq!(
            role_from_name("[Google Mail]/Trash", None),
            Some(Role::Trash)
        );
        assert_eq!(role_from_name("[Gmail]/已发邮件", None), Some(Role::Sent));
        assert_eq!(role_from_name("[Gmail]/所有邮件", None), Some(Role::All));
        assert_eq!(role_from_name("[Gmail]/垃圾桶", None), Some(Role::Trash));
        assert_eq!(role_from_name("[Gmail]/Important", None), None);
    }

    #[test]
    fn roles_from_list_attributes() {
        assert_eq!(Role::from_attribute("\\Sent"), Some(Role::Sent));
        assert_eq!(Role::from_attribute("\\JUNK"), Some(Role::Junk));
        assert_eq!(Role::from_attribute("\\Spam"), Some(Role::Junk));
        assert_eq!(Role::from_attribute("\\AllMail"), Some(Role::All));
        assert_eq!(Role::from_attribute("\\HasNoChildren"), None);
        assert_eq!(Role::from_attribute("Sent"), None);
        for r in Role::ALL {
            assert_eq!(Role::from_attribute(r.attribute()), Some(r));
        }
    }
}
