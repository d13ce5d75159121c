#!/usr/bin/env bash
# bench.sh: measures the hub against the performance targets of
# ARCHITECTURE.md and against a peer, all in one run on this machine, on
# 127.0.0.1 only:
#
#   1. stage floors: LMDB group commit with the hub's record layout, CurveZMQ
#      acknowledged round trips, envelope_open (tests/bench/bench-floors);
#   2. the grid: the peer (Debian's mosquitto, QoS 1 over TLS with client
#      certificates, the same payload size) against the real `nmo-hub serve`
#      at connections {1, 2, 8, 50} x windows {32, 100, 1000} of messages in
#      flight per connection. Each cell runs peer, hub, peer, hub, ... (the
#      repeats interleaved, so that the machine's drift hits both), each run
#      on a fresh broker and a fresh hub (a copy of an enrolled store); the
#      median of each side and their ratio. Both load generators are one
#      thread with one event loop (tests/bench/bench-mqtt, bench-load) and
#      print their own CPU per message, and the server's;
#   3. floors at the hub's real batch sizes: the mean envelopes per commit of
#      each grid cell (the hub's nmo_hub_batch_size histogram, scraped from
#      its [metrics] endpoint after each run), and the LMDB group commit
#      measured alone at those sizes with the hub's sync mode;
#   4. scale: connect time and hub VmRSS with 1,000 and 5,000 simulated nodes;
#      with 5,000 connected, the hub is stopped (SIGTERM) and started again,
#      and the time until every node is connected and answered again; a real
#      `nmo-node run` agent's VmRSS when idle;
#   5. end to end at bench.sh's historical setting (50 nodes x window 32):
#      throughput, and latency at a fixed offered rate;
#   6. growth: throughput after preloading the store through the hub's own
#      ingest path, its runs alternating with runs on an empty copy.
#
# What the two sides do differs, and the table says so: a PUBACK of mosquitto
# (persistence off, as it is not durable anyway) acknowledges a message the
# broker holds in memory and relays; a receipt of the hub is signed after the
# envelope has been opened, checked, stored once and aggregated, and its
# batch fsync'd (durable).
#
# Every timed figure is the median of several runs. Prints a table and writes
# bench-results.json here.
#
#   ./bench.sh            full run (5 repeats; grid runs of 3 s; 10 million
#                         signals preloaded)
#   ./bench.sh --quick    quick run (3 repeats; grid runs of 1 s; 1 million
#                         preloaded; about 6 minutes on 2 cores)
#   ./bench.sh --keep     keep the temporary directory (hub, logs, raw results)
#
# NMO_BENCH_CONNECTIONS and NMO_BENCH_WINDOWS (numbers separated by spaces)
# replace the grid's axes. A cell whose runs all fail is printed as such,
# with the names of its logs.
set -uo pipefail
cd "$(dirname "$0")"

usage() {
        sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

quick=0
keep=0
for arg in "$@"; do
        case $arg in
        --quick) quick=1 ;;
        --keep) keep=1 ;;
        -h | --help)
                usage
                exit 0
                ;;
        *)
                echo "bench.sh: unknown option '$arg' (try --help)" >&2
                exit 2
                ;;
        esac
done

. scripts/deps.sh
nmo_install_deps mosquitto libssl-dev openssl || exit 1
echo "building build-bench (release, NDEBUG)..."
nmo_build build-bench -Dbuildtype=release -Db_ndebug=true || exit 1

B=$PWD/build-bench
HUB=$B/hub/nmo-hub
NODE=$B/node/nmo-node
FLOORS=$B/tests/bench/bench-floors
LOAD=$B/tests/bench/bench-load
MQTT=$B/tests/bench/bench-mqtt
for exe in "$HUB" "$NODE" "$FLOORS" "$LOAD" "$MQTT"; do
        if [ ! -x "$exe" ]; then
                echo "bench.sh: $exe was not built" >&2
                exit 1
        fi
done
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)

