#!/usr/bin/env bash
# The project's test command: makes sure Dovecot is installed (the integration tests start a
# private instance of it on loopback ports; they fail, never skip, without it), then runs
# `cargo test --locked` with any arguments given, e.g. `scripts/test.sh --test harness`.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(dovecot-imapd dovecot-pop3d python3 systemd)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

installed() {
  if command -v dpkg-query >/dev/null 2>&1; then
    for p in "${packages[@]}"; do
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || return 1
    done
  fi
  command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]
}

stop_system_service() {
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet dovecot 2>/dev/null; then
    as_root systemctl stop dovecot || true
  elif [ -s /run/dovecot/master.pid ] && [ -x /etc/init.d/dovecot ]; then
    as_root /etc/init.d/dovecot stop >/dev/null 2>&1 || true
  fi
}

if ! installed; then
  echo "scripts/test.sh: installing ${packages[*]} (needed by the integration tests)" >&2
  apt_install() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "${packages[@]}"
  }
  # Refresh the package lists only when they are empty or the install fails without them.
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null || ! apt_install; then
    as_root apt-get update
    apt_install
  fi
  # The tests never use the system service (ports 143/993); do not leave the one the package
  # may just have started running (a policy-rc.d usually stops it from starting anyway).
  stop_system_service
fi

exec cargo test --locked "$@"
