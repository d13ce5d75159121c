#!/usr/bin/env bash
# check-units.sh SOURCE_ROOT BUILD_ROOT: the systemd units as installed,
# with ExecStart pointing at this build's programs, pass `systemd-analyze
# verify` and rate at most 2.0 ("OK") in `systemd-analyze security`; the
# sysusers.d and tmpfiles.d entries parse.
set -u
src=$1 build=$2
if ! command -v systemd-analyze >/dev/null; then
        echo "systemd-analyze is missing (apt-get install systemd)" >&2
        exit 1
fi
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail=0
for u in nmo-hub nmo-node; do
        prog=$build/${u#nmo-}/$u
        sed "s#@bindir@/$u#$prog#" "$src/systemd/$u.service.in" >"$t/$u.service"
        if ! out=$(systemd-analyze verify --man=no "$t/$u.service" 2>&1) || [ -n "$out" ]; then
                echo "FAIL: systemd-analyze verify $u.service:"
                echo "$out"
                fail=1
        fi
        level=$(systemd-analyze security --offline=true "$t/$u.service" 2>/dev/null |
                sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
        echo "$u.service: exposure $level"
        if ! systemd-analyze security --offline=true --threshold=20 "$t/$u.service" >/dev/null 2>&1; then
                echo "FAIL: $u.service rates $level, above 2.0"
                fail=1
        fi
done
# Each line of the sysusers.d and tmpfiles.d entries: comment or a known type.
grep -vE '^(#|$|u nmo-(hub|node) - "[^"]+" /var/lib/nmo-(hub|node)$)' "$src/systemd/sysusers.conf" &&
        { echo "FAIL: sysusers.conf has an unexpected line"; fail=1; }
grep -vE '^(#|$|d /var/lib/nmo-(hub|node) 07[01][01] nmo-(hub|node) nmo-(hub|node) -$)' \
        "$src/systemd/tmpfiles.conf" && { echo "FAIL: tmpfiles.conf has an unexpected line"; fail=1; }
exit $fail
