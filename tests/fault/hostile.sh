#!/usr/bin/env bash
# hostile.sh: hostile peers while well-behaved members deliver.
#
#   tests/fault/hostile.sh [--bound-ms MS] [--seed N] [--keep]
#
# Starts a hub (hub.conf [limits] member_rate = 5, member_burst = 10) and 3
# well-behaved member nodes on 127.0.0.1 in a temporary directory. Each of
# them submits one signal at a time and measures how long it takes until its
# agent holds the hub's receipt (polling `nmo-node status --id`), about two
# signals a second, below the rate limit. After a baseline of 10 s, together:
#   (a) 200 TCP connections that send the first 10 bytes of a ZMTP greeting
#       and stall (python3 sockets); the hub must close each of them once its
#       handshake time (handshake_ms, 10 s) has passed;
#   (b) a flood of handshakes with unknown CURVE keys: `nmo-node run` from 20
#       node directories whose keys are not enrolled, restarted in a loop,
#       until the hub has refused at least 500 handshakes (counted from its
#       log); each of those nodes must show the clear refusal in its status,
#       and keep its signal queued;
#   (c) a member far above its rate: 200 signals at once from a fourth,
#       enrolled node; it must get `rate-limited` refusals (temporary: the
#       signals stay queued) and still deliver all 200 in the end.
# The well-behaved nodes must keep being served: every one of their signals
# delivered, none of them slower than the bound (default 5000 ms) while the
# hostile peers are at work. The hub must run throughout.
# Binaries come from $NMO_BUILD (default: the build/ directory of this
# checkout). Every loop is bounded in count and time; everything started is
# killed on exit; the directory is removed unless --keep.
# The last line: half-open N, unknown-keys N, rate-limited N, served-ok N, lost N
#   (half-open: stalled connections opened; unknown-keys: handshakes refused;
#   rate-limited: refusals of the offender; served-ok: signals of the
#   well-behaved nodes delivered within the bound during the attacks)
# Exit status: 0 when the properties held, 1 when not, 2 usage error.
set -u

NAME=hostile
. "$(dirname "$0")/lib.sh"

keep=0 seed="" bound_ms=5000
while [ $# -gt 0 ]; do
        case "$1" in
        -h | --help) usage; exit 0 ;;
        --keep) keep=1 ;;
        --bound-ms) shift; bound_ms=${1:-} ;;
        --seed) shift; seed=${1:-} ;;
        --seed=*) seed=${1#--seed=} ;;
        *) fault_unknown "$1" ;;
        esac
        shift
done
case "$seed" in *[!0-9]*) echo "hostile.sh: --seed takes a number" >&2; exit 2 ;; esac
fault_number "$bound_ms" "--bound-ms takes a number"
[ -n "$seed" ] || seed=$(( $(date +%s) % 100000 ))
RANDOM=$seed

fault_binaries hub node
fault_need mdb_dump lmdb-utils

fault_workdir
hub_pid="" halfopen_pid=""
agent_pids=() loop_pids=()
GOOD=3 UNKNOWN=20

