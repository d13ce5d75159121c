#!/usr/bin/env bash
# power-cut.sh: power cuts under load, on nmo-lazyfs (a FUSE file system that
# loses everything no fsync made durable, as a power cut does; kill -9 alone
# leaves the page cache, and with it every unsynced write, intact).
#
#   tests/fault/power-cut.sh [CYCLES] [--seed N] [--keep]    (CYCLES default 50)
#
# Mounts two nmo-lazyfs file systems in a temporary directory: one holds the
# hub's directory, the other member1's node directory (its outbox). Starts the
# hub and 4 member nodes (`nmo-node run` agents) on 127.0.0.1 and a
# background loop that submits JSONL batches to every node; a submit counts
# as confirmed when it exits 0. Then, CYCLES times, a power cut 50-400 ms
# after the hub has stored something new: odd cycles cut the hub's machine,
# even cycles member1's (while its agent delivers and its submits write).
# Two cuts in four come at that random moment, which mostly finds every file
# synced; the other two are armed (nmo-lazyfs SIGUSR2): the file system
# freezes after one of the next few writes that leave unsynced data (within
# a commit, or before a deferred sync), and the cut follows. A cut kills
# every process using that file system with SIGKILL (the submission loop is
# paused meanwhile), rolls the file system back to its last fsyncs, mounts it
# again and restarts the hub or the agent; the summary tells how many cuts
# undid unsynced writes. At the end the submissions stop, the agents drain
# their outboxes and the script checks:
#   - every signal a confirmed submit printed is in its node's outbox,
#     delivered, and in the hub's private store;
#   - every receipt a node holds is for a signal in the hub's store, nothing
#     is stored twice (signals_stored ==
#     records in the store == distinct ids in the outboxes == delivered),
#     next_sequence == signals_stored; nothing queued, in flight or rejected;
#   - what was counted is released: restarted with its clock (libfaketime)
#     past the next release point, the hub releases; `nmo-analyst cells
#     --json` (plain, --rollup material, --rollup country) is identical after
#     one more restart, and the reports of the event-week cells add up to
#     signals_stored within the noise (every cell has 4 reporters, so every
#     cell is released, each at most 2 off).
# Signals of a killed submit may be in the outbox (committed before the cut)
# or not; they count when they are there. Needs root, /dev/fuse, fusermount3
# and nmo-lazyfs (built with libfuse3); otherwise skipped (exit 0, "(skipped)"
# in the last line). Binaries come from $NMO_BUILD (default: the build/
# directory of this checkout). Every loop is bounded in count and time;
# everything started is killed on exit, the file systems are unmounted and the
# directory is removed unless --keep.
# The last line: cuts N, acknowledged N, lost N, duplicated N
# Exit status: 0 when the properties held, 1 when not, 2 usage error.
set -u

NAME=power-cut
. "$(dirname "$0")/lib.sh"

cycles=50 keep=0 seed=""
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

fault_binaries hub node analyst
fault_need mdb_dump lmdb-utils
skip() {
        echo "power-cut: skipped: $*"
        echo "cuts 0, acknowledged 0, lost 0, duplicated 0 (skipped)"
        exit 0
}
[ -x "$LAZYFS" ] || skip "$LAZYFS missing (needs libfuse3-dev at meson setup)"
[ "$(id -u)" -eq 0 ] || skip "needs root to mount nmo-lazyfs"
[ -c /dev/fuse ] || skip "no /dev/fuse"
command -v fusermount3 >/dev/null || skip "no fusermount3 (apt-get install fuse3)"

fault_workdir
hub_pid="" agent1_pid="" loop_pid=""
node_pids=()
declare -A fs_pid=([hub]="" [node]="")
NODES=4
start_s=$SECONDS

