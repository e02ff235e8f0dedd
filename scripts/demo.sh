#!/usr/bin/env bash
# The README's first command: runs mailferry's main job on a bundled example, no account needed.
#
# A private Dovecot (installed if missing) plays both providers on loopback. mailferry loads
# the bundled mbox export (examples/netease-mailbox) into a "163" account, checks both sides,
# plans and migrates 163 -> QQ over TLS with certificate checks, shows that a rerun copies
# nothing, verifies message by message, then backs the QQ account up into a compressed archive
# and checks it.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

need_install=()
command -v dovecot >/dev/null 2>&1 || need_install+=(dovecot-imapd dovecot-core)
command -v openssl >/dev/null 2>&1 || need_install+=(openssl)
if [ ${#need_install[@]} -gt 0 ]; then
  echo "== installing ${need_install[*]} (for the local demo server)"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get install -y -qq "${need_install[@]}" >/dev/null 2>&1 ||
    { $sudo apt-get update -qq && $sudo apt-get install -y -qq "${need_install[@]}" >/dev/null; }
fi

echo "== building mailferry"
cargo build --quiet --locked
bin="$here/target/debug/mailferry"

work=$(mktemp -d /tmp/mailferry-demo.XXXXXX)
chmod 755 "$work"
cleanup() {
  [ -f "$work/run/master.pid" ] && kill "$(cat "$work/run/master.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Mail belongs to an unprivileged user when we are root.
if [ "$(id -u)" -eq 0 ]; then owner=mail; else owner=$(id -un); fi
uid=$(id -u "$owner"); gid=$(id -g "$owner")
mkdir -p "$work"/{run,state,log,mail,ssl,import}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }
tls_port=$(port)

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=DNS:127.0.0.1,DNS:localhost,IP:127.0.0.1" \
  -keyout "$work/ssl/key.pem" -out "$work/ssl/cert.pem" 2>/dev/null

cat > "$work/users" <<USERS
alice@163.example:{PLAIN}demo-163-code:$uid:$gid::$work/mail/alice163::
123456@qq.example:{PLAIN}demo-qq-code:$uid:$gid::$work/mail/qq::
USERS

cat > "$work/dovecot.conf" <<CONF
base_dir = $work/run
state_dir = $work/state
log_path = $work/log/dovecot.log
instance_name = mailferry-demo-$tls_port
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <$work/ssl/cert.pem
ssl_key = <$work/ssl/key.pem
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_max_userip_connections = 50
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $work/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $work/users
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox "已发送" {
    special_use = \\Sent
  }
}
service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $tls_port
    ssl = yes
  }
}
service doveadm {
  inet_listener {
    port = 0
  }
}
CONF
chown -R "$owner" "$work/mail" "$work/import"
dovecot -c "$work/dovecot.conf"

# QQ-style target folders exist from the start, as on a real QQ account.
for f in "Sent Messages" Drafts "Deleted Messages" Junk "其他文件夹/QQ邮件订阅"; do
  doveadm -c "$work/dovecot.conf" mailbox create -u 123456@qq.example "$f"
done

cat > "$work/load-163.yaml" <<PROFILE
# Restore the bundled Thunderbird-style mbox files into the demo 163 account.
source:
  mbox: $here/examples/netease-mailbox
target:
  imap:
    provider: "163"
    host: 127.0.0.1
    port: $tls_port
    ca_file: $work/ssl/cert.pem
    user: alice@163.example
    password: { env: DEMO_163_CODE }
state_dir: $work/state-load
PROFILE

cat > "$work/163-to-qq.yaml" <<PROFILE
# 163 -> QQ, both played by the local demo server: the presets give NetEase's and QQ's folder
# names and quirks; host/port/ca_file point at the demo server instead of the real ones.
source:
  imap:
    provider: "163"
    host: 127.0.0.1
    port: $tls_port
    ca_file: $work/ssl/cert.pem
    user: alice@163.example
    password: { env: DEMO_163_CODE }
target:
  imap:
    provider: qq
    host: 127.0.0.1
    port: $tls_port
    ca_file: $work/ssl/cert.pem
    user: 123456@qq.example
    password: { env: DEMO_QQ_CODE }
state_dir: $work/state-mailferry
PROFILE
cat > "$work/backup-qq.yaml" <<PROFILE
# Back the QQ account up into a compressed archive (one zstd mbox per folder).
source:
  imap:
    provider: qq
    host: 127.0.0.1
    port: $tls_port
    ca_file: $work/ssl/cert.pem
    user: 123456@qq.example
    password: { env: DEMO_QQ_CODE }
target:
  archive: { path: $work/backup, format: mbox }
state_dir: $work/state-backup
PROFILE
export DEMO_163_CODE=demo-163-code DEMO_QQ_CODE=demo-qq-code

echo "== mailferry run: load examples/netease-mailbox (mbox files) into the demo 163 account"
"$bin" run "$work/load-163.yaml"
echo

echo
echo "== mailferry doctor (each side, step by step)"
"$bin" doctor "$work/163-to-qq.yaml"
echo
echo "== mailferry plan"
"$bin" plan "$work/163-to-qq.yaml"
echo
echo "== mailferry run"
"$bin" run "$work/163-to-qq.yaml"
echo
echo "== mailferry run again: nothing is copied twice (in Chinese: LANG=zh_CN.UTF-8)"
LANG=zh_CN.UTF-8 LC_ALL= "$bin" run "$work/163-to-qq.yaml"
echo
echo "== mailferry verify: message by message, by content"
"$bin" verify "$work/163-to-qq.yaml"
echo
echo "== mailferry run: back the QQ account up into an archive"
"$bin" run "$work/backup-qq.yaml"
echo
echo "== mailferry archive ls / check"
"$bin" archive ls "$work/backup"
"$bin" archive check "$work/backup"