# ---- parameters --------------------------------------------------------------
NODES=50           # simulated nodes of the end-to-end runs
WINDOW=32          # envelopes in flight per node in the end-to-end runs
PAYLOAD=300        # envelope frame bytes = MQTT payload bytes
RATE=5000          # offered rate of the latency run, envelopes/s
# The grid; NMO_BENCH_CONNECTIONS and NMO_BENCH_WINDOWS (lists separated by
# spaces) replace it.
GRID_CONNECTIONS=${NMO_BENCH_CONNECTIONS:-1 2 8 50}
GRID_WINDOWS=${NMO_BENCH_WINDOWS:-32 100 1000}
# The hub closes a connection with more than [limits] reply_queue (256)
# replies unread; a node that keeps 1,000 envelopes in flight reads them all
# but may have a whole batch of replies queued at once, so the bench raises it.
REPLY_QUEUE=4096
# DRAIN: how long replies are awaited after a measured window; PRELOAD_MAX:
# the preload stops after this many seconds and reports what it stored.
if [ $quick -eq 1 ]; then
        REPEATS=3 DURATION=1.5 WARMUP=0.5 FLOOR_DURATION=0.7 HOLD=1 DRAIN=2
        GRID_REPEATS=3 GRID_DURATION=1 GRID_WARMUP=0.5
        PRELOAD=1000000 PRELOAD_MAX=90
else
        REPEATS=5 DURATION=5 WARMUP=1 FLOOR_DURATION=3 HOLD=3 DRAIN=5
        GRID_REPEATS=5 GRID_DURATION=3 GRID_WARMUP=1
        PRELOAD=10000000 PRELOAD_MAX=540
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/nmo-bench-XXXXXX") || exit 1
R=$T/results
mkdir -p "$R"
PIDS=()
started=$(date +%s)

