#!/usr/bin/env bash
# Throughput benchmark: mailferry vs Dovecot dsync (imapc) vs mbsync, IMAP -> IMAP on loopback,
# with and without added latency, plus a memory check, plus backups to archives and a restore
# (BENCH_TOOLS entry "backup"), plus POP3 -> IMAP against dsync's pop3c (entry "pop3"). See
# docs/performance.md.
#
#   scripts/bench.sh
#
# Environment (all optional):
#   BENCH_MESSAGES=10000   corpus size (1000 for a quick run)
#   BENCH_SEED=20240601    corpus seed
#   BENCH_DELAY="10 50"    ms added each way by the proxy, one round per value (RTT +20 and
#                          +100 ms); 0 skips the rounds
#   BENCH_WORKERS=4        mailferry workers
#   BENCH_TOOLS="mailferry dsync mbsync backup pop3"
#                          backup: mailferry backs the source up (mbox, tar; full, then again
#                          with nothing new), against tar | zstd -3 of the Maildir, then
#                          restores the mbox archive into a new user
#                          pop3: the source's INBOX read over POP3 into a new user, mailferry
#                          against `doveadm backup ... pop3c:`
#                          batch: BENCH_BATCH_ACCOUNTS accounts of BENCH_BATCH_MESSAGES each with
#                          `mailferry batch`, against one account holding as many messages and
#                          against one `mailferry run` per account, one after another
#   BENCH_BATCH_ACCOUNTS=50, BENCH_BATCH_MESSAGES=200
#                          scale: one folder of BENCH_SCALE_SMALL and one of BENCH_SCALE_LARGE
#                          small (1-3 KB) messages: first run (mailferry and dsync), a rerun with
#                          nothing new, plan and verify, each with its time and peak RSS
#   BENCH_SCALE_SMALL=10000, BENCH_SCALE_LARGE=100000
#   BENCH_REPEAT=1         runs per tool and latency, interleaved; the table shows the fastest
#   BENCH_BIG_MB=50        size of the single message of the memory check; 0 skips it
#   BENCH_CACHE=~/.cache/mailferry-bench   generated corpora, reused between runs
#   BENCH_DIR=             work directory (default: a new one under /tmp)
#   BENCH_KEEP=0           1 keeps the mail and the work directory
#   BENCH_MF_PREFIX=       command put before mailferry (migrations and backups), for profiling, e.g.
#                          "perf record -g -o /tmp/mf.perf --" or "strace -c -f -o /tmp/mf.strace"
#
# Exit: 0 every tool ran and the targets hold what the source holds (speed targets missed or
# not); 1 a tool failed to run or setup failed; 2 a tool ran but its target differs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$ROOT/scripts/bench
LIB="python3 $HERE/benchlib.py"
MESSAGES=${BENCH_MESSAGES:-10000}
SEED=${BENCH_SEED:-20240601}
DELAY=${BENCH_DELAY:-10 50}
WORKERS=${BENCH_WORKERS:-4}
TOOLS=${BENCH_TOOLS:-mailferry dsync mbsync backup pop3 batch}
# The IMAP -> IMAP tools; "backup", "pop3" and "batch" are sections of their own.
MIGRATE=$(printf '%s\n' $TOOLS | grep -vx -e backup -e pop3 -e batch -e scale | tr '\n' ' ' || true)
SCALE_SMALL=${BENCH_SCALE_SMALL:-10000}
SCALE_LARGE=${BENCH_SCALE_LARGE:-100000}
BATCH_N=${BENCH_BATCH_ACCOUNTS:-50}
BATCH_M=${BENCH_BATCH_MESSAGES:-200}
has_tool() { [[ " $TOOLS " == *" $1 "* ]]; }
BIG_MB=${BENCH_BIG_MB:-50}
REPEAT=${BENCH_REPEAT:-1}
CACHE=${BENCH_CACHE:-$HOME/.cache/mailferry-bench}
PW=benchpw
DOMAIN=bench.test

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- 1. what is needed -------------------------------------------------------------------
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_missing() {
    local pkgs=()
    command -v dovecot >/dev/null || pkgs+=(dovecot-core)
    [ -x /usr/lib/dovecot/imap ] || pkgs+=(dovecot-imapd)
    [ -x /usr/lib/dovecot/pop3 ] || pkgs+=(dovecot-pop3d)
    command -v mbsync >/dev/null || pkgs+=(isync)
    [ -x /usr/bin/time ] || pkgs+=(time)
    command -v python3 >/dev/null || pkgs+=(python3)
    command -v zstd >/dev/null || pkgs+=(zstd)
    if [ ${#pkgs[@]} -gt 0 ]; then
        log "installing ${pkgs[*]}"
        as_root apt-get update -qq
        # Installing dovecot-core would start the system service; we never want it.
        local prc=/usr/sbin/policy-rc.d made=0
        if [ ! -e $prc ]; then
            printf '#!/bin/sh\nexit 101\n' | as_root tee $prc >/dev/null
            as_root chmod +x $prc
            made=1
        fi
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}"
        if [ $made = 1 ]; then as_root rm -f $prc; fi
    fi
}

if [ "${BENCH_AS_ROOT:-}" != 1 ]; then
    install_missing
    command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs)"
    log "building mailferry (release)"
    (cd "$ROOT" && cargo build --release --quiet) || die "cargo build --release failed"
    if [ "$(id -u)" != 0 ]; then
        # Dovecot needs root to switch to the mail user; the rest of the run is under sudo.
        exec sudo BENCH_AS_ROOT=1 BENCH_MESSAGES="$MESSAGES" BENCH_SEED="$SEED" \
            BENCH_DELAY="$DELAY" BENCH_WORKERS="$WORKERS" BENCH_TOOLS="$TOOLS" \
            BENCH_BIG_MB="$BIG_MB" BENCH_REPEAT="$REPEAT" BENCH_CACHE="$CACHE" \
            BENCH_DIR="${BENCH_DIR:-}" BENCH_KEEP="${BENCH_KEEP:-0}" \
            BENCH_MF_PREFIX="${BENCH_MF_PREFIX:-}" HOME="$HOME" PATH="$PATH" bash "$0" "$@"
    fi
