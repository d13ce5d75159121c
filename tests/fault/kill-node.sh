#!/usr/bin/env bash
# kill-node.sh: the node agent killed with SIGKILL at random moments while it
# delivers, and `nmo-node submit --file` killed while it writes.
#
#   tests/fault/kill-node.sh [CYCLES] [--seed N] [--keep]    (CYCLES default 100)
#
# Starts a hub and one member node on 127.0.0.1 in a temporary directory and
# keeps a backlog of queued signals; the hub's rate limit for the member
# (1000/s, burst 500: temporary rate-limited refusals) paces the delivery, so
# the agent is always delivering when it is killed. Then, CYCLES times:
# submit a JSONL batch (a completed submit: its printed ids are recorded),
# start `nmo-node run`, sleep a random 50-400 ms, kill the agent with SIGKILL
# and check that `nmo-node status --json` still reads the outbox. A few times
# (CYCLES/5 times, at least once) a large `submit --file` is killed with
# SIGKILL after a random delay around the time a submit of that size takes:
# its batch must be in the outbox whole or not at all. At the end the agent
# delivers everything (`run --once`) and the script checks that the outbox is
# intact: status works, mdb_dump reads every page, the ids in the outbox are
# exactly those of the completed submits plus the whole batches of killed
# submits that had committed (no partial batch), all delivered, none
# rejected; the hub stored each exactly once (signals_stored, mdb_dump of its
# signals database). (Receipts carry no store sequence: PROTOCOL.md 4.3.)
# Binaries come from $NMO_BUILD (default: the build/ directory of this
# checkout). Every loop is bounded in count and time; everything started is
# killed on exit; the directory is removed unless --keep.
# The last line: cycles N, submitted N, delivered N, lost N, duplicated N
# Exit status: 0 when the properties held, 1 when not, 2 usage error.
set -u

NAME=kill-node
. "$(dirname "$0")/lib.sh"

cycles=100 keep=0 seed=""
while [ $# -gt 0 ]; do
        case "$1" in
        -h | --help) usage; exit 0 ;;
        --keep) keep=1 ;;
        --seed) shift; seed=${1:-} ;;
        --seed=*) seed=${1#--seed=} ;;
        [0-9]*) cycles=$1 ;;
        *) fault_unknown "$1" ;;
        esac
        shift
done
fault_number "$cycles" "CYCLES must be a number"
fault_seed

fault_binaries hub node
fault_need mdb_dump lmdb-utils

fault_workdir
hub_pid="" agent_pid="" submit_pid=""

