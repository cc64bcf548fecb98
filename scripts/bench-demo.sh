#!/usr/bin/env bash
# Runs the release daemon on the demo config for DURATION seconds (default 120)
# and reports: time until the first probe was measured, until the first breach,
# until every vendor had a measured first human response; and the daemon's
# peak and final resident memory. Usage: scripts/bench-demo.sh [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-120}
cargo build --release --quiet
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
sed -e "s|data_dir = \"../data/demo\"|data_dir = \"$work/data\"|" -e "s|probes_dir = \"../probes\"|probes_dir = \"$PWD/probes\"|" \
  config/demo.toml > "$work/demo.toml"
start=$(date +%s%3N)
./target/release/supportprobe run --config "$work/demo.toml" 2>"$work/log" &
pid=$!
first_measured="" first_breach="" all_vendors=""
since() { echo $(( $(date +%s%3N) - start )); }   # milliseconds
while [ "$(since)" -lt $(( duration * 1000 )) ]; do
  m=$(curl -sf localhost:9897/metrics || true)
  if [ -z "$first_measured" ] && echo "$m" | grep -q '^supportprobe_first_human_response_seconds_count{.*} [1-9]'; then first_measured=$(since); fi
  if [ -z "$first_breach" ] && echo "$m" | grep -q '^supportprobe_promise_breaches_total{.*} [1-9]'; then first_breach=$(since); fi
  if [ -z "$all_vendors" ]; then
    n=$(echo "$m" | grep '^supportprobe_first_human_response_seconds_count{' | grep -v ' 0$' | grep -o 'vendor="[^"]*"' | sort -u | wc -l || true)
    [ "$n" -ge 3 ] && all_vendors=$(since)
  fi
  sleep 0.5
done
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status"); rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
# utime + stime in clock ticks (fields 14 and 15 of /proc/PID/stat).
cpu_ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat"); hz=$(getconf CLK_TCK)
probes=$(./target/release/supportprobe probes --config "$work/demo.toml" --json | grep -c '"reference"')
secs() { if [ -n "$1" ]; then printf '%d.%01d s' $(( $1 / 1000 )) $(( $1 % 1000 / 100 )); else printf 'not reached'; fi; }
printf 'first human response measured  %s\n' "$(secs "$first_measured")"
printf 'first breach on /metrics       %s\n' "$(secs "$first_breach")"
printf 'every vendor measured          %s\n' "$(secs "$all_vendors")"
printf 'probes after %ss               %6d\n' "$duration" "$probes"
printf 'daemon peak RSS                %6d KiB\n' "$hwm"
printf 'daemon RSS at the end          %6d KiB\n' "$rss"
printf 'daemon CPU time                %6d ms (%d%% of one core)\n' $(( cpu_ticks * 1000 / hz )) $(( cpu_ticks * 100 / hz / duration ))
