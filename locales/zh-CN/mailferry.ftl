# mailferry 的简体中文消息。每个 id 都必须也在 locales/en/mailferry.ftl 中
# （tests/i18n.rs 检查两个目录的 id 相同，且代码用到的每个 id 都存在）。

## 终端上各行的前缀
error = 错误
warning = 警告
note = 提示

## 登录被拒绝时该怎么办
login-refused = { $host }：以 { $user } 登录被拒绝：“{ $server }”。{ $hint }
hint-login-qq = QQ 邮箱需要使用授权码，而不是登录密码：QQ 邮箱网页版 -> 设置 -> 账户 -> POP3/IMAP/SMTP/Exchange/CardDAV/CalDAV 服务：开启 IMAP/SMTP（或 POP3/SMTP）服务并生成授权码。同样的回复也可能表示登录过于频繁：请等待几分钟后重试。
hint-login-netease = 网易邮箱需要使用客户端授权码，而不是登录密码：网页版邮箱 -> 设置 -> POP3/SMTP/IMAP：开启 IMAP/SMTP（或 POP3/SMTP）服务并新增授权码。如果授权码无误，账号可能被风控：请先在网页上登录一次，稍后再试。
hint-login-exmail = 腾讯企业邮：开启安全登录后，请使用网页版设置中生成的客户端专用密码，而不是登录密码。另请在 IMAP 设置中勾选“收取我的文件夹”，并把“收取邮件的时长”设为“全部”，否则文件夹和旧邮件不可见。
hint-login-gmail = Gmail 需要应用专用密码（Google 账号 -> 安全性 -> 两步验证 -> 应用专用密码；须先开启两步验证）或 OAuth2 令牌，而不是 Google 密码；并须在 Gmail 设置 -> 转发和 POP/IMAP 中启用 IMAP。
hint-login-outlook = 自 2024-09-16 起，Outlook.com / Hotmail / Live 个人账号只接受 OAuth2（XOAUTH2）登录：无论密码或应用密码是否正确，都会登录失败。
hint-login-generic = 请检查用户名和密码（许多服务商的 IMAP 需要应用密码或授权码，并需在网页设置中开启 IMAP）。
hint-login-generic-pop3 = 请检查用户名和密码；许多服务商的 POP3 需要应用密码或授权码，并需在网页设置中开启 POP3。
hint-oauth = { $provider } 已不再接受邮件程序使用密码登录：请改用 OAuth2 访问令牌，由令牌工具作为密码命令提供，例如 password: {"{"} command: ["oama", "access", "you@outlook.com"] {"}"} 或 ["pizauth", "show", "outlook"]（步骤见 docs/providers.md 的 OAuth2 一节）。

## POP3 的 30 天收取范围
pop3-window = 此 POP3 服务器提供的最早一封邮件是 { $days } 天前收到的：QQ 邮箱和 163/126 等服务商默认只通过 POP3 提供最近 30 天的邮件。{ $how }
pop3-window-qq = 要收取更早的邮件：QQ 邮箱网页版 -> 设置 -> 账户 -> POP3/IMAP/SMTP 服务 -> 收取选项：选择“全部”，然后重新运行；或改用 IMAP 作为来源。
pop3-window-netease = 要收取更早的邮件：网页版邮箱 -> 设置 -> POP3/SMTP/IMAP -> 收取选项：选择“收取全部邮件”，然后重新运行；或改用 IMAP 作为来源。
pop3-window-generic = 要收取更早的邮件，请在服务商网页设置中让 POP3 提供全部邮件（QQ 邮箱：设置 -> 账户 -> POP3/IMAP/SMTP 服务 -> 收取选项；163/126：设置 -> POP3/SMTP/IMAP -> 收取选项），或改用 IMAP 作为来源。

## 配置文件错误
profile-line = 第 { $line } 行
profile-unknown-key = 未知的键
profile-did-you-mean = 您是不是想写 '{ $best }'？（{ $what }：{ $list }）
profile-valid-keys = 可用的键

## doctor
doctor-all-passed = 所有检查均已通过
step-dns-lookup = DNS 解析
step-tcp-connect = TCP 连接
step-tls-handshake-and-certificate = TLS 握手与证书
step-server-greeting = 服务器问候
step-login = 登录
step-imap-id = IMAP ID
step-capabilities-capa = 服务器能力（CAPA）
step-messages-stat = 邮件数（STAT）
step-unique-ids-uidl = 唯一标识（UIDL）
step-list-folders = 列出文件夹
step-open-inbox = 打开收件箱
step-password = 密码
step-oldest-message = 最早的邮件
side-source = 来源
side-target = 目标

