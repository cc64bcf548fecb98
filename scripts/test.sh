#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs and starts the real
# servers and tools the tests use — Debian's prometheus and
# prometheus-alertmanager (promtool, rule and dashboard checks), OpenSMTPD and
# Dovecot on loopback (email), Request Tracker 5 (a real helpdesk), Debian's
# chromium and chromium-driver (the scorecard pages in a real browser),
# systemd-analyze (the shipped unit) — then
# runs rustfmt, clippy and every test.
# Usage: scripts/test.sh [extra cargo test args]      (root or sudo for apt)
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus-alertmanager >/dev/null 2>&1; then
  echo "== installing Debian's prometheus and prometheus-alertmanager"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  # Their services are not needed (the tests start their own) and may not start in a container; that is fine.
  as_root apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null
fi
promtool --version 2>&1 | sed -n 1p

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "== installing Debian's chromium and chromium-driver"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
chromium --version 2>/dev/null | sed -n 1p

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "== installing Debian's systemd (systemd-analyze verifies deploy/supportprobe.service)"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi

echo "== mail stack (mail to rt@example.test goes to Request Tracker)"
RT_URL=http://127.0.0.1:18080/ scripts/mail-stack.sh start
trap 'scripts/rt-stack.sh stop; scripts/mail-stack.sh stop' EXIT
echo "== request tracker"
scripts/rt-stack.sh start
export SUPPORTPROBE_SMTP=127.0.0.1:2525 SUPPORTPROBE_IMAP=127.0.0.1:1143 SUPPORTPROBE_RT=http://127.0.0.1:18080
export SUPPORTPROBE_MAIL_CA=/var/lib/supportprobe-mailtest/tls/ca.crt

# Tests that use real servers and tools fail (instead of skipping) when they are missing.
export SUPPORTPROBE_REQUIRE_TOOLS=1

echo "== format"
cargo fmt --check
echo "== clippy"
cargo clippy --workspace --locked --all-targets --features supportprobe/failpoints -- -D warnings
echo "== tests"
cargo test --workspace --locked --all-targets --features supportprobe/failpoints "$@"
