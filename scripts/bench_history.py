#!/usr/bin/env python3
"""The history benchmark behind scripts/bench-history.sh.

Fills a store with a long POC's history — FINISHED closed probes with ten
events each (1,000,000 events by default) plus IN_FLIGHT probes waiting on
their vendors — then starts the release daemon on it and reports: time from
start to /readyz, time to the first /metrics, and /metrics latency (median,
p90) over repeated scrapes; then `probes --json` RSS and time for the whole
store and with a filter.
"""
import argparse
import datetime as dt
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

VENDORS = 100


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--finished", type=int, default=100_000)
    ap.add_argument("--in-flight", type=int, default=10_000)
    ap.add_argument("--scrapes", type=int, default=30)
    ap.add_argument("--bin", default="target/release/supportprobe")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench-history-")
    addr = "127.0.0.1:18961"
    cfg = [f'[daemon]\nlisten = "{addr}"\ndata_dir = "{work}/data"\nprobes_dir = "{os.getcwd()}/probes"\n']
    for i in range(VENDORS):
        v = f"v{i:03d}"
        cfg.append(
            f'[vendors.{v}.promise]\nP1 = {{ first_response = "8h", resolution = "3d" }}\n'
            f'[vendors.{v}.channels.c]\npoll_interval = "1h"\n'
            f'[vendors.{v}.channels.c.zendesk]\nbase_url = "http://127.0.0.1:9/{v}"\nemail = "poc@example.com"\ntoken = "t"\n')
    open(f"{work}/cfg.toml", "w").write("\n".join(cfg))
    # An empty, migrated store.
    subprocess.run([a.bin, "probes", "--config", f"{work}/cfg.toml"], check=True, capture_output=True)
    db = sqlite3.connect(f"{work}/data/supportprobe.sqlite")
    rng = random.Random(7)
    now = dt.datetime.now(dt.timezone.utc)
    t0 = time.time()
    probes, events, measures = [], [], []
    pid = eid = 0
    classes = ["auto_ack", "bot", "human", "human", "human"]
    for n in range(a.finished + a.in_flight):
        pid += 1
        v = f"v{n % VENDORS:03d}"
        active = n >= a.finished
        opened = now - dt.timedelta(days=rng.uniform(0.1, 60) if not active else rng.uniform(0.01, 0.2))
        fhr = opened + dt.timedelta(seconds=rng.randint(300, 20000))
        res = fhr + dt.timedelta(seconds=rng.randint(600, 90000))
        closed = res + dt.timedelta(seconds=30)
        state = "open" if active else "closed"
        probes.append((
            pid, f"SP-H{pid:08d}", v, "c", "zendesk", "p1-messages-delayed", "P1", state,
            None if active else "resolved", iso(opened - dt.timedelta(seconds=5)), 172800000, 1, iso(opened),
            str(pid), iso(opened), None if active else iso(fhr), None if active else iso(fhr),
            None if active else iso(res), None if active else "status", None if active else iso(closed),
            0 if active else 1, 0 if active else 1, iso(now - dt.timedelta(minutes=rng.uniform(0, 50))),
            iso(opened), iso(opened), pid,
        ))
        kinds = [("opened", "opened", opened, None)]
        for k in range(5 if not active else 2):
            kinds.append(("reply", f"reply:{pid}-{k}", opened + dt.timedelta(seconds=60 * (k + 1)), classes[k]))
        if not active:
            kinds += [("follow_up_intent", "follow_up_intent:1:1", fhr, None), ("follow_up_sent", "follow_up_sent:1", fhr, None),
                      ("vendor_resolved", "vendor_resolved", res, None), ("close_intent", "close_intent:1", closed, None)]
        kinds = kinds[:10] if not active else kinds
        for kind, key, at, cls in kinds:
            eid += 1
            detail = json.dumps({"message_id": key, "author_name": "Agent", "excerpt": "Thanks, we are looking into it."}) if kind == "reply" else None
            events.append((eid, pid, kind, key, iso(at), iso(at), cls, "bench" if cls else None, "a1" if cls else None, detail))
        if not active:
            events.append((eid + 1, pid, "closed", "closed", iso(closed), iso(closed), None, None, None, '{"note": "courtesy close sent"}'))
            eid += 1
            w = (fhr - opened).total_seconds()
            r = (res - opened).total_seconds()
            measures += [
                (pid, "first_response", 0, iso(opened), iso(opened + dt.timedelta(seconds=60)), 60.0, 60.0, None, None, "void"),
                (pid, "first_human_response", 0, iso(opened), iso(fhr), w, w, 28800.0, iso(opened + dt.timedelta(hours=8)), "met" if w <= 28800 else "breached"),
                (pid, "resolution", 0, iso(opened), iso(res), r, r, 259200.0, iso(opened + dt.timedelta(days=3)), "met"),
            ]
        if len(events) > 200_000:
            flush(db, probes, events, measures)
    flush(db, probes, events, measures)
    n_events = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    db.close()
    size = os.path.getsize(f"{work}/data/supportprobe.sqlite") / 1e6
    print(f"store: {a.finished} finished + {a.in_flight} in-flight probes, {n_events} events, {size:.0f} MB "
          f"(filled in {time.time() - t0:.0f}s)", flush=True)

    env = dict(os.environ, RUST_LOG="warn")
    start = time.time()
    dp = subprocess.Popen([a.bin, "run", "--config", f"{work}/cfg.toml"], stdout=subprocess.DEVNULL,
                          stderr=open(f"{work}/daemon.log", "w"), env=env)
    ready = first = None
    try:
        while ready is None and time.time() - start < 60:
            try:
                with urllib.request.urlopen(f"http://{addr}/readyz", timeout=5) as r:
                    if r.status == 200:
                        ready = time.time() - start
            except OSError:
                time.sleep(0.02)
        t = time.time()
        body = urllib.request.urlopen(f"http://{addr}/metrics", timeout=60).read()
        first = time.time() - start
        lat = []
        for _ in range(a.scrapes):
            t = time.time()
            body = urllib.request.urlopen(f"http://{addr}/metrics", timeout=60).read()
            lat.append((time.time() - t) * 1000)
            time.sleep(0.5)
        with open(f"/proc/{dp.pid}/status") as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
    finally:
        dp.terminate()
        dp.wait(timeout=30)
    lat.sort()
    print(f"start to /readyz          {ready * 1000:.0f} ms")
    print(f"start to first /metrics   {first * 1000:.0f} ms (aggregates built from the store)")
    print(f"/metrics                  median {statistics.median(lat):.1f} ms, p90 {lat[int(0.9 * (len(lat) - 1))]:.1f} ms "
          f"({len(lat)} scrapes of {len(body) / 1000:.0f} kB)")
    print(f"daemon RSS                {rss / 1024:.1f} MiB")
    for label, extra in [("all", []), ("--vendor v007 --state closed", ["--vendor", "v007", "--state", "closed"])]:
        t = time.time()
        out = open(f"{work}/probes.json", "w")
        p = subprocess.Popen([a.bin, "probes", "--config", f"{work}/cfg.toml", "--json", *extra], stdout=out)
        # Its peak RSS, read while it runs (a forked child's own rusage would count this
        # Python process's memory from before the exec).
        peak = 0
        while p.poll() is None:
            try:
                with open(f"/proc/{p.pid}/status") as f:
                    peak = max(peak, next(int(l.split()[1]) for l in f if l.startswith("VmHWM")))
            except (OSError, StopIteration):
                pass
            time.sleep(0.01)
        out.close()
        rows = open(f"{work}/probes.json").read().count('"reference"')
        print(f"probes --json {label:<28} {rows:7d} rows in {time.time() - t:5.1f} s, peak RSS {peak / 1024:.1f} MiB")
    if a.keep:
        print("work directory:", work)
    else:
        subprocess.run(["rm", "-rf", work])


def flush(db, probes, events, measures):
    db.executemany(
        "INSERT INTO probes(id, reference, vendor, channel, kind, scenario, priority, state, outcome, due_at, "
        "give_up_after_ms, attempts, sent_at, ticket_id, opened_at, first_response_at, first_human_response_at, "
        "resolved_at, resolved_by, closed_at, bot_turns, responders, created_at, updated_at, rev) "
        "VALUES (" + ",".join("?" * 25) + ")", [p[:22] + p[23:] for p in probes])
    # The last look at each probe's channel has a table of its own.
    db.executemany("INSERT INTO looks(probe_id, known_until) VALUES (?, ?)", [(p[0], p[22]) for p in probes])
    db.executemany("INSERT INTO events(id, probe_id, kind, key, at, observed_at, class, rule, author, detail) "
                   "VALUES (?,?,?,?,?,?,?,?,?,?)", events)
    db.executemany("INSERT INTO measures(probe_id, measure, seq, start_at, end_at, wall_secs, business_secs, "
                   "target_secs, deadline_at, verdict) VALUES (?,?,?,?,?,?,?,?,?,?)", measures)
    db.commit()
    probes.clear()
    events.clear()
    measures.clear()


if __name__ == "__main__":
    main()