cleanup() {
        local p
        for p in "${PIDS[@]}"; do
                kill -TERM "$p" 2>/dev/null
        done
        for p in "${PIDS[@]}"; do
                for _ in $(seq 1 50); do
                        kill -0 "$p" 2>/dev/null || break
                        sleep 0.1
                done
                kill -KILL "$p" 2>/dev/null
        done
        if [ $keep -eq 1 ]; then
                echo "kept $T"
        else
                rm -rf "$T"
        fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# forget PID: a process that has been waited for leaves the cleanup list (its
# number may be reused).
forget() {
        local p keep=()
        for p in "${PIDS[@]}"; do
                [ "$p" = "$1" ] || keep+=("$p")
        done
        PIDS=("${keep[@]}")
}

log() { printf '[%4ds] %s\n' $(($(date +%s) - started)) "$*"; }

# Two free loopback ports in a row (the hub and its alert feed, which the node
# expects one above), then two more (the broker, the hub's metrics). They are
# taken below the kernel's range of ephemeral ports: the hub and the broker
# are started afresh for every run of the grid, and a port of that range may
# meanwhile be taken by any process's outgoing connection.
read -r HUB_PORT MQTT_PORT METRICS_PORT < <(python3 - <<'PY'
import random, socket
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    low = 32768
low = max(low, 12000)
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        s.close()
        return None
    return s
for _ in range(500):
    p = random.randrange(10000, low - 4, 4)
    socks = [free(p + i) for i in range(4)]
    if all(socks):
        print(p, p + 2, p + 3)
        break
    for s in socks:
        if s:
            s.close()
PY
)
if [ -z "${HUB_PORT:-}" ] || [ -z "${MQTT_PORT:-}" ] || [ -z "${METRICS_PORT:-}" ]; then
        echo "bench.sh: no free loopback ports" >&2
        exit 1
fi
ALERTS_PORT=$((HUB_PORT + 1))
EP=tcp://127.0.0.1:$HUB_PORT

# wait_port PORT SECONDS: until something accepts on 127.0.0.1:PORT.
wait_port() {
        local i
        for i in $(seq 1 $(($2 * 10))); do
                if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
                        return 0
                fi
                sleep 0.1
        done
        return 1
}

# rss_kib PID: VmRSS of a process, in KiB (empty when gone).
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# run NAME SECONDS COMMAND...: runs one measurement (bounded by timeout),
# appending its JSON line to $R/NAME.jsonl; stderr goes to $R/NAME.log.
run() {
        local name=$1 secs=$2 out
        shift 2
        out=$(timeout -k 5 "$secs" "$@" 2>>"$R/$name.log")
        local rc=$?
        if [ $rc -ne 0 ] || [ -z "$out" ]; then
                log "  $name: failed (exit $rc); see $R/$name.log"
                tail -3 "$R/$name.log" | sed 's/^/      /'
                [ -n "$out" ] && echo "$out" >>"$R/$name.jsonl"
                echo "{\"failed\": true, \"exit\": $rc}" >>"$R/$name.failed"
                return 1
        fi
        echo "$out" >>"$R/$name.jsonl"
        return 0
}

# repeat N NAME SECONDS COMMAND...: N runs of one measurement.
repeat() {
        local n=$1 i
        shift
        for i in $(seq 1 "$n"); do
                run "$@" || true
        done
}

HUB_PID=
HUB_DIR=$T/hub
hub_start() {
        # 5,000 connections need more than the usual 1024 descriptors.
        (ulimit -n "$(ulimit -Hn)" && exec "$HUB" serve --dir "$HUB_DIR" -q) >>"$T/hub.log" 2>&1 &
        HUB_PID=$!
        PIDS+=("$HUB_PID")
        if ! wait_port "$HUB_PORT" "$1"; then
                log "the hub did not listen within $1 s; see $T/hub.log"
                tail -5 "$T/hub.log"
                exit 1
        fi
}

hub_stop() {
        kill -TERM "$HUB_PID" 2>/dev/null
        for _ in $(seq 1 300); do
                kill -0 "$HUB_PID" 2>/dev/null || break
                sleep 0.1
        done
        kill -KILL "$HUB_PID" 2>/dev/null
        wait "$HUB_PID" 2>/dev/null
        forget "$HUB_PID"
        HUB_PID=
}

hub_alive() {
        if [ -z "$HUB_PID" ] || ! kill -0 "$HUB_PID" 2>/dev/null; then
                log "the hub is not running any more (crashed?); see $T/hub.log"
                tail -5 "$T/hub.log" | sed 's/^/      /'
                echo "{\"step\": \"$1\"}" >>"$R/hub_crash.jsonl"
                return 1
        fi
        return 0
}

# batch_scrape NAME: appends the hub's batch size histogram (sum and count of
# envelopes per committed batch since it started) to $R/NAME.jsonl.
batch_scrape() {
        python3 - "$METRICS_PORT" >>"$R/$1.jsonl" 2>>"$R/$1.log" <<'PY'
import json, sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=10).read()
got = {}
for line in text.decode().splitlines():
    for k in ("nmo_hub_batch_size_sum", "nmo_hub_batch_size_count"):
        if line.startswith(k + " "):
            got[k[len("nmo_hub_batch_size_"):]] = float(line.split()[1])
print(json.dumps(got))
PY
}

# mqtt_run CONNECTIONS WINDOW NAME: one run of the peer on a fresh broker.
mqtt_run() {
        local pid
        "$MOSQUITTO" -c "$C/mosquitto.conf" >>"$C/mosquitto.log" 2>&1 &
        pid=$!
        PIDS+=("$pid")
        if wait_port "$MQTT_PORT" 10; then
                run "$3" 60 "$MQTT" --port "$MQTT_PORT" --cafile "$C/ca.crt" \
                        --cert "$C/client.crt" --key "$C/client.key" --publishers "$1" \
                        --window "$2" --payload $PAYLOAD --duration "$GRID_DURATION" \
                        --warmup "$GRID_WARMUP" --server-pid "$pid" || true
        else
                log "  mosquitto did not start; see $C/mosquitto.log"
                echo '{"failed": true, "exit": "no broker"}' >>"$R/$3.failed"
        fi
        kill -TERM "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        forget "$pid"
}