# unmount_fs WHICH: a clean unmount (SIGTERM; lazily at the end).
unmount_fs() {
        local p=${fs_pid[$1]}
        if [ -n "$p" ]; then
                kill -TERM "$p" 2>/dev/null
                for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
                kill -KILL "$p" 2>/dev/null
                wait "$p" 2>/dev/null
                fs_pid[$1]=""
        fi
        mountpoint -q "$work/$1-mnt" 2>/dev/null && fusermount3 -uz "$work/$1-mnt"
}
cleanup() {
        trap - EXIT INT TERM
        touch "$work/stop" 2>/dev/null
        if [ -n "$loop_pid" ]; then
                kill -CONT "$loop_pid" 2>/dev/null
                for _ in $(seq 50); do kill -0 "$loop_pid" 2>/dev/null || break; sleep 0.1; done
                for p in $(pgrep -P "$loop_pid"); do kill -KILL "$p" 2>/dev/null; done
                kill -KILL "$loop_pid" 2>/dev/null
        fi
        started=($hub_pid $agent1_pid "${node_pids[@]}")
        for p in "${started[@]}"; do kill -KILL "$p" 2>/dev/null; done
        # Unmount first: a process killed while a file system is frozen ends
        # only once its connection is gone. Not a bare wait: it would wait
        # for the file systems too.
        unmount_fs hub
        unmount_fs node
        [ ${#started[@]} -eq 0 ] || wait "${started[@]}" 2>/dev/null
        if [ "$keep" = 1 ]; then
                :
        elif mountpoint -q "$work/hub-mnt" || mountpoint -q "$work/node-mnt"; then
                echo "power-cut: $work left behind: still mounted" >&2
        else
                rm -rf "$work"
        fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

hubdir=$work/hub-mnt/hub
node_dir() { if [ "$1" = 1 ]; then echo "$work/node-mnt/node1"; else echo "$work/node$1"; fi; }
stored() { fault_stored "$hubdir"; }
hub_starts() { fault_hub_starts "$work/hub.log"; }

# mount_fs WHICH: mounts $work/WHICH-disk at $work/WHICH-mnt and waits (at
# most 10 s) until it answers.
mount_fs() {
        local mnt=$work/$1-mnt
        "$LAZYFS" --seed "$RANDOM" "$work/$1-disk" "$mnt" >>"$work/lazyfs-$1.log" 2>&1 &
        fs_pid[$1]=$!
        for _ in $(seq 1000); do
                mountpoint -q "$mnt" && [ -d "$mnt/." ] && return 0
                kill -0 "${fs_pid[$1]}" 2>/dev/null || break
                sleep 0.01
        done
        say "FAIL: nmo-lazyfs does not mount $mnt"
        tail -3 "$work/lazyfs-$1.log"
        return 1
}
# users DIR: the processes with a working directory, an open file or a
# mapping under DIR.
users() {
        python3 - "$1" <<'EOF'
import os, sys
m = sys.argv[1]
for p in os.listdir("/proc"):
    if not p.isdigit() or int(p) == os.getpid():
        continue
    try:
        links = [os.readlink("/proc/%s/cwd" % p)]
        links += [os.readlink("/proc/%s/fd/%s" % (p, f)) for f in os.listdir("/proc/%s/fd" % p)]
        with open("/proc/%s/maps" % p) as f:
            links += [l.split(None, 5)[5].strip() for l in f if len(l.split(None, 5)) == 6]
    except OSError:
        continue
    if any(l == m or l.startswith(m + "/") for l in links):
        print(p)
EOF
}

start_hub() { fault_start_hub "$hubdir" "$work/hub.log"; }
start_agent1() {
        "$NODE" run --dir "$(node_dir 1)" >>"$work/node1.log" 2>&1 &
        agent1_pid=$!
}

# alive PID: a thread of PID has not ended (a zombie's other threads may
# still wait in the kernel).
alive() {
        local t
        for t in /proc/"$1"/task/*/stat; do
                [ -e "$t" ] || continue
                case $(awk '{ print $3 }' "$t" 2>/dev/null) in Z | X | '') ;; *) return 0 ;; esac
        done
        return 1
}

# cut WHICH ARMED: the power cut of the hub's machine or member1's (ARMED 1:
# at a freeze after a write that leaves unsynced data). Everything using the
# file system is killed with SIGKILL (the submission loop paused, so that it
# starts nothing new there meanwhile), the file system rolls back to its last
# fsyncs and is mounted again, and what ran there starts again.
cut() {
        local which=$1 armed=$2 mnt=$work/$1-mnt p pids n0 frozen=0 limit=100
        local victims=()
        if [ "$armed" = 1 ]; then
                # Freeze after a write that leaves unsynced data (at most 3 s).
                n0=$(grep -c frozen "$work/lazyfs-$which.log")
                kill -USR2 "${fs_pid[$which]}"
                for _ in $(seq 300); do
                        [ "$(grep -c frozen "$work/lazyfs-$which.log")" -gt "$n0" ] && { frozen=1; break; }
                        sleep 0.01
                done
        fi
        kill -STOP "$loop_pid" 2>/dev/null
        if [ "$which" = hub ]; then
                victims+=("$hub_pid")
                echo "=== power cut (cycle $c)" >>"$work/hub.log"
        else
                # The loop's submit to member1, if one runs; a submit to
                # another node is left alone (its ids must stay accounted).
                for p in $(pgrep -P "$loop_pid"); do
                        tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF "$mnt/" && victims+=("$p")
                done
                victims+=("$agent1_pid")
                echo "=== power cut (cycle $c)" >>"$work/node1.log"
        fi
        kill -KILL "${victims[@]}" 2>/dev/null
        # A process that touches a frozen file system may not end before the
        # cut aborts its connection (the kernel waits, unkillably, for the
        # write-back of its mapped pages): then wait for it after the cut.
        [ "$frozen" = 1 ] && limit=10
        for _ in $(seq $limit); do
                pids=$(users "$mnt")
                [ -z "$pids" ] && break
                # shellcheck disable=SC2086
                kill -KILL $pids 2>/dev/null
                victims+=($pids)
                sleep 0.05
        done
        if [ -n "$pids" ] && [ "$frozen" = 0 ]; then
                say "FAIL: processes still use $mnt: $pids"
                return 1
        fi
        p=${fs_pid[$which]}
        kill -USR1 "$p"
        for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
        if kill -0 "$p" 2>/dev/null; then
                say "FAIL: nmo-lazyfs does not end after the cut (cycle $c)"
                return 1
        fi
        wait "$p"
        p=$?
        fs_pid[$which]=""
        [ "$p" -eq 0 ] || { say "FAIL: nmo-lazyfs exit $p after the cut (cycle $c)"; return 1; }
        # Every process killed has ended now (zombies at most).
        for p in "${victims[@]}"; do
                for _ in $(seq 100); do
                        alive "$p" || break
                        sleep 0.05
                done
                if alive "$p"; then
                        say "FAIL: process $p does not end after the cut (cycle $c)"
                        return 1
                fi
        done
        if [ "$which" = hub ]; then
                wait "$hub_pid" 2>/dev/null
                hub_pid=""
        else
                wait "$agent1_pid" 2>/dev/null
                agent1_pid=""
        fi
        mount_fs "$which" || return 1
        if [ "$which" = hub ]; then
                ok=0
                for _ in 1 2 3; do start_hub && { ok=1; break; }; start_failures=$((start_failures + 1)); sleep 0.5; done
                [ "$ok" = 1 ] || { say "FAIL: the hub does not start after the cut (cycle $c)"; tail -5 "$work/hub.log"; return 1; }
        else
                start_agent1
        fi
        kill -CONT "$loop_pid" 2>/dev/null
        return 0
}

say "seed $seed, $cycles cuts, work directory $work$([ "$keep" = 1 ] && echo ' (kept)')"
mkdir -p "$work/hub-disk" "$work/hub-mnt" "$work/node-disk" "$work/node-mnt"
mount_fs hub || exit 1
mount_fs node || exit 1
port=$(free_port) aport=$(free_port)
"$HUB" init --dir "$hubdir" --listen "tcp://127.0.0.1:$port" \
        --alerts-listen "tcp://127.0.0.1:$aport" >"$work/init.log" 2>&1 || { cat "$work/init.log"; exit 1; }
for n in $(seq $NODES); do
        d=$(node_dir "$n")
        "$NODE" init --dir "$d" --hub "tcp://127.0.0.1:$port" --hub-pub "$hubdir/keys/hub.pub" \
                --name "member$n" >>"$work/init.log" 2>&1 || { cat "$work/init.log"; exit 1; }
        # Short timeouts and backoff: the hub is down for a while at every cut.
        sed -i -e 's/^reply_timeout_ms = [0-9]*/reply_timeout_ms = 1500/' \
                -e 's/^retry_min_ms = [0-9]*/retry_min_ms = 100/' \
                -e 's/^retry_max_ms = [0-9]*/retry_max_ms = 2000/' "$d/node.conf"
        # sed -i writes a new file and renames it without fsync: on member1's
        # file system the first cut would leave it empty.
        sync "$d/node.conf"
        "$HUB" member add --dir "$hubdir" --name "member$n" --pub "$d/keys/member.pub" \
                >>"$work/init.log" 2>&1 || { cat "$work/init.log"; exit 1; }
        : >"$work/ids$n.txt"
        : >"$work/unconfirmed$n.txt"
done

# Every node reports every (material, event, country) of this batch once a
# round, so every cell has all 4 reporters and is released.
for sev in low medium high critical low medium high critical; do
        for m in gallium germanium tungsten; do
                for e in export-licensing plant-outage; do
                        echo "{\"material\":\"$m\",\"event\":\"$e\",\"severity\":\"$sev\",\"country\":\"CN\",\"volume\":$((RANDOM % 100 + 1))}"
                done
        done
done >"$work/batch.jsonl"

start_hub || { say "FAIL: the hub does not start"; tail -5 "$work/hub.log"; exit 1; }
start_agent1
for n in $(seq 2 $NODES); do
        "$NODE" run --dir "$(node_dir "$n")" >>"$work/node$n.log" 2>&1 &
        node_pids+=($!)
done

# The submission stream: a round of one batch per node every ~200 ms, bounded
# in rounds and time; stops when $work/stop appears. The ids of a submit
# that exits 0 are confirmed; those of one that fails (killed by a cut, or
# finding member1's file system down) are not.
max_rounds=$((cycles * 30 + 100)) deadline=$((SECONDS + cycles * 15 + 600))
(
        r=0
        while [ ! -e "$work/stop" ] && [ $r -lt $max_rounds ] && [ $SECONDS -lt $deadline ]; do
                for n in $(seq $NODES); do
                        if "$NODE" submit --dir "$(node_dir "$n")" --file "$work/batch.jsonl" \
                                >"$work/out$n.txt" 2>>"$work/submit$n.err"; then
                                cat "$work/out$n.txt" >>"$work/ids$n.txt"
                        else
                                cat "$work/out$n.txt" >>"$work/unconfirmed$n.txt"
                                echo "round $r node $n: submit failed" >>"$work/submit-failures"
                        fi
                done
                r=$((r + 1))
                sleep 0.2
        done
) 2>>"$work/loop.err" &
loop_pid=$!

done_cycles=0 idle=0 start_failures=0 hub_cuts=0 node_cuts=0
for c in $(seq "$cycles"); do
        base=$(stored)
        # Wait (at most 20 s) until the hub has stored something new: the
        # cut comes while signals flow.
        t0=$SECONDS got=0
        while [ $((SECONDS - t0)) -lt 20 ]; do
                [ "$(stored)" -gt "$base" ] && { got=1; break; }
                sleep 0.02
        done
        [ "$got" = 1 ] || idle=$((idle + 1))
        ms $((50 + RANDOM % 351))
        armed=$((((c - 1) / 2) % 2))
        if [ $((c % 2)) = 1 ]; then
                cut hub "$armed" || break
                hub_cuts=$((hub_cuts + 1))
        else
                cut node "$armed" || break
                node_cuts=$((node_cuts + 1))
        fi
        done_cycles=$c
        if [ $((c % (cycles / 10 > 0 ? cycles / 10 : 1))) -eq 0 ]; then
                say "cut $c/$cycles: $(stored) stored, $((SECONDS - start_s)) s"
        fi
done
kill -CONT "$loop_pid" 2>/dev/null

# Stop the stream, let the agents drain (at most 300 s).
touch "$work/stop"
for _ in $(seq 300); do kill -0 "$loop_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$loop_pid" 2>/dev/null; then
        for p in $(pgrep -P "$loop_pid"); do kill -KILL "$p" 2>/dev/null; done
        kill -KILL "$loop_pid"
fi
wait "$loop_pid" 2>/dev/null
loop_pid=""
[ -n "$hub_pid" ] || start_hub || { say "FAIL: the hub does not start for the drain"; exit 1; }
[ -n "$agent1_pid" ] || start_agent1
say "submissions stopped after $((SECONDS - start_s)) s; draining"
pending() {
        local n total=0 q
        for n in $(seq $NODES); do
                q=$("$NODE" status --dir "$(node_dir "$n")" --json 2>/dev/null |
                        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["queued"]+d["in_flight"])' 2>/dev/null) || q=999999
                total=$((total + q))
        done
        echo $total
}
drained=0
for _ in $(seq 300); do
        [ "$(pending)" -eq 0 ] && { drained=1; break; }
        sleep 1
done
sleep 2
for n in $(seq $NODES); do
        "$NODE" status --dir "$(node_dir "$n")" --json >"$work/status$n.json" 2>>"$work/status.err"
done
"$HUB" stats --dir "$hubdir" --json >"$work/stats.json" 2>>"$work/status.err"
stop_hub
for p in $agent1_pid "${node_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
for p in $agent1_pid "${node_pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
done
wait $agent1_pid "${node_pids[@]}" 2>/dev/null
agent1_pid="" node_pids=()

# The release of what the hub counted, then the same after a restart.
fault_recount "$hubdir"
fault_dump_store "$hubdir"

say "$hub_cuts cuts of the hub, $node_cuts of member1, $((SECONDS - start_s)) s"
for w in hub node; do
        # What the cuts undid, from nmo-lazyfs: "cut: N files ... (R ranges, B bytes restored)".
        sed -n 's/.*cut: .*(\([0-9]*\) ranges, \([0-9]*\) bytes restored).*/\1 \2/p' "$work/lazyfs-$w.log" |
                awk -v w="$w" -v f="$(grep -c frozen "$work/lazyfs-$w.log")" '{ n++; if ($1 > 0) { u++; r += $1; b += $2 } }
                        END { printf "power-cut: %d of %d cuts of the %s file system undid unsynced writes (%d ranges, %d bytes); %d came after a freeze\n", u, n, w, r, b, f }'
done
[ -s "$work/submit-failures" ] && say "note: $(wc -l <"$work/submit-failures") submit runs failed or were cut (see submit*.err)"
[ "$start_failures" -gt 0 ] && say "note: the hub failed to start $start_failures times (see hub.log)"
[ "$idle" -gt 0 ] && say "note: in $idle cycles the hub stored nothing within 20 s before the cut"

python3 - "$work" "$NODES" "$done_cycles" "$drained" "$analytics_same" "$recount_ok" <<'EOF'
import json, sys, collections
work, nodes, cycles = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
drained, analytics_same, recount_ok = sys.argv[4] == "1", sys.argv[5] == "1", sys.argv[6] == "1"
fails = []

def load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except Exception as e:
        fails.append("cannot read %s: %s" % (path.rsplit("/", 1)[-1], e))
        return default

def ids(path):
    with open(path) as f:
        return [l.strip() for l in f if l.strip()]

members = {m["name"]: m["id"] for m in load(work + "/members.json", [])}
stats = load(work + "/stats.json", {}) or {}
stored_keys = collections.Counter()
with open(work + "/signals.dump") as f:
    lines = [l[1:].rstrip("\n") for l in f if l.startswith(" ")]
for k in lines[0::2]:
    stored_keys[k] += 1
meta = {}
with open(work + "/meta.dump") as f:
    lines = [l[1:].rstrip("\n") for l in f if l.startswith(" ")]
for k, v in zip(lines[0::2], lines[1::2]):
    b = bytes.fromhex(v)
    meta[bytes.fromhex(k).decode("ascii", "replace")] = int.from_bytes(b, "big") if len(b) == 8 else None

in_outboxes = set()
confirmed_total = 0
delivered = 0
lost = 0
dup_ids = 0
unexplained = 0
for n in range(1, nodes + 1):
    name = "member%d" % n
    confirmed = ids("%s/ids%d.txt" % (work, n))
    unconfirmed = set(ids("%s/unconfirmed%d.txt" % (work, n)))
    confirmed_total += len(set(confirmed))
    dup_ids += len(confirmed) - len(set(confirmed))
    st = load("%s/status%d.json" % (work, n), {}) or {}
    by_id = {s["id"]: s for s in st.get("signals", [])}
    if st.get("queued", 1) or st.get("in_flight", 1):
        fails.append("%s: %s queued, %s in flight at the end" % (name, st.get("queued"), st.get("in_flight")))
    if st.get("rejected", 1):
        fails.append("%s: %s rejected" % (name, st.get("rejected")))
    delivered += st.get("delivered", 0)
    mid = members.get(name)
    prefix = "%08x" % mid if mid is not None else "?"
    # Every confirmed signal: in the outbox, delivered, in the hub's store.
    for i in set(confirmed):
        s = by_id.get(i)
        in_store = stored_keys.get(prefix + i, 0) > 0
        if s is None or s.get("state") != "delivered" or not in_store:
            lost += 1
            if lost <= 5:
                fails.append("%s: confirmed signal %s %s, %s in the hub's store" % (
                    name, i, "missing from the outbox" if s is None else s.get("state"),
                    "present" if in_store else "absent"))
    # Every receipt a node holds: for a signal in the hub's store.
    for i, s in by_id.items():
        in_outboxes.add(prefix + i)
        r = s.get("receipt")
        if r and prefix + i not in stored_keys and i not in confirmed:
            lost += 1
            if lost <= 5:
                fails.append("%s: signal %s holds a receipt (hub hour %s) and is absent from the hub's store"
                             % (name, i, r.get("hub_time")))
    # Signals in the outbox that no confirmed submit printed: from submits
    # that were cut after their commit (member1), else unexplained.
    extra = set(by_id) - set(confirmed)
    if n != 1 and extra - unconfirmed:
        unexplained += len(extra - unconfirmed)
        fails.append("%s: %d signals in the outbox that no submit printed" % (name, len(extra - unconfirmed)))

stored = stats.get("signals_stored", -1)
records = len(stored_keys)
# Signals the hub stored that no outbox holds. Member1's outbox may have
# lost a submit that a cut interrupted between its commit becoming visible
# and its sync (the agent read it, the hub stored it, the commit was undone);
# an unconfirmed signal, so a note. Any other is a failure.
orphans = set(stored_keys) - in_outboxes
m1 = members.get("member1")
orphans1 = {k for k in orphans if m1 is not None and k.startswith("%08x" % m1)}
if orphans1:
    print("power-cut: note: %d signals of member1 stored by the hub and gone from its outbox (cut submits)"
          % len(orphans1))
orphans -= orphans1
in_outboxes |= orphans1
twice = sum(c - 1 for c in stored_keys.values())
duplicated = max(0, stored - len(in_outboxes)) + twice + dup_ids
if stored != len(in_outboxes) or stored != delivered + len(orphans1) or records != stored:
    fails.append("signals_stored %d, records in the store %d, distinct ids in the outboxes %d, delivered %d"
                 % (stored, records, len(in_outboxes), delivered))
if orphans:
    fails.append("%d signals in the hub's store that no outbox holds" % len(orphans))
if meta.get("next_sequence") != stored:
    fails.append("next_sequence %s != signals_stored %d" % (meta.get("next_sequence"), stored))
if stats.get("rejected", 0):
    fails.append("the hub rejected %s envelopes: %s" % (stats["rejected"], stats.get("rejected_by_reason")))
if not drained:
    fails.append("the agents did not drain within 300 s")
if not analytics_same or not recount_ok:
    fails.append("released figures missing or changed across a restart")

cells = load(work + "/cells-after.json", []) or []
ew = [c for c in cells if c.get("kind") == "event-week"]
suppressed = [c for c in ew if c.get("status") != "released"]
reports = sum(c.get("reports") or 0 for c in ew)
if suppressed:
    print("power-cut: note: %d event-week cells suppressed; the sum of reports is not checked" % len(suppressed))
elif abs(reports - stored) > 2 * len(ew):
    fails.append("event-week cells add up to %d reports, the hub stored %d signals (more than the "
                 "noise of %d cells allows)" % (reports, stored, len(ew)))

print("power-cut: %d ids confirmed, %d in the outboxes, %d delivered, %d stored (%d duplicates answered "
      "with the original receipt), analytics %s" % (
          confirmed_total, len(in_outboxes), delivered, stored, stats.get("duplicates", 0),
          "released and stable" if analytics_same and recount_ok else "DIFFERENT"))
for f in fails:
    print("power-cut: FAIL: " + f)
ok = not fails and lost == 0 and duplicated == 0
print("cuts %d, acknowledged %d, lost %d, duplicated %d" % (cycles, delivered, lost, duplicated))
sys.exit(0 if ok else 1)
EOF
rc=$?
[ "$done_cycles" -eq "$cycles" ] || rc=1
exit $rc
