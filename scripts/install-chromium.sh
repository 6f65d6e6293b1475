#!/usr/bin/env bash
# Install headless Chromium (Debian package `chromium`) for the dashboard browser test
# (tests/acceptance/test_dashboard_browser.py). Idempotent: does nothing when a chromium
# binary is already on PATH. Needs root and apt-get otherwise; says how to fix it if not.
set -euo pipefail

log() { printf 'install-chromium: %s\n' "$*" >&2; }

for bin in chromium chromium-browser; do
  if command -v "$bin" >/dev/null 2>&1; then
    log "already installed at $(command -v "$bin")"
    exit 0
  fi
done

if [ "$(id -u)" -ne 0 ]; then
  log "ERROR: chromium is missing and we are not root: sudo apt-get install -y --no-install-recommends chromium"
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  log "ERROR: chromium is missing and apt-get is unavailable; install Chromium and put it on PATH"
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
log "installing Debian package 'chromium' (apt-get)"
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium
log "ok: $(chromium --version 2>/dev/null || echo chromium installed)"
