#!/usr/bin/env bash
# Install amtool (Debian package `prometheus-alertmanager`) for the Alertmanager route and
# config tests (tests/unit/test_alert_rules.py, tests/unit/test_alert_promotion.py).
# Idempotent: does nothing when amtool is on PATH. Needs root and apt-get otherwise.
# The package also installs an alertmanager daemon; it is stopped and disabled here.
set -euo pipefail

log() { printf 'install-amtool: %s\n' "$*" >&2; }

if command -v amtool >/dev/null 2>&1; then
  log "already installed at $(command -v amtool)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  log "ERROR: amtool is missing and we are not root: sudo apt-get install -y prometheus-alertmanager"
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  log "ERROR: amtool is missing and apt-get is unavailable; install Alertmanager's amtool on PATH"
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
log "installing Debian package 'prometheus-alertmanager' (apt-get)"
apt-get update -qq
# policy-rc.d 101: do not start the daemon from the package's postinst.
policy=/usr/sbin/policy-rc.d
created=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=1
fi
apt-get install -y -qq --no-install-recommends prometheus-alertmanager
if [ "$created" = 1 ]; then rm -f "$policy"; fi
if command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now prometheus-alertmanager >/dev/null 2>&1 || true
fi
command -v amtool >/dev/null 2>&1 || { log "ERROR: package installed but amtool not on PATH"; exit 1; }
log "ok: $(amtool --version 2>&1 | head -n1)"