fi
MF=$ROOT/target/release/mailferry
[ -x "$MF" ] || die "$MF missing"

if ! getent passwd vmail >/dev/null; then
    useradd --system --no-create-home --shell /usr/sbin/nologin vmail
fi
VUID=$(id -u vmail)
VGID=$(id -g vmail)

# --- 2. a private Dovecot ----------------------------------------------------------------
RUN=${BENCH_DIR:-$(mktemp -d /tmp/mailferry-bench.XXXXXX)}
mkdir -p "$RUN/work"
read -r IMAP_PORT PX_SRC PX_DST POP3_PORT < <($LIB freeports 4)
PIDS=()
# shellcheck source=scripts/lib/dovecot.sh
source "$ROOT/scripts/lib/dovecot.sh"

cleanup() {
    local rc=$?
    set +e
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    dovecot_stop
    if [ "${BENCH_KEEP:-0}" != 1 ]; then
        rm -rf "$RUN/mail" "$RUN/work"
        log "logs and results kept in $RUN"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

USERS=(src big dst-big dst-raw dst-restore dst-restore-big dst-pop3-mailferry dst-pop3-dsync)
if has_tool scale; then
    for n in "$SCALE_SMALL" "$SCALE_LARGE"; do USERS+=("scale-$n" "scale-$n-mf" "scale-$n-dsync"); done
fi
if has_tool batch; then
    USERS+=(one-src one-dst)
    for i in $(seq 1 "$BATCH_N"); do USERS+=("bsrc-$i" "bdst-$i" "bseq-$i"); done
fi
for tool in $MIGRATE; do
    USERS+=("dst-$tool-0")
    for d in $DELAY; do [ "$d" = 0 ] || USERS+=("dst-$tool-$((d * 2))"); done
done
DOVECOT_OWNER=vmail DOVECOT_PW=$PW DOVECOT_POP3_PORT=$POP3_PORT DOVECOT_DOMAIN=$DOMAIN DOVECOT_SENT_AUTO=subscribe \
    dovecot_setup "$RUN" "$IMAP_PORT" "${USERS[@]}"
CONF=$DOVECOT_CONF
log "starting dovecot on 127.0.0.1:$IMAP_PORT ($RUN)"
dovecot_start || die "dovecot did not start; see $RUN/log/dovecot.log"
MASTER=$(cat "$RUN/run/master.pid")

# --- 3. the corpus -----------------------------------------------------------------------
GEN_HASH=$(sha256sum "$HERE/gen_corpus.py" | cut -c1-12)

# corpus KEY ARGS...: a generated Maildir in the cache, made once per parameters.
corpus() {
    local key=$1; shift
    local dir=$CACHE/$key
    if [ ! -f "$dir/.done" ]; then
        log "generating corpus $key"
        rm -rf "$dir"
        mkdir -p "$dir"
        python3 "$HERE/gen_corpus.py" --out "$dir/Maildir" --manifest "$dir/manifest.json" "$@"
        chown -R "$VUID:$VGID" "$dir/Maildir"
        touch "$dir/.done"
    fi
    echo "$dir"
}

# install_user USER CORPUS_DIR: the user's mail becomes a fresh copy of the corpus (hard
# links: Dovecot never rewrites a maildir file), with indexes built before any tool runs.
install_user() {
    local user=$1 dir=$2 home=$RUN/mail/$1
    da kick "$user@$DOMAIN" >/dev/null 2>&1 || true
    rm -rf "$home"
    mkdir -p "$home"
    cp -al "$dir/Maildir" "$home/Maildir" 2>/dev/null || cp -a "$dir/Maildir" "$home/Maildir"
    chown -R "$VUID:$VGID" "$home"
    da force-resync -u "$user@$DOMAIN" '*'
    da mailbox list -u "$user@$DOMAIN" | while IFS= read -r box; do
        da mailbox subscribe -u "$user@$DOMAIN" "$box"
    done
    local want got
    want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["messages"])' \
        "$dir/manifest.json")
    got=$(da mailbox status -u "$user@$DOMAIN" -t messages '*' | sed 's/.*=//')
    [ "$got" = "$want" ] || die "$user: Dovecot sees $got messages, corpus has $want"
}

