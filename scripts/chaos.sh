#!/usr/bin/env bash
# Chaos: migrate and back up a generated mailbox while the client is killed with SIGKILL at
# random moments, the server is restarted under it and connections are cut at random byte
# offsets; then prove the result exact with `verify --deep` (and `archive check`).
#
#   scripts/chaos.sh
#
# Environment (all optional):
#   SEED=1               one seed for the corpus, the moments and the cuts: a run repeats
#   CHAOS_MESSAGES=1500  messages in the generated mailbox (plus a few odd ones, see below)
#   CHAOS_ROUNDS=15      disturbed runs per phase before the runs that must finish
#   CHAOS_CUT=0.3        share of connections the proxies cut
#   CHAOS_KEEP=0         1 keeps the work directory
#
# The mailbox: the benchmark's generator (text and attachments in six folders, Chinese names)
# plus look-alikes (same headers and size, different bodies), messages without Message-ID
# sharing one Date, exact duplicates, and a body with a CR CR LF line end.
#
# Exit: 0 when every phase ends exact (verify exit 0: nothing missing, nothing twice, flags and
# dates kept); 1 otherwise. Figures go to stdout; docs/chaos.md keeps them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SEED=${SEED:-1}
MESSAGES=${CHAOS_MESSAGES:-1500}
ROUNDS=${CHAOS_ROUNDS:-15}
CUT=${CHAOS_CUT:-0.3}
RANDOM=$SEED
# shellcheck source=scripts/lib/dovecot.sh
source "$ROOT/scripts/lib/dovecot.sh"

