#!/usr/bin/env bash
# Webhook latency: 100 probes in flight on six platforms' wire formats, polled
# only hourly; the simulator sends each platform's signed webhook when a
# simulated person writes. Prints how long after the vendor wrote a reply the
# daemon recorded it (p50/p90/max per platform).
# Usage: scripts/bench-webhook.sh [--probes N] [--secs S]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet
exec python3 scripts/bench_webhook.py "$@"