cleanup() {
        trap - EXIT INT TERM
        touch "$work/stop" "$work/stop-probes" 2>/dev/null
        sleep 0.5
        for p in "${loop_pids[@]}" "${agent_pids[@]}" $halfopen_pid; do
                pkill -KILL -P "$p" 2>/dev/null
                kill -KILL "$p" 2>/dev/null
        done
        [ -n "$hub_pid" ] && kill -KILL "$hub_pid" 2>/dev/null
        wait 2>/dev/null
        [ "$keep" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# refused: handshakes the hub refused so far (its log names one a second, and
# when that second closes counts the rest: "refused N more handshakes ...").
refused() {
        grep -E 'refused handshake |refused [0-9]+ more handshakes' "$work/hub.log" 2>/dev/null |
                awk '{if (match($0, /refused [0-9]+ more handshakes/)) {s = substr($0, RSTART + 8); n += s + 0} else n++} END {print n + 0}'
}

say "seed $seed, work directory $work$([ "$keep" = 1 ] && echo ' (kept)')"
port=$(free_port) aport=$(free_port)
"$HUB" init --dir "$work/hub" --listen "tcp://127.0.0.1:$port" \
        --alerts-listen "tcp://127.0.0.1:$aport" >"$work/init.log" 2>&1 || { cat "$work/init.log"; exit 1; }
sed -i -e 's/^member_rate = .*/member_rate = 5/' -e 's/^member_burst = .*/member_burst = 10/' "$work/hub/hub.conf"
mknode() { # mknode NAME [enrol]
        local d=$work/$1
        "$NODE" init --dir "$d" --hub "tcp://127.0.0.1:$port" --hub-pub "$work/hub/keys/hub.pub" \
                --name "$1" >>"$work/init.log" 2>&1 || return 1
        sed -i -e 's/^reply_timeout_ms = [0-9]*/reply_timeout_ms = 3000/' \
                -e 's/^retry_min_ms = [0-9]*/retry_min_ms = 200/' \
                -e 's/^retry_max_ms = [0-9]*/retry_max_ms = 2000/' "$d/node.conf"
        [ "${2:-}" = enrol ] || return 0
        "$HUB" member add --dir "$work/hub" --name "$1" --pub "$d/keys/member.pub" >>"$work/init.log" 2>&1
}
for n in $(seq $GOOD); do mknode "good$n" enrol || { cat "$work/init.log"; exit 1; }; done
mknode offender enrol || { cat "$work/init.log"; exit 1; }
for n in $(seq $UNKNOWN); do mknode "unknown$n" || { cat "$work/init.log"; exit 1; }; done

"$HUB" serve --dir "$work/hub" >>"$work/hub.log" 2>&1 &
hub_pid=$!
for _ in $(seq 500); do grep -q 'serving on' "$work/hub.log" && break; sleep 0.01; done
grep -q 'serving on' "$work/hub.log" || { say "FAIL: the hub does not start"; cat "$work/hub.log"; exit 1; }
for n in $(seq $GOOD); do
        "$NODE" run --dir "$work/good$n" >>"$work/good$n.log" 2>&1 &
        agent_pids+=($!)
done

# The probes: one signal at a time, its latency until the receipt is in the
# outbox, tagged with the phase (baseline, attack, after).
echo baseline >"$work/phase"
probe_loop() {
        local d=$work/good$1 i=0 id t0 ok
        while [ ! -e "$work/stop-probes" ] && [ $i -lt 2000 ]; do
                local phase
                phase=$(cat "$work/phase")
                t0=$(now_ms)
                id=$("$NODE" submit --dir "$d" --material gallium --event export-licensing --severity high \
                        --country CN 2>>"$work/probe$1.err") || { echo "$phase - -1 0" >>"$work/probe$1.txt"; sleep 0.5; continue; }
                ok=0
                for _ in $(seq 600); do
                        "$NODE" status --dir "$d" --id "$id" --json 2>/dev/null | grep -q '"state":"delivered"' && { ok=1; break; }
                        sleep 0.05
                done
                echo "$phase $id $(($(now_ms) - t0)) $ok" >>"$work/probe$1.txt"
                i=$((i + 1))
                sleep 0.4
        done
}
for n in $(seq $GOOD); do
        probe_loop "$n" &
        loop_pids+=($!)
done
say "baseline: 10 s of well-behaved traffic"
sleep 10

echo attack >"$work/phase"
attack_start=$SECONDS
# (a) half-open handshakes: 200 connections, 10 greeting bytes each, then
# nothing; the script waits (at most 30 s) for the hub to close them.
python3 - "$port" 200 30 >"$work/halfopen.txt" 2>&1 <<'EOF' &
import select, socket, sys, time
port, n, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks, opened, t0 = {}, 0, time.monotonic()
for _ in range(n):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"\xff" + b"\x00" * 8 + b"\x7f")   # the first 10 bytes of a ZMTP greeting
        s.setblocking(False)
        socks[s.fileno()] = (s, time.monotonic())
        opened += 1
    except OSError as e:
        print("connect failed:", e, file=sys.stderr)
closed, slowest = 0, 0.0
while socks and time.monotonic() - t0 < limit:
    r, _, _ = select.select(list(socks), [], [], 0.5)
    for fd in r:
        s, t = socks[fd]
        try:
            gone = s.recv(4096) == b""
        except BlockingIOError:
            gone = False
        except OSError:
            gone = True
        if gone:
            closed += 1
            slowest = max(slowest, time.monotonic() - t)
            s.close()
            del socks[fd]
for s, _ in socks.values():
    s.close()
print(opened, closed, "%.1f" % slowest, len(socks))
EOF
halfopen_pid=$!

# (c) the offender: 200 signals at once.
for i in $(seq 200); do
        echo "{\"material\":\"tungsten\",\"event\":\"plant-outage\",\"severity\":\"medium\",\"country\":\"CN\",\"volume\":$i}"
done >"$work/offender.jsonl"
"$NODE" submit --dir "$work/offender" --file "$work/offender.jsonl" >"$work/offender-ids.txt" 2>>"$work/submit.err" ||
        say "FAIL: the offender's submit failed"
"$NODE" run --dir "$work/offender" >>"$work/offender.log" 2>&1 &
agent_pids+=($!)

# (b) unknown keys: 20 agents restarted in a loop, each with one signal queued.
for n in $(seq $UNKNOWN); do
        "$NODE" submit --dir "$work/unknown$n" --material gallium --event export-ban --severity low --country CN \
                >/dev/null 2>>"$work/submit.err"
        (
                r=0
                while [ ! -e "$work/stop" ] && [ $r -lt 200 ]; do
                        "$NODE" run --dir "$work/unknown$n" --once --timeout 1 >>"$work/unknown$n.log" 2>&1
                        r=$((r + 1))
                done
        ) &
        loop_pids+=($!)
done
for _ in $(seq 120); do
        [ "$(refused)" -ge 500 ] && break
        sleep 1
done
touch "$work/stop"
unknown_refused=$(refused)
say "unknown keys: $unknown_refused handshakes refused in $((SECONDS - attack_start)) s"
wait "$halfopen_pid" 2>/dev/null
halfopen_pid=""
read -r ho_opened ho_closed ho_slowest ho_open <"$work/halfopen.txt" || { ho_opened=0 ho_closed=0 ho_slowest=0 ho_open=0; }
say "half-open: $ho_opened opened, $ho_closed closed by the hub (the last after $ho_slowest s), $ho_open still open"

# The offender drains at 5 a second (at most 180 s); the attack phase ends
# with it.
for _ in $(seq 180); do
        "$NODE" status --dir "$work/offender" --json 2>/dev/null |
                python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["queued"]+d["in_flight"]==0 else 1)' && break
        sleep 1
