#!/usr/bin/env python3
"""bench-report.py: the report at the end of ./bench.sh.

Reads the raw results that bench.sh's runs wrote to the directory $R (one
NAME.jsonl per kind of run), writes bench-results.json in the current
directory and prints the table. bench.sh exports the run's settings as
environment variables (R, NODES, WINDOW, PAYLOAD, RATE, REPEATS, DURATION,
WARMUP, FLOOR_DURATION, PRELOAD, DRAIN, quick, MOSQUITTO_VERSION,
stored_before, stored_after, started, GRID_CONNECTIONS, GRID_WINDOWS,
GRID_REPEATS, GRID_DURATION, GRID_WARMUP, REPLY_QUEUE); run it only from there.

The grid: for each cell (connections x window) the runs of the peer
(grid_mqtt_CxW) and of the hub (grid_hub_CxW) were interleaved; each side's
median, their ratio, the hub's mean batch size (grid_hub_CxW_batch, from its
metrics) and the LMDB floor measured at that size (floor_lmdb_bB).
"""
import glob, json, os, platform, statistics, subprocess, time

R = os.environ["R"]

def lines(name):
    out = []
    try:
        with open(os.path.join(R, name + ".jsonl")) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
    except OSError:
        pass
    return out

def failures(name):
    try:
        with open(os.path.join(R, name + ".failed")) as f:
            return sum(1 for _ in f)
    except OSError:
        return 0

def median(name, key):
    vals = [o[key] for o in lines(name) if isinstance(o.get(key), (int, float))]
    return statistics.median(vals) if vals else None

def runs(name, key):
    return [round(o[key], 3) for o in lines(name) if isinstance(o.get(key), (int, float))]

def ratio(a, b):
    return a / b if a is not None and b else None

def mib(kib):
    return kib / 1024 if kib is not None else None

def one(name, key):
    v = lines(name)
    return v[0].get(key) if v else None

def num(s):
    try:
        return int(s)
    except (TypeError, ValueError):
        return None

def batch_mean(name):
    vals = [o["sum"] / o["count"] for o in lines(name)
            if isinstance(o.get("sum"), (int, float)) and o.get("count")]
    return statistics.median(vals) if vals else None

def all_values(names, key):
    return [o[key] for n in names for o in lines(n) if isinstance(o.get(key), (int, float))]

def med(vals):
    return statistics.median(vals) if vals else None

def connected(objs, count_key, seconds_key):
    """Seconds until every node was answered; None unless all were."""
    if not objs or objs[0].get(count_key) != objs[0].get("nodes"):
        return None
    v = objs[0].get(seconds_key)
    return v if isinstance(v, (int, float)) and v >= 0 else None

quick = os.environ["quick"] == "1"
GC = [int(x) for x in os.environ["GRID_CONNECTIONS"].split()]
GW = [int(x) for x in os.environ["GRID_WINDOWS"].split()]
grid = []
for c in GC:
    for w in GW:
        pn, hn = f"grid_mqtt_{c}x{w}", f"grid_hub_{c}x{w}"
        peer, hub = median(pn, "rate"), median(hn, "rate")
        b = batch_mean(hn + "_batch")
        fb = median(f"floor_lmdb_b{max(1, round(b))}", "rate") if b else None
        cell = {
            "connections": c, "window": w, "peer": peer, "hub": hub, "ratio": ratio(hub, peer),
            "runs": {"peer": runs(pn, "rate"), "hub": runs(hn, "rate")},
            "hub_batch_mean": b, "floor_lmdb_at_batch": fb, "hub_vs_floor_lmdb": ratio(hub, fb),
            "cpu_us_per_msg": {
                "peer_generator": median(pn, "client_cpu_us_per_msg"),
                "hub_generator": median(hn, "client_cpu_us_per_msg"),
                "mosquitto": median(pn, "server_cpu_us_per_msg"),
                "hub": median(hn, "server_cpu_us_per_msg"),
            },
        }
        fails = {k: failures(n) for k, n in (("peer", pn), ("hub", hn)) if failures(n)}
        if fails:
            cell["failed_runs"] = fails
        if peer is None or hub is None:
            cell["note"] = ("could not run: every run of " +
                            " and ".join(k for k, v in (("the peer", peer), ("the hub", hub))
                                         if v is None) +
                            f" failed; see {pn}.log / {hn}.log in the kept directory (--keep)")
        grid.append(cell)
