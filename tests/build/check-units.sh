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
# Each line of the sysusers.d and tmpfiles.d entries: comment or a known type
# (one file per daemon, naming only that daemon's user and directory).
for u in nmo-hub nmo-node; do
        f=$src/systemd/$u.sysusers
        grep -vE "^(#|\$|u $u - \"[^\"]+\" /var/lib/$u\$)" "$f" &&
                { echo "FAIL: $u.sysusers has an unexpected line"; fail=1; }
        grep -qE "^u $u " "$f" || { echo "FAIL: $u.sysusers does not make the user $u"; fail=1; }
        f=$src/systemd/$u.tmpfiles
        grep -vE "^(#|\$|d /var/lib/$u 07[01][01] $u $u -\$)" "$f" &&
                { echo "FAIL: $u.tmpfiles has an unexpected line"; fail=1; }
        grep -qE "^d /var/lib/$u " "$f" || { echo "FAIL: $u.tmpfiles does not make /var/lib/$u"; fail=1; }
done
exit $fail