done
echo after >"$work/phase"
attack_s=$((SECONDS - attack_start))
say "attack phase: $attack_s s"
sleep 3
touch "$work/stop-probes"
# The loops end by themselves (a probe waits at most 30 s for its receipt).
for _ in $(seq 400); do
        alive=0
        for p in "${loop_pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
done
"$HUB" stats --dir "$work/hub" --json >"$work/stats.json" 2>>"$work/status.err"
for d in good1 good2 good3 offender; do
        "$NODE" status --dir "$work/$d" --json >"$work/status-$d.json" 2>>"$work/status.err"
done
for n in $(seq $UNKNOWN); do
        "$NODE" status --dir "$work/unknown$n" --json >"$work/status-unknown$n.json" 2>>"$work/status.err"
done
hub_alive=1
kill -0 "$hub_pid" 2>/dev/null || hub_alive=0
for p in "${loop_pids[@]}"; do pkill -KILL -P "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
for p in "${agent_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
wait "${loop_pids[@]}" "${agent_pids[@]}" 2>/dev/null
loop_pids=() agent_pids=()
kill -TERM "$hub_pid" 2>/dev/null
wait "$hub_pid" 2>/dev/null
hub_pid=""
"$HUB" member list --dir "$work/hub" --json >"$work/members.json" 2>>"$work/status.err"
mdb_dump -s signals "$work/hub/private" >"$work/signals.dump" 2>>"$work/status.err"

python3 - "$work" "$GOOD" "$UNKNOWN" "$bound_ms" "$hub_alive" "$unknown_refused" \
        "$ho_opened" "$ho_closed" "$ho_open" "$attack_s" <<'EOF'