# hub_grid_run CONNECTIONS WINDOW NAME: one run of the hub, fresh from the
# enrolled template, its batch sizes scraped to NAME_batch afterwards. What is
# in flight when the window closes (up to 50,000 envelopes) gets DRAIN plus a
# second per 5,000 to be answered.
hub_grid_run() {
        local drain=$((DRAIN + $1 * $2 / 5000))
        rm -rf "$T/hub-run"
        cp -a "$T/hub-template" "$T/hub-run"
        HUB_DIR=$T/hub-run
        hub_start 30
        run "$3" 120 "$LOAD" throughput --hub-dir "$T/hub-run" --seed "$T/seed" \
                --endpoint "$EP" --nodes "$1" --window "$2" --duration "$GRID_DURATION" \
                --warmup "$GRID_WARMUP" --drain "$drain" --hub-pid "$HUB_PID" || true
        if hub_alive "$3"; then
                batch_scrape "${3}_batch" || log "  $3: cannot read the hub's metrics"
        fi
        hub_stop
        rm -rf "$T/hub-run"
}

quick_word=full
[ $quick -eq 1 ] && quick_word=quick
log "nmo-signal benchmark ($quick_word): grid of connections {$GRID_CONNECTIONS} x windows" \
        "{$GRID_WINDOWS}, $GRID_REPEATS interleaved repeats of ${GRID_DURATION}s; $PAYLOAD-byte" \
        "envelopes; temporary directory $T"

# ---- 1. stage floors ---------------------------------------------------------
log "stage floors: LMDB group commit, CurveZMQ round trips, envelope_open"
for i in $(seq 1 $REPEATS); do
        rm -rf "$T/floor-lmdb"
        run floor_lmdb 60 "$FLOORS" lmdb --dir "$T/floor-lmdb" --duration "$FLOOR_DURATION" || true
done
rm -rf "$T/floor-lmdb"
repeat $REPEATS floor_curve 60 "$FLOORS" curve --nodes $NODES --window $WINDOW \
        --payload $PAYLOAD --ack 150 --duration "$FLOOR_DURATION" --warmup 0.3
repeat $REPEATS floor_open 60 "$FLOORS" open --duration "$FLOOR_DURATION"

# ---- 2. the grid: the peer and the hub, interleaved ---------------------------
# The broker's best configuration for this load: no persistence (its PUBACK
# is not durable in any case), no cap on messages in flight or queued, no
# $SYS publishing, only errors logged.
C=$T/mqtt
mkdir -p "$C"
(
        cd "$C" || exit 1
        ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
        # shellcheck disable=SC2086
        openssl req -x509 $ec -keyout ca.key -out ca.crt -days 2 -subj /CN=nmo-bench-ca &&
                openssl req $ec -keyout server.key -out server.csr -subj /CN=localhost &&
                printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext &&
                openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
                        -out server.crt -days 2 -extfile server.ext &&
                openssl req $ec -keyout client.key -out client.csr -subj /CN=nmo-bench-publisher &&
                printf 'extendedKeyUsage=clientAuth\n' >client.ext &&
                openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
                        -out client.crt -days 2 -extfile client.ext
) >"$C/openssl.log" 2>&1 || {
        echo "bench.sh: openssl failed; see $C/openssl.log" >&2
        exit 1
}
{
        echo "# written by bench.sh: TLS with client certificates, no persistence"
        echo "per_listener_settings false"
        echo "listener $MQTT_PORT 127.0.0.1"
        echo "cafile $C/ca.crt"
        echo "certfile $C/server.crt"
        echo "keyfile $C/server.key"
        echo "require_certificate true"
        echo "use_identity_as_username true"
        echo "allow_anonymous false"
        echo "persistence false"
        echo "max_inflight_messages 0"
        echo "max_queued_messages 1000000"
        echo "max_connections -1"
        echo "log_dest stderr"
        echo "log_type error"
        echo "log_type warning"
        echo "connection_messages false"
        echo "sys_interval 0"
        # The key files live in a 0700 directory: stay the user that made them.
        [ "$(id -u)" -eq 0 ] && echo "user root"
} >"$C/mosquitto.conf"
MOSQUITTO_VERSION=$("$MOSQUITTO" -h 2>&1 | sed -n 's/^mosquitto version //p' | head -1)

