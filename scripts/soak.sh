#!/bin/sh
# The soak: SIGKILL the daemon at random moments N times while the simulated
# vendors (in their own process) inject faults at a given rate and go through
# an outage; then check against the vendors' ground truth that nothing was
# lost, duplicated, sent twice or mismeasured (to the second).
#
# Usage: scripts/soak.sh [KILLS] [FAULT_RATE] [MIN_SECONDS]
#        scripts/soak.sh 50 0.2 300     # the long run (about 10 minutes)
# SOAK_SEED=N repeats a run's kill schedule (the seed is printed).
set -eu
cd "$(dirname "$0")/.."
export SOAK_KILLS="${1:-50}" SOAK_FAULT_RATE="${2:-0.2}" SOAK_SECS="${3:-300}"
echo "soak: $SOAK_KILLS kills, fault rate $SOAK_FAULT_RATE, at least ${SOAK_SECS}s of killing"
exec cargo test --release --locked --test crash soak -- --nocapture --test-threads 1
