#!/usr/bin/env bash
# stale-readers.sh: analyst processes killed with SIGKILL in the middle of a
# read leave LMDB reader slots behind; the hub clears them.
#
#   tests/fault/stale-readers.sh [KILLS] [--no-wait] [--seed N] [--keep]
#                                (KILLS per round, default 20)
#
# Starts a hub and a node on 127.0.0.1 in a temporary directory and fills the
# analytics store with some 10,000 cells (every material x country). Then, in
# each round, KILLS `nmo-analyst cells --json` processes are killed at random
# moments of their run, and KILLS more are killed while they are inside their
# read transaction for certain: a watcher reads the LMDB reader table
# (lock.mdb) and stops each analyst (SIGSTOP) as soon as its reader slot is
# taken; once all are caught they are killed with SIGKILL together. `mdb_stat
# -r` must then list the slots of the dead processes (stale readers), and
# they must be cleared:
#   round 1: by the hub's housekeeping, which calls mdb_reader_check every
#            minute (waits up to 75 s; skipped with --no-wait);
#   round 2: by a restart of the hub (mdb_reader_check at open);
#   round 3: by the next nmo-analyst, which checks at open too.
# Finally the analyst's output is the same as before the kills.
# Binaries come from $NMO_BUILD (default: the build/ directory of this
# checkout). Every loop is bounded in count and time; everything started is
# killed on exit; the directory is removed unless --keep.
# The last line: killed N, stale readers left N
# Exit status: 0 when the properties held, 1 when not, 2 usage error.
set -u

NAME=stale-readers
. "$(dirname "$0")/lib.sh"

kills=20 keep=0 seed="" wait_housekeeping=1
while [ $# -gt 0 ]; do
        case "$1" in
        -h | --help) usage; exit 0 ;;
        --keep) keep=1 ;;
        --no-wait) wait_housekeeping=0 ;;
        --seed) shift; seed=${1:-} ;;
        --seed=*) seed=${1#--seed=} ;;
        [0-9]*) kills=$1 ;;
        *) fault_unknown "$1" ;;
        esac
        shift
done
fault_number "$kills" "KILLS must be a number"
[ "$kills" -ge 1 ] && [ "$kills" -le 200 ] || { echo "stale-readers.sh: KILLS must be 1..200" >&2; exit 2; }
fault_seed

fault_binaries hub node analyst
fault_need mdb_stat lmdb-utils

fault_workdir
hub_pid=""