cleanup() {
        trap - EXIT INT TERM
        for p in $submit_pid $agent_pid $hub_pid; do kill -KILL "$p" 2>/dev/null; done
        wait 2>/dev/null
        [ "$keep" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

node=$work/node
# outbox_ids FILE: writes the sorted ids in the outbox to FILE; fails when
# status fails or prints something that is not the expected JSON.
outbox_ids() {
        "$NODE" status --dir "$node" --json 2>>"$work/status.err" |
                python3 -c 'import json,sys
d=json.load(sys.stdin)
assert all(k in d for k in ("queued","in_flight","delivered","rejected","signals"))
for s in d["signals"]: print(s["id"])' 2>>"$work/status.err" | sort >"$1"
        local ps=("${PIPESTATUS[@]}")
        [ "${ps[0]}" -eq 0 ] && [ "${ps[1]}" -eq 0 ]
}
start_agent() {
        "$NODE" run --dir "$node" >>"$work/agent.log" 2>&1 &
        agent_pid=$!
}

say "seed $seed, $cycles cycles, work directory $work$([ "$keep" = 1 ] && echo ' (kept)')"
port=$(free_port) aport=$(free_port)
{
        "$HUB" init --dir "$work/hub" --listen "tcp://127.0.0.1:$port" --alerts-listen "tcp://127.0.0.1:$aport" &&
        "$NODE" init --dir "$node" --hub "tcp://127.0.0.1:$port" --hub-pub "$work/hub/keys/hub.pub" --name member1 &&
        "$HUB" member add --dir "$work/hub" --name member1 --pub "$node/keys/member.pub"
} >"$work/init.log" 2>&1 || { cat "$work/init.log"; exit 1; }
sed -i -e 's/^reply_timeout_ms = [0-9]*/reply_timeout_ms = 1500/' \
        -e 's/^retry_min_ms = [0-9]*/retry_min_ms = 100/' \
        -e 's/^retry_max_ms = [0-9]*/retry_max_ms = 2000/' "$node/node.conf"
# The hub's per-member rate limit paces the delivery (the refusals are
# temporary: rate-limited), so that the agent is busy for many cycles.
sed -i -e 's/^member_rate = .*/member_rate = 1000/' -e 's/^member_burst = .*/member_burst = 500/' "$work/hub/hub.conf"
"$HUB" serve --dir "$work/hub" >>"$work/hub.log" 2>&1 &
hub_pid=$!

line() { # line N: one signal, varied by N
        local m=(gallium germanium tungsten cobalt) e=(export-ban plant-outage strike) s=(low medium high critical)
        echo "{\"material\":\"${m[$(($1 % 4))]}\",\"event\":\"${e[$(($1 % 3))]}\",\"severity\":\"${s[$(($1 % 4))]}\",\"country\":\"CN\",\"volume\":$(($1 % 1000 + 1))}"
}
for i in $(seq 48); do line "$i"; done >"$work/small.jsonl"
for i in $(seq 400); do line "$i"; done >"$work/big.jsonl"
small=48 big=400
: >"$work/expected.txt"

# A backlog of 2000 signals, so the agent always has something to deliver;
# the first big submit also tells how long a submit of 400 takes.
t0=$(now_ms)
"$NODE" submit --dir "$node" --file "$work/big.jsonl" >>"$work/expected.txt" 2>>"$work/submit.err" || { say "FAIL: submit"; exit 1; }
big_ms=$(($(now_ms) - t0))
for _ in 1 2 3 4; do
        "$NODE" submit --dir "$node" --file "$work/big.jsonl" >>"$work/expected.txt" 2>>"$work/submit.err" || { say "FAIL: submit"; exit 1; }
done
say "a submit of $big ids takes about $big_ms ms; backlog $(wc -l <"$work/expected.txt")"

every=$((cycles / 5)); [ "$every" -ge 1 ] || every=1
q=0 done_cycles=0 status_failures=0 busy_kills=0 ksubmits=0 kcommitted=0 kempty=0 kpartial=0 kcompleted=0
deadline=$((SECONDS + cycles * 5 + 300))
for c in $(seq "$cycles"); do
        [ $SECONDS -lt $deadline ] || { say "FAIL: out of time after $done_cycles cycles"; break; }
        # A completed submit.
        if ! "$NODE" submit --dir "$node" --file "$work/small.jsonl" >"$work/out.txt" 2>>"$work/submit.err"; then
                say "FAIL: submit failed in cycle $c"; status_failures=$((status_failures + 1))
        fi
        [ "$(wc -l <"$work/out.txt")" -eq "$small" ] || say "FAIL: a completed submit printed $(wc -l <"$work/out.txt") ids, not $small"
        cat "$work/out.txt" >>"$work/expected.txt"
        # Keep a backlog, so that the agent is delivering whenever it is killed.
        if [ "${q:-0}" -lt 1500 ]; then
                for _ in 1 2 3; do
                        "$NODE" submit --dir "$node" --file "$work/big.jsonl" >>"$work/expected.txt" 2>>"$work/submit.err" ||
                                { say "FAIL: submit failed in cycle $c"; status_failures=$((status_failures + 1)); }
                done
        fi

        # Now and then a submit killed mid-write: whole batch or nothing.
        if [ $((c % every)) -eq 0 ]; then
                ksubmits=$((ksubmits + 1))
                outbox_ids "$work/before.txt" || status_failures=$((status_failures + 1))
                "$NODE" submit --dir "$node" --file "$work/big.jsonl" >"$work/killed-out.txt" 2>>"$work/submit.err" &
                submit_pid=$!
                ms $((5 + RANDOM % (big_ms + big_ms / 4 + 1)))
                kill -KILL "$submit_pid" 2>/dev/null
                wait "$submit_pid" 2>/dev/null; rc=$?
                submit_pid=""
                outbox_ids "$work/after.txt" || status_failures=$((status_failures + 1))
                comm -13 "$work/before.txt" "$work/after.txt" >"$work/delta.txt"
                nd=$(wc -l <"$work/delta.txt")
                if [ "$rc" -eq 0 ]; then
                        # It finished before the kill: a completed submit.
                        kcompleted=$((kcompleted + 1))
                        cat "$work/killed-out.txt" >>"$work/expected.txt"
                        [ "$nd" -eq "$big" ] || { kpartial=$((kpartial + 1)); say "FAIL: a submit of $big added $nd"; }
                elif [ "$nd" -eq 0 ]; then
                        kempty=$((kempty + 1))
                elif [ "$nd" -eq "$big" ]; then
                        kcommitted=$((kcommitted + 1))
                        cat "$work/delta.txt" >>"$work/expected.txt"
                else
                        kpartial=$((kpartial + 1))
                        say "FAIL: a killed submit left $nd of its $big signals in the outbox"
                        cat "$work/delta.txt" >>"$work/partial.txt"
                fi
                # What it printed before it died must be in the outbox.
                if [ -s "$work/killed-out.txt" ] && [ -n "$(sort "$work/killed-out.txt" | comm -23 - "$work/after.txt")" ]; then
                        say "FAIL: a killed submit printed ids that are not in the outbox"
                        kpartial=$((kpartial + 1))
                fi
        fi

        # The agent, killed while it delivers.
        start_agent
        ms $((50 + RANDOM % 351))
        kill -KILL "$agent_pid" 2>/dev/null
        wait "$agent_pid" 2>/dev/null
        agent_pid=""
        echo "=== killed (cycle $c)" >>"$work/agent.log"
        if "$NODE" status --dir "$node" --json >"$work/st.json" 2>>"$work/status.err" &&
                q=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["queued"]+d["in_flight"])' "$work/st.json" 2>>"$work/status.err"); then
                [ "$q" -gt 0 ] && busy_kills=$((busy_kills + 1))
        else
                status_failures=$((status_failures + 1))
                say "FAIL: status does not read the outbox after the kill in cycle $c"
        fi
        done_cycles=$c
        [ $((c % (cycles / 5 > 0 ? cycles / 5 : 1))) -eq 0 ] &&
                say "cycle $c/$cycles: $(wc -l <"$work/expected.txt") submitted, $q still to deliver"
done
say "$busy_kills of $done_cycles agent kills came while signals were queued or in flight"
say "killed submits: $ksubmits ($kempty left nothing, $kcommitted left their whole batch, $kpartial partial, $kcompleted finished before the kill)"

# Deliver the rest (at most 300 s), then look at everything.
"$NODE" run --dir "$node" --once --timeout 300 >>"$work/agent.log" 2>&1
once_rc=$?
[ "$once_rc" -eq 0 ] || say "FAIL: run --once did not empty the outbox (exit $once_rc)"
"$NODE" status --dir "$node" --json >"$work/status.json" 2>>"$work/status.err" || status_failures=$((status_failures + 1))
mdb_dump -a "$node/outbox" >/dev/null 2>>"$work/status.err" || { say "FAIL: mdb_dump cannot read the whole outbox"; status_failures=$((status_failures + 1)); }
"$HUB" stats --dir "$work/hub" --json >"$work/stats.json" 2>>"$work/status.err"
kill -TERM "$hub_pid" 2>/dev/null
for _ in $(seq 100); do kill -0 "$hub_pid" 2>/dev/null || break; sleep 0.1; done
kill -KILL "$hub_pid" 2>/dev/null; wait "$hub_pid" 2>/dev/null; hub_pid=""
"$HUB" member list --dir "$work/hub" --json >"$work/members.json" 2>>"$work/status.err"
mdb_dump -s signals "$work/hub/private" >"$work/signals.dump" 2>>"$work/status.err"

python3 - "$work" "$done_cycles" "$status_failures" "$kpartial" <<'EOF'
import json, sys, collections
work, cycles, status_failures, partial = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
fails = []
with open(work + "/expected.txt") as f:
    exp_list = [l.strip() for l in f if l.strip()]
expected = set(exp_list)
dup_printed = len(exp_list) - len(expected)
st = json.load(open(work + "/status.json"))
stats = json.load(open(work + "/stats.json"))
mid = {m["name"]: m["id"] for m in json.load(open(work + "/members.json"))}["member1"]
by_id = {s["id"]: s for s in st["signals"]}
stored = collections.Counter()
with open(work + "/signals.dump") as f:
    lines = [l[1:].rstrip("\n") for l in f if l.startswith(" ")]
for k in lines[0::2]:
    if k.startswith("%08x" % mid):
        stored[k[8:]] += 1
lost = 0
for i in expected:
    s = by_id.get(i)
    if s is None or s["state"] != "delivered" or i not in stored:
        lost += 1
        if lost <= 5:
            fails.append("signal %s: %s, %s in the hub's store" % (
                i, "missing from the outbox" if s is None else s["state"], "present" if i in stored else "absent"))
extra = set(by_id) - expected
if extra:
    fails.append("%d ids in the outbox that no completed submit printed and no whole killed batch explains" % len(extra))
twice = sum(c - 1 for c in stored.values())
duplicated = max(0, stats["signals_stored"] - len(expected)) + twice + dup_printed
if st["queued"] or st["in_flight"] or st["rejected"]:
    fails.append("outbox at the end: %d queued, %d in flight, %d rejected" % (st["queued"], st["in_flight"], st["rejected"]))
if stats["signals_stored"] != len(expected) or st["delivered"] != len(expected) or len(stored) != len(expected):
    fails.append("signals_stored %d, records in the hub's store %d, expected %d, delivered %d"
                 % (stats["signals_stored"], len(stored), len(expected), st["delivered"]))
if status_failures:
    fails.append("%d times the outbox could not be read or a submit failed" % status_failures)
if partial:
    fails.append("%d killed submits left a partial batch" % partial)
print("kill-node: %d submitted, %d delivered, hub stored %d (%d duplicates answered with the original receipt)"
      % (len(expected), st["delivered"], stats["signals_stored"], stats.get("duplicates", 0)))
for f in fails:
    print("kill-node: FAIL: " + f)
print("cycles %d, submitted %d, delivered %d, lost %d, duplicated %d" % (cycles, len(expected), st["delivered"], lost, duplicated))
sys.exit(0 if not fails and lost == 0 and duplicated == 0 else 1)
EOF
rc=$?
[ "$done_cycles" -eq "$cycles" ] || rc=1
exit $rc
