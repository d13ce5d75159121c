#!/usr/bin/env bash
# clock-skew.sh: node clocks ahead of the hub, within and beyond the 15-minute
# window (PROTOCOL.md section 7, check 14: CLOCK_SKEW, temporary).
#
#   tests/fault/clock-skew.sh [--bound S] [--keep]
#
# Runs node commands under libfaketime (LD_PRELOAD libfaketimeMT.so.1,
# FAKETIME=+10m or +2h, FAKETIME_DONT_FAKE_MONOTONIC=1) against a hub on real
# time, on 127.0.0.1 in a temporary directory. A signal's created_ms is sealed
# at submit, so the clock of `submit` is what the hub judges.
#   1. node A submits 10 signals at +10 min (within the window) and delivers
#      them: all accepted.
#   2. node A submits 10 signals at +2 h (beyond the window); its agent (on
#      real time) gets clock-skew refusals: temporary, the signals stay
#      queued.
#   3. node B does the same with its whole clock at +2 h (submit and agent),
#      then its clock is put right (its agent restarted on real time, as
#      after an NTP fix): the signals must still be queued, and retried.
#   4. The hub is restarted under FAKETIME=+2h, so that its clock reaches the
#      signals' time: every queued signal of A and B must then be delivered
#      within the bound (default 60 s, above the default retry_max_ms).
# At the end every signal is stored once at the hub (mdb_dump), and the
# hub counted the clock-skew refusals (nmo-hub stats).
# When libfaketime is missing (Debian package faketime) the script says so and
# exits 0, marked "skipped" in its last line.
# Binaries come from $NMO_BUILD (default: the build/ directory of this
# checkout). Every loop is bounded in count and time; everything started is
# killed on exit; the directory is removed unless --keep.
# The last line: within-window accepted N, beyond-window refused N,
#   delivered-later N, lost N
#   (lost: signals missing from an outbox, rejected for good, or not stored;
#   signals still queued at the end are reported separately)
# Exit status: 0 when the properties held (or skipped), 1 when not, 2 usage
# error.
set -u

NAME=clock-skew
. "$(dirname "$0")/lib.sh"

keep=0 bound=60
while [ $# -gt 0 ]; do
        case "$1" in
        -h | --help) usage; exit 0 ;;
        --keep) keep=1 ;;
        --bound) shift; bound=${1:-} ;;
        *) fault_unknown "$1" ;;
        esac
        shift
done
fault_number "$bound" "--bound takes a number of seconds"

fault_binaries hub node
fault_need mdb_dump lmdb-utils
faketime_lib=$(fault_faketime)
if [ -z "$faketime_lib" ]; then
        say "skipped: libfaketimeMT.so.1 not found (apt-get install faketime)"
        echo "within-window accepted 0, beyond-window refused 0, delivered-later 0, lost 0 (skipped)"
        exit 0
fi
# at OFFSET CMD...: runs CMD with its clock OFFSET ahead (+10m, +2h).
at() {
        local off=$1
        shift
        LD_PRELOAD=$faketime_lib FAKETIME=$off FAKETIME_DONT_FAKE_MONOTONIC=1 "$@"
}
if [ "$(at +2h date +%s)" -lt $(($(date +%s) + 7000)) ]; then
        say "skipped: libfaketime does not move the clock here"
        echo "within-window accepted 0, beyond-window refused 0, delivered-later 0, lost 0 (skipped)"
        exit 0
fi

