#!/usr/bin/env bash
# disk-full.sh: the hub's private store runs out of disk space, then gets it
# back.
#
#   tests/fault/disk-full.sh [--seed N] [--keep] [--map-full]
#
# Needs root (or a user allowed to mount): the hub's private store goes on a
# tmpfs of 24 MiB (`mount -t tmpfs -o size=24m`), most of which a ballast file
# fills, so that a stream of signals from 3 nodes runs the space out within
# seconds. When mounting is not permitted the script says so and exits 0,
# marked "skipped" in its last line. It checks:
#   - while full: the hub keeps running and logs a clear line ("cannot commit
#     ... No space left on device; answering store-unavailable"); the nodes
#     get the temporary refusal store-unavailable and keep their signals
#     queued (nothing rejected for good); mdb_stat and mdb_dump -a read the
#     private store; nmo-hub stats works;
#   - after the tmpfs grows (`mount -o remount,size=128m`), without a restart:
#     everything queued is delivered; every submitted id is stored exactly
#     once (signals_stored, mdb_dump of the signals database); mdb_stat and
#     mdb_dump -a read the store; the analytics figures equal a recount
#     (cells before and after a hub restart are identical).
# The LMDB map-full path (the map grows from 64 MiB instead of failing) needs
# some 200,000 signals (about 80 s of submitting on a 2-CPU machine, more
# than this script should take by default); it is covered by the unit test
# tests/unit/test-ingest.c (test_map_grows). --map-full also runs it here, on
# the normal disk: one node submits until the hub logs "store map grown"
# (bounded by 600 s), then everything must be stored; its figures are
# printed before the last line.
# Binaries come from $NMO_BUILD (default: the build/ directory of this
# checkout). Every loop is bounded in count and time; everything started is
# killed and the tmpfs unmounted on exit; the directory is removed unless
# --keep.
# The last line: signals N, refused-while-full N, delivered-after N, lost N
#   (refused-while-full: store-unavailable refusals the nodes received;
#   delivered-after: signals that were still queued when space came back)
# Exit status: 0 when the properties held (or skipped), 1 when not, 2 usage
# error.
set -u

NAME=disk-full
. "$(dirname "$0")/lib.sh"

keep=0 seed="" map_full=0
while [ $# -gt 0 ]; do
        case "$1" in
        -h | --help) usage; exit 0 ;;
        --keep) keep=1 ;;
        --map-full) map_full=1 ;;
        --seed) shift; seed=${1:-} ;;
        --seed=*) seed=${1#--seed=} ;;
        *) fault_unknown "$1" ;;
        esac
        shift
done
fault_seed

fault_binaries hub node analyst
fault_need mdb_stat lmdb-utils
fault_need mdb_dump lmdb-utils

fault_workdir
hub_pid="" loop_pid="" mounted=""
node_pids=()
NODES=3

