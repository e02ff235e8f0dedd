# mailferry's English messages. Every id here is also in locales/zh-CN/mailferry.ftl
# (tests/i18n.rs checks both catalogues hold the same ids, and that every id the code uses exists).

## Prefixes of lines on the terminal
error = error
warning = warning
note = note

## Login refusals and what to do
login-refused = { $host }: login as { $user } refused: "{ $server }". { $hint }
hint-login-qq = QQ Mail needs an authorization code (授权码), not your login password: QQ Mail web -> Settings (设置) -> Account (账户) -> POP3/IMAP/SMTP/Exchange/CardDAV/CalDAV service: enable IMAP/SMTP (or POP3/SMTP) and generate a code. The same reply also means too many logins: wait a few minutes before retrying.
hint-login-netease = NetEase Mail needs a client authorization code (客户端授权码), not your login password: web mail -> Settings (设置) -> POP3/SMTP/IMAP: enable the IMAP/SMTP (or POP3/SMTP) service and create an authorization code. If the code is right, the account may be risk-controlled (风控): log in on the web once and retry later.
hint-login-exmail = Tencent Exmail: with secure login (安全登录) on, use a client-specific password (客户端专用密码) from web mail settings, not your login password. Also tick "收取我的文件夹" and set the time window (收取邮件的时长) to all (全部) in the IMAP settings, or folders and old mail stay hidden.
hint-login-gmail = Gmail needs an app password (Google Account -> Security -> 2-Step Verification -> App passwords; 2-Step Verification must be on) or an OAuth2 token, not your Google password, and IMAP enabled in Gmail Settings -> Forwarding and POP/IMAP.
hint-login-outlook = Outlook.com / Hotmail / Live personal accounts accept only OAuth2 (XOAUTH2) sign-in since 2024-09-16: a password or app password login fails however correct it is.
hint-login-generic = Check the user name and password (many providers need an app password or authorization code for IMAP, and IMAP enabled in their web settings).
hint-login-generic-pop3 = Check the user name and password; many providers need an app password or authorization code (授权码) for POP3, and POP3 enabled in their web settings.
hint-oauth = { $provider } no longer accepts passwords from mail programs: give an OAuth2 access token instead, from a token tool run as the password command, e.g. password: {"{"} command: ["oama", "access", "you@outlook.com"] {"}"} or ["pizauth", "show", "outlook"] (docs/providers.md, section OAuth2, has the steps).

## POP3's 30-day window
pop3-window = the oldest message this POP3 server offers arrived { $days } day(s) ago: providers such as QQ Mail and 163/126 serve only the last 30 days over POP3 by default. { $how }
pop3-window-qq = To reach older mail: QQ Mail web -> 设置 -> 账户 -> POP3/IMAP/SMTP 服务 -> 收取选项: choose 全部 (all mail), then run again; or use IMAP as the source.
pop3-window-netease = To reach older mail: web mail -> 设置 -> POP3/SMTP/IMAP -> 收取选项: choose 收取全部邮件 (all mail), then run again; or use IMAP as the source.
pop3-window-generic = To reach older mail, set POP3 to serve all mail in the provider's web settings (QQ Mail: 设置 -> 账户 -> POP3/IMAP/SMTP 服务 -> 收取选项; 163/126: 设置 -> POP3/SMTP/IMAP -> 收取选项), or use IMAP as the source.

## Profile errors
profile-line = line { $line }
profile-unknown-key = unknown key
profile-did-you-mean = did you mean '{ $best }'? ({ $what }: { $list })
profile-valid-keys = valid keys

## doctor
doctor-all-passed = all checks passed
step-dns-lookup = DNS lookup
step-tcp-connect = TCP connect
step-tls-handshake-and-certificate = TLS handshake and certificate
step-server-greeting = server greeting
step-login = login
step-imap-id = IMAP ID
step-capabilities-capa = capabilities (CAPA)
step-messages-stat = messages (STAT)
step-unique-ids-uidl = unique ids (UIDL)
step-list-folders = list folders
step-open-inbox = open INBOX
step-password = password
step-oldest-message = oldest message
side-source = source
side-target = target