done = [g for g in grid if g["peer"] is not None and g["hub"] is not None]
peer_best = max((g for g in grid if g["peer"]), key=lambda g: g["peer"], default=None)
hub_best = max((g for g in grid if g["hub"]), key=lambda g: g["hub"], default=None)
worst = min(done, key=lambda g: g["ratio"], default=None)
cell_50x32 = next((g for g in grid if g["connections"] == 50 and g["window"] == 32), None)
grid_names = [f"grid_{side}_{c}x{w}" for side in ("mqtt", "hub") for c in GC for w in GW]
cpu = {
    "peer_generator": med(all_values([n for n in grid_names if "_mqtt_" in n],
                                     "client_cpu_us_per_msg")),
    "hub_generator": med(all_values([n for n in grid_names if "_hub_" in n],
                                    "client_cpu_us_per_msg")),
    "mosquitto": med(all_values([n for n in grid_names if "_mqtt_" in n], "server_cpu_us_per_msg")),
    "hub": med(all_values([n for n in grid_names if "_hub_" in n], "server_cpu_us_per_msg")),
}

e2e = median("throughput", "rate")
mqtt = cell_50x32["peer"] if cell_50x32 else None
f_lmdb = median("floor_lmdb", "rate")
e2e_batch = one("throughput_batch", "batch")
f_lmdb_real = median(f"floor_lmdb_b{e2e_batch}", "rate") if e2e_batch else None
f_curve = median("floor_curve", "rate")
f_open = median("floor_open", "rate")
floors = {k: v for k, v in (("lmdb", f_lmdb_real or f_lmdb), ("curve", f_curve),
                            ("open", f_open)) if v}
slowest = min(floors, key=floors.get) if floors else None
grown = median("growth", "rate")
# The empty side of the growth ratio: runs interleaved with those on the
# grown store (bench.sh step 6).
grown_base = median("growth_empty", "rate")
c1k, c5k = lines("connect_1000"), lines("connect_5000")

model = ""
with open("/proc/cpuinfo") as f:
    for line in f:
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
mem_kib = None
with open("/proc/meminfo") as f:
    for line in f:
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
try:
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                            text=True, timeout=10).stdout.strip()
except Exception:
    commit = ""

LOADS = ("throughput", "latency", "growth", "growth_empty", "connect_1000",
         "connect_5000") + tuple(
    f"grid_hub_{c}x{w}" for c in GC for w in GW)
verify_failures = sum(o.get("verify_failures", 0) for n in LOADS for o in lines(n))
unanswered = {n: sum(o.get("unanswered", 0) for o in lines(n)) for n in LOADS}
rejected = sum(o.get("rejected", 0) for n in LOADS if not n.startswith("connect")
               for o in lines(n))

