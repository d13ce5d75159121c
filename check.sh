#!/usr/bin/env bash
# check.sh: installs what is missing, builds with warnings as errors, and runs
# the whole test suite: unit tests and integration tests with the real nmo-hub
# and nmo-node on loopback; then the same suite again built with
# AddressSanitizer and UndefinedBehaviorSanitizer (build-asan/); then each
# libFuzzer target for a few seconds with its regression inputs (fuzz.sh;
# when clang is installed). Ends with one line "N passed, N failed" over all.
#
#   ./check.sh                the suite, the sanitizer suite, the fuzz targets
#   ./check.sh -- ARGS        extra arguments for meson test (e.g. a test name),
#                             in both builds; no fuzzing
#   ./check.sh --fault [-- ARGS]
#                             instead: the fault-injection scripts of tests/fault
#                             (meson suite 'fault': hub and node killed at random,
#                             power cuts, full disk, hostile peers, clock skew,
#                             stale readers, analytics lag), one after another,
#                             each with a short count of cycles (about 10 min)
#   ./check.sh --valgrind [-- ARGS]
#                             instead: the unit tests under valgrind memcheck, and
#                             the integration tests with every nmo-hub, nmo-node
#                             and nmo-keys they start under valgrind (slow)
#   ./check.sh --package      instead: the Debian packages nmo-hub, nmo-node and
#                             nmo-analyst (debian/), built with dpkg-buildpackage
#                             in a copy of the source tree, lintian without
#                             errors, and the contents and dependencies of each
#                             .deb; the .debs are left in build-package/; as
#                             root, then README's operator steps with them in a
#                             throwaway Debian 12 root (debootstrap, cached in
#                             /var/cache/nmo-signal/): install, init, start,
#                             stats, /metrics, a node that delivers
#   ./check.sh --help         this text
set -uo pipefail
cd "$(dirname "$0")"
. scripts/deps.sh

usage() {
        sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

valgrind=0
fault=0
package=0
extra=()
while [ $# -gt 0 ]; do
        case $1 in
        --valgrind) valgrind=1 ;;
        --fault) fault=1 ;;
        --package) package=1 ;;
        -h | --help) usage && exit 0 ;;
        --)
                shift
                extra=("$@")
                break
                ;;
        *) usage >&2 && exit 2 ;;
        esac
        shift
done

nmo_install_deps || exit 1
if [ "$package" -eq 1 ]; then
        # shellcheck disable=SC2086
        nmo_install_deps $NMO_PACKAGE_PACKAGES || exit 1
        . scripts/package.sh
        nmo_check_package
        exit $?
fi
# shellcheck disable=SC2086
nmo_install_deps $NMO_CHECK_PACKAGES || exit 1
if [ "$valgrind" -eq 1 ]; then
        nmo_install_deps valgrind || exit 1
fi
nmo_build build -Dwerror=true || { echo "0 passed, 1 failed"; exit 1; }

# The test logs to count, and what runs outside meson test (fuzz targets, a
# build that failed) counted here.
logs=()
more_passed=0
more_failed=0

if [ "$fault" -eq 1 ]; then
        # meson names the log after the setup: testlog-fault.json.
        meson test -C build --setup fault --suite fault --print-errorlogs --num-processes 1 \
                "${extra[@]}"
        status=$?
        logs+=(build/meson-logs/testlog-fault.json)
elif [ "$valgrind" -eq 1 ]; then
        # Exit 99 marks valgrind's own findings; a definite leak is an error.
        vg="valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite"
        # meson names the log of a wrapped run after the wrapper: unit-valgrind.json.
        meson test -C build --print-errorlogs --num-processes 2 --suite unit \
                --logbase unit --wrapper "$vg" --timeout-multiplier 10 "${extra[@]}"
        status=$?
        logs+=(build/meson-logs/unit-valgrind.json)
        NMO_VALGRIND=1 meson test -C build --print-errorlogs --num-processes 2 \
                --suite integration --logbase integration-valgrind --timeout-multiplier 4 \
                "${extra[@]}" || status=1
        logs+=(build/meson-logs/integration-valgrind.json)
else
        meson test -C build --print-errorlogs --num-processes 2 "${extra[@]}"
        status=$?
        logs+=(build/meson-logs/testlog.json)

        # The same suite under AddressSanitizer (with leak detection) and
        # UndefinedBehaviorSanitizer. tests/lsan.supp lists leaks inside
        # third-party libraries, never our own.
        echo "== the suite again under AddressSanitizer and UndefinedBehaviorSanitizer"
        if nmo_build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true; then
                ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp" \
                UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
                        meson test -C build-asan --print-errorlogs --num-processes 2 \
                        "${extra[@]}" || status=1
                logs+=(build-asan/meson-logs/testlog.json)
        else
                more_failed=$((more_failed + 1))
                status=1
        fi

        # Each fuzz target briefly: its regression inputs, then 5 s of fuzzing.
        if [ ${#extra[@]} -eq 0 ]; then
                if nmo_install_deps clang libclang-rt-14-dev; then
                        echo "== fuzz targets, 5 s each"
                        for t in $(./fuzz.sh --list); do
                                if ./fuzz.sh "$t" 5; then
                                        more_passed=$((more_passed + 1))
                                else
                                        more_failed=$((more_failed + 1))
                                        status=1
                                fi
                        done
                else
                        echo "fuzz targets skipped: clang and libclang-rt-14-dev are not installed"
                fi
        fi
fi

# Count the test cases (cmocka prints one line per case); a test program that
# died before reporting counts as one failure.
NMO_MORE_PASSED=$more_passed NMO_MORE_FAILED=$more_failed python3 - "${logs[@]}" <<'PY'
import json, os, re, sys
passed = int(os.environ["NMO_MORE_PASSED"])
failed = int(os.environ["NMO_MORE_FAILED"])
for path in sys.argv[1:]:
    if not os.path.exists(path):  # meson test could not even start
        failed += 1
        continue
    with open(path) as f:
        for line in f:
            try:
                t = json.loads(line)
            except ValueError:  # a log cut short: count it as a failure
                failed += 1
                continue
            out = (t.get("stdout") or "") + (t.get("stderr") or "")
            ok = len(re.findall(r"^\[       OK \] ", out, re.M))
            # A failed case is named twice (where it fails and in the summary).
            bad = len(set(re.findall(r"^\[  (?:FAILED  |ERROR   )\] (?!\d+ test)(?!---)(\S+)", out, re.M)))
            if t["result"] in ("OK", "EXPECTEDFAIL"):
                passed += max(ok, 1)
            elif t["result"] == "SKIP":
                pass
            else:
                passed += ok
                failed += max(bad, 1)
print(f"{passed} passed, {failed} failed")
PY
exit $status