fault_workdir
hub_pid=""
agent_pids=()
cleanup() {
        trap - EXIT INT TERM
        for p in $hub_pid "${agent_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
        wait 2>/dev/null
        [ "$keep" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "work directory $work$([ "$keep" = 1 ] && echo ' (kept)')"
port=$(free_port) aport=$(free_port)
"$HUB" init --dir "$work/hub" --listen "tcp://127.0.0.1:$port" \
        --alerts-listen "tcp://127.0.0.1:$aport" >"$work/init.log" 2>&1 || { cat "$work/init.log"; exit 1; }
for n in A B; do
        d=$work/node$n
        {
                "$NODE" init --dir "$d" --hub "tcp://127.0.0.1:$port" --hub-pub "$work/hub/keys/hub.pub" --name "member$n" &&
                "$HUB" member add --dir "$work/hub" --name "member$n" --pub "$d/keys/member.pub"
        } >>"$work/init.log" 2>&1 || { cat "$work/init.log"; exit 1; }
        # The default backoff (retry_max_ms 60 s) is kept: it is part of what
        # the bound must cover.
done
start_hub() { # start_hub [OFFSET]: with the clock OFFSET away (faketime)
        if [ -n "${1:-}" ]; then
                fault_start_hub "$work/hub" "$work/hub.log" LD_PRELOAD="$faketime_lib" \
                        FAKETIME="$1" FAKETIME_DONT_FAKE_MONOTONIC=1
        else
                fault_start_hub "$work/hub" "$work/hub.log"
        fi
}
# state DIR IDFILE: prints "delivered queued skew other" for the ids in IDFILE.
state() {
        "$NODE" status --dir "$1" --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin); ids = set(open(sys.argv[1]).read().split())
by = {s["id"]: s for s in d["signals"]}
dl = sum(1 for i in ids if by.get(i, {}).get("state") == "delivered")
q = sum(1 for i in ids if by.get(i, {}).get("state") in ("queued", "in-flight"))
sk = sum(1 for i in ids if "clock-skew" in (by.get(i, {}).get("last_error") or ""))
print(dl, q, sk, len(ids) - dl - q)' "$2" 2>/dev/null || echo "0 0 0 -1"
}
submit10() { # submit10 OFFSET DIR IDFILE
        local i
        for i in $(seq 10); do
                echo "{\"material\":\"gallium\",\"event\":\"export-licensing\",\"severity\":\"high\",\"country\":\"CN\",\"volume\":$i}"
        done >"$work/ten.jsonl"
        at "$1" "$NODE" submit --dir "$2" --file "$work/ten.jsonl" >"$3" 2>>"$work/submit.err"
}
fails=()
start_hub || { say "FAIL: the hub does not start"; cat "$work/hub.log"; exit 1; }

# 1. +10 min: within the window.
submit10 +10m "$work/nodeA" "$work/ids-10m.txt" || fails+=("submit at +10m failed")
"$NODE" run --dir "$work/nodeA" --once --timeout 30 >>"$work/nodeA.log" 2>&1 || fails+=("node A did not deliver its +10 min signals")
read -r acc_10m _ _ _ < <(state "$work/nodeA" "$work/ids-10m.txt")
say "+10 min: $acc_10m of 10 accepted"
[ "$acc_10m" -eq 10 ] || fails+=("only $acc_10m of 10 signals dated +10 min accepted")

# 2. +2 h from node A's submit; its agent on real time.
submit10 +2h "$work/nodeA" "$work/ids-A2h.txt" || fails+=("submit at +2h failed")
"$NODE" run --dir "$work/nodeA" --once --timeout 5 >>"$work/nodeA.log" 2>&1
read -r dA qA skA _ < <(state "$work/nodeA" "$work/ids-A2h.txt")
say "+2 h (node A, agent on real time): $dA delivered, $qA still queued, $skA refused with clock-skew"

# 3. Node B with its whole clock at +2 h, then put right.
submit10 +2h "$work/nodeB" "$work/ids-B2h.txt" || fails+=("submit at +2h failed")
at +2h "$NODE" run --dir "$work/nodeB" --once --timeout 5 >>"$work/nodeB.log" 2>&1
read -r dB qB skB _ < <(state "$work/nodeB" "$work/ids-B2h.txt")
say "+2 h (node B, agent at +2 h too): $dB delivered, $qB still queued, $skB refused with clock-skew"
refused=$((skA + skB))
[ "$dA" -eq 0 ] && [ "$dB" -eq 0 ] || fails+=("signals dated +2 h were accepted ($dA, $dB)")
[ "$qA" -eq 10 ] && [ "$qB" -eq 10 ] || fails+=("signals dated +2 h are not all queued ($qA, $qB)")
[ "$skA" -eq 10 ] && [ "$skB" -eq 10 ] || fails+=("not every signal dated +2 h shows the clock-skew refusal ($skA, $skB)")
# Both agents on real time now: the hub still refuses, the signals stay.
for n in A B; do
        "$NODE" run --dir "$work/node$n" >>"$work/node$n.log" 2>&1 &
        agent_pids+=($!)
done
sleep 5
read -r dA2 qA2 _ _ < <(state "$work/nodeA" "$work/ids-A2h.txt")
read -r dB2 qB2 _ _ < <(state "$work/nodeB" "$work/ids-B2h.txt")
say "nodes on real time, hub on real time: $((dA2 + dB2)) delivered, $((qA2 + qB2)) still queued"
[ "$((dA2 + dB2))" -eq 0 ] && [ "$((qA2 + qB2))" -eq 20 ] || fails+=("with the hub on real time the +2 h signals did not stay queued")
"$HUB" stats --dir "$work/hub" --json >"$work/stats-before.json" 2>>"$work/status.err"

# 4. The hub's clock reaches the signals' time.
stop_hub
start_hub +2h || { fails+=("the hub does not start under FAKETIME=+2h"); }
t0=$SECONDS
while [ $((SECONDS - t0)) -lt "$bound" ]; do
        read -r dA3 _ _ _ < <(state "$work/nodeA" "$work/ids-A2h.txt")
        read -r dB3 _ _ _ < <(state "$work/nodeB" "$work/ids-B2h.txt")
        [ "$((dA3 + dB3))" -eq 20 ] && break
        sleep 1
done
read -r dA3 _ _ _ < <(state "$work/nodeA" "$work/ids-A2h.txt")
read -r dB3 qB3 _ _ < <(state "$work/nodeB" "$work/ids-B2h.txt")
say "hub at +2 h: node A $dA3 of 10 delivered, node B $dB3 of 10 delivered within $((SECONDS - t0)) s"
[ "$dA3" -eq 10 ] || fails+=("node A: $dA3 of 10 delivered after the hub's clock reached them")
if [ "$dB3" -ne 10 ]; then
        fails+=("node B: $dB3 of 10 delivered within $bound s after the hub's clock reached them; $qB3 still queued")
        "$NODE" status --dir "$work/nodeB" --json 2>/dev/null | python3 -c '
import json, sys, datetime
d = json.load(sys.stdin)
for s in d["signals"]:
    if s["state"] == "queued":
        print("clock-skew: node B signal %s: attempts %s, next_attempt %s (now %s), last_error %s" % (
            s["id"], s["attempts"], s["next_attempt"],
            datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), s["last_error"]))
        break'