## plan and run tables
col-source = source
col-target = target
col-role = role
col-messages = messages
col-bytes = bytes
col-selected = selected
col-selected-bytes = sel. bytes
col-copied = copied
col-to-copy = to copy
col-present = present
col-filtered = filtered
col-failed = failed
plan-total = total: { $messages } messages ({ $bytes }), { $selected } selected ({ $selected_bytes })
plan-left-out = left out by folder rules: { $folders }
run-total = total: { $copied } { $verb }, { $present } already present, { $filtered } filtered out, { $failed } failed, { $bytes } in { $secs }s
run-created-folders = created folders: { $folders }
run-would-create-folders = would create folders: { $folders }
run-flags-updated = updated flags of { $count } messages already in { $folder }
run-flags-would-update = would update flags of { $count } messages already in { $folder }
run-flags-not-kept = the target cannot keep { $flags } in { $folder }

## Progress
progress-failed = failed: { $folder } uid { $uid }: { $reason }
progress-reconnecting = reconnecting to the { $side }: { $reason }
progress-done = done: { $folder }
progress-rate = { $bytes }  { $rate } msg/s, { $bytes_rate }/s  ETA { $eta }
progress-folders = folders: { $done } done, { $copying } copying, { $waiting } waiting
run-pruned = retention: { $count } messages deleted on the source before { $cutoff } were removed from the archive
prune-summary = { $count } messages deleted on the source before { $cutoff } { $verb } ({ $bytes }); { $kept } deleted more recently are kept
prune-removed = removed
prune-would-remove = would be removed
run-stopped = stopped before the end: run the same command again to go on; nothing is copied twice
progress-checked = checked: { $folder }
progress-stopping = stopping: finishing messages in flight and saving progress (Ctrl-C again to abort)

## init
init-needs-from = give the address to move or back up: mailferry init --from alice@163.com --to 123456@qq.com (or --backup DIR)
init-needs-to = give where the mail goes: --to ADDRESS, or --backup DIR
init-exists = { $file } exists; choose another --out, or add --force to write over it
init-written = wrote { $file } (no password in it)
init-export = { $address }: before running, put its authorization code (or app password) in { $var }:
init-next = next: mailferry doctor { $file }, then mailferry plan { $file }, then mailferry run { $file }
init-ask-from = The address to move or back up (e.g. alice@163.com):
init-ask-to = The address to move it to (e.g. 123456@qq.com; empty for a backup):
init-ask-backup = The directory to back up into (empty: backup):
init-ask-doctor = Check both connections now with mailferry doctor?
init-not-an-address = '{ $address }' is not a mail address (expected name@domain, e.g. alice@163.com)
init-same-account = --from and --to are the same account ({ $address }): give the account to move the mail to
init-bad-directory = '{ $dir }' cannot be a backup directory: give a path on one line, e.g. --backup backups/alice
init-token = { $address }: Outlook.com signs in with OAuth2 only, so the profile asks the token tool oama for a fresh token each time (nothing to export):
init-guessed = { $host } is a guess from the domain of { $address }: check the IMAP server in your provider's help and edit the profile if it differs.

## init: how to get each account's secret (one step a line)
hint-code-qq =
    How to get the authorization code (授权码), 16 letters:
    1. Log in to QQ Mail on the web (mail.qq.com) and open 设置 (Settings) -> 账户 (Account); in the newer web UI the same entry is under 设置 -> 常规 or 账号与安全.
    2. Find "POP3/IMAP/SMTP/Exchange/CardDAV/CalDAV服务" and turn on (开启) "IMAP/SMTP服务".
    3. Click 生成授权码 (generate code) and confirm with your phone (SMS or WeChat scan) as the page asks.
    4. Copy the code shown. Changing the QQ password voids every code; you may create several.