# dump USER FILE: every message's folder, INTERNALDATE, size and flags, sorted.
dump() {
    da -f tab fetch -u "$1@$DOMAIN" 'mailbox date.received size.virtual flags' all \
        >"$2.raw"
    $LIB mailbox-dump "$2.raw" >"$2"
    rm -f "$2.raw"
}

CORPUS=$(corpus "corpus-n$MESSAGES-s$SEED-$GEN_HASH" --messages "$MESSAGES" --seed "$SEED")
install_user src "$CORPUS"
dump src "$RUN/work/src.dump"
YEARS=$(cut -f2 "$RUN/work/src.dump" | cut -c1-4 | sort -u | tr '\n' ' ')
log "source: $(wc -l <"$RUN/work/src.dump") messages; INTERNALDATE years: $YEARS"
[ "$(echo "$YEARS" | wc -w)" -ge 5 ] || die "INTERNALDATEs are not spread over years: $YEARS"

# --- 4/5. the runs -----------------------------------------------------------------------
RESULTS=$RUN/results.tsv
: >"$RESULTS"
FAILED_RUN=0
MISMATCH=0

srv_cpu() { # Dovecot's CPU seconds so far: exited children (imap, auth, login) of the master
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($16 + $17) / hz }' "/proc/$MASTER/stat"
}

run_mailferry() { # DIR USER SRC_PORT DST_PORT SRC_USER
    local d=$1
    cat >"$d/profile.yaml" <<EOF
source:
  imap: { host: 127.0.0.1, port: $3, tls: none, user: $5@$DOMAIN, password: { env: SRC_PW } }
target:
  imap: { host: 127.0.0.1, port: $4, tls: none, user: $2@$DOMAIN, password: { env: DST_PW } }
workers: $WORKERS
state_dir: $d/state
EOF
    # shellcheck disable=SC2086 # the prefix is a command line
    SRC_PW=$PW DST_PW=$PW /usr/bin/time -v -o "$d/time.txt" ${BENCH_MF_PREFIX:-} \
        "$MF" run "$d/profile.yaml" --json >"$d/stdout" 2>"$d/stderr"
}

run_dsync() {
    local d=$1
    /usr/bin/time -v -o "$d/time.txt" doveadm -c "$CONF" \
        -o imapc_host=127.0.0.1 -o imapc_port="$3" -o imapc_ssl=no \
        -o imapc_user="$5@$DOMAIN" -o imapc_password="$PW" \
        -o "imapc_features=rfc822.size fetch-headers" -o mail_prefetch_count=20 \
        backup -R -u "$2@$DOMAIN" imapc: >"$d/stdout" 2>"$d/stderr"
}

run_mbsync() {
    local d=$1
    mkdir -p "$d/syncstate"
    cat >"$d/mbsyncrc" <<EOF
IMAPAccount far
Host 127.0.0.1
Port $3
User $5@$DOMAIN
Pass $PW
SSLType None
AuthMechs LOGIN

IMAPAccount near
Host 127.0.0.1
Port $4
User $2@$DOMAIN
Pass $PW
SSLType None
AuthMechs LOGIN

IMAPStore far
Account far

IMAPStore near
Account near

Channel bench
Far :far:
Near :near:
Patterns *
Create Near
Sync Pull
Expunge None
Remove None
CopyArrivalDate yes
SyncState $d/syncstate/
EOF
    /usr/bin/time -v -o "$d/time.txt" mbsync -c "$d/mbsyncrc" -a >"$d/stdout" 2>"$d/stderr"
}