# ---- 3. the hub --------------------------------------------------------------
log "hub: init, enrol 5000 simulated members, serve on $EP"
head -c 32 /dev/urandom >"$T/seed"
"$HUB" init --dir "$T/hub" --listen "$EP" --alerts-listen "tcp://127.0.0.1:$ALERTS_PORT" \
        --name bench-hub >"$T/hub-init.log" 2>&1 || {
        cat "$T/hub-init.log" >&2
        exit 1
}
# The per-member rate limit (500/s by default) is a policy for real members;
# 50 simulated nodes stand for many more, so it must not cap the measurement.
# The metrics endpoint gives the batch sizes.
sed -i "s/^member_rate = .*/member_rate = 1000000/; s/^member_burst = .*/member_burst = 10000000/
        s/^reply_queue = .*/reply_queue = $REPLY_QUEUE/
        /^\[metrics\]/a listen = 127.0.0.1:$METRICS_PORT" "$T/hub/hub.conf"
run enrol 120 "$LOAD" enrol --hub-dir "$T/hub" --seed "$T/seed" --count 5000 || exit 1
# The grid and the growth run use copies of this hub (same keys and members).
cp -a "$T/hub" "$T/hub-template"
cp -a "$T/hub" "$T/hub-grown"

log "grid: connections {$GRID_CONNECTIONS} x windows {$GRID_WINDOWS}, peer and hub interleaved," \
        "$GRID_REPEATS runs each"
for c in $GRID_CONNECTIONS; do
        for w in $GRID_WINDOWS; do
                log "  $c x $w"
                for i in $(seq 1 "$GRID_REPEATS"); do
                        mqtt_run "$c" "$w" "grid_mqtt_${c}x${w}"
                        hub_grid_run "$c" "$w" "grid_hub_${c}x${w}"
                done
        done
done
HUB_DIR=$T/hub

# ---- 3. floors at the hub's real batch sizes -----------------------------------
# The mean envelopes per commit of each cell's runs, rounded; the LMDB floor
# measured alone at each distinct size, with the hub's sync mode.
floor_at() {
        local b
        for b in "$@"; do
                [ -s "$R/floor_lmdb_b$b.jsonl" ] && continue
                for i in $(seq 1 $REPEATS); do
                        rm -rf "$T/floor-lmdb"
                        run "floor_lmdb_b$b" 60 "$FLOORS" lmdb --dir "$T/floor-lmdb" --batch "$b" \
                                --nometasync --duration "$FLOOR_DURATION" || true
                done
        done
        rm -rf "$T/floor-lmdb"
}
batch_sizes() {
        python3 - "$R" "$@" <<'PY'
import json, os, statistics, sys
out = set()
for name in sys.argv[2:]:
    vals = []
    try:
        for line in open(os.path.join(sys.argv[1], name + ".jsonl")):
            o = json.loads(line)
            if o.get("count"):
                vals.append(o["sum"] / o["count"])
    except (OSError, ValueError):
        pass
    if vals:
        out.add(max(1, round(statistics.median(vals))))
print(" ".join(str(b) for b in sorted(out)))
PY
}
names=()
for c in $GRID_CONNECTIONS; do
        for w in $GRID_WINDOWS; do
                names+=("grid_hub_${c}x${w}_batch")
        done
done
sizes=$(batch_sizes "${names[@]}")
log "LMDB floor at the hub's mean batch sizes: ${sizes:-none measured}"
# shellcheck disable=SC2086
floor_at $sizes