hint-code-netease =
    How to get the client authorization code (客户端授权码):
    1. Log in on the web (mail.163.com, mail.126.com or mail.yeah.net) and open 设置 (Settings) -> POP3/SMTP/IMAP.
    2. Turn on (开启) "IMAP/SMTP服务" and confirm with your phone as the page asks.
    3. Copy the authorization code shown: it is shown once. More codes: 授权密码管理 -> 新增授权密码 (free accounts hold 2 at once).
hint-code-exmail =
    How to get the client-specific password (客户端专用密码):
    1. Log in to Tencent Exmail on the web (exmail.qq.com) and open 设置 (Settings) -> 客户端设置.
    2. Turn on the IMAP/SMTP service, tick "收取我的文件夹" and set "收取邮件的时长" to 全部 (all); otherwise folders and old mail stay hidden.
    3. With secure login (安全登录, WeChat) on, generate a 客户端专用密码 in the account's security settings and use it; otherwise use your login password.
hint-code-gmail =
    How to get an app password:
    1. Google Account (myaccount.google.com) -> Security -> turn on 2-Step Verification.
    2. Open myaccount.google.com/apppasswords, create an app password and copy its 16 letters.
    3. If Gmail Settings -> See all settings -> Forwarding and POP/IMAP has an IMAP switch, enable IMAP.
hint-code-outlook =
    How to set up the token tool (once):
    1. Install oama and register an app in Microsoft Entra (personal accounts allowed) with the IMAP.AccessAsUser.All and offline_access permissions; docs/providers.md, section OAuth2, has the steps.
    2. Run oama authorize microsoft with your address, and sign in in the browser.
    3. oama access with your address must now print a token; pizauth works too (password: { "{" } command: ["pizauth", "show", "outlook"] { "}" }).
hint-code-generic =
    How to get the password mailferry logs in with:
    1. In your provider's web settings, enable IMAP.
    2. If the provider asks for an app password or authorization code (授权码) for mail programs, create one there; otherwise use your password.

## --help: one line per command (the long help stays in the commands' own text)
help-mailferry = Move and keep mail: migrate IMAP and POP3 mailboxes (NetEase 163/126/yeah -> QQ Mail and any IMAP server), back them up and restore them, byte-exact and resumable.
help-arg-verbose = More detail on stderr (-v info, -vv debug). MAILFERRY_LOG overrides.
help-arg-lang = Language of the messages: zh-CN or en. Default: MAILFERRY_LANG, else the locale.
help-run = Copy every selected message from the profile's source to its target.
help-plan = Show what a run would copy: folders, where each goes, counts and sizes after filters.
help-doctor = Check each side's connection step by step and say what to fix.
help-archive = Inspect backups: list their runs and folders, or check every message's bytes.
help-verify = Prove message by message that the target holds every selected source message.
help-init = Write a commented profile from two addresses.
help-schedule = Run a profile on its schedule with a systemd timer or cron, and see how it went.
help-completions = Print a shell completion script.
help-man = Write the man pages (one per command) to a directory.

## verify
col-missing = missing
col-extra = extra
col-dupes = dupes
col-flags = flags
col-dates = dates
verify-total = total: { $folders } folders, { $source } source messages ({ $filtered } left out by filters), { $target } target messages: { $present } present, { $missing } missing, { $extra } extra, { $duplicates } duplicates, { $flags } flags differ, { $dates } dates differ
verify-ok = OK: verified by { $how }: all { $count } selected source messages are on the target with their flags and dates
verify-by-fingerprint = fingerprints
verify-by-sha256 = SHA-256 of whole messages
progress-planned = { $messages } messages to copy, { $present } already present

## archive
problem = problem
archive-runs = runs
archive-folders = folders
archive-interrupted = interrupted: not committed, ignored (the next run redoes it)
archive-intact = { $ok }/{ $total } messages intact ({ $bytes })
