#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs the real servers and
# tools the tests use (Debian's `prometheus` package, for promtool), then
# runs clippy and every test. Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v promtool >/dev/null 2>&1; then
  echo "== installing Debian's prometheus package (promtool)"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  # The package's service is not needed and may not start in a container; that is fine.
  as_root apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
promtool --version 2>&1 | sed -n 1p

# Tests that use real tools fail (instead of skipping) when they are missing.
export SUPPORTPROBE_REQUIRE_TOOLS=1

echo "== format"
cargo fmt --check
echo "== clippy"
cargo clippy --locked --all-targets -- -D warnings
echo "== tests"
cargo test --locked --all-targets "$@"