# measure TOOL DELAY SRC_PORT DST_PORT [SRC_USER DST_USER]
measure() {
    local tool=$1 delay=$2 src=${5:-src} dst=${6:-dst-$1-$2}
    local d=$RUN/work/$tool-$delay
    rm -rf "$d" "$RUN/mail/$dst"
    mkdir -p "$d"
    sync
    local cpu0 t0 t1 rc=0 load
    load=$(cut -d' ' -f1 /proc/loadavg)
    cpu0=$(srv_cpu)
    t0=$(date +%s.%N)
    log "$tool, RTT +${delay} ms: running"
    "run_$tool" "$d" "$dst" "$3" "$4" "$src" || rc=$?
    t1=$(date +%s.%N)
    sleep 0.5 # let the server's imap processes exit so their CPU is counted
    local secs rss cpu srv check
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    read -r rss u s < <($LIB timev "$d/time.txt")
    cpu=$(awk -v a="$u" -v b="$s" 'BEGIN { printf "%.2f", a + b }')
    srv=$(awk -v a="$cpu0" -v b="$(srv_cpu)" 'BEGIN { printf "%.2f", b - a }')
    if [ $rc != 0 ]; then
        FAILED_RUN=1
        log "$tool failed (exit $rc); last lines of $d/stderr:"
        tail -n 5 "$d/stderr" >&2 || true
    fi
    if [ -d "$RUN/mail/$dst" ]; then
        dump "$dst" "$d/dst.dump"
        check=$($LIB verify "$RUN/work/$src.dump" "$d/dst.dump") || MISMATCH=1
    else
        check="MISMATCH: nothing on the target"
        MISMATCH=1
    fi
    if [ "$tool" = mailferry ]; then
        read -r copied _ mfsecs failed < <($LIB mf-json "$d/stdout")
        check="$check (mailferry: copied $copied, failed $failed, ${mfsecs}s inside)"
    fi
    log "$tool, RTT +${delay} ms: ${secs}s, peak RSS $((rss / 1024)) MB; $check"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$delay" "$rc" "$secs" "$rss" "$cpu" \
        "$srv" "$check" "$load" >>"${7:-$RESULTS}"
    if [ "${BENCH_KEEP:-0}" != 1 ]; then
        da kick "$dst@$DOMAIN" >/dev/null 2>&1 || true
        rm -rf "$RUN/mail/$dst"
    fi
}

start_proxy() { # LISTEN_PORT DELAY_MS
    local out=$RUN/log/proxy-$1.log
    python3 "$HERE/delay_proxy.py" --listen "127.0.0.1:$1" --upstream "127.0.0.1:$IMAP_PORT" \
        --delay-ms "$2" >"$out" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 50); do grep -q ready "$out" 2>/dev/null && return; sleep 0.1; done
    die "delay proxy on $1 did not start"
}

for _ in $(seq "$REPEAT"); do
    for tool in $MIGRATE; do
        install_user src "$CORPUS"
        measure "$tool" 0 "$IMAP_PORT" "$IMAP_PORT"
    done
done
for d in $DELAY; do
    [ "$d" != 0 ] && [ -n "$MIGRATE" ] || continue
    start_proxy "$PX_SRC" "$d"
    start_proxy "$PX_DST" "$d"
    for _ in $(seq "$REPEAT"); do
        for tool in $MIGRATE; do
            install_user src "$CORPUS"
            measure "$tool" $((d * 2)) "$PX_SRC" "$PX_DST"
        done
    done
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    PIDS=()
done

# --- the server's own limit: the corpus APPENDed by a minimal client ----------------------
RAW=$RUN/work/raw-ingest.txt
if has_tool mailferry; then
    log "raw ingest: $WORKERS connections, MULTIAPPEND with LITERAL+"
    $LIB raw-ingest "$CORPUS/Maildir" 127.0.0.1 "$IMAP_PORT" "dst-raw@$DOMAIN" "$PW" "$WORKERS" \
        >"$RAW" || { log "raw ingest failed"; : >"$RAW"; }
    if [ "${BENCH_KEEP:-0}" != 1 ]; then
        da kick "dst-raw@$DOMAIN" >/dev/null 2>&1 || true
        rm -rf "$RUN/mail/dst-raw"
    fi
fi

# --- 6. memory: one big message ----------------------------------------------------------
BIGRES=$RUN/results-big.tsv
: >"$BIGRES"
if [ "$BIG_MB" != 0 ] && has_tool mailferry; then
    BIG=$(corpus "big-${BIG_MB}mb-s$SEED-$GEN_HASH" --big "$BIG_MB" --seed "$SEED")
    install_user big "$BIG"
    dump big "$RUN/work/big.dump"
    measure mailferry 0 "$IMAP_PORT" "$IMAP_PORT" big dst-big "$BIGRES"
fi

# --- 7. backups and a restore -----------------------------------------------------------
BKRES=$RUN/results-backup.tsv
: >"$BKRES"

# timed NAME DIR CMD...: runs CMD under /usr/bin/time -v (output in DIR), records wall seconds,
# peak RSS, CPU time and the size of DIR/archive (or DIR/out.tar.zst) as a row of $BKRES.
timed() {
    local name=$1 d=$2; shift 2
    local t0 t1 rc=0 secs rss u s cpu size check=""
    sync
    log "$name: running"
    t0=$(date +%s.%N)
    /usr/bin/time -v -o "$d/time-$name.txt" "$@" >"$d/stdout-$name" 2>"$d/stderr-$name" || rc=$?
    t1=$(date +%s.%N)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    read -r rss u s < <($LIB timev "$d/time-$name.txt")
    cpu=$(awk -v a="$u" -v b="$s" 'BEGIN { printf "%.2f", a + b }')
    size=$({ du -sb --apparent-size "$d/archive" "$d/out.tar.zst" 2>/dev/null || true; } |
        awk '{ s += $1 } END { print s + 0 }')
    if [ $rc != 0 ]; then
        FAILED_RUN=1
        log "$name failed (exit $rc); last lines of $d/stderr-$name:"
        tail -n 5 "$d/stderr-$name" >&2 || true
    fi
    if [[ $name == backup-* || $name == restore-* ]]; then
        read -r copied _ _ failed < <($LIB mf-json "$d/stdout-$name")
        check="mailferry: copied $copied, failed $failed"
    fi
    log "$name: ${secs}s, peak RSS $((rss / 1024)) MB, ${size} bytes on disk; $check"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$rc" "$secs" "$rss" "$size" "$check" "$cpu" \
        >>"${TIMED_RES:-$BKRES}"
}

