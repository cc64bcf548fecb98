#!/usr/bin/env python3
"""The webhook-latency benchmark behind scripts/bench-webhook.sh.

Six simulated vendors, one per platform with webhooks (Zendesk, GitHub, Jira
Service Management, Slack, Intercom, Feishu), each polled only once an hour,
with PROBES probes in flight in all. The simulator sends each platform's
signed webhook, in its own payload layout, the moment a simulated person
writes. Reports how long after the vendor wrote a reply the daemon recorded
it (the event's observed_at minus its platform timestamp), p50/p90/max per
platform and overall.
"""
import argparse
import datetime as dt
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

from bench_scale import KINDS, get, metrics

PLATFORMS = ["zendesk", "github", "jira_sm", "slack", "intercom", "feishu"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--probes", type=int, default=100)
    ap.add_argument("--secs", type=int, default=240, help="how long to run after the probes are opened")
    ap.add_argument("--bin", default="target/release/supportprobe")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench-webhook-")
    sim_addr, daemon_addr = "127.0.0.1:18941", "127.0.0.1:18942"
    base = f"http://{sim_addr}"
    per = (a.probes + len(PLATFORMS) - 1) // len(PLATFORMS)
    now = dt.datetime.now(dt.timezone.utc)
    start = (now + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    cron = f"0-{per - 1} {start.minute} {start.hour} {start.day} {start.month} * {start.year}"
    sim = ["[simulator]", f'listen = "{sim_addr}"', ""]
    daemon = ["[daemon]", f'listen = "{daemon_addr}"', f'data_dir = "{work}/data"',
              f'probes_dir = "{os.getcwd()}/probes"', 'misfire_grace = "10m"', ""]
    for i, kind in enumerate(PLATFORMS):
        v = f"w{i}"
        daemon += [f"[vendors.{v}.promise]", 'P1 = { first_response = "8h" }',
                   f"[vendors.{v}.channels.c]", 'poll_interval = "1h"', f'webhook_secret = "secret-{v}"',
                   KINDS[kind].replace("{V}", v).replace("{BASE}", base),
                   f"[vendors.{v}.caps]", f"max_per_day = {per}", ""]
        sim += [f"[simulator.vendors.{v}]", f'token = "tok-{v}"', 'human_delay = "40s..200s"', f"seed = {i}",
                f"[simulator.vendors.{v}.webhook]", f'url = "http://{daemon_addr}/webhooks/{v}/c"',
                f'secret = "secret-{v}"', ""]
    daemon += ["[[schedules]]", 'scenario = "p1-messages-delayed"', 'vendors = ["*"]', f'cron = "{cron}"', ""]
    open(f"{work}/sim.toml", "w").write("\n".join(sim))
    open(f"{work}/daemon.toml", "w").write("\n".join(daemon))
    env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
    simp = subprocess.Popen([a.bin, "simulate", "--config", f"{work}/sim.toml"], stdout=subprocess.DEVNULL,
                            stderr=open(f"{work}/sim.log", "w"), env=env)
    time.sleep(0.5)
    dp = subprocess.Popen([a.bin, "run", "--no-simulator", "--config", f"{work}/daemon.toml"],
                          stdout=subprocess.DEVNULL, stderr=open(f"{work}/daemon.log", "w"), env=env)
    try:
        print(f"{per * len(PLATFORMS)} probes from {start:%H:%M:%S} UTC, polls every hour, webhooks on; "
              f"running {a.secs}s after they open", flush=True)
        t0 = time.time()
        while True:
            time.sleep(2)
            try:
                m = metrics(daemon_addr)
            except OSError:
                continue
            if sum(v for _, v in m.get("supportprobe_probes_in_flight", [])) >= per * len(PLATFORMS):
                break
            if time.time() - t0 > 300:
                sys.exit("the probes were not all opened in 5 minutes")
        in_flight = sum(v for _, v in m.get("supportprobe_probes_in_flight", []))
        print(f"{in_flight:.0f} in flight", flush=True)
        time.sleep(a.secs)
    finally:
        dp.terminate()
        simp.terminate()
        dp.wait(timeout=30)
        simp.wait(timeout=30)
    db = sqlite3.connect(f"file:{work}/data/supportprobe.sqlite?mode=ro", uri=True)
    rows = db.execute(
        "SELECT p.kind, e.class, e.at, e.observed_at FROM events e JOIN probes p ON p.id = e.probe_id "
        "WHERE e.kind = 'reply' AND e.class = 'human'").fetchall()

    def ts(s):
        return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()

    by = {}
    for kind, _cls, at, seen in rows:
        by.setdefault(kind, []).append(ts(seen) - ts(at))
    allv = sorted(x for v in by.values() for x in v)
    if not allv:
        sys.exit("no human reply was recorded")

    def q(v, p):
        v = sorted(v)
        return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]

    print(f"\n== reply noticed after the vendor wrote it ({len(allv)} human replies, {in_flight:.0f} probes in flight, polls hourly)")
    for kind in PLATFORMS:
        v = by.get(kind, [])
        if v:
            print(f"{kind:<10} n={len(v):3d}  p50 {q(v, 0.5):6.2f} s  p90 {q(v, 0.9):6.2f} s  max {max(v):6.2f} s")
    print(f"{'all':<10} n={len(allv):3d}  p50 {statistics.median(allv):6.2f} s  p90 {q(allv, 0.9):6.2f} s  max {max(allv):6.2f} s")
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
