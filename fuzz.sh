#!/usr/bin/env bash
# fuzz.sh: builds the libFuzzer targets (tests/fuzz/fuzz-NAME.c) with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer in build-fuzz/, and runs
# them. A run first replays the target's regression inputs
# (tests/fuzz/regress/NAME/, crashes found and fixed before), then fuzzes a
# copy of its seed corpus (tests/fuzz/corpus/NAME/) in a temporary directory:
# nothing is written into the repository. It ends with one line
#
#   fuzz-NAME: N runs in S s, 0 crashes
#
# A crash (also a leak, an UBSan report or a timeout) prints the reproducer's
# path, kept under build-fuzz/crashes/, and exits 1; replay it with
# build-fuzz/tests/fuzz/fuzz-NAME FILE.
#
#   ./fuzz.sh fuzz-NAME [SECONDS]   one target, SECONDS of fuzzing (default 60)
#   ./fuzz.sh --all SECONDS         every target in turn
#   ./fuzz.sh --list                the targets
set -uo pipefail
cd "$(dirname "$0")"
. scripts/deps.sh

# Each target with the largest input worth trying: a little above the limit
# its parser enforces, so that the refusal of larger input is fuzzed too.
TARGETS="envelope:4200 signal:2200 receipt:1200 keyfile:4096 hub-config:4096 node-config:4096
jsonl:9000 alert:4200 hub-frame:4200 announcement:1200"

# The running target's temporary directory, removed however the script ends.
work=""
trap '[ -n "$work" ] && rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

usage() {
        sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

list() {
        local t
        for t in $TARGETS; do
                echo "fuzz-${t%%:*}"
        done
}

build() {
        nmo_install_deps clang libclang-rt-14-dev || return 1
        if [ -f build-fuzz/build.ninja ]; then
                nmo_build build-fuzz
        else
                CC=clang nmo_build build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
                        -Db_lundef=false
        fi
}

# run NAME SECONDS: replays, fuzzes, prints the summary line; 0 when clean.
run() {
        local name=$1 secs=$2 t len="" bin log start n crash rc
        for t in $TARGETS; do
                [ "${t%%:*}" = "$name" ] && len=${t#*:}
        done
        bin=build-fuzz/tests/fuzz/fuzz-$name
        # A store on tmpfs keeps fuzz-hub-frame's fsync per input cheap.
        if [ -d /dev/shm ] && [ -w /dev/shm ]; then
                work=$(mktemp -d /dev/shm/nmo-fuzz-XXXXXX)
        else
                work=$(mktemp -d "${TMPDIR:-/tmp}/nmo-fuzz-XXXXXX")
        fi
        log=$work/log
        mkdir -p "$work/corpus" "$work/tmp" build-fuzz/crashes
        # TMPDIR: where fuzz-hub-frame makes its store. UBSan reports count as crashes.
        local env=(TMPDIR="$work/tmp" ASAN_OPTIONS=detect_leaks=1
                   UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1)

        if compgen -G "tests/fuzz/regress/$name/*" >/dev/null; then
                if ! env "${env[@]}" "$bin" tests/fuzz/regress/"$name"/* >"$log" 2>&1; then
                        tail -n 40 "$log" >&2
                        echo "fuzz-$name: an input in tests/fuzz/regress/$name/ crashes again"
                        rm -rf "$work"
                        work=""
                        return 1
                fi
        fi

        cp tests/fuzz/corpus/"$name"/* "$work/corpus/" 2>/dev/null
        start=$(date +%s)
        env "${env[@]}" "$bin" -max_total_time="$secs" -max_len="$len" -timeout=25 \
                -print_final_stats=1 \
                -artifact_prefix="build-fuzz/crashes/$name-" "$work/corpus" >"$log" 2>&1
        rc=$?
        secs=$(($(date +%s) - start))
        n=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
        if [ "$rc" -eq 0 ]; then
                echo "fuzz-$name: ${n:-0} runs in $secs s, 0 crashes"
                rm -rf "$work"
                work=""
                return 0
        fi
        crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        grep -E -A 25 '^==[0-9]+==ERROR|runtime error|ERROR: libFuzzer' "$log" | head -n 40 >&2
        echo "fuzz-$name: ${n:-0} runs in $secs s, 1 crash (exit $rc)"
        if [ -n "$crash" ]; then
                echo "reproducer: $PWD/$crash"
                echo "replay it: $PWD/$bin $PWD/$crash"
        else
                echo "no reproducer written; the log follows" >&2
                tail -n 20 "$log" >&2
        fi
        rm -rf "$work"
        work=""
        return 1
}

seconds_ok() {
        case $1 in
        '' | *[!0-9]* | 0) echo "fuzz.sh: SECONDS must be a whole number above 0" >&2 && return 1 ;;
        esac
}

case "${1:-}" in
-h | --help)
        usage
        ;;
--list)
        list
        ;;
--all)
        seconds_ok "${2:-}" || exit 2
        build || exit 1
        failed=0
        for t in $(list); do
                run "${t#fuzz-}" "$2" || failed=$((failed + 1))
        done
        [ "$failed" -eq 0 ]
        ;;
fuzz-*)
        if ! list | grep -qx -- "$1"; then
                echo "fuzz.sh: no target $1 (see ./fuzz.sh --list)" >&2
                exit 2
        fi
        seconds_ok "${2:-60}" || exit 2
        build || exit 1
        run "${1#fuzz-}" "${2:-60}"
        ;;
*)
        usage >&2
        exit 2
        ;;
esac
