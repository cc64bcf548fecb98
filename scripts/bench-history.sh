#!/usr/bin/env bash
# A long POC's history: 100,000 finished probes (1,000,000 events) and 10,000
# in flight in one store. Prints start to /readyz, start to the first
# /metrics, /metrics median and p90, and `probes --json` time and peak RSS.
# Usage: scripts/bench-history.sh [--finished N] [--in-flight N]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet
exec python3 scripts/bench_history.py "$@"
