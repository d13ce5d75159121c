#!/usr/bin/env bash
# analytics-lag.sh: does the aggregation keep up with the private store after
# the last batch of a material? (A reproduction for the fault scripts:
# kill-hub.sh checks the same property in its settle rounds.) Figures reach
# the analytics store only at release points; what must keep up is the
# counting behind them, which `nmo-hub stats` shows as aggregation_backlog.
#
#   tests/fault/analytics-lag.sh [ROUNDS] [--keep]       (ROUNDS default 200)
#
# Starts a hub (no rate limit) and 3 member nodes on 127.0.0.1 in a temporary
# directory. Each round every node submits 400 signals of one material
# (gallium / export-ban / CN); once the hub has stored them all, its
# aggregation_backlog (stored signals not yet counted) must be 0 within 3 s
# (the aggregation thread folds every 500 ms). When not, the script waits 5 s
# more and looks again, to tell a slow fold from a lost one. No fault is
# injected: the fold runs while batches commit. A lost fold would need to fall
# inside the last commit of a round, so the default is 200 rounds, about 2
# minutes.
# Binaries come from $NMO_BUILD (default: the build/ directory of this
# checkout). Every loop is bounded in count and time; everything started is
# killed on exit; the directory is removed unless --keep.
# The last line: rounds N, behind N, still-behind-after-5s N
# Exit status: 0 when the aggregation was never behind, 1 when it was, 2
# usage error.
set -u

NAME=analytics-lag
. "$(dirname "$0")/lib.sh"

rounds=200 keep=0
while [ $# -gt 0 ]; do
        case "$1" in
        -h | --help) usage; exit 0 ;;
        --keep) keep=1 ;;
        [0-9]*) rounds=$1 ;;
        *) fault_unknown "$1" ;;
        esac
        shift
done
fault_number "$rounds" "ROUNDS must be a number"

fault_binaries hub node

fault_workdir
pids=()
cleanup() {
        trap - EXIT INT TERM
        for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
        wait 2>/dev/null
        [ "$keep" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
stored() { fault_stored "$work/hub"; }
backlog() {
        "$HUB" stats --dir "$work/hub" --json 2>/dev/null |
                python3 -c 'import json,sys; print(json.load(sys.stdin).get("aggregation_backlog", -1))' 2>/dev/null || echo -1
}

say "$rounds rounds, work directory $work$([ "$keep" = 1 ] && echo ' (kept)')"
port=$(free_port) aport=$(free_port)
"$HUB" init --dir "$work/hub" --listen "tcp://127.0.0.1:$port" --alerts-listen "tcp://127.0.0.1:$aport" \
        >"$work/init.log" 2>&1 || { cat "$work/init.log"; exit 1; }
sed -i -e 's/^member_rate = .*/member_rate = 100000/' -e 's/^member_burst = .*/member_burst = 100000/' "$work/hub/hub.conf"
for n in 1 2 3; do
        {
                "$NODE" init --dir "$work/node$n" --hub "tcp://127.0.0.1:$port" --hub-pub "$work/hub/keys/hub.pub" --name "member$n" &&
                "$HUB" member add --dir "$work/hub" --name "member$n" --pub "$work/node$n/keys/member.pub"
        } >>"$work/init.log" 2>&1 || { cat "$work/init.log"; exit 1; }
        sed -i 's/^window = [0-9]*/window = 1024/' "$work/node$n/node.conf"
done
"$HUB" serve --dir "$work/hub" >>"$work/hub.log" 2>&1 &
pids+=($!)
for _ in $(seq 500); do grep -q 'serving on' "$work/hub.log" && break; sleep 0.01; done
for n in 1 2 3; do
        "$NODE" run --dir "$work/node$n" >>"$work/node$n.log" 2>&1 &
        pids+=($!)
done
for _ in $(seq 400); do
        echo '{"material":"gallium","event":"export-ban","severity":"high","country":"CN"}'
done >"$work/batch.jsonl"

behind=0 still=0 done_rounds=0
for r in $(seq "$rounds"); do
        want=$((r * 1200))
        spids=()
        for n in 1 2 3; do
                "$NODE" submit --dir "$work/node$n" --file "$work/batch.jsonl" >/dev/null 2>>"$work/submit.err" &
                spids+=($!)
        done
        wait "${spids[@]}"
        ok=0
        for _ in $(seq 600); do [ "$(stored)" -ge "$want" ] && { ok=1; break; }; sleep 0.05; done
        [ "$ok" = 1 ] || { say "FAIL: round $r: the hub did not store the signals within 30 s"; break; }
        s=$(stored)
        for _ in $(seq 30); do a=$(backlog); [ "$a" -eq 0 ] && break; sleep 0.1; done
        if [ "$a" -ne 0 ]; then
                behind=$((behind + 1))
                sleep 5
                a2=$(backlog)
                [ "$a2" -ne 0 ] && still=$((still + 1))
                say "round $r: $s signals stored, $a not counted 3 s later and $a2 5 s after that"
        fi
        done_rounds=$r
done
echo "rounds $done_rounds, behind $behind, still-behind-after-5s $still"
[ "$behind" -eq 0 ] && [ "$done_rounds" -eq "$rounds" ]