# ---- 4. scale ----------------------------------------------------------------
log "hub: serve on $EP with 5000 enrolled members"
hub_start 30
sleep 1
echo "{\"hub_idle_kib\": $(rss_kib "$HUB_PID")}" >"$R/hub_idle.jsonl"

# ---- 4. scale ----------------------------------------------------------------
log "node agent: nmo-node run, idle"
if "$NODE" init --dir "$T/node" --hub "$EP" --hub-pub "$T/hub/keys/hub.pub" \
        --name bench-node >"$T/node-init.log" 2>&1 &&
        "$HUB" member add --dir "$T/hub" --name bench-node --pub "$T/node/keys/member.pub" \
                >>"$T/node-init.log" 2>&1; then
        "$NODE" run --dir "$T/node" -q >"$T/node.log" 2>&1 &
        NODE_PID=$!
        PIDS+=("$NODE_PID")
        sleep 2
        kib=$(rss_kib "$NODE_PID")
        echo "{\"node_idle_kib\": ${kib:-null}, \"node_hwm_kib\": $(awk '/^VmHWM:/ { print $2 }' \
                "/proc/$NODE_PID/status" 2>/dev/null || echo null)}" >"$R/node_idle.jsonl"
        kill -TERM "$NODE_PID" 2>/dev/null
        wait "$NODE_PID" 2>/dev/null
else
        log "  nmo-node init or enrolment failed; see $T/node-init.log"
fi

log "connect time and hub memory with 1000 connected nodes"
hub_alive connect_1000 &&
        run connect_1000 240 "$LOAD" connect --hub-dir "$T/hub" --seed "$T/seed" \
                --endpoint "$EP" --nodes 1000 --hold "$HOLD" --hub-pid "$HUB_PID" \
                --io-threads 2 --timeout 120
log "connect time and hub memory with 5000 connected nodes; then the hub restarted under them"
if hub_alive connect_5000; then
        rm -f "$T/reconnect" "$T/reconnect.go"
        timeout -k 5 400 "$LOAD" connect --hub-dir "$T/hub" --seed "$T/seed" --endpoint "$EP" \
                --nodes 5000 --hold "$HOLD" --hub-pid "$HUB_PID" --io-threads 2 --timeout 120 \
                --reconnect "$T/reconnect" >"$R/connect_5000.out" 2>>"$R/connect_5000.log" &
        lpid=$!
        PIDS+=("$lpid")
        # Connecting is bounded by the load generator's --timeout.
        while kill -0 "$lpid" 2>/dev/null && [ ! -e "$T/reconnect" ]; do
                sleep 0.05
        done
        if [ -e "$T/reconnect" ]; then
                hub_stop
                touch "$T/reconnect.go"
                hub_start 60
        fi
        wait "$lpid"
        rc=$?
        forget "$lpid"
        cat "$R/connect_5000.out" >>"$R/connect_5000.jsonl"
        if [ $rc -ne 0 ]; then
                log "  connect_5000: failed (exit $rc); see $R/connect_5000.log"
                tail -3 "$R/connect_5000.log" | sed 's/^/      /'
                echo "{\"failed\": true, \"exit\": $rc}" >>"$R/connect_5000.failed"
        fi
fi

# ---- 5. end to end -----------------------------------------------------------
log "end to end: throughput, $NODES nodes x window $WINDOW"
hub_alive throughput && batch_scrape throughput_batch_before
for i in $(seq 1 $REPEATS); do
        hub_alive throughput && run throughput 120 "$LOAD" throughput --hub-dir "$T/hub" \
                --seed "$T/seed" --endpoint "$EP" --nodes $NODES --window $WINDOW \
                --duration "$DURATION" --warmup "$WARMUP" --drain "$DRAIN" --hub-pid "$HUB_PID"
