# A private Dovecot for the project's scripts: plain IMAP on one loopback port, Maildir, users
# from a passwd-file, nothing of the system's touched. Source it, then:
#
#   dovecot_setup RUN_DIR PORT USER...    # config + users (password $DOVECOT_PW) in RUN_DIR
#                                          # (DOVECOT_POP3_PORT set: plain POP3 there too)
#   dovecot_start / dovecot_stop / dovecot_restart
#   da ARGS...                             # doveadm against it
#
# Mail belongs to an unprivileged user when run as root (Dovecot refuses root-owned mail):
# DOVECOT_OWNER, else `mail`. DOVECOT_SENT_AUTO=subscribe makes 已发送 exist in every account,
# as a real provider's fresh account has its Sent folder.

DOVECOT_PW=${DOVECOT_PW:-scriptpw}
DOVECOT_DOMAIN=${DOVECOT_DOMAIN:-script.test}

dovecot_setup() {
    DOVECOT_RUN=$1
    DOVECOT_PORT=$2
    shift 2
    if [ -z "${DOVECOT_OWNER:-}" ]; then
        if [ "$(id -u)" = 0 ]; then DOVECOT_OWNER=mail; else DOVECOT_OWNER=$(id -un); fi
    fi
    DOVECOT_UID=$(id -u "$DOVECOT_OWNER")
    DOVECOT_GID=$(id -g "$DOVECOT_OWNER")
    DOVECOT_CONF=$DOVECOT_RUN/dovecot.conf
    mkdir -p "$DOVECOT_RUN"/{run,state,log,mail}
    chmod 755 "$DOVECOT_RUN"
    chown "$DOVECOT_UID:$DOVECOT_GID" "$DOVECOT_RUN/mail"
    : >"$DOVECOT_RUN/users"
    local u
    for u in "$@"; do
        echo "$u@$DOVECOT_DOMAIN:{PLAIN}$DOVECOT_PW:$DOVECOT_UID:$DOVECOT_GID::$DOVECOT_RUN/mail/$u::" \
            >>"$DOVECOT_RUN/users"
    done
    chmod 644 "$DOVECOT_RUN/users"
    cat >"$DOVECOT_CONF" <<CONF
base_dir = $DOVECOT_RUN/run
state_dir = $DOVECOT_RUN/state
log_path = $DOVECOT_RUN/log/dovecot.log
instance_name = mailferry-script-$DOVECOT_PORT
protocols = imap${DOVECOT_POP3_PORT:+ pop3}
listen = 127.0.0.1
# POP3 reads leave the mailbox as it was.
pop3_no_flag_updates = yes
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_max_userip_connections = 200
imap_max_line_length = 2M
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DOVECOT_RUN/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $DOVECOT_RUN/users
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox "已发送" {
    special_use = \\Sent
    ${DOVECOT_SENT_AUTO:+auto = $DOVECOT_SENT_AUTO}
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $DOVECOT_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service doveadm {
  inet_listener {
    port = 0
  }
}
CONF
    if [ -n "${DOVECOT_POP3_PORT:-}" ]; then
        cat >>"$DOVECOT_CONF" <<CONF
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $DOVECOT_POP3_PORT
  }
  inet_listener pop3s {
    port = 0
  }
}
CONF
    fi
}

da() { doveadm -c "$DOVECOT_CONF" "$@"; }

dovecot_start() {
    dovecot -c "$DOVECOT_CONF" || return 1
    local _
    for _ in $(seq 50); do [ -f "$DOVECOT_RUN/run/master.pid" ] && return 0; sleep 0.1; done
    return 1
}

dovecot_stop() {
    [ -f "$DOVECOT_RUN/run/master.pid" ] || return 0
    local mp _
    mp=$(cat "$DOVECOT_RUN/run/master.pid")
    da stop 2>/dev/null || kill "$mp" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$mp" 2>/dev/null || break; sleep 0.1; done
    rm -f "$DOVECOT_RUN/run/master.pid"
}

dovecot_restart() { dovecot_stop; dovecot_start; }
