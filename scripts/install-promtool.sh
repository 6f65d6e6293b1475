#!/usr/bin/env bash
# Install promtool (used by tests/unit/test_alert_rules.py to check and unit-test the
# Prometheus alert rules in deploy/prometheus/) and the prometheus server binary (used by
# tests/acceptance/test_prometheus_alert.py, run in the foreground by the test).
#
# Idempotent: does nothing when promtool is already installed. Otherwise, when running
# as root on a Debian/Ubuntu machine, installs Debian's `prometheus` package (which ships
# /usr/bin/promtool) and makes sure no Prometheus server daemon is left running on :9090.
# Optionally installs amtool too when INSTALL_AMTOOL=1 (package prometheus-alertmanager).
set -euo pipefail

log() { printf 'install-promtool: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

find_promtool() {
  if command -v promtool >/dev/null 2>&1; then
    command -v promtool
  elif [ -x /usr/bin/promtool ]; then
    echo /usr/bin/promtool
  else
    return 1
  fi
}

stop_daemon() {
  # The Debian package enables (and, without a blocking policy-rc.d, starts) a Prometheus
  # server; we only want the promtool binary, not a system daemon on port 9090.
  local svc
  for svc in "$@"; do
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      systemctl stop "$svc" >/dev/null 2>&1 || true
      systemctl disable "$svc" >/dev/null 2>&1 || true
    fi
    if command -v service >/dev/null 2>&1; then
      service "$svc" stop >/dev/null 2>&1 || true
    fi
    if command -v update-rc.d >/dev/null 2>&1; then
      update-rc.d -f "$svc" remove >/dev/null 2>&1 || true
    fi
  done
  # Last resort: a daemon started outside the init system. Match the exact binary path
  # only, so nothing else whose command line merely mentions "prometheus" is touched.
  local bin pid
  for bin in /usr/bin/prometheus /usr/bin/prometheus-alertmanager; do
    for pid in $(pgrep -x -f "$bin( .*)?" 2>/dev/null || true); do
      log "stopping stray daemon $bin (pid $pid)"
      kill "$pid" 2>/dev/null || true
    done
  done
}

POLICY_RC=/usr/sbin/policy-rc.d
CREATED_POLICY=0
remove_policy() {
  if [ "$CREATED_POLICY" -eq 1 ]; then rm -f "$POLICY_RC"; CREATED_POLICY=0; fi
}
trap remove_policy EXIT

apt_install() {
  local pkg="$1"
  if [ "$(id -u)" -ne 0 ]; then
    die "$pkg is not installed and we are not root; install it with: sudo apt-get install -y --no-install-recommends $pkg"
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    die "$pkg is not installed and apt-get is unavailable; install promtool (Prometheus >= 2.42) manually and put it on PATH"
  fi
  log "installing Debian package '$pkg' (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  # A policy-rc.d answering 101 tells invoke-rc.d not to start the package's daemon at
  # all; it is removed again on any exit (only if this script created it).
  if [ ! -e "$POLICY_RC" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC" && chmod +x "$POLICY_RC" && CREATED_POLICY=1
  fi
  local rc=0
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$pkg"; } || rc=$?
  remove_policy
  [ "$rc" -eq 0 ] || die "apt-get install $pkg failed (exit $rc)"
}

have_prometheus() {
  # The live-alert test (tests/acceptance/test_prometheus_alert.py) runs the server binary
  # itself, in the foreground on a free port; no daemon is ever left running.
  command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ]
}

if promtool_bin="$(find_promtool)" && have_prometheus; then
  log "promtool already installed at $promtool_bin (and the prometheus binary)"
else
  apt_install prometheus
  stop_daemon prometheus
  promtool_bin="$(find_promtool)" || die "package 'prometheus' installed but promtool not found on PATH or at /usr/bin/promtool"
fi

if [ "${INSTALL_AMTOOL:-0}" = "1" ] && ! command -v amtool >/dev/null 2>&1; then
  apt_install prometheus-alertmanager
  stop_daemon prometheus-alertmanager
fi

"$promtool_bin" --version >/dev/null 2>&1 || die "$promtool_bin --version failed"
log "ok: $("$promtool_bin" --version 2>&1 | head -n1)"