backup_profile() { # DIR FORMAT
    cat >"$1/profile.yaml" <<EOF
source:
  imap: { host: 127.0.0.1, port: $IMAP_PORT, tls: none, user: src@$DOMAIN, password: { env: SRC_PW } }
target:
  archive: { path: $1/archive, format: $2, compression_level: 3 }
workers: $WORKERS
state_dir: $1/state
EOF
}

if has_tool backup; then
    install_user src "$CORPUS"
    for fmt in mbox tar; do
        d=$RUN/work/backup-$fmt
        rm -rf "$d"
        mkdir -p "$d"
        backup_profile "$d" $fmt
        timed "backup-$fmt" "$d" env SRC_PW=$PW ${BENCH_MF_PREFIX:-} "$MF" run "$d/profile.yaml" --json
        # The same again: nothing is new, so this is the cost of finding that out.
        timed "backup-$fmt-again" "$d" env SRC_PW=$PW "$MF" run "$d/profile.yaml" --json
    done
    # The practical limit: read every file of the Maildir once and compress it the same way.
    d=$RUN/work/tar-zstd
    rm -rf "$d"
    mkdir -p "$d"
    timed tar-zstd "$d" bash -c 'tar -cf - -C "$1" Maildir | zstd -3 -q -o "$2"' _ \
        "$RUN/mail/src" "$d/out.tar.zst"
    # What a user scripts today: mbsync into a local Maildir, then tar | zstd of it.
    if command -v mbsync >/dev/null; then
        d=$RUN/work/mbsync-tar
        rm -rf "$d"
        mkdir -p "$d/maildir" "$d/syncstate"
        cat >"$d/mbsyncrc" <<EOF
IMAPAccount src
Host 127.0.0.1
Port $IMAP_PORT
User src@$DOMAIN
Pass $PW
SSLType None
AuthMechs LOGIN

IMAPStore far
Account src

MaildirStore near
Path $d/maildir/
Inbox $d/maildir/INBOX
SubFolders Verbatim

Channel backup
Far :far:
Near :near:
Patterns *
Create Near
Sync Pull
CopyArrivalDate yes
SyncState $d/syncstate/
EOF
        timed mbsync-tar "$d" bash -c \
            'mbsync -q -c "$1/mbsyncrc" -a && tar -cf - -C "$1" maildir | zstd -3 -q -o "$1/out.tar.zst"' \
            _ "$d"
    fi
    # Restore the mbox backup into a new, empty user, then compare it with the source.
    d=$RUN/work/restore-mbox
    rm -rf "$d" "$RUN/mail/dst-restore"
    mkdir -p "$d"
    cat >"$d/profile.yaml" <<EOF
source:
  archive: { path: $RUN/work/backup-mbox/archive }
target:
  imap: { host: 127.0.0.1, port: $IMAP_PORT, tls: none, user: dst-restore@$DOMAIN, password: { env: DST_PW } }
workers: $WORKERS
state_dir: $d/state
EOF
    timed restore-mbox "$d" env DST_PW=$PW "$MF" run "$d/profile.yaml" --json
    if [ -d "$RUN/mail/dst-restore" ]; then
        dump dst-restore "$d/dst.dump"
        rcheck=$($LIB verify "$RUN/work/src.dump" "$d/dst.dump") || MISMATCH=1
    else
        rcheck="MISMATCH: nothing on the target"
        MISMATCH=1
    fi
    log "restore-mbox: $rcheck"
    echo "$rcheck" >"$d/check.txt"
    if [ "${BENCH_KEEP:-0}" != 1 ]; then
        da kick "dst-restore@$DOMAIN" >/dev/null 2>&1 || true
        rm -rf "$RUN/mail/dst-restore"
    fi
    # Memory of a restore when the archive holds one big message (the memory check's).
    if [ "$BIG_MB" != 0 ]; then
        BIG=$(corpus "big-${BIG_MB}mb-s$SEED-$GEN_HASH" --big "$BIG_MB" --seed "$SEED")
        [ -d "$RUN/mail/big" ] || install_user big "$BIG"
        d=$RUN/work/backup-big
        rm -rf "$d"
        mkdir -p "$d"
        cat >"$d/profile.yaml" <<EOF
source:
  imap: { host: 127.0.0.1, port: $IMAP_PORT, tls: none, user: big@$DOMAIN, password: { env: SRC_PW } }
target:
  archive: { path: $d/archive, format: mbox, compression_level: 3 }