import json, sys, statistics
work, good, unknown, bound = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
hub_alive, refused = sys.argv[5] == "1", int(sys.argv[6])
ho_opened, ho_closed, ho_open = int(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9])
durations = {"baseline": 10.0, "attack": float(sys.argv[10]), "after": 3.0}
fails = []
members = {m["name"]: m["id"] for m in json.load(open(work + "/members.json"))}
stored = set()
with open(work + "/signals.dump") as f:
    lines = [l[1:].rstrip("\n") for l in f if l.startswith(" ")]
stored = set(lines[0::2])
stats = json.load(open(work + "/stats.json"))
lost = 0
def check_delivered(name, ids):
    global lost
    st = json.load(open("%s/status-%s.json" % (work, name)))
    by = {s["id"]: s for s in st["signals"]}
    p = "%08x" % members[name]
    for i in ids:
        if by.get(i, {}).get("state") != "delivered" or p + i not in stored:
            lost += 1
    if st["rejected"]:
        fails.append("%s: %d signals rejected for good" % (name, st["rejected"]))
    return st
lat = {"baseline": [], "attack": [], "after": []}
served_ok = 0
for n in range(1, good + 1):
    rows = [l.split() for l in open("%s/probe%d.txt" % (work, n)) if l.strip()]
    ids = [r[1] for r in rows if r[1] != "-"]
    if any(r[1] == "-" for r in rows):
        fails.append("good%d: %d submits failed" % (n, sum(1 for r in rows if r[1] == "-")))
    for phase, i, ms, ok in rows:
        if i == "-":
            continue
        if ok != "1":
            fails.append("good%d: signal %s not delivered within 30 s (%s phase)" % (n, i, phase))
            continue
        lat[phase].append(int(ms))
        if phase == "attack" and int(ms) <= bound:
            served_ok += 1
    check_delivered("good%d" % n, ids)
def summary(xs, seconds):
    if not xs:
        return "none"
    xs = sorted(xs)
    return "%d signals (%.1f/s), latency median %d ms, p95 %d ms, max %d ms" % (
        len(xs), len(xs) / max(seconds, 1.0), statistics.median(xs), xs[int(0.95 * (len(xs) - 1))], xs[-1])
for phase in ("baseline", "attack"):
    print("hostile: well-behaved, %s: %s" % (phase, summary(lat[phase], durations[phase])))
slow = [x for x in lat["attack"] if x > bound]
if slow:
    fails.append("%d well-behaved signals took longer than %d ms during the attacks (max %d ms)" % (len(slow), bound, max(slow)))
if not lat["attack"]:
    fails.append("no well-behaved signal measured during the attacks")
off_ids = [l.strip() for l in open(work + "/offender-ids.txt") if l.strip()]
st = check_delivered("offender", off_ids)
rl = stats.get("rejected_by_reason", {}).get("rate-limited", 0)
print("hostile: offender: %d of %d delivered, %d rate-limited refusals" % (st["delivered"], len(off_ids), rl))
if rl == 0:
    fails.append("the offender got no rate-limited refusal")
if len(off_ids) != 200:
    fails.append("the offender queued %d signals, not 200" % len(off_ids))
unclear = queued = 0
for n in range(1, unknown + 1):
    u = json.load(open("%s/status-unknown%d.json" % (work, n)))
    err = (u.get("last_hub_error") or {}).get("message", "")
    if "refused this node's key" not in err:
        unclear += 1
    queued += u["queued"] + u["in_flight"]
if unclear:
    fails.append("%d unknown-key nodes show no clear refusal in their status" % unclear)
if queued != unknown:
    fails.append("the unknown-key nodes hold %d queued signals, not %d" % (queued, unknown))
if refused < 500:
    fails.append("only %d handshakes with unknown keys were refused (wanted 500)" % refused)
if ho_opened < 200 or ho_open:
    fails.append("half-open: %d of 200 opened, %d not closed by the hub within 30 s" % (ho_opened, ho_open))
other = {k: v for k, v in stats.get("rejected_by_reason", {}).items() if k != "rate-limited" and v}
if other:
    fails.append("refusals other than rate-limited: %s" % other)
if not hub_alive:
    fails.append("the hub did not survive")
for f in fails:
    print("hostile: FAIL: " + f)
print("half-open %d, unknown-keys %d, rate-limited %d, served-ok %d, lost %d" % (ho_opened, refused, rl, served_ok, lost))
sys.exit(0 if not fails and lost == 0 else 1)
EOF