res = {
    "ratios": {
        "vs_mosquitto": cell_50x32["ratio"] if cell_50x32 else None,
        "vs_mosquitto_best": ratio(hub_best["hub"] if hub_best else None,
                                   peer_best["peer"] if peer_best else None),
        "vs_mosquitto_min": worst["ratio"] if worst else None,
        "vs_floor": ratio(e2e, floors.get(slowest) if slowest else None),
        "growth": ratio(grown, grown_base),
    },
    "throughput": {
        "end_to_end": e2e,
        "end_to_end_after_preload": grown,
        "end_to_end_empty_interleaved": grown_base,
        "end_to_end_overall": median("throughput", "rate_overall"),
        "end_to_end_after_preload_overall": median("growth", "rate_overall"),
        "mosquitto": mqtt,
        "floor_lmdb": f_lmdb,
        "floor_lmdb_at_hub_batch": f_lmdb_real,
        "hub_batch_mean": e2e_batch,
        "floor_curve": f_curve,
        "floor_open": f_open,
        "slowest_floor": slowest,
        "runs": {
            "end_to_end": runs("throughput", "rate"),
            "end_to_end_after_preload": runs("growth", "rate"),
            "end_to_end_empty_interleaved": runs("growth_empty", "rate"),
            "mosquitto": cell_50x32["runs"]["peer"] if cell_50x32 else [],
            "floor_lmdb": runs("floor_lmdb", "rate"),
            "floor_curve": runs("floor_curve", "rate"),
            "floor_open": runs("floor_open", "rate"),
        },
        "unit": "accepted receipts / PUBACKs / signals / messages / opens per second",
    },
    "latency_ms": {
        "offered_rate": int(os.environ["RATE"]),
        "p50": median("latency", "p50_ms"),
        "p99": median("latency", "p99_ms"),
        "p999": median("latency", "p999_ms"),
        "max": median("latency", "max_ms"),
        "runs_p99": runs("latency", "p99_ms"),
    },
    "rss_mib": {
        "hub_idle": mib(one("hub_idle", "hub_idle_kib")),
        "hub_1000": mib(c1k[0].get("hub_rss_kib")) if c1k else None,
        "hub_5000": mib(c5k[0].get("hub_rss_kib")) if c5k else None,
        "hub_5000_anon": mib(c5k[0].get("hub_rss_anon_kib")) if c5k else None,
        "hub_5000_file": mib(c5k[0].get("hub_rss_file_kib")) if c5k else None,
        "node_idle": mib(one("node_idle", "node_idle_kib")),
    },
    "connect_seconds": {
        "1000": connected(c1k, "answered", "seconds_to_answer_all"),
        "5000": connected(c5k, "answered", "seconds_to_answer_all"),
        "reconnect_5000": connected(c5k, "reconnected", "seconds_to_reconnect_all"),
    },
    "connect_answered": {
        "1000": c1k[0].get("answered") if c1k else None,
        "5000": c5k[0].get("answered") if c5k else None,
        "reconnect_5000": c5k[0].get("reconnected") if c5k else None,
    },
    "grid": grid,
    "grid_summary": {
        "peer_best": {k: peer_best[k] for k in ("connections", "window", "peer")}
        if peer_best else None,
        "hub_best": {k: hub_best[k] for k in ("connections", "window", "hub")}
        if hub_best else None,
        "worst_cell": {k: worst[k] for k in ("connections", "window", "peer", "hub", "ratio")}
        if worst else None,
        "cpu_us_per_msg_median": cpu,
        "interleaved": "peer, hub, peer, hub, ... per cell; a fresh broker and a fresh copy of "
                       "the enrolled hub for every run",
        "acknowledgement": "mosquitto: PUBACK from memory, persistence off (not durable); "
                           "hub: signed receipt after open, check, store once, aggregate and "
                           "the batch's fsync (durable)",
    },
    "growth": {
        "preloaded": num(one("preload", "count")),
        "preload_seconds": one("preload", "seconds"),
        "preload_rate": one("preload", "rate"),
        "preload_requested": int(os.environ["PRELOAD"]),
        "preload_complete": one("preload", "complete"),
        "preload_path": "hub_ingest_batch in-process with the real aggregation "
                        "(hub_aggregate_new over the hub's analytics store), into a copy "
                        "of the hub directory, while the memory measurements ran",
        "signals_stored_before": num(os.environ.get("stored_before")),
        "signals_stored_after": num(os.environ.get("stored_after")),
        "hub_restart_seconds": one("restart", "restart_seconds"),
    },
    "checks": {
        "receipts_failing_verification": verify_failures,
        "envelopes_unanswered_after_drain": unanswered,
        "receipts_rejected": rejected,
        "failed_measurements": {os.path.basename(p)[:-7]: failures(os.path.basename(p)[:-7])
                                for p in glob.glob(os.path.join(R, "*.failed"))},
        "hub_crashed_during": [o.get("step") for o in lines("hub_crash")],
    },
    "config": {
        "quick": quick,
        "nodes": int(os.environ["NODES"]),
        "publishers": int(os.environ["NODES"]),
        "window": int(os.environ["WINDOW"]),
        "payload": int(os.environ["PAYLOAD"]),
        "repeats": int(os.environ["REPEATS"]),
        "duration_s": float(os.environ["DURATION"]),
        "warmup_s": float(os.environ["WARMUP"]),
        "drain_s": float(os.environ["DRAIN"]),
        "floor_duration_s": float(os.environ["FLOOR_DURATION"]),
        "preload": int(os.environ["PRELOAD"]),
        "grid_connections": GC,
        "grid_windows": GW,
        "grid_repeats": int(os.environ["GRID_REPEATS"]),
        "grid_duration_s": float(os.environ["GRID_DURATION"]),
        "grid_warmup_s": float(os.environ["GRID_WARMUP"]),
        "hub_reply_queue": int(os.environ["REPLY_QUEUE"]),
        "latency_rate": int(os.environ["RATE"]),
        "hub_member_rate_limit": "raised to 1000000/s (burst 10000000) for the run",
        "receipt_verification": "every receipt, Ed25519 verified after each timed run",
        "mosquitto": {
            "version": os.environ.get("MOSQUITTO_VERSION", ""),
            "tls": "OpenSSL defaults, ECDSA P-256 certificates, require_certificate",
            "persistence": False,
            "qos": 1,
            "config": "max_inflight_messages 0, max_queued_messages 1000000, sys_interval 0, "
                      "errors and warnings logged only",
            "publisher": "tests/bench/bench-mqtt: one thread, poll(), non-blocking OpenSSL, "
                         "MQTT 3.1.1 written by hand, a window's refill in few TLS records",
        },
    },
    "machine": {
        "nproc": os.cpu_count(),
        "model_name": model,
        "mem_mib": mem_kib // 1024 if mem_kib else None,
        "kernel": platform.release(),
    },
    "commit": commit,
    "seconds": int(time.time()) - int(os.environ["started"]),
}
with open("bench-results.json", "w") as f:
    json.dump(res, f, indent=2)
    f.write("\n")