done
hub_alive throughput && batch_scrape throughput_batch_after
log "end to end: latency at $RATE envelopes/s"
for i in $(seq 1 $REPEATS); do
        hub_alive latency && run latency 120 "$LOAD" latency --hub-dir "$T/hub" \
                --seed "$T/seed" --endpoint "$EP" --nodes $NODES --rate $RATE \
                --duration "$DURATION" --warmup "$WARMUP" --drain "$DRAIN"
done
stored_before=$("$HUB" stats --dir "$T/hub" --json 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["signals_stored"])' 2>/dev/null)

# ---- 6. growth ---------------------------------------------------------------
hub_stop
size=$(python3 - "$R" <<'PY'
import json, os, sys
try:
    a = json.loads(open(os.path.join(sys.argv[1], "throughput_batch_before.jsonl")).readline())
    b = json.loads(open(os.path.join(sys.argv[1], "throughput_batch_after.jsonl")).readline())
    print(max(1, round((b["sum"] - a["sum"]) / (b["count"] - a["count"]))))
except Exception:
    pass
PY
)
if [ -n "$size" ]; then
        log "LMDB floor at the end-to-end run's mean batch size ($size)"
        floor_at "$size"
        echo "{\"batch\": $size}" >"$R/throughput_batch.jsonl"
fi
# Preloaded while nothing else runs: the connect and throughput figures
# above are timed and must not share the cores with it.
log "growth: preloading $PRELOAD signals into a copy of the hub's store through the hub's" \
        "ingest path (at most ${PRELOAD_MAX}s)"
if ! timeout -k 5 $((PRELOAD_MAX + 300)) "$LOAD" preload --hub-dir "$T/hub-grown" \
        --seed "$T/seed" --nodes $NODES --count $PRELOAD --max-seconds $PRELOAD_MAX \
        >"$R/preload.jsonl" 2>"$R/preload.log"; then
        log "  preload failed; see $R/preload.log"
        tail -3 "$R/preload.log" | sed 's/^/      /'
        echo '{"failed": true}' >>"$R/preload.failed"
fi
stored_after=$("$HUB" stats --dir "$T/hub-grown" --json 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["signals_stored"])' 2>/dev/null)
log "growth: the hub on its preloaded copy (${stored_after:-?} stored signals)"
t_restart=$(date +%s.%N)
HUB_DIR=$T/hub-grown
hub_start 900
echo "{\"restart_seconds\": $(python3 -c "import time; print(round(time.time() - $t_restart, 2))")}" \
        >"$R/restart.jsonl"
hub_stop
# growth_run NAME DIR STARTUP: one end-to-end run on a hub started on DIR.
growth_run() {
        HUB_DIR=$2
        hub_start "$3"
        hub_alive "$1" && run "$1" 120 "$LOAD" throughput --hub-dir "$2" --seed "$T/seed" \
                --endpoint "$EP" --nodes $NODES --window $WINDOW --duration "$DURATION" \
                --warmup "$WARMUP" --drain "$DRAIN"
        hub_stop
}
# Each run on the grown store alternates with one on an empty copy of the same
# hub (the enrolled template), each on a hub started afresh, so that the
# machine's drift hits both alike; the ratio is of these two, not of runs a
# quarter of an hour apart.
for i in $(seq 1 $REPEATS); do
        rm -rf "$T/hub-run"
        cp -a "$T/hub-template" "$T/hub-run"
        growth_run growth_empty "$T/hub-run" 30
        rm -rf "$T/hub-run"
        growth_run growth "$T/hub-grown" 120
done

# ---- results -----------------------------------------------------------------
log "done; writing bench-results.json"
export R NODES WINDOW PAYLOAD RATE REPEATS DURATION WARMUP FLOOR_DURATION PRELOAD DRAIN quick \
        MOSQUITTO_VERSION stored_before stored_after started GRID_CONNECTIONS GRID_WINDOWS \
        GRID_REPEATS GRID_DURATION GRID_WARMUP REPLY_QUEUE
python3 tests/bench/bench-report.py
