#!/usr/bin/env python3
"""bench-report.py: the report at the end of ./bench.sh.

Reads the raw results that bench.sh's runs wrote to the directory $R (one
NAME.jsonl per kind of run), writes bench-results.json in the current
directory and prints the table. bench.sh exports the run's settings as
environment variables (R, NODES, WINDOW, PAYLOAD, RATE, REPEATS, DURATION,
WARMUP, FLOOR_DURATION, PRELOAD, DRAIN, quick, MOSQUITTO_VERSION,
stored_before, stored_after, started); run it only from there.
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

quick = os.environ["quick"] == "1"
e2e = median("throughput", "rate")
mqtt = median("mqtt", "rate")
f_lmdb = median("floor_lmdb", "rate")
f_curve = median("floor_curve", "rate")
f_open = median("floor_open", "rate")
floors = {k: v for k, v in (("lmdb", f_lmdb), ("curve", f_curve), ("open", f_open)) if v}
slowest = min(floors, key=floors.get) if floors else None
grown = median("growth", "rate")
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

LOADS = ("throughput", "latency", "growth", "connect_1000", "connect_5000")
verify_failures = sum(o.get("verify_failures", 0) for n in LOADS for o in lines(n))
unanswered = {n: sum(o.get("unanswered", 0) for o in lines(n)) for n in LOADS}
rejected = sum(o.get("rejected", 0) for n in ("throughput", "latency", "growth") for o in lines(n))

res = {
    "ratios": {
        "vs_mosquitto": ratio(e2e, mqtt),
        "vs_floor": ratio(e2e, floors.get(slowest) if slowest else None),
        "growth": ratio(grown, e2e),
    },
    "throughput": {
        "end_to_end": e2e,
        "end_to_end_after_preload": grown,
        "end_to_end_overall": median("throughput", "rate_overall"),
        "end_to_end_after_preload_overall": median("growth", "rate_overall"),
        "mosquitto": mqtt,
        "floor_lmdb": f_lmdb,
        "floor_curve": f_curve,
        "floor_open": f_open,
        "slowest_floor": slowest,
        "runs": {
            "end_to_end": runs("throughput", "rate"),
            "end_to_end_after_preload": runs("growth", "rate"),
            "mosquitto": runs("mqtt", "rate"),
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
        "1000": c1k[0].get("seconds_to_answer_all") if c1k else None,
        "5000": c5k[0].get("seconds_to_answer_all") if c5k else None,
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
        "latency_rate": int(os.environ["RATE"]),
        "hub_member_rate_limit": "raised to 1000000/s (burst 10000000) for the run",
        "receipt_verification": "every receipt, Ed25519 verified after each timed run",
        "mosquitto": {
            "version": os.environ.get("MOSQUITTO_VERSION", ""),
            "tls": "OpenSSL defaults, ECDSA P-256 certificates, require_certificate",
            "persistence": False,
            "qos": 1,
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
rows = [
    ("hub end to end (durable, acked)", fmt(e2e, "/s"), "", ""),
    ("mosquitto QoS 1 TLS (PUBACK)", fmt(mqtt, "/s"), "", ""),
    ("  ratio hub / mosquitto", fmt(r["vs_mosquitto"], "x", 2), ">= 1.0x",
     verdict(None if r["vs_mosquitto"] is None else r["vs_mosquitto"] >= 1.0)),
    ("floor: LMDB group commit (64)", fmt(f_lmdb, "/s"), "", ""),
    ("floor: CurveZMQ round trips", fmt(f_curve, "/s"), "", ""),
    ("floor: envelope_open", fmt(f_open, "/s"), "", ""),
    (f"  ratio hub / slowest floor ({slowest})", fmt(r["vs_floor"], "x", 2), "report", ""),
    (f"latency p50 at {os.environ['RATE']}/s", fmt(lat["p50"], " ms", 2), "< 3 ms",
     verdict(None if lat["p50"] is None else lat["p50"] < 3)),
    (f"latency p99 at {os.environ['RATE']}/s", fmt(lat["p99"], " ms", 2), "< 10 ms",
     verdict(None if lat["p99"] is None else lat["p99"] < 10)),
    (f"latency p99.9 at {os.environ['RATE']}/s", fmt(lat["p999"], " ms", 2), "", ""),
    ("hub RSS, 1000 nodes connected", fmt(rss["hub_1000"], " MiB", 1), "", ""),
    ("hub RSS, 5000 nodes connected", fmt(rss["hub_5000"], " MiB", 1), "< 256 MiB",
     verdict(None if rss["hub_5000"] is None else rss["hub_5000"] < 256)),
    ("node agent RSS, idle", fmt(rss["node_idle"], " MiB", 1), "< 8 MiB",
     verdict(None if rss["node_idle"] is None else rss["node_idle"] < 8)),
    (f"hub after preloading {res['growth']['preloaded'] or 0:,}", fmt(grown, "/s"), "", ""),
    ("  ratio after preload / empty", fmt(r["growth"], "x", 2), "0.8x - 1.2x",
     verdict(None if r["growth"] is None else 0.8 <= r["growth"] <= 1.2)),
]
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