def fmt(v, unit="", nd=0):
    if v is None:
        return "n/a"
    return f"{v:,.{nd}f}{unit}"

def verdict(ok):
    return "n/a" if ok is None else ("met" if ok else "NOT MET")

lat = res["latency_ms"]
rss = res["rss_mib"]
r = res["ratios"]
cs = res["connect_seconds"]

def secs(k):
    """A connect time, or how many were answered when not all were."""
    n = res["connect_answered"][k]
    if cs[k] is None and n is not None:
        return f"only {n:,} answered"
    return fmt(cs[k], " s", 1)

rows = [
    ("hub end to end (durable, acked)", fmt(e2e, "/s"), "", ""),
    ("mosquitto QoS 1 TLS (PUBACK), grid 50 x 32", fmt(mqtt, "/s"), "", ""),
    ("  ratio hub / mosquitto, grid 50 x 32", fmt(r["vs_mosquitto"], "x", 2), ">= 1.0x",
     verdict(None if r["vs_mosquitto"] is None else r["vs_mosquitto"] >= 1.0)),
    ("  ratio best against best (grid)", fmt(r["vs_mosquitto_best"], "x", 2), ">= 1.5x",
     verdict(None if r["vs_mosquitto_best"] is None else r["vs_mosquitto_best"] >= 1.5)),
    ("  ratio in the worst cell (grid)", fmt(r["vs_mosquitto_min"], "x", 2), ">= 1.0x",
     verdict(None if r["vs_mosquitto_min"] is None else r["vs_mosquitto_min"] >= 1.0)),
    ("floor: LMDB group commit (64)", fmt(f_lmdb, "/s"), "", ""),
    (f"floor: LMDB at the hub's batch ({e2e_batch or '?'})", fmt(f_lmdb_real, "/s"), "", ""),
    ("floor: CurveZMQ round trips", fmt(f_curve, "/s"), "", ""),
    ("floor: envelope_open", fmt(f_open, "/s"), "", ""),
    (f"  ratio hub / slowest floor ({slowest})", fmt(r["vs_floor"], "x", 2), "report", ""),
    (f"latency p50 at {os.environ['RATE']}/s", fmt(lat["p50"], " ms", 2), "< 3 ms",
     verdict(None if lat["p50"] is None else lat["p50"] < 3)),
    (f"latency p99 at {os.environ['RATE']}/s", fmt(lat["p99"], " ms", 2), "< 5 ms",
     verdict(None if lat["p99"] is None else lat["p99"] < 5)),
    (f"latency p99.9 at {os.environ['RATE']}/s", fmt(lat["p999"], " ms", 2), "", ""),
    ("hub RSS, 1000 nodes connected", fmt(rss["hub_1000"], " MiB", 1), "", ""),
    ("hub RSS, 5000 nodes connected", fmt(rss["hub_5000"], " MiB", 1), "< 256 MiB",
     verdict(None if rss["hub_5000"] is None else rss["hub_5000"] < 256)),
    ("connect 1000 nodes (answered)", secs("1000"), "", ""),
    ("connect 5000 nodes (answered)", secs("5000"), "< 5 s",
     verdict(None if cs["5000"] is None else cs["5000"] < 5)),
    ("reconnect 5000 after a hub restart", secs("reconnect_5000"), "< 5 s",
     verdict(None if cs["reconnect_5000"] is None else cs["reconnect_5000"] < 5)),
    ("node agent RSS, idle", fmt(rss["node_idle"], " MiB", 1), "< 8 MiB",
     verdict(None if rss["node_idle"] is None else rss["node_idle"] < 8)),
    ("hub on an empty copy, interleaved", fmt(grown_base, "/s"), "", ""),
    (f"hub after preloading {res['growth']['preloaded'] or 0:,}", fmt(grown, "/s"), "", ""),
    ("  ratio after preload / empty", fmt(r["growth"], "x", 2), "0.8x - 1.2x",
     verdict(None if r["growth"] is None else 0.8 <= r["growth"] <= 1.2)),
]
def cell(g):
    return f"{g['connections']} x {g['window']}"

