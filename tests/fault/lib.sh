# tests/fault/lib.sh: what the fault scripts share. Each script sets NAME (its
# name without .sh) and sources this file:
#
#   NAME=kill-hub
#   . "$(dirname "$0")/lib.sh"
#
# It gives them one wording for usage errors, the build's binaries, the seed,
# the work directory and the small helpers every script needs. What a script
# starts and how it cleans up stays in the script: each kills what it started
# in its own EXIT trap.

# usage: the script's header comment, from its second line to the first line
# that is not a comment.
usage() { sed -n '2,/^$/{/^#/!q;s/^# \{0,1\}//;p}' "$0"; }

# say TEXT: one line of progress, prefixed with the script's name.
say() { echo "$NAME: $*"; }

# fault_usage_error TEXT: a usage error (exit 2).
fault_usage_error() {
        echo "$NAME.sh: $*" >&2
        exit 2
}

# fault_unknown ARG: an argument the script does not take (exit 2).
fault_unknown() { fault_usage_error "unknown argument $1 (try --help)"; }

# fault_number VALUE WHAT: exits 2 unless VALUE is a decimal number.
fault_number() {
        case "$1" in '' | *[!0-9]*) fault_usage_error "$2" ;; esac
}

# fault_seed: checks $seed (from --seed), draws one when it is empty, and seeds
# $RANDOM with it so that a run can be repeated.
fault_seed() {
        case "$seed" in *[!0-9]*) fault_usage_error "--seed takes a number" ;; esac
        [ -n "$seed" ] || seed=$(($(date +%s) % 100000))
        RANDOM=$seed
}

# fault_binaries: sets HUB, NODE, ANALYST and LAZYFS from the build directory
# ($NMO_BUILD, default build/ of this checkout) and exits 1 when one of the
# programs named in the arguments (hub, node, analyst) is missing.
fault_binaries() {
        local b want
        build=${NMO_BUILD:-"$(dirname "$0")/../../build"}
        build=$(cd "$build" 2>/dev/null && pwd) || {
                echo "$NAME.sh: no build directory ($build)" >&2
                exit 1
        }
        HUB=$build/hub/nmo-hub
        NODE=$build/node/nmo-node
        ANALYST=$build/analyst/nmo-analyst
        LAZYFS=$build/tests/fault/nmo-lazyfs
        for want in "$@"; do
                case $want in
                hub) b=$HUB ;;
                node) b=$NODE ;;
                analyst) b=$ANALYST ;;
                *) continue ;;
                esac
                [ -x "$b" ] || {
                        echo "$NAME.sh: $b missing; run 'meson compile -C build'" >&2
                        exit 1
                }
        done
}

# fault_need COMMAND PACKAGE: exits 1 when COMMAND is not installed.
fault_need() {
        command -v "$1" >/dev/null || {
                echo "$NAME.sh: $1 missing (apt-get install $2)" >&2
                exit 1
        }
}

# fault_workdir: a fresh directory for the run in $work.
fault_workdir() { work=$(mktemp -d "${TMPDIR:-/tmp}/nmo-$NAME-XXXXXX"); }

# free_port: a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ms N: sleeps N milliseconds.
ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

# now_ms: the clock in milliseconds.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# fault_stored HUB_DIR: signals_stored of the hub's store, -1 when unreadable.
fault_stored() {
        local v
        v=$("$HUB" stats --dir "$1" --json 2>/dev/null | sed -n 's/.*"signals_stored": *\([0-9]*\).*/\1/p')
        echo "${v:--1}"
}

# fault_hub_starts LOG: how many times a hub logging to LOG started serving.
fault_hub_starts() {
        local c
        c=$(grep -c 'serving on' "$1" 2>/dev/null)
        echo "${c:-0}"
}

# fault_start_hub HUB_DIR LOG [VAR=VALUE...]: starts `nmo-hub serve` in the
# background (with the variables in its environment) and its output appended
# to LOG, sets hub_pid, and waits (at most 15 s) until it serves. Returns
# non-zero (hub_pid empty) when it exited instead.
fault_start_hub() {
        local dir=$1 log=$2 before
        shift 2
        before=$(fault_hub_starts "$log")
        env "$@" "$HUB" serve --dir "$dir" >>"$log" 2>&1 &
        hub_pid=$!
        for _ in $(seq 1500); do
                [ "$(fault_hub_starts "$log")" -gt "$before" ] && return 0
                kill -0 "$hub_pid" 2>/dev/null || {
                        wait "$hub_pid" 2>/dev/null
                        hub_pid=""
                        return 1
                }
                sleep 0.01
        done
        return 1
}

