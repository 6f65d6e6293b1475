#!/usr/bin/env bash
# Install a compose implementation (used by tests/unit/test_compose.py to run
# `docker-compose config` on docker-compose.yml and .env.example).
#
# Idempotent: does nothing when `docker compose` (the plugin) or `docker-compose` already
# works. Otherwise, as root on Debian/Ubuntu, installs Debian's `docker-compose` package
# (compose v1.29, a Python implementation that validates against the compose schema
# without needing a Docker engine for `config`).
set -euo pipefail

log() { printf 'install-compose: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if docker compose version >/dev/null 2>&1; then
  log "docker compose plugin present: $(docker compose version 2>&1 | head -n1)"
  exit 0
fi
if command -v docker-compose >/dev/null 2>&1; then
  log "docker-compose present: $(docker-compose version --short 2>/dev/null || docker-compose --version)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  die "no compose implementation and we are not root; install one with: sudo apt-get install -y --no-install-recommends docker-compose"
fi
command -v apt-get >/dev/null 2>&1 || die "no compose implementation and apt-get is unavailable; install docker compose (plugin) or docker-compose and put it on PATH"
log "installing Debian package 'docker-compose' (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends docker-compose
command -v docker-compose >/dev/null 2>&1 || die "package docker-compose installed but docker-compose is not on PATH"
log "ok: $(docker-compose --version)"
