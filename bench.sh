#!/usr/bin/env bash
# bench.sh: measures the hub against the performance targets of
# ARCHITECTURE.md, all in one run on this machine, on 127.0.0.1 only:
#
#   1. stage floors: LMDB group commit with the hub's record layout, CurveZMQ
#      acknowledged round trips, envelope_open (tests/bench/bench-floors);
#   2. the peer: Debian's mosquitto, QoS 1 over TLS with client certificates,
#      the same payload size, publishers and window (tests/bench/bench-mqtt);
#   3. end to end: the real `nmo-hub serve` and simulated nodes that speak the
#      real protocol (tests/bench/bench-load): throughput and latency at a
#      fixed offered rate;
#   4. scale: hub VmRSS with 1,000 and 5,000 connected nodes; a real
#      `nmo-node run` agent's VmRSS when idle;
#   5. growth: throughput again after preloading the store through the hub's
#      own ingest path.
#
# Every timed figure is the median of several runs. Prints a table and writes
# bench-results.json here.
#
#   ./bench.sh            full run (5 repeats, 10 million signals preloaded)
#   ./bench.sh --quick    quick run (3 repeats, 1 million preloaded)
#   ./bench.sh --keep     keep the temporary directory (hub, logs, raw results)
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
nmo_install_deps mosquitto mosquitto-clients libmosquitto-dev openssl || exit 1
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
NODES=50           # simulated nodes = MQTT publishers
WINDOW=32          # envelopes / QoS 1 publishes in flight per connection
PAYLOAD=300        # envelope frame bytes = MQTT payload bytes
RATE=5000          # offered rate of the latency run, envelopes/s
# DRAIN: how long replies are awaited after a measured window; PRELOAD_MAX:
# the preload stops after this many seconds and reports what it stored.
if [ $quick -eq 1 ]; then
        REPEATS=3 DURATION=1.5 WARMUP=0.5 FLOOR_DURATION=0.7 HOLD=1 DRAIN=2
        PRELOAD=1000000 PRELOAD_MAX=90
else
        REPEATS=5 DURATION=5 WARMUP=1 FLOOR_DURATION=3 HOLD=3 DRAIN=5
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

log() { printf '[%4ds] %s\n' $(($(date +%s) - started)) "$*"; }

# Two free loopback ports in a row (the hub and its alert feed, which the node
# expects one above), then one more.
read -r HUB_PORT MQTT_PORT < <(python3 - <<'PY'
import socket
def free(p=0):
    s = socket.socket(); s.bind(("127.0.0.1", p)); return s
for _ in range(200):
    a = free(); p = a.getsockname()[1]
    try:
        b = free(p + 1)
    except OSError:
        a.close(); continue
    c = free()
    print(p, c.getsockname()[1]); break
PY
)
if [ -z "${HUB_PORT:-}" ] || [ -z "${MQTT_PORT:-}" ]; then
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

quick_word=full
[ $quick -eq 1 ] && quick_word=quick
log "nmo-signal benchmark ($quick_word): $NODES nodes x window $WINDOW, $PAYLOAD-byte envelopes," \
        "$REPEATS repeats of ${DURATION}s; temporary directory $T"

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

# ---- 2. mosquitto ------------------------------------------------------------
log "mosquitto: QoS 1 over TLS with client certificates"
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
        # The key files live in a 0700 directory: stay the user that made them.
        [ "$(id -u)" -eq 0 ] && echo "user root"
} >"$C/mosquitto.conf"
"$MOSQUITTO" -c "$C/mosquitto.conf" >>"$C/mosquitto.log" 2>&1 &
MQTT_PID=$!
PIDS+=("$MQTT_PID")
if wait_port "$MQTT_PORT" 10; then
        repeat $REPEATS mqtt 60 "$MQTT" --port "$MQTT_PORT" --cafile "$C/ca.crt" \
                --cert "$C/client.crt" --key "$C/client.key" --publishers $NODES \
                --window $WINDOW --payload $PAYLOAD --duration "$DURATION" --warmup "$WARMUP"
else
        log "  mosquitto did not start; see $C/mosquitto.log"
fi
kill -TERM "$MQTT_PID" 2>/dev/null
wait "$MQTT_PID" 2>/dev/null
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
sed -i 's/^member_rate = .*/member_rate = 1000000/; s/^member_burst = .*/member_burst = 10000000/' \
        "$T/hub/hub.conf"
run enrol 120 "$LOAD" enrol --hub-dir "$T/hub" --seed "$T/seed" --count 5000 || exit 1
# The growth run uses a copy of this hub (same keys and members): its store is
# preloaded while the memory measurements below run, which time nothing.
cp -a "$T/hub" "$T/hub-grown"
log "growth: preloading $PRELOAD signals into a copy of the hub's store through the hub's" \
        "ingest path (in the background, at most ${PRELOAD_MAX}s)"
timeout -k 5 $((PRELOAD_MAX + 300)) "$LOAD" preload --hub-dir "$T/hub-grown" --seed "$T/seed" \
        --nodes $NODES --count $PRELOAD --max-seconds $PRELOAD_MAX \
        >"$R/preload.jsonl" 2>"$R/preload.log" &
PRELOAD_PID=$!
PIDS+=("$PRELOAD_PID")
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

for k in 1000 5000; do
        log "hub memory with $k connected nodes"
        hub_alive connect_$k &&
                run connect_$k 240 "$LOAD" connect --hub-dir "$T/hub" --seed "$T/seed" \
                        --endpoint "$EP" --nodes $k --hold "$HOLD" --hub-pid "$HUB_PID" \
                        --io-threads 2 --timeout 120
done

log "waiting for the preload to finish"
if ! wait "$PRELOAD_PID"; then
        log "  preload failed; see $R/preload.log"
        tail -3 "$R/preload.log" | sed 's/^/      /'
        echo '{"failed": true}' >>"$R/preload.failed"
fi

# ---- 5. end to end -----------------------------------------------------------
log "end to end: throughput, $NODES nodes x window $WINDOW"
for i in $(seq 1 $REPEATS); do
        hub_alive throughput && run throughput 120 "$LOAD" throughput --hub-dir "$T/hub" \
                --seed "$T/seed" --endpoint "$EP" --nodes $NODES --window $WINDOW \
                --duration "$DURATION" --warmup "$WARMUP" --drain "$DRAIN"
done
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
stored_after=$("$HUB" stats --dir "$T/hub-grown" --json 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["signals_stored"])' 2>/dev/null)
log "growth: the hub on its preloaded copy (${stored_after:-?} stored signals)"
t_restart=$(date +%s.%N)
HUB_DIR=$T/hub-grown
hub_start 900
echo "{\"restart_seconds\": $(python3 -c "import time; print(round(time.time() - $t_restart, 2))")}" \
        >"$R/restart.jsonl"
for i in $(seq 1 $REPEATS); do
        hub_alive growth && run growth 120 "$LOAD" throughput --hub-dir "$T/hub-grown" \
                --seed "$T/seed" --endpoint "$EP" --nodes $NODES --window $WINDOW \
                --duration "$DURATION" --warmup "$WARMUP" --drain "$DRAIN"
done
hub_stop

# ---- results -----------------------------------------------------------------
log "done; writing bench-results.json"
export R NODES WINDOW PAYLOAD RATE REPEATS DURATION WARMUP FLOOR_DURATION PRELOAD DRAIN quick \
        MOSQUITTO_VERSION stored_before stored_after started
python3 tests/bench/bench-report.py
