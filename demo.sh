#!/usr/bin/env bash
# demo.sh: the main job of nmo-signal on one machine. Starts a GDN hub and one
# nmo-node agent per sample company on loopback in a temporary directory, with
# real keys, enrols the companies, submits the sample signals
# (tests/data/sample/*.jsonl), delivers them and prints what each role sees.
# The hub releases a week's figures only once the week is over (Monday 06:00
# UTC by default), so the demo runs the hub under libfaketime and moves its
# clock past that release point before the analyst looks.
#
#   ./demo.sh            run it (the temporary directory is removed at the end)
#   ./demo.sh --keep     keep the directory to look around afterwards
set -uo pipefail
cd "$(dirname "$0")"
root=$PWD
. scripts/deps.sh

keep=0
case "${1:-}" in
--keep) keep=1 ;;
-h | --help)
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
"") ;;
*)
        echo "demo.sh: unknown option $1 (try --help)" >&2
        exit 2
        ;;
esac

nmo_install_deps || exit 1
echo "== building"
nmo_build build || exit 1
hub_bin=$root/build/hub/nmo-hub
node_bin=$root/build/node/nmo-node
keys_bin=$root/build/keys/nmo-keys

work=$(mktemp -d "${TMPDIR:-/tmp}/nmo-demo-XXXXXX")
hub_pid=""
cleanup() {
        [ -n "$hub_pid" ] && kill -TERM "$hub_pid" 2>/dev/null && wait "$hub_pid" 2>/dev/null
        if [ "$keep" = 1 ]; then
                echo "kept $work"
        else
                rm -rf "$work"
        fi
}
trap cleanup EXIT

free_port() {
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
alerts_port=$(free_port)
endpoint=tcp://127.0.0.1:$port
alerts_endpoint=tcp://127.0.0.1:$alerts_port

faketime_lib=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -n 1)
if [ -z "$faketime_lib" ]; then
        echo "demo.sh: libfaketime is missing (apt-get install faketime)" >&2
        exit 1
fi
# The hub's clock is the real one plus the offset in this file.
echo "+0" >"$work/hub-clock"

echo
echo "== hub operator: create the hub and start it"
"$hub_bin" init --dir "$work/hub" --listen "$endpoint" --alerts-listen "$alerts_endpoint" \
        --name gdn-demo-hub || exit 1
LD_PRELOAD=$faketime_lib FAKETIME_TIMESTAMP_FILE=$work/hub-clock FAKETIME_CACHE_DURATION=1 \
        FAKETIME_DONT_FAKE_MONOTONIC=1 "$hub_bin" serve --dir "$work/hub" 2>"$work/hub.log" &
hub_pid=$!
for _ in $(seq 100); do
        (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
        sleep 0.1
done

echo
echo "== member companies: install the agent, exchange keys, enrol"
companies=()
for f in tests/data/sample/*.jsonl; do
        c=$(basename "$f" .jsonl)
        companies+=("$c")
        "$node_bin" init --dir "$work/nodes/$c" --hub "$endpoint" --alerts "$alerts_endpoint" \
                --hub-pub "$work/hub/keys/hub.pub" --name "$c" >"$work/$c.init.log" || {
                cat "$work/$c.init.log"
                exit 1
        }
        # The operator checks the fingerprint the company read out by phone.
        fp=$("$keys_bin" fingerprint "$work/nodes/$c/keys/member.pub")
        "$hub_bin" member add --dir "$work/hub" --name "$c" \
                --pub "$work/nodes/$c/keys/member.pub" --fingerprint "$fp" || exit 1
done

echo
echo "== member companies: submit the sample signals (sealed into the outbox)"
for c in "${companies[@]}"; do
        n=$("$node_bin" submit --dir "$work/nodes/$c" --file "tests/data/sample/$c.jsonl" 2>/dev/null | wc -l)
        printf '  %-22s queued %2d signals\n' "$c" "$n"
done

echo
echo "== member companies: the agents deliver and collect signed receipts"
pids=()
for c in "${companies[@]}"; do
        "$node_bin" run --dir "$work/nodes/$c" --once --timeout 60 2>"$work/$c.agent.log" &
        pids+=($!)
done
failed=0
for p in "${pids[@]}"; do
        wait "$p" || failed=1
done
[ "$failed" = 0 ] || echo "some agents did not finish; see $work/*.agent.log" >&2
for c in "${companies[@]}"; do
        printf '  %-22s ' "$c"
        "$node_bin" status --dir "$work/nodes/$c" | head -n 1
done

echo
echo "== hub operator: members and health"
"$hub_bin" member list --dir "$work/hub"
echo
"$hub_bin" stats --dir "$work/hub"

analyst=$root/build/analyst/nmo-analyst
echo
echo "== GDN analyst, before the week is over: nothing is released yet"
"$analyst" --store "$work/hub/analytics" cells
# The release point: Monday 06:00 UTC after this week ([release] delay_hours).
offset=$(python3 -c 'import time
now = time.time()
day = int(now // 86400)
monday = day - (day + 3) % 7 + 7
print(int(monday * 86400 + 6 * 3600 + 60 - now) + 1)')
echo
echo "== demo: moving the hub's clock (libfaketime) $((offset / 3600)) hours ahead, past the release point"
echo "+$offset" >"$work/hub-clock"
for _ in $(seq 1 100); do
        grep -q "released 20" "$work/hub.log" && break
        sleep 0.2
done
grep "released 20" "$work/hub.log" | sed 's/^/  hub: /'
analyst=$root/build/analyst/nmo-analyst
echo
echo "== GDN analyst: cells per material, event and ISO week (suppressed cells shown as x)"
"$analyst" --store "$work/hub/analytics" cells
echo
echo "== GDN analyst: material totals per week"
"$analyst" --store "$work/hub/analytics" cells --rollup material
echo
echo "== GDN analyst: the releases so far"
"$analyst" --store "$work/hub/analytics" releases
echo
echo "== GDN analyst: alerts"
"$analyst" --store "$work/hub/analytics" alerts
echo
echo "== GDN analyst: trend for gallium"
"$analyst" --store "$work/hub/analytics" trend --material gallium --weeks 6

echo
echo "== a member receives the alerts (signed by the hub, verified by the node)"
"$node_bin" alerts --dir "$work/nodes/${companies[0]}" --wait 3 2>/dev/null | head -n 12

echo
echo "== one member's view of its own signals"
"$node_bin" status --dir "$work/nodes/${companies[0]}" | head -n 12
exit $failed