fi
"$HUB" stats --dir "$work/hub" --json >"$work/stats.json" 2>>"$work/status.err"
for p in "${agent_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
wait "${agent_pids[@]}" 2>/dev/null
agent_pids=()
stop_hub
"$HUB" member list --dir "$work/hub" --json >"$work/members.json" 2>>"$work/status.err"
mdb_dump -s signals "$work/hub/private" >"$work/signals.dump" 2>>"$work/status.err"
for n in A B; do "$NODE" status --dir "$work/node$n" --json >"$work/status$n.json" 2>>"$work/status.err"; done

read -r lost skew_counted < <(python3 - "$work" <<'EOF'
import json, sys
work = sys.argv[1]
members = {m["name"]: m["id"] for m in json.load(open(work + "/members.json"))}
with open(work + "/signals.dump") as f:
    lines = [l[1:].rstrip("\n") for l in f if l.startswith(" ")]
stored = set(lines[0::2])
lost = 0
for node, files in (("A", ("ids-10m.txt", "ids-A2h.txt")), ("B", ("ids-B2h.txt",))):
    st = json.load(open("%s/status%s.json" % (work, node)))
    by = {s["id"]: s for s in st["signals"]}
    p = "%08x" % members["member" + node]
    for fn in files:
        for i in open(work + "/" + fn).read().split():
            s = by.get(i)
            if s is None or s["state"] == "rejected" or (s["state"] == "delivered" and p + i not in stored):
                lost += 1
stats = json.load(open(work + "/stats.json"))
print(lost, stats.get("rejected_by_reason", {}).get("clock-skew", 0))
EOF
) || { lost=-1 skew_counted=0; fails+=("the final check failed"); }
say "the hub counted $skew_counted clock-skew refusals"
[ "$skew_counted" -ge 20 ] || fails+=("the hub counted $skew_counted clock-skew refusals, fewer than 20")
[ "$lost" -eq 0 ] || fails+=("$lost signals lost")
for f in "${fails[@]}"; do say "FAIL: $f"; done
echo "within-window accepted $acc_10m, beyond-window refused $refused, delivered-later $((dA3 + dB3)), lost $lost"
[ ${#fails[@]} -eq 0 ]