## plan 与 run 的表格
col-source = 来源
col-target = 目标
col-role = 角色
col-messages = 邮件数
col-bytes = 大小
col-selected = 选中
col-selected-bytes = 选中大小
col-copied = 已复制
col-to-copy = 待复制
col-present = 已存在
col-filtered = 已过滤
col-failed = 失败
plan-total = 合计：{ $messages } 封邮件（{ $bytes }），选中 { $selected } 封（{ $selected_bytes }）
plan-left-out = 按文件夹规则排除：{ $folders }
run-total = 合计：{ $verb } { $copied } 封，已存在 { $present } 封，过滤 { $filtered } 封，失败 { $failed } 封，{ $bytes }，用时 { $secs } 秒
run-created-folders = 已创建文件夹：{ $folders }
run-would-create-folders = 将创建文件夹：{ $folders }
run-flags-updated = 已更新 { $folder } 中 { $count } 封已有邮件的标记
run-flags-would-update = 将更新 { $folder } 中 { $count } 封已有邮件的标记
run-flags-not-kept = 目标无法在 { $folder } 中保存 { $flags }

## 进度
progress-failed = 失败：{ $folder } uid { $uid }：{ $reason }
progress-reconnecting = 正在重新连接{ $side }：{ $reason }
progress-done = 完成：{ $folder }
progress-rate = { $bytes }  { $rate } 封/秒，{ $bytes_rate }/秒  剩余 { $eta }
progress-folders = 文件夹：{ $done } 个完成，{ $copying } 个复制中，{ $waiting } 个等待
run-pruned = 保留规则：已从备份中移除 { $count } 封在 { $cutoff } 之前已从源邮箱删除的邮件
prune-summary = { $count } 封在 { $cutoff } 之前已从源邮箱删除的邮件{ $verb }（{ $bytes }）；较近删除的 { $kept } 封仍保留
prune-removed = 已移除
prune-would-remove = 将被移除
run-stopped = 未完成即已停止：再次运行同一命令即可继续，不会重复复制
progress-checked = 已核对：{ $folder }
progress-stopping = 正在停止：完成传输中的邮件并保存进度（再按一次 Ctrl-C 立即中止）

## init
init-needs-from = 请给出要迁移或备份的邮箱地址：mailferry init --from alice@163.com --to 123456@qq.com（或 --backup 目录）
init-needs-to = 请给出邮件的去向：--to 地址，或 --backup 目录
init-exists = { $file } 已存在；请用 --out 换一个文件名，或加上 --force 覆盖
init-written = 已写入 { $file }（其中不含密码）
init-export = { $address }：运行前请把它的授权码（或应用专用密码）放进环境变量 { $var }：
init-next = 下一步：mailferry doctor { $file }，然后 mailferry plan { $file }，然后 mailferry run { $file }
init-ask-from = 要迁移或备份的邮箱地址（例如 alice@163.com）：
init-ask-to = 要迁移到的邮箱地址（例如 123456@qq.com；备份请留空）：
init-ask-backup = 备份到哪个目录（留空则为 backup）：
init-ask-doctor = 现在用 mailferry doctor 检查两边的连接吗？
init-not-an-address = “{ $address }”不是邮箱地址（应为 名字@域名，例如 alice@163.com）
init-same-account = --from 和 --to 是同一个账号（{ $address }）：请给出要把邮件迁移到的账号
init-bad-directory = “{ $dir }”不能作为备份目录：请给出单行的路径，例如 --backup backups/alice
init-token = { $address }：Outlook.com 只接受 OAuth2 登录，因此配置文件每次都向令牌工具 oama 取一个新令牌（无需设置环境变量）：
init-guessed = { $host } 是根据 { $address } 的域名猜测的：请在服务商的帮助页核对 IMAP 服务器，如有不同请修改配置文件。

## init：如何获取各账号的授权码（每行一步）
hint-code-qq =
    获取授权码（16 位字母）：
    1. 登录 QQ 邮箱网页版（mail.qq.com），打开 设置 -> 账户；新版网页中同一入口在 设置 -> 常规 或 账号与安全 里。
    2. 找到“POP3/IMAP/SMTP/Exchange/CardDAV/CalDAV服务”，开启“IMAP/SMTP服务”。
    3. 点击“生成授权码”，按页面提示用手机验证（发送短信或微信扫码）。
    4. 复制显示的授权码。修改 QQ 密码后所有授权码都会失效；可以生成多个授权码。
