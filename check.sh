#!/usr/bin/env bash
# check.sh: installs what is missing, builds with warnings as errors, and runs
# the whole test suite: unit tests and integration tests with the real nmo-hub
# and nmo-node on loopback. Ends with one line "N passed, N failed".
#
#   ./check.sh            the suite
#   ./check.sh -- ARGS    extra arguments for meson test (e.g. a test name)
set -uo pipefail
cd "$(dirname "$0")"
. scripts/deps.sh

nmo_install_deps || exit 1
nmo_build build -Dwerror=true || { echo "0 passed, 1 failed"; exit 1; }

extra=()
if [ "${1:-}" = "--" ]; then
        shift
        extra=("$@")
fi

meson test -C build --print-errorlogs --num-processes 2 "${extra[@]}"
status=$?

# Count the test cases (cmocka prints one line per case); a test program that
# died before reporting counts as one failure.
python3 - build/meson-logs/testlog.json <<'PY'
import json, re, sys
passed = failed = 0
with open(sys.argv[1]) as f:
    for line in f:
        t = json.loads(line)
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