cleanup() {
        trap - EXIT INT TERM
        [ -n "$hub_pid" ] && kill -KILL "$hub_pid" 2>/dev/null
        wait 2>/dev/null
        [ "$keep" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

an=$work/hub/analytics
start_hub() { fault_start_hub "$work/hub" "$work/hub.log"; }
# stale: the number of reader slots (mdb_stat -r, which clears nothing while
# the hub holds the environment) whose process is gone.
stale() {
        mdb_stat -r "$an" 2>/dev/null | awk '$1 ~ /^[0-9]+$/ && NF >= 3 {print $1}' |
                { n=0; while read -r p; do [ -d "/proc/$p" ] || n=$((n + 1)); done; echo $n; }
}

say "seed $seed, $kills kills of each kind a round, work directory $work$([ "$keep" = 1 ] && echo ' (kept)')"
port=$(free_port) aport=$(free_port)
{
        "$HUB" init --dir "$work/hub" --listen "tcp://127.0.0.1:$port" --alerts-listen "tcp://127.0.0.1:$aport" &&
        sed -i -e 's/^member_rate = .*/member_rate = 100000/' -e 's/^member_burst = .*/member_burst = 100000/' "$work/hub/hub.conf" &&
        "$NODE" init --dir "$work/node" --hub "tcp://127.0.0.1:$port" --hub-pub "$work/hub/keys/hub.pub" --name member1 &&
        "$HUB" member add --dir "$work/hub" --name member1 --pub "$work/node/keys/member.pub"
} >"$work/init.log" 2>&1 || { cat "$work/init.log"; exit 1; }
sed -i 's/^window = [0-9]*/window = 1024/' "$work/node/node.conf"
start_hub || { say "FAIL: the hub does not start"; cat "$work/hub.log"; exit 1; }

# A large store: one signal for every material x country (events in turn).
"$NODE" vocabulary events | awk '{print $1}' >"$work/events"
"$NODE" vocabulary countries | awk '{print $1}' >"$work/countries"
"$NODE" vocabulary materials | awk '{print $1}' | python3 -c '
import sys
ev = open(sys.argv[1]).read().split(); cs = open(sys.argv[2]).read().split(); i = 0
for m in sys.stdin.read().split():
    for c in cs:
        print("{\"material\":\"%s\",\"event\":\"%s\",\"severity\":\"high\",\"country\":\"%s\"}" % (m, ev[i % len(ev)], c)); i += 1
' "$work/events" "$work/countries" >"$work/all.jsonl"
"$NODE" submit --dir "$work/node" --file "$work/all.jsonl" >"$work/ids.txt" 2>>"$work/submit.err" || { say "FAIL: submit"; exit 1; }
"$NODE" run --dir "$work/node" --once --timeout 120 >>"$work/node.log" 2>&1 || { say "FAIL: delivery"; exit 1; }
# Cells appear at the release point: the hub again, its clock past it.
stop_hub
lib=$(fault_faketime)
[ -n "$lib" ] || { say "FAIL: libfaketime is missing (apt-get install faketime)"; exit 1; }
offset=$(fault_release_offset)
start_hub() {
        fault_start_hub "$work/hub" "$work/hub.log" LD_PRELOAD="$lib" FAKETIME="+${offset}" \
                FAKETIME_DONT_FAKE_MONOTONIC=1
}
start_hub || { say "FAIL: the hub does not start past the release point"; exit 1; }
ncells=0
for _ in $(seq 60); do
        ncells=$(mdb_stat -s cells "$an" 2>/dev/null | awk '/Entries:/ {print $2}')
        [ "${ncells:-0}" -ge "$(wc -l <"$work/ids.txt")" ] && break
        sleep 0.5
done
sleep 1
"$ANALYST" --store "$an" cells --json >"$work/cells-before.json" 2>>"$work/analyst.err" || { say "FAIL: nmo-analyst cells"; exit 1; }
t0=$(date +%s%N)
"$ANALYST" --store "$an" cells --json >/dev/null 2>>"$work/analyst.err"
run_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
say "analytics store: ${ncells:-?} cells; one 'cells --json' takes about $run_ms ms"

# kill_round: KILLS analysts killed at random moments, then KILLS caught inside
# their read transaction (SIGSTOP when their reader slot appears) and killed
# together. Prints "killed caught".
kill_round() {
        python3 - "$ANALYST" "$an" "$kills" "$run_ms" "$RANDOM" <<'EOF'
import mmap, os, random, signal, struct, subprocess, sys, time
analyst, store, k, run_ms, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
random.seed(seed)
cmd = [analyst, "--store", store, "cells", "--json"]
killed = 0
# Random moments: spawned a few at a time, each killed after 0..1.5x its run time.
for _ in range(k):
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(random.uniform(0, 1.5 * max(run_ms, 5)) / 1000.0)
    if p.poll() is None:
        p.kill(); killed += 1
    p.wait()
# Caught inside the read: the reader table of lock.mdb (LMDB 0.9 on 64-bit
# Linux: magic 0xBEEFC0DE at 0, number of slots used at 56, slots of 64 bytes
# from 128 with the pid at +8).
fd = os.open(os.path.join(store, "lock.mdb"), os.O_RDONLY)
m = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
if struct.unpack_from("<I", m, 0)[0] != 0xBEEFC0DE:
    print(killed, 0); sys.exit(0)
def readers():
    n = min(struct.unpack_from("<I", m, 56)[0], (len(m) - 128) // 64)
    return {struct.unpack_from("<i", m, 128 + 64 * i + 8)[0] for i in range(n)}
stopped = []
attempts = 0
while len(stopped) < k and attempts < 50 * k:
    attempts += 1
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 2
    caught = False
    while time.monotonic() < deadline and p.poll() is None:
        if p.pid in readers():
            os.kill(p.pid, signal.SIGSTOP)
            # Still in its transaction once stopped?
            if p.pid in readers():
                caught = True
            else:
                os.kill(p.pid, signal.SIGCONT)
            break
    if caught:
        stopped.append(p)
    else:
        p.wait()
for p in stopped:
    p.kill(); killed += 1
for p in stopped:
    p.wait()
print(killed, len(stopped))
EOF
}

total_killed=0 total_left=0 fails=()
round() { # round NAME: kills, counts stale readers, clears them by NAME's means, counts again
        local name=$1 k c made left
        read -r k c < <(kill_round)
        made=$(stale)
        total_killed=$((total_killed + k))
        case "$name" in
        housekeeping)
                # The hub runs mdb_reader_check every 60 s of its uptime.
                for _ in $(seq 38); do
                        [ "$(stale)" -eq 0 ] && break
                        sleep 2
                done
                ;;
        restart)
                stop_hub
                start_hub || fails+=("the hub does not start again")
                ;;
        analyst)
                "$ANALYST" --store "$an" cells >/dev/null 2>>"$work/analyst.err" || fails+=("nmo-analyst fails after the kills")
                ;;
        esac
        left=$(stale)
        total_left=$((total_left + left))
        say "round '$name': $k killed ($c inside their read for certain), $made stale readers, $left left after the $name"
        [ "$made" -ge "$c" ] || fails+=("round $name: only $made stale readers listed for $c processes killed inside a read")
        [ "$c" -gt 0 ] || fails+=("round $name: no analyst was caught inside its read")
        [ "$left" -eq 0 ] || fails+=("round $name: $left stale readers left")
        mdb_stat -r "$an" >>"$work/readers.txt" 2>&1
}
if [ "$wait_housekeeping" = 1 ]; then
        round housekeeping
else
        say "round 'housekeeping' skipped (--no-wait)"
fi
round restart
round analyst

"$ANALYST" --store "$an" cells --json >"$work/cells-after.json" 2>>"$work/analyst.err" || fails+=("nmo-analyst fails at the end")
cmp -s "$work/cells-before.json" "$work/cells-after.json" || fails+=("the analytics figures changed")
mdb_stat -e "$an" >/dev/null 2>&1 || fails+=("mdb_stat fails on the analytics store")
kill -0 "$hub_pid" 2>/dev/null || fails+=("the hub is not running at the end")
for f in "${fails[@]}"; do say "FAIL: $f"; done
echo "killed $total_killed, stale readers left $total_left"
[ ${#fails[@]} -eq 0 ]
