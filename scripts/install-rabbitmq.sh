#!/usr/bin/env bash
# Install and start RabbitMQ (Debian's `rabbitmq-server`, 3.10+: quorum queues with
# at-least-once dead-lettering) for the RabbitMQ broker tests: they use the server on
# 127.0.0.1:5672 (a vhost of their own per test run) and start nodes of their own from
# the same package (tests/rabbitmq_support.py, sheen/embedded_rabbitmq.py).
#
# Idempotent: does nothing when a server answers on :5672. Without root or apt-get it
# says so and exits 0: the RabbitMQ tests then report themselves skipped (failed in CI).
set -euo pipefail

log() { printf 'install-rabbitmq: %s\n' "$*" >&2; }
listening() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

if listening; then
  log "a RabbitMQ server answers on 127.0.0.1:5672"
  exit 0
fi
if ! command -v rabbitmqctl >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "RabbitMQ is not installed and this is not a root Debian shell: RabbitMQ tests will be skipped"
    log "install it with: sudo apt-get install -y rabbitmq-server"
    exit 0
  fi
  log "installing Debian package 'rabbitmq-server' (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends rabbitmq-server
fi
if [ "$(id -u)" -eq 0 ]; then
  service rabbitmq-server start >/dev/null 2>&1 || true
  if ! listening; then
    log "starting rabbitmq-server in the background"
    (setsid rabbitmq-server >/tmp/rabbitmq-server.log 2>&1 &)
  fi
  for _ in $(seq 60); do listening && break; sleep 1; done
fi
if listening; then log "ok: RabbitMQ answers on 127.0.0.1:5672"; else log "RabbitMQ is not running: its tests will be skipped"; fi
