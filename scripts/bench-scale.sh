#!/usr/bin/env bash
# The scale benchmark: 100 simulated vendors (Zendesk, GitHub, Freshdesk, Jira
# Service Management, Slack, Intercom and Feishu wire formats; rate limits of
# 200-700 requests a minute; people answering hours later), ramped to 10,000
# probes in flight, the simulator and the release daemon in their own
# processes. Prints: CPU of the daemon and of the simulator, bytes the daemon
# wrote per second, its RSS, /metrics median and p90, requests per minute per
# vendor against its limit, 429s, and poll freshness (or which vendors'
# budgets cannot carry their interval, as `check` and the metrics say).
#
# Usage: scripts/bench-scale.sh [--poll 1h|30s] [--vendors N] [--per-vendor N] [--measure SECS]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet
exec python3 scripts/bench_scale.py "$@"
