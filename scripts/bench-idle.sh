#!/usr/bin/env bash
# The idle footprint next to a peer: the release daemon with three vendor
# channels configured (Zendesk, GitHub, Slack) and nothing due, and Debian's
# prometheus-blackbox-exporter (installed here if missing) with its default
# config, both started in the same run and left idle for SECS seconds
# (default 30). Prints each one's RSS and wake-ups (context switches of all
# its threads) per second, and the ratio.
# Usage: scripts/bench-idle.sh [SECS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v prometheus-blackbox-exporter >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends prometheus-blackbox-exporter >/dev/null
fi
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet
work=$(mktemp -d)
trap 'kill "$dpid" "$bpid" 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/idle.toml" <<TOML
[daemon]
listen = "127.0.0.1:18951"
data_dir = "$work/data"
probes_dir = "$PWD/probes"

[vendors.acme.promise]
P1 = { first_response = "4h" }
[vendors.acme.channels.tickets]
poll_interval = "5m"
[vendors.acme.channels.tickets.zendesk]
base_url = "https://acme.zendesk.invalid"
email = "poc@example.com"
token = "not-used"
[vendors.acme.channels.sdk]
poll_interval = "5m"
[vendors.acme.channels.sdk.github]
api_url = "https://api.github.invalid"
repository = "acme/sdk"
token = "not-used"
[vendors.acme.channels.chat]
poll_interval = "5m"
[vendors.acme.channels.chat.slack]
api_url = "https://slack.invalid/api"
channel = "C0ACME"
token = "not-used"
TOML
RUST_LOG=warn ./target/release/supportprobe run --config "$work/idle.toml" 2>"$work/daemon.log" &
dpid=$!
cat > "$work/blackbox.yml" <<'YML'
modules:
  http_2xx:
    prober: http
YML
prometheus-blackbox-exporter --config.file="$work/blackbox.yml" --web.listen-address=127.0.0.1:18952 2>"$work/blackbox.log" &
bpid=$!
sleep 5
# One scrape each, as Prometheus would make, so both have served /metrics once.
curl -sf 127.0.0.1:18951/metrics >/dev/null
curl -sf 127.0.0.1:18952/metrics >/dev/null
switches() { cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ {n += $2} END {print n}'; }
d0=$(switches "$dpid"); b0=$(switches "$bpid")
sleep "$secs"
d1=$(switches "$dpid"); b1=$(switches "$bpid")
rss() { awk '/VmRSS/ {print $2}' /proc/"$1"/status; }
threads() { ls /proc/"$1"/task | wc -l; }
dr=$(rss "$dpid"); br=$(rss "$bpid")
printf '%-32s %8s %10s %8s\n' "idle for ${secs}s" "RSS KiB" "wakeups/s" threads
printf '%-32s %8d %10.1f %8d\n' "supportprobe (3 channels)" "$dr" "$(awk "BEGIN {print ($d1 - $d0) / $secs}")" "$(threads "$dpid")"
printf '%-32s %8d %10.1f %8d\n' "prometheus-blackbox-exporter" "$br" "$(awk "BEGIN {print ($b1 - $b0) / $secs}")" "$(threads "$bpid")"
printf 'RSS ratio supportprobe / blackbox_exporter: %.2f\n' "$(awk "BEGIN {print $dr / $br}")"