cleanup() {
        trap - EXIT INT TERM
        touch "$work/stop" 2>/dev/null
        if [ -n "$loop_pid" ]; then
                for _ in $(seq 50); do kill -0 "$loop_pid" 2>/dev/null || break; sleep 0.1; done
                pkill -KILL -P "$loop_pid" 2>/dev/null
                kill -KILL "$loop_pid" 2>/dev/null
        fi
        for p in $hub_pid "${node_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
        wait 2>/dev/null
        for m in $mounted; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
        [ "$keep" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# Mounting needs privileges; without them there is nothing to test here.
mkdir -p "$work/probe"
if ! mount -t tmpfs -o size=1m tmpfs "$work/probe" 2>"$work/mount.err"; then
        say "skipped: cannot mount a tmpfs here ($(head -1 "$work/mount.err")); run as root"
        echo "signals 0, refused-while-full 0, delivered-after 0, lost 0 (skipped)"
        exit 0
fi
umount "$work/probe"

say "seed $seed, work directory $work$([ "$keep" = 1 ] && echo ' (kept)')"
port=$(free_port) aport=$(free_port)
"$HUB" init --dir "$work/hub" --listen "tcp://127.0.0.1:$port" \
        --alerts-listen "tcp://127.0.0.1:$aport" >"$work/init.log" 2>&1 || { cat "$work/init.log"; exit 1; }
for n in $(seq $NODES); do
        d=$work/node$n
        {
                "$NODE" init --dir "$d" --hub "tcp://127.0.0.1:$port" --hub-pub "$work/hub/keys/hub.pub" --name "member$n" &&
                "$HUB" member add --dir "$work/hub" --name "member$n" --pub "$d/keys/member.pub"
        } >>"$work/init.log" 2>&1 || { cat "$work/init.log"; exit 1; }
        sed -i -e 's/^reply_timeout_ms = [0-9]*/reply_timeout_ms = 3000/' \
                -e 's/^retry_min_ms = [0-9]*/retry_min_ms = 200/' \
                -e 's/^retry_max_ms = [0-9]*/retry_max_ms = 2000/' "$d/node.conf"
        : >"$work/ids$n.txt"
done
# The private store moves onto a small tmpfs.
priv=$work/hub/private
mv "$priv" "$work/private.init" && mkdir -m 0700 "$priv" &&
        mount -t tmpfs -o size=24m,mode=0700 tmpfs "$priv" && mounted=$priv &&
        cp -a "$work/private.init/." "$priv/" ||
        { say "FAIL: cannot put the private store on a tmpfs"; exit 1; }

start_hub() { fault_start_hub "$work/hub" "$work/hub.log"; }
counts() { # counts: "queued+in_flight delivered rejected storeunavail" over all nodes
        local n
        for n in $(seq $NODES); do
                "$NODE" status --dir "$work/node$n" --json 2>/dev/null || echo '{}'
        done | python3 -c '
import json, sys
dec = json.JSONDecoder(); text = sys.stdin.read(); i = 0; p = d = r = su = 0
while True:
    while i < len(text) and text[i].isspace(): i += 1
    if i >= len(text): break
    o, i = dec.raw_decode(text, i)
    if not o: p += 10**9; continue
    p += o["queued"] + o["in_flight"]; d += o["delivered"]; r += o["rejected"]
    su += sum(1 for s in o["signals"] if "store-unavailable" in (s.get("last_error") or ""))
print(p, d, r, su)'
}

start_hub || { say "FAIL: the hub does not start"; cat "$work/hub.log"; exit 1; }
hub_first_pid=$hub_pid
for n in $(seq $NODES); do
        "$NODE" run --dir "$work/node$n" >>"$work/node$n.log" 2>&1 &
        node_pids+=($!)
done

line() {
        local m=(gallium germanium tungsten cobalt lithium) e=(export-ban plant-outage strike)
        echo "{\"material\":\"${m[$(($1 % 5))]}\",\"event\":\"${e[$(($1 % 3))]}\",\"severity\":\"high\",\"country\":\"CN\",\"volume\":$(($1 % 500 + 1))}"
}
for i in $(seq 300); do line "$i"; done >"$work/batch.jsonl"
for i in $(seq 10); do line "$i"; done >"$work/warm.jsonl"

# Warm up (epoch key file, first records), then fill the tmpfs up to ~1.5 MiB.
for n in $(seq $NODES); do
        "$NODE" submit --dir "$work/node$n" --file "$work/warm.jsonl" >>"$work/ids$n.txt" 2>>"$work/submit.err"
done
for _ in $(seq 100); do read -r p _ < <(counts); [ "$p" -eq 0 ] && break; sleep 0.1; done
avail=$(df -B1 --output=avail "$priv" | tail -1)
ballast=$((avail - 1536 * 1024))
fallocate -l "$ballast" "$priv/ballast" 2>/dev/null ||
        dd if=/dev/zero of="$priv/ballast" bs=64K count=$((ballast / 65536)) status=none
say "private store on a 24 MiB tmpfs, $(( $(df -B1 --output=avail "$priv" | tail -1) / 1024 )) KiB left free"

# The stream: 300 signals a node a round until the hub reports the disk full,
# then 5 rounds more (bounded: 100 rounds, 180 s).
(
        r=0 after=-1 t0=$SECONDS
        while [ ! -e "$work/stop" ] && [ $r -lt 100 ] && [ $((SECONDS - t0)) -lt 180 ]; do
                for n in $(seq $NODES); do
                        "$NODE" submit --dir "$work/node$n" --file "$work/batch.jsonl" >>"$work/ids$n.txt" 2>>"$work/submit.err" ||
                                echo "round $r node $n" >>"$work/submit-failures"
                done
                r=$((r + 1))
                if [ "$after" -lt 0 ] && grep -q 'No space left on device' "$work/hub.log"; then after=0; fi
                if [ "$after" -ge 0 ]; then after=$((after + 1)); [ "$after" -gt 5 ] && break; fi
                sleep 0.2
        done
        echo "$r" >"$work/rounds"
) &
loop_pid=$!
for _ in $(seq 2000); do kill -0 "$loop_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$loop_pid" 2>/dev/null && { pkill -KILL -P "$loop_pid"; kill -KILL "$loop_pid"; }
wait "$loop_pid" 2>/dev/null
loop_pid=""
fails=()
full_line=$(grep -m1 'No space left on device' "$work/hub.log")
if [ -z "$full_line" ]; then
        fails+=("the store never ran out of space ($(cat "$work/rounds" 2>/dev/null) rounds)")
else
        say "hub log: ${full_line#* nmo-hub }"
fi

# While full: some seconds of retries. The hub must live and keep its store
# readable; the nodes keep their signals.
sleep 5
read -r pend_full deliv_full rej_full su_full < <(counts)
kill -0 "$hub_first_pid" 2>/dev/null || fails+=("the hub died while the disk was full")
for env in "$priv" "$priv/contributions"; do
        mdb_stat -e "$env" >>"$work/mdb_stat-full.txt" 2>&1 || fails+=("mdb_stat fails on the full store ($env)")
        mdb_dump -a "$env" >/dev/null 2>>"$work/mdb_dump-full.err" || fails+=("mdb_dump -a fails on the full store ($env)")
done
"$HUB" stats --dir "$work/hub" --json >"$work/stats-full.json" 2>&1 || fails+=("nmo-hub stats fails while the disk is full")
say "while full: $pend_full signals queued, $deliv_full delivered, $su_full signals last refused with store-unavailable, $rej_full rejected for good"
[ "$pend_full" -gt 0 ] || fails+=("nothing was left queued while the disk was full")
[ "$rej_full" -eq 0 ] || fails+=("$rej_full signals rejected for good while the disk was full")
[ "$su_full" -gt 0 ] || fails+=("no node recorded a store-unavailable refusal")
# The hub reports at most once a second, with the batches refused since.
refusals=$(sed -n 's/.*cannot commit to the private store: No space left on device.*(\([0-9]*\) batches refused.*/\1/p' "$work/hub.log" |
        awk '{s += $1} END {print s + 0}')

# Space comes back: grow the tmpfs; the same hub carries on.
mount -o remount,size=128m "$priv" || fails+=("cannot grow the tmpfs")
say "tmpfs grown to 128 MiB; draining"
drained=0
for _ in $(seq 180); do
        read -r p _ < <(counts)
        [ "$p" -eq 0 ] && { drained=1; break; }
        sleep 1
done
[ "$drained" = 1 ] || fails+=("the nodes did not drain within 180 s after space returned")
kill -0 "$hub_first_pid" 2>/dev/null || fails+=("the hub died")
read -r _ deliv_end _ _ < <(counts)
delivered_after=$((deliv_end - deliv_full))
sleep 1
"$HUB" stats --dir "$work/hub" --json >"$work/stats.json" 2>>"$work/status.err"
for n in $(seq $NODES); do "$NODE" status --dir "$work/node$n" --json >"$work/status$n.json" 2>>"$work/status.err"; done
stop_hub
for p in "${node_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
wait "${node_pids[@]}" 2>/dev/null
node_pids=()
for env in "$priv" "$priv/contributions"; do
        mdb_stat -e "$env" >>"$work/mdb_stat.txt" 2>&1 || fails+=("mdb_stat fails on the store after the drain ($env)")
        mdb_dump -a "$env" >/dev/null 2>>"$work/mdb_dump.err" || fails+=("mdb_dump -a fails on the store after the drain ($env)")
done
mdb_dump -s signals "$priv" >"$work/signals.dump" 2>>"$work/mdb_dump.err"
"$HUB" member list --dir "$work/hub" --json >"$work/members.json" 2>>"$work/status.err"
"$ANALYST" --store "$work/hub/analytics" cells --json >"$work/cells-before.json" 2>>"$work/analyst.err"
start_hub && sleep 1 && stop_hub || fails+=("the hub does not start again")
"$ANALYST" --store "$work/hub/analytics" cells --json >"$work/cells-after.json" 2>>"$work/analyst.err"
cmp -s "$work/cells-before.json" "$work/cells-after.json" || fails+=("analytics differ from a recount after the disk-full episode")
grep -q 'store map grown' "$work/hub.log" && say "note: the map grew during the run"

# The optional map-full run on the normal disk.
if [ "$map_full" = 1 ]; then
        mdir=$work/mapfull
        mport=$(free_port) maport=$(free_port)
        {
                "$HUB" init --dir "$mdir/hub" --listen "tcp://127.0.0.1:$mport" --alerts-listen "tcp://127.0.0.1:$maport" &&
                sed -i -e 's/^member_rate = .*/member_rate = 1000000/' -e 's/^member_burst = .*/member_burst = 1000000/' "$mdir/hub/hub.conf" &&
                "$NODE" init --dir "$mdir/node" --hub "tcp://127.0.0.1:$mport" --hub-pub "$mdir/hub/keys/hub.pub" --name big &&
                "$HUB" member add --dir "$mdir/hub" --name big --pub "$mdir/node/keys/member.pub"
        } >>"$work/init.log" 2>&1 || fails+=("map-full: setup failed")
        sed -i 's/^window = [0-9]*/window = 1024/' "$mdir/node/node.conf"
        for i in $(seq 5000); do line "$i"; done >"$work/big.jsonl"
        "$HUB" serve --dir "$mdir/hub" >>"$work/mapfull-hub.log" 2>&1 &
        hub_pid=$!
        "$NODE" run --dir "$mdir/node" >>"$work/mapfull-node.log" 2>&1 &
        node_pids+=($!)
        t0=$SECONDS msub=0 grown=0
        while [ $((SECONDS - t0)) -lt 600 ] && [ $msub -lt 2000000 ]; do
                "$NODE" submit --dir "$mdir/node" --file "$work/big.jsonl" >/dev/null 2>>"$work/submit.err" && msub=$((msub + 5000))
                grep -q 'store map grown' "$work/mapfull-hub.log" && { grown=1; break; }
        done
        for _ in $(seq 600); do
                mp=$("$NODE" status --dir "$mdir/node" --json 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["queued"]+d["in_flight"])')
                [ "${mp:-1}" -eq 0 ] && break
                sleep 1
        done
        stored_m=$("$HUB" stats --dir "$mdir/hub" --json | sed -n 's/.*"signals_stored": *\([0-9]*\).*/\1/p')
        say "map-full: $msub signals in $((SECONDS - t0)) s, $stored_m stored, $(grep -m1 -o 'store map grown.*' "$work/mapfull-hub.log" || echo 'the map did not grow')"
        [ "$grown" = 1 ] || fails+=("map-full: no map growth within 600 s")
        [ "${stored_m:-0}" -eq "$msub" ] || fails+=("map-full: $msub submitted, ${stored_m:-?} stored")
        kill -TERM "$hub_pid" "${node_pids[@]}" 2>/dev/null
        wait "$hub_pid" "${node_pids[@]}" 2>/dev/null
        hub_pid="" node_pids=()
else
        say "map-full path (map grows past 64 MiB): not run here (--map-full); covered by tests/unit/test-ingest.c test_map_grows"
fi

python3 - "$work" "$NODES" <<'EOF' >"$work/check.txt"
import json, sys, collections
work, nodes = sys.argv[1], int(sys.argv[2])
members = {m["name"]: m["id"] for m in json.load(open(work + "/members.json"))}
stats = json.load(open(work + "/stats.json"))
stored = collections.Counter()
with open(work + "/signals.dump") as f:
    lines = [l[1:].rstrip("\n") for l in f if l.startswith(" ")]
for k in lines[0::2]:
    stored[k] += 1
submitted = lost = delivered = 0
for n in range(1, nodes + 1):
    ids = set(l.strip() for l in open("%s/ids%d.txt" % (work, n)) if l.strip())
    st = json.load(open("%s/status%d.json" % (work, n)))
    by = {s["id"]: s for s in st["signals"]}
    p = "%08x" % members["member%d" % n]
    submitted += len(ids)
    delivered += st["delivered"]
    lost += sum(1 for i in ids if p + i not in stored or by.get(i, {}).get("state") != "delivered")
dup = max(0, stats["signals_stored"] - submitted) + sum(c - 1 for c in stored.values())
print(submitted, delivered, lost, dup, stats["signals_stored"])
EOF
read -r submitted delivered lost dup stored_n <"$work/check.txt" || { submitted=0 delivered=0 lost=-1 dup=-1 stored_n=-1; fails+=("the final check failed"); }
say "$submitted submitted, $delivered delivered, $stored_n stored, $dup stored twice; $refusals batches answered store-unavailable (hub log)"
[ "$lost" -eq 0 ] || fails+=("$lost signals lost")
[ "$dup" -eq 0 ] || fails+=("$dup signals stored twice")
[ "$stored_n" -eq "$submitted" ] || fails+=("signals_stored $stored_n, submitted $submitted")
for f in "${fails[@]}"; do say "FAIL: $f"; done
echo "signals $submitted, refused-while-full $su_full, delivered-after $delivered_after, lost $lost"
[ ${#fails[@]} -eq 0 ]