workers: $WORKERS
state_dir: $d/state
EOF
        timed backup-big "$d" env SRC_PW=$PW "$MF" run "$d/profile.yaml" --json
        d=$RUN/work/restore-big
        rm -rf "$d"
        mkdir -p "$d"
        cat >"$d/profile.yaml" <<EOF
source:
  archive: { path: $RUN/work/backup-big/archive }
target:
  imap: { host: 127.0.0.1, port: $IMAP_PORT, tls: none, user: dst-restore-big@$DOMAIN, password: { env: DST_PW } }
workers: $WORKERS
state_dir: $d/state
EOF
        timed restore-big "$d" env DST_PW=$PW "$MF" run "$d/profile.yaml" --json
        if [ "${BENCH_KEEP:-0}" != 1 ]; then
            da kick "dst-restore-big@$DOMAIN" >/dev/null 2>&1 || true
            rm -rf "$RUN/mail/dst-restore-big"
        fi
    fi
fi

# --- 8. POP3 -> IMAP: mailferry against dsync's pop3c -------------------------------------
P3RES=$RUN/results-pop3.tsv
: >"$P3RES"

# inbox_sizes USER: the sizes of the user's INBOX messages, sorted (POP3 carries INBOX only,
# without flags or received dates, so sizes and count are what both tools must agree on).
inbox_sizes() {
    da -f tab fetch -u "$1@$DOMAIN" 'size.virtual' mailbox INBOX | tail -n +2 | sort -n
}

pop3_run() { # TOOL DIR DST_USER
    case $1 in
    mailferry)
        cat >"$2/profile.yaml" <<EOF
source:
  pop3: { host: 127.0.0.1, port: $POP3_PORT, tls: none, user: src@$DOMAIN, password: { env: SRC_PW } }
target:
  imap: { host: 127.0.0.1, port: $IMAP_PORT, tls: none, user: $3@$DOMAIN, password: { env: DST_PW } }
workers: $WORKERS
state_dir: $2/state
EOF
        timed "pop3-mailferry" "$2" env SRC_PW=$PW DST_PW=$PW "$MF" run "$2/profile.yaml" --json
        ;;
    dsync)
        timed "pop3-dsync" "$2" doveadm -c "$CONF" \
            -o pop3c_host=127.0.0.1 -o pop3c_port="$POP3_PORT" -o pop3c_ssl=no \
            -o pop3c_user="src@$DOMAIN" -o pop3c_password="$PW" \
            backup -R -u "$3@$DOMAIN" pop3c:
        ;;
    esac
}

if has_tool pop3; then
    install_user src "$CORPUS"
    inbox_sizes src >"$RUN/work/src-inbox.sizes"
    for tool in mailferry dsync; do
        d=$RUN/work/pop3-$tool
        rm -rf "$d" "$RUN/mail/dst-pop3-$tool"
        mkdir -p "$d"
        BKRES=$P3RES pop3_run "$tool" "$d" "dst-pop3-$tool"
        inbox_sizes "dst-pop3-$tool" >"$d/dst.sizes"
        if cmp -s "$RUN/work/src-inbox.sizes" "$d/dst.sizes"; then
            echo "ok: $(wc -l <"$d/dst.sizes") INBOX messages, sizes equal" >"$d/check.txt"
        else
            echo "MISMATCH: $(wc -l <"$d/dst.sizes") on the target, $(wc -l <"$RUN/work/src-inbox.sizes") in the source's INBOX" >"$d/check.txt"
            MISMATCH=1
        fi
        log "pop3-$tool: $(cat "$d/check.txt")"
    done
fi

# --- 9. many accounts: one batch against one big account and against a run per account ----
BATCHRES=$RUN/results-batch.tsv
: >"$BATCHRES"

# messages_of PREFIX: how many messages the users PREFIX-1..N hold together.
messages_of() {
    local total=0 i n
    for i in $(seq 1 "$BATCH_N"); do
        n=$(da mailbox status -u "$1-$i@$DOMAIN" -t messages '*' 2>/dev/null | sed 's/.*=//' |
            awk '{ s += $1 } END { print s + 0 }')
        total=$((total + n))
    done
    echo "$total"
}

if has_tool batch; then
    TIMED_RES=$BATCHRES
    SMALL=$(corpus "corpus-n$BATCH_M-s$SEED-$GEN_HASH" --messages "$BATCH_M" --seed "$SEED")
    ONE=$(corpus "corpus-n$((BATCH_N * BATCH_M))-s$SEED-$GEN_HASH" --messages $((BATCH_N * BATCH_M)) \
        --seed "$SEED")
    log "installing $BATCH_N accounts of $BATCH_M messages"
    for i in $(seq 1 "$BATCH_N"); do install_user "bsrc-$i" "$SMALL"; done
    install_user one-src "$ONE"
    d=$RUN/work/batch
    rm -rf "$d"
    mkdir -p "$d"
    {
        echo "source_user,target_user,source_password,target_password"
        for i in $(seq 1 "$BATCH_N"); do echo "bsrc-$i@$DOMAIN,bdst-$i@$DOMAIN,$PW,$PW"; done
    } >"$d/accounts.csv"
    chmod 600 "$d/accounts.csv"
    cat >"$d/batch.yaml" <<EOF