# stop_hub: SIGTERM to $hub_pid, SIGKILL after 20 s; clears hub_pid.
stop_hub() {
        [ -n "$hub_pid" ] || return 0
        kill -TERM "$hub_pid" 2>/dev/null
        for _ in $(seq 200); do kill -0 "$hub_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$hub_pid" 2>/dev/null
        wait "$hub_pid" 2>/dev/null
        hub_pid=""
}

# fault_snapshot HUB_DIR NAME: the analyst's cells (plain, by material, by
# country) as JSON in $work/cells-NAME.json, material-NAME.json and
# country-NAME.json.
fault_snapshot() {
        "$ANALYST" --store "$1/analytics" cells --json >"$work/cells-$2.json" 2>>"$work/analyst.err"
        "$ANALYST" --store "$1/analytics" cells --rollup material --json \
                >"$work/material-$2.json" 2>>"$work/analyst.err"
        "$ANALYST" --store "$1/analytics" cells --rollup country --json \
                >"$work/country-$2.json" 2>>"$work/analyst.err"
}

# fault_recount HUB_DIR: what the hub counted is released, and released
# figures stay as they are. Figures appear only at a release point (Monday
# 06:00 UTC after the week), so the hub is restarted under libfaketime with
# its clock past the next one: it releases what it counted; a snapshot is
# taken; then it is restarted once more (same clock) and the analytics store
# must be the same, and not empty. Sets recount_ok (the hub started both
# times) and analytics_same, 1 or 0.
# fault_faketime: the libfaketime library (empty when missing).
fault_faketime() {
        ls /usr/lib/*/faketime/libfaketimeMT.so.1 /usr/lib/faketime/libfaketimeMT.so.1 \
                2>/dev/null | head -n 1
}

# fault_release_offset: seconds from now to two minutes past the next release
# point (Monday 06:00 UTC after this week, the default [release] delay_hours).
fault_release_offset() {
        python3 -c 'import time
now = time.time()
day = int(now // 86400)
monday = day - (day + 3) % 7 + 7
print(int(monday * 86400 + 6 * 3600 + 120 - now) + 1)'
}

fault_recount() {
        local k lib offset log
        log=$work/hub.log
        lib=$(fault_faketime)
        offset=$(fault_release_offset)
        recount_ok=1
        analytics_same=1
        if [ -z "$lib" ]; then
                say "FAIL: libfaketime is missing (apt-get install faketime)"
                recount_ok=0
                return
        fi
        for k in before after; do
                if fault_start_hub "$1" "$log" LD_PRELOAD="$lib" FAKETIME="+${offset}" \
                        FAKETIME_DONT_FAKE_MONOTONIC=1; then
                        sleep 2
                        stop_hub
                else
                        recount_ok=0
                        say "FAIL: the hub does not start for the recount"
                fi
                fault_snapshot "$1" "$k"
        done
        if ! grep -q '"status"' "$work/material-before.json"; then
                analytics_same=0
                say "FAIL: nothing released after the release point"
        fi
        for k in cells material country; do
                if ! cmp -s "$work/$k-before.json" "$work/$k-after.json"; then
                        analytics_same=0
                        say "FAIL: analytics ($k) differ between two restarts after the release:"
                        diff "$work/$k-before.json" "$work/$k-after.json" | head -20
                fi
        done
}

# fault_dump_store HUB_DIR: the members (members.json) and the private
# store's signals and meta databases (signals.dump, meta.dump) into $work,
# for the final checks.
fault_dump_store() {
        "$HUB" member list --dir "$1" --json >"$work/members.json" 2>>"$work/status.err"
        mdb_dump -s signals "$1/private" >"$work/signals.dump" 2>>"$work/status.err"
        mdb_dump -s meta "$1/private" >"$work/meta.dump" 2>>"$work/status.err"
}