print()
print(f"grid: median of {os.environ['GRID_REPEATS']} interleaved runs of "
      f"{os.environ['GRID_DURATION']}s per side and cell; peer = mosquitto "
      f"{res['config']['mosquitto']['version']} QoS 1 over TLS, its PUBACK not durable;")
print("hub = nmo-hub serve, its receipt signed after open, check, store once, aggregate and fsync")
print(f"{'connections x window':<21} {'peer/s':>9} {'hub/s':>9} {'ratio':>7} {'hub batch':>9} "
      f"{'LMDB floor':>10} {'hub/floor':>9}  generators' CPU/msg (peer, hub)")
for g in grid:
    if "note" in g:
        print(f"{cell(g):<21} {g['note']}")
        continue
    print(f"{cell(g):<21} {fmt(g['peer']):>9} {fmt(g['hub']):>9} {fmt(g['ratio'], 'x', 2):>7} "
          f"{fmt(g['hub_batch_mean'], '', 1):>9} {fmt(g['floor_lmdb_at_batch']):>10} "
          f"{fmt(g['hub_vs_floor_lmdb'], 'x', 2):>9}  "
          f"{fmt(g['cpu_us_per_msg']['peer_generator'], ' us', 1)}, "
          f"{fmt(g['cpu_us_per_msg']['hub_generator'], ' us', 1)}")
if peer_best and hub_best:
    print(f"{'best of each':<21} {fmt(peer_best['peer']):>9} {fmt(hub_best['hub']):>9} "
          f"{fmt(r['vs_mosquitto_best'], 'x', 2):>7}   "
          f"(peer {cell(peer_best)}, hub {cell(hub_best)})")
if worst:
    print(f"{'worst cell':<21} {fmt(worst['peer']):>9} {fmt(worst['hub']):>9} "
          f"{fmt(worst['ratio'], 'x', 2):>7}   ({cell(worst)})")
print(f"CPU per message, median over the grid: load generators bench-mqtt "
      f"{fmt(cpu['peer_generator'], ' us', 1)}, bench-load {fmt(cpu['hub_generator'], ' us', 1)}; "
      f"servers mosquitto {fmt(cpu['mosquitto'], ' us', 1)}, nmo-hub {fmt(cpu['hub'], ' us', 1)}")

w0 = max(len(x[0]) for x in rows)
w1 = max(len(x[1]) for x in rows)
print()
print(f"nmo-signal benchmark ({'quick' if quick else 'full'}): {res['config']['nodes']} nodes x "
      f"window {res['config']['window']}, {res['config']['payload']}-byte envelopes, "
      f"median of {res['config']['repeats']}; {res['machine']['nproc']} x {model}")
print(f"{'':{w0}}  {'measured':>{w1}}  {'target':<11} verdict")
for name, val, target, v in rows:
    print(f"{name:<{w0}}  {val:>{w1}}  {target:<11} {v}")
print()
chk = res["checks"]
ov = res["throughput"]["end_to_end_after_preload_overall"]
if grown is not None and ov and grown < 0.5 * ov:
    print(f"after the preload the hub answered too slowly to fill the measured window; over "
          f"the whole run (drain included) it accepted {ov:,.0f}/s")
print(f"receipts failing verification: {chk['receipts_failing_verification']}; refusals: "
      f"{chk['receipts_rejected']}; unanswered after the drain: "
      + ", ".join(f"{k} {v}" for k, v in unanswered.items() if v) if any(unanswered.values())
      else f"receipts failing verification: {chk['receipts_failing_verification']}; refusals: "
      f"{chk['receipts_rejected']}; every envelope answered")
if chk["failed_measurements"]:
    print("failed measurements:", ", ".join(f"{k} x{v}" for k, v in chk["failed_measurements"].items()))
if chk["hub_crashed_during"]:
    print("the hub was not running during:", ", ".join(chk["hub_crashed_during"]))
print(f"preload of {res['growth']['preloaded'] or 0:,} signals: "
      f"{fmt(res['growth']['preload_seconds'], ' s', 1)}; hub restart on "
      f"{res['growth']['signals_stored_after'] or 0:,} signals: "
      f"{fmt(res['growth']['hub_restart_seconds'], ' s', 1)}; whole run {res['seconds']} s")
print("results: bench-results.json")