job:
  source: { imap: { host: 127.0.0.1, port: $IMAP_PORT, tls: none } }
  target: { imap: { host: 127.0.0.1, port: $IMAP_PORT, tls: none } }
  workers: 2
accounts_csv: accounts.csv
accounts_in_parallel: 8
max_connections_per_host: 40
new_connections_per_minute: 100000
state_dir: $d/state
EOF
    timed batch "$d" ${BENCH_MF_PREFIX:-} "$MF" batch "$d/batch.yaml" --json
    echo "batch: $(messages_of bdst) of $((BATCH_N * BATCH_M)) messages on the targets" >"$d/check.txt"
    # The same number of messages in one account.
    d=$RUN/work/one-account
    rm -rf "$d"
    mkdir -p "$d"
    cat >"$d/profile.yaml" <<EOF
source:
  imap: { host: 127.0.0.1, port: $IMAP_PORT, tls: none, user: one-src@$DOMAIN, password: { env: SRC_PW } }
target:
  imap: { host: 127.0.0.1, port: $IMAP_PORT, tls: none, user: one-dst@$DOMAIN, password: { env: DST_PW } }
workers: $WORKERS
state_dir: $d/state
EOF
    timed one-account "$d" env SRC_PW=$PW DST_PW=$PW "$MF" run "$d/profile.yaml" --json
    # One run per account, one after another: what a shell loop over the accounts does.
    d=$RUN/work/sequential
    rm -rf "$d"
    mkdir -p "$d"
    for i in $(seq 1 "$BATCH_N"); do
        cat >"$d/$i.yaml" <<EOF
source:
  imap: { host: 127.0.0.1, port: $IMAP_PORT, tls: none, user: bsrc-$i@$DOMAIN, password: { env: SRC_PW } }
target:
  imap: { host: 127.0.0.1, port: $IMAP_PORT, tls: none, user: bseq-$i@$DOMAIN, password: { env: DST_PW } }
workers: $WORKERS
state_dir: $d/state-$i
EOF
    done
    timed sequential "$d" env SRC_PW=$PW DST_PW=$PW bash -c \
        'for f in "$1"/*.yaml; do "$2" run "$f" --json >/dev/null || exit 1; done' _ "$d" "$MF"
    echo "sequential: $(messages_of bseq) of $((BATCH_N * BATCH_M)) messages on the targets" \
        >"$RUN/work/sequential/check.txt"
    unset TIMED_RES
fi

# --- 10. one large folder: does the cost grow linearly? ----------------------------------
SCALERES=$RUN/results-scale.tsv
: >"$SCALERES"
if has_tool scale; then
    TIMED_RES=$SCALERES
    for n in "$SCALE_SMALL" "$SCALE_LARGE"; do
        SC=$(corpus "small-n$n-s$SEED-$GEN_HASH" --small "$n" --seed "$SEED")
        install_user "scale-$n" "$SC"
        d=$RUN/work/scale-$n
        rm -rf "$d"
        mkdir -p "$d"
        cat >"$d/profile.yaml" <<EOF
source:
  imap: { host: 127.0.0.1, port: $IMAP_PORT, tls: none, user: scale-$n@$DOMAIN, password: { env: SRC_PW } }
target:
  imap: { host: 127.0.0.1, port: $IMAP_PORT, tls: none, user: scale-$n-mf@$DOMAIN, password: { env: DST_PW } }
workers: $WORKERS
state_dir: $d/state
EOF
        export SRC_PW=$PW DST_PW=$PW
        timed "run-$n" "$d" ${BENCH_MF_PREFIX:-} "$MF" run "$d/profile.yaml" --json
        timed "rerun-$n" "$d" "$MF" run "$d/profile.yaml" --json
        timed "plan-$n" "$d" "$MF" plan "$d/profile.yaml" --json
        timed "verify-$n" "$d" "$MF" verify "$d/profile.yaml" --json
        unset SRC_PW DST_PW
        if has_tool dsync; then
            mkdir -p "$d/dsync"
            timed "dsync-$n" "$d/dsync" doveadm -c "$CONF" \
                -o imapc_host=127.0.0.1 -o imapc_port="$IMAP_PORT" -o imapc_ssl=no \
                -o imapc_user="scale-$n@$DOMAIN" -o imapc_password="$PW" \
                -o "imapc_features=rfc822.size fetch-headers" -o mail_prefetch_count=20 \
                backup -R -u "scale-$n-dsync@$DOMAIN" imapc:
        fi
        got=$(da mailbox status -u "scale-$n-mf@$DOMAIN" -t messages INBOX | sed 's/.*=//')
        echo "mailferry: $got of $n messages on the target" >"$d/check.txt"
        [ "$got" = "$n" ] || MISMATCH=1
    done
    unset TIMED_RES
fi