log() { printf '[chaos %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v dovecot >/dev/null || die "dovecot not found: apt-get install dovecot-imapd"
log "building mailferry"
(cd "$ROOT" && cargo build --release --quiet --locked) || die "build failed"
BIN=$ROOT/target/release/mailferry

RUN=$(mktemp -d /tmp/mailferry-chaos.XXXXXX)
chmod 755 "$RUN"
PIDS=()
cleanup() {
    local rc=$?
    set +e
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    dovecot_stop
    if [ "${CHAOS_KEEP:-0}" != 1 ]; then rm -rf "$RUN"; else log "kept $RUN"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r IMAP PX_SRC PX_DST < <(python3 "$ROOT/scripts/bench/benchlib.py" freeports 3)
dovecot_setup "$RUN/dovecot" "$IMAP" src dst dst2
dovecot_start || die "dovecot did not start; see $RUN/dovecot/log/dovecot.log"

# --- the mailbox -----------------------------------------------------------------------------
log "generating $MESSAGES messages (seed $SEED)"
python3 "$ROOT/scripts/bench/gen_corpus.py" --out "$RUN/corpus" --messages "$MESSAGES" \
    --seed "$SEED" --manifest "$RUN/corpus.json" >/dev/null
mkdir -p "$DOVECOT_RUN/mail/src"
cp -a "$RUN/corpus" "$DOVECOT_RUN/mail/src/Maildir"
chown -R "$DOVECOT_UID:$DOVECOT_GID" "$DOVECOT_RUN/mail/src"
da force-resync -u "src@$DOVECOT_DOMAIN" '*'
odd() { printf "$2" | da save -u "src@$DOVECOT_DOMAIN" -m "$1"; }
for k in 1 2 3; do
    body=$(printf 'x%.0s' $(seq 300))
    odd INBOX "From: twin@163.com\r\nSubject: twins $k\r\nMessage-ID: <twin-$k@x>\r\n\r\n$body\r\nend A\r\n"
    odd INBOX "From: twin@163.com\r\nSubject: twins $k\r\nMessage-ID: <twin-$k@x>\r\n\r\n$body\r\nend B\r\n"
    odd 工作 "From: bot@163.com\r\nSubject: 无编号 $k\r\nDate: Mon, 4 Mar 2024 10:00:00 +0800\r\n\r\nno id $k\r\n"
    odd 已发送 "From: me@163.com\r\nSubject: twice\r\nMessage-ID: <twice@x>\r\n\r\nsame bytes\r\n"
done
odd INBOX "From: a@163.com\r\nSubject: stray cr\r\nMessage-ID: <cr@x>\r\n\r\nline one\r\r\nline two\r\n"
TOTAL=$(da mailbox status -u "src@$DOVECOT_DOMAIN" -t messages '*' | sed 's/.*=//')
log "source holds $TOTAL messages"

python3 "$ROOT/scripts/chaos/cut_proxy.py" --listen "127.0.0.1:$PX_SRC" \
    --upstream "127.0.0.1:$IMAP" --seed "$SEED" --cut "$CUT" 2>>"$RUN/cuts.log" &
PIDS+=($!)
python3 "$ROOT/scripts/chaos/cut_proxy.py" --listen "127.0.0.1:$PX_DST" \
    --upstream "127.0.0.1:$IMAP" --seed "$((SEED + 1))" --cut "$CUT" 2>>"$RUN/cuts.log" &
PIDS+=($!)
sleep 0.5

account() {
    printf '  imap: { host: 127.0.0.1, port: %s, tls: none, user: "%s@%s", password: { env: PW } }\n' \
        "$1" "$2" "$DOVECOT_DOMAIN"
}
profile() { # NAME SOURCE_YAML TARGET_YAML
    printf 'source:\n%s\ntarget:\n%s\nworkers: 2\nstate_dir: %s\n' "$2" "$3" "$RUN/state-$1" \
        >"$RUN/$1.yaml"
    echo "$RUN/$1.yaml"
}
export PW=$DOVECOT_PW

KILLS=0
RESTARTS=0
# disturb PROFILE: ROUNDS runs, each stopped by a kill -9 or a server restart at a random
# moment, or left to end by itself.
disturb() {
    local p=$1 r pid wait_ms action
    for r in $(seq "$ROUNDS"); do
        "$BIN" run "$p" --json >"$RUN/last.out" 2>"$RUN/last.err" &
        pid=$!
        wait_ms=$((50 + RANDOM % 1500))
        sleep "$(printf '0.%03d' $((wait_ms % 1000)))"
        [ "$wait_ms" -ge 1000 ] && sleep 1
        action=$((RANDOM % 10))
        if [ "$action" -lt 6 ]; then
            kill -9 "$pid" 2>/dev/null && KILLS=$((KILLS + 1))
        elif [ "$action" -lt 8 ]; then
            dovecot_restart && RESTARTS=$((RESTARTS + 1))
        fi
        wait "$pid" 2>/dev/null || true
    done
}
# finish PROFILE: runs until one ends with exit 0 (connections are still being cut).
finish() {
    local i
    for i in $(seq 10); do
        "$BIN" run "$1" --json >"$RUN/last.out" 2>"$RUN/last.err" && return 0
    done
    cat "$RUN/last.err" >&2
    return 1
}
# prove PROFILE: verify --deep exits 0 (retried when a cut ends it early).
prove() {
    local i code
    for i in 1 2 3; do
        code=0
        "$BIN" verify "$1" --deep --json >"$RUN/verify.json" 2>"$RUN/verify.err" || code=$?
        [ "$code" = 0 ] && return 0
        [ "$code" = 1 ] && break
    done
    python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); print(json.dumps(v["totals"]))' \
        "$RUN/verify.json" >&2 || cat "$RUN/verify.err" >&2
    return 1
}
count() { da mailbox status -u "$1@$DOVECOT_DOMAIN" -t messages '*' | sed 's/.*=//'; }

RESULT=0
started=$SECONDS
log "phase 1: migrate under chaos"
MIG=$(profile migrate "$(account "$PX_SRC" src)" "$(account "$PX_DST" dst)")
disturb "$MIG"
finish "$MIG" || { log "migration did not finish"; RESULT=1; }
if prove "$MIG"; then MIG_VERIFY=ok; else MIG_VERIFY=FAILED; RESULT=1; fi
MIG_COUNT=$(count dst)
[ "$MIG_COUNT" = "$TOTAL" ] || RESULT=1

log "phase 2: back up under chaos, then restore"
BK=$(profile backup "$(account "$PX_SRC" src)" "  archive: { path: $RUN/backup, format: mbox, commit_every: 2MB }
")
disturb "$BK"
finish "$BK" || { log "backup did not finish"; RESULT=1; }
if "$BIN" archive check "$RUN/backup" >"$RUN/check.out" 2>&1; then CHECK=ok; else CHECK=FAILED; RESULT=1; fi
if prove "$BK"; then BK_VERIFY=ok; else BK_VERIFY=FAILED; RESULT=1; fi
RS=$(profile restore "  archive: { path: $RUN/backup }
" "$(account "$PX_DST" dst2)")
disturb "$RS"
finish "$RS" || { log "restore did not finish"; RESULT=1; }
if prove "$RS"; then RS_VERIFY=ok; else RS_VERIFY=FAILED; RESULT=1; fi
RS_COUNT=$(count dst2)
[ "$RS_COUNT" = "$TOTAL" ] || RESULT=1
CUTS=$(grep -c '^cut' "$RUN/cuts.log" || true)

cat <<REPORT
== chaos, seed $SEED: $TOTAL messages, $ROUNDS disturbed runs per phase, $((SECONDS - started)) s
disturbances: $KILLS kill -9, $RESTARTS server restarts, $CUTS connections cut
migrate: target holds $MIG_COUNT of $TOTAL; verify --deep $MIG_VERIFY
backup:  archive check $CHECK; verify --deep $BK_VERIFY
restore: target holds $RS_COUNT of $TOTAL; verify --deep $RS_VERIFY
result:  $([ "$RESULT" = 0 ] && echo exact || echo NOT EXACT)
REPORT
exit "$RESULT"