hint-code-netease =
    获取客户端授权码：
    1. 登录网页版邮箱（mail.163.com、mail.126.com 或 mail.yeah.net），打开 设置 -> POP3/SMTP/IMAP。
    2. 开启“IMAP/SMTP服务”，按页面提示用手机验证。
    3. 复制显示的授权码：它只显示一次。需要更多授权码：授权密码管理 -> 新增授权密码（免费邮箱同时最多 2 个）。
hint-code-exmail =
    获取客户端专用密码：
    1. 登录腾讯企业邮网页版（exmail.qq.com），打开 设置 -> 客户端设置。
    2. 开启 IMAP/SMTP 服务，勾选“收取我的文件夹”，并把“收取邮件的时长”设为“全部”，否则文件夹和旧邮件不可见。
    3. 如果开启了安全登录（微信），请在账号的安全设置中生成“客户端专用密码”并使用它；否则使用登录密码。
hint-code-gmail =
    获取应用专用密码：
    1. Google 账号（myaccount.google.com）-> 安全性 -> 开启两步验证。
    2. 打开 myaccount.google.com/apppasswords，创建一个应用专用密码，复制其 16 位字母。
    3. 如果 Gmail 设置 -> 查看所有设置 -> 转发和 POP/IMAP 中有 IMAP 开关，请启用 IMAP。
hint-code-outlook =
    设置令牌工具（只需一次）：
    1. 安装 oama，并在 Microsoft Entra 中注册一个应用（允许个人账号），授予 IMAP.AccessAsUser.All 和 offline_access 权限；步骤见 docs/zh-CN/providers.md 的 OAuth2 一节。
    2. 运行 oama authorize microsoft 加上您的邮箱地址，在浏览器中登录。
    3. 之后 oama access 加上您的邮箱地址应能输出令牌；也可改用 pizauth（password: { "{" } command: ["pizauth", "show", "outlook"] { "}" }）。
hint-code-generic =
    获取 mailferry 登录用的密码：
    1. 在服务商的网页设置中开启 IMAP。
    2. 如果服务商要求邮件客户端使用应用专用密码或授权码，请在那里生成一个；否则使用您的密码。

## --help：每个命令一行说明
help-mailferry = 迁移并保存邮件：迁移 IMAP 与 POP3 邮箱（网易 163/126/yeah -> QQ 邮箱，以及任何 IMAP 服务器），备份并恢复，逐字节一致，可断点续传。
help-arg-verbose = 在标准错误输出更多细节（-v 信息，-vv 调试）。MAILFERRY_LOG 优先。
help-arg-lang = 消息语言：zh-CN 或 en。默认取 MAILFERRY_LANG，否则取系统区域设置。
help-run = 把配置文件来源中所有选中的邮件复制到目标。
help-plan = 显示一次运行将复制什么：文件夹、各自去向、过滤后的数量和大小。
help-doctor = 逐步检查两边的连接，并说明该如何修复。
help-archive = 查看备份：列出各次运行和文件夹，或逐封校验邮件内容。
help-verify = 逐封证明目标中已有来源的每一封选中邮件。
help-init = 根据两个邮箱地址生成带注释的配置文件。
help-schedule = 用 systemd 定时器或 cron 按配置中的 schedule 定时运行，并查看运行情况。
help-completions = 输出 shell 补全脚本。
help-man = 把手册页（每个命令一页）写入目录。

## verify
col-missing = 缺失
col-extra = 多余
col-dupes = 重复
col-flags = 标记
col-dates = 日期
verify-total = 合计：{ $folders } 个文件夹，来源 { $source } 封（过滤 { $filtered } 封），目标 { $target } 封：已存在 { $present }，缺失 { $missing }，多余 { $extra }，重复 { $duplicates }，标记不同 { $flags }，日期不同 { $dates }
verify-ok = 通过：已按{ $how }核对，全部 { $count } 封选中的来源邮件都在目标中，标记和日期一致
verify-by-fingerprint = 指纹
verify-by-sha256 = 整封邮件的 SHA-256
progress-planned = 待复制 { $messages } 封，已存在 { $present } 封

## archive
problem = 问题
archive-runs = 各次运行
archive-folders = 文件夹
archive-interrupted = 被中断：未提交，已忽略（下次运行会重做）
archive-intact = { $ok }/{ $total } 封邮件完好（{ $bytes }）