# --- 11. the tables ----------------------------------------------------------------------
echo
echo "== mailferry benchmark: $(nproc) CPUs, $(free -m | awk '/^Mem:/ {print $2}') MB RAM," \
    "kernel $(uname -r), dovecot $(dovecot --version | cut -d' ' -f1), $(mbsync --version)"
if [ -n "$MIGRATE" ]; then
    $LIB table "$RESULTS" "$CORPUS/manifest.json" "$WORKERS"
    if [ -s "$RAW" ]; then
        read -r raw_secs raw_n raw_bytes <"$RAW"
        awk -F'\t' -v r="$raw_secs" -v n="$raw_n" -v b="$raw_bytes" \
            '$1 == "mailferry" && $2 == 0 { m = $4 }
             END { printf "raw ingest (the server'"'"'s limit: %d messages, %.0f MB in memory, APPENDed): %.2f s\n", n, b / 1e6, r;
                   if (m) printf "RTT+0ms  mailferry / raw ingest = %.0f%%  (target >= 90%%: %s)\n", 100 * r / m, (r / m >= 0.9 ? "met" : "MISSED") }' \
            "$RESULTS"
    fi
fi
if has_tool mailferry; then
    echo
    echo "== memory (mailferry, workers=$WORKERS, highest of the runs; target: peak RSS < 64 MiB, bound 64 MiB + one largest message per worker)"
    mem_line() { # RESULTS_FILE MANIFEST LABEL
        [ -s "$1" ] || return 0
        local rss max bound
        rss=$(awk -F'\t' '$1 == "mailferry" && $2 == 0 && $5 > m { m = $5 } END { if (m) print int(m / 1024) }' "$1")
        [ -n "$rss" ] || return 0
        max=$(python3 -c 'import json,sys; print(-(-json.load(open(sys.argv[1]))["max_message"] // 1048576))' "$2")
        bound=$((64 + WORKERS * max))
        printf '%-34s peak RSS %4d MiB   bound %4d MiB (64 + %d x %d): %s;  < 64 MiB: %s\n' \
            "$3" "$rss" "$bound" "$WORKERS" "$max" \
            "$([ "$rss" -lt "$bound" ] && echo within || echo EXCEEDED)" \
            "$([ "$rss" -lt 64 ] && echo yes || echo no)"
    }
    mem_line "$RESULTS" "$CORPUS/manifest.json" "$MESSAGES messages, RTT +0 ms"
    [ -s "$BIGRES" ] && mem_line "$BIGRES" "$BIG/manifest.json" "one ${BIG_MB} MB message"
    [ -s "$BIGRES" ] && awk -F'\t' '{ print "  check: " $8 }' "$BIGRES"
fi
if [ -s "$BKRES" ]; then
    echo
    echo "== backups (mailferry workers=$WORKERS, zstd level 3; $(zstd --version | head -1))"
    $LIB backup-table "$BKRES" "$CORPUS/manifest.json" "$RUN/work/restore-mbox/check.txt"
fi
if [ -s "$P3RES" ]; then
    echo
    echo "== POP3 -> IMAP, the source's INBOX ($(wc -l <"$RUN/work/src-inbox.sizes") messages; target: mailferry / dsync >= 1.0)"
    for tool in mailferry dsync; do
        awk -F'\t' -v t="pop3-$tool" -v n="$(wc -l <"$RUN/work/src-inbox.sizes")" \
            -v check="$(cat "$RUN/work/pop3-$tool/check.txt")" \
            '$1 == t { printf "%-16s %7.2f s %8.0f msgs/s  peak RSS %4d MiB  %s\n", t, $3, n / $3, $4 / 1024, check }' \
            "$P3RES"
    done
    awk -F'\t' '$1 == "pop3-mailferry" { m = $3 } $1 == "pop3-dsync" { d = $3 }
        END { if (m && d) printf "mailferry / dsync (pop3c), msgs/s: %.2fx\n", d / m }' "$P3RES"
fi
if [ -s "$SCALERES" ]; then
    echo
    echo "== one folder of small messages: $SCALE_SMALL against $SCALE_LARGE (workers=$WORKERS)"
    $LIB scale-table "$SCALERES" "$SCALE_SMALL" "$SCALE_LARGE" \
        "$RUN/work/scale-$SCALE_SMALL/check.txt" "$RUN/work/scale-$SCALE_LARGE/check.txt"
fi
if [ -s "$BATCHRES" ]; then
    echo
    echo "== many accounts: $BATCH_N x $BATCH_M messages (batch: 8 accounts at once, 2 workers a side)"
    $LIB batch-table "$BATCHRES" "$SMALL/manifest.json" "$ONE/manifest.json" "$BATCH_N" \
        "$RUN/work/batch/check.txt" "$RUN/work/sequential/check.txt"
fi
echo
echo "results: $RESULTS $BKRES $P3RES $BATCHRES; logs: $RUN/work/*/stderr*, $RUN/log/"

[ $FAILED_RUN = 0 ] || exit 1
[ $MISMATCH = 0 ] || exit 2
exit 0
