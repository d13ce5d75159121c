# shellcheck shell=bash
# scripts/package.sh: sourced by check.sh for `./check.sh --package`. Builds
# the Debian packages of debian/ with dpkg-buildpackage in a copy of the
# source tree (so the checkout gets none of debian/'s build litter), runs
# lintian, and checks what each .deb holds and depends on; then installs them
# in a throwaway Debian 12 root and follows README's steps from the package
# to a running, monitored hub and a node that delivers to it
# (scripts/install-test.sh). Prints one line per check and ends with "N
# passed, N failed"; the .debs are copied to build-package/.

. scripts/install-test.sh

# pkg_check DESCRIPTION COMMAND...: runs COMMAND and counts it.
pkg_check() {
        local what=$1
        shift
        if "$@"; then
                echo "ok: $what"
                pkg_passed=$((pkg_passed + 1))
        else
                echo "FAIL: $what"
                pkg_failed=$((pkg_failed + 1))
        fi
}

# pkg_has DEB REGEX: some path of DEB (dpkg-deb -c) matches the extended
# regular expression REGEX in full (paths start with "./").
pkg_has() {
        dpkg-deb -c "$1" | awk '{ print $6 }' | grep -qE "^($2)\$"
}

# pkg_depends_not DEB PACKAGE: the Depends and Pre-Depends of DEB do not name
# PACKAGE.
pkg_depends_not() {
        ! dpkg-deb -f "$1" Depends Pre-Depends | grep -qE "(^|[ ,:|])$2([ ,(]|\$)"
}

# pkg_script_has DEB SCRIPT REGEX: the maintainer script SCRIPT (postinst,
# ...) of DEB has a line matching REGEX.
pkg_script_has() {
        dpkg-deb -I "$1" "$2" 2>/dev/null | grep -qE "$3"
}

# pkg_unit_stays_off DEB UNIT: installing DEB neither starts UNIT nor enables
# it on a first installation. dh_installsystemd's default postinst enables
# whatever "was-enabled" (true on a first installation) and starts the unit;
# with --no-enable --no-start it only re-enables, on upgrade, a unit the
# operator had enabled ("debian-installed" guard) and starts nothing.
pkg_unit_stays_off() {
        local script
        script=$(dpkg-deb -I "$1" postinst 2>/dev/null)
        if grep -q 'deb-systemd-invoke' <<<"$script"; then
                return 1
        fi
        if grep -q 'deb-systemd-helper enable' <<<"$script" &&
                ! grep -q "deb-systemd-helper debian-installed '$2'" <<<"$script"; then
                return 1
        fi
}

nmo_check_package() {
        pkg_passed=0
        pkg_failed=0
        local start=$SECONDS tmp version src log
        if ! git rev-parse --git-dir >/dev/null 2>&1; then
                echo "--package needs a git checkout (it copies the files git knows)" >&2
                echo "0 passed, 1 failed"
                return 1
        fi
        version=$(dpkg-parsechangelog -l debian/changelog -S Version) || {
                echo "0 passed, 1 failed"
                return 1
        }
        tmp=$(mktemp -d "${TMPDIR:-/tmp}/nmo-package.XXXXXX")
        # The install test's root first (its mounts), then the copy.
        # shellcheck disable=SC2064
        trap "inst_cleanup; rm -rf --one-file-system '$tmp'" EXIT
        trap 'exit 130' INT TERM
        src=$tmp/nmo-signal-${version%-*}
        mkdir "$src"
        # The tracked files as they are in the working tree (edits included,
        # deleted files left out) and the untracked ones git does not ignore.
        git ls-files -z --cached --others --exclude-standard |
                while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
                tar --null -T - -cf - | tar -xf - -C "$src"

        echo "== dpkg-buildpackage -b -us -uc in $src"
        log=$tmp/build.log
        if (cd "$src" && DEB_BUILD_OPTIONS="parallel=2 ${DEB_BUILD_OPTIONS:-}" \
                nice dpkg-buildpackage -b -us -uc) >"$log" 2>&1; then
                echo "ok: dpkg-buildpackage ($((SECONDS - start)) s)"
                pkg_passed=$((pkg_passed + 1))
        else
                tail -n 60 "$log"
                echo "FAIL: dpkg-buildpackage (log above, last 60 lines)"
                echo "$pkg_passed passed, $((pkg_failed + 1)) failed"
                return 1
        fi

        local changes hub node analyst arch
        arch=$(dpkg-architecture -qDEB_HOST_ARCH)
        changes=$tmp/nmo-signal_${version}_${arch}.changes
        hub=$tmp/nmo-hub_${version}_${arch}.deb
        node=$tmp/nmo-node_${version}_${arch}.deb
        analyst=$tmp/nmo-analyst_${version}_${arch}.deb
        local d
        for d in "$hub" "$node" "$analyst"; do
                pkg_check "built $(basename "$d")" test -f "$d"
        done

        # lintian: errors fail the check; warnings and the rest are shown.
        echo "== lintian"
        pkg_check "lintian reports no errors" lintian --fail-on error --tag-display-limit 0 "$changes"

        echo "== contents"
        for d in "$hub" "$node" "$analyst"; do
                [ -f "$d" ] || continue
                echo "-- $(basename "$d")"
                dpkg-deb -c "$d" | awk '$1 !~ /^d/ { print "   " $6 }'
        done
        local unitdir='\./(usr/)?lib/systemd/system' doc
        if [ -f "$hub" ]; then
                doc=./usr/share/doc/nmo-hub
                pkg_check "nmo-hub has /usr/bin/nmo-hub" pkg_has "$hub" './usr/bin/nmo-hub'
                pkg_check "nmo-hub has its bash completion" pkg_has "$hub" \
                        './usr/share/bash-completion/completions/nmo-hub'
                pkg_check "nmo-hub has nmo-hub.service" pkg_has "$hub" "$unitdir/nmo-hub.service"
                pkg_check "nmo-hub has nmo-hub.8" pkg_has "$hub" './usr/share/man/man8/nmo-hub.8.gz'
                pkg_check "nmo-hub has nmo-hub.conf.5" pkg_has "$hub" './usr/share/man/man5/nmo-hub.conf.5.gz'
                pkg_check "nmo-hub has its sysusers.d entry" pkg_has "$hub" './usr/lib/sysusers.d/nmo-hub.conf'
                pkg_check "nmo-hub has its tmpfiles.d entry" pkg_has "$hub" './usr/lib/tmpfiles.d/nmo-hub.conf'
                pkg_check "nmo-hub has PROTOCOL.md" pkg_has "$hub" "$doc/PROTOCOL.md(\\.gz)?"
                pkg_check "nmo-hub has README.md" pkg_has "$hub" "$doc/README.md(\\.gz)?"
                pkg_check "nmo-hub has examples/hub.conf" pkg_has "$hub" "$doc/examples/hub.conf"
                pkg_check "nmo-hub depends on libmicrohttpd12 (loaded for [metrics])" eval \
                        "dpkg-deb -f '$hub' Depends | grep -q 'libmicrohttpd12'"
                pkg_check "nmo-hub has examples/nmo-signal-rules.yml" pkg_has "$hub" \
                        "$doc/examples/nmo-signal-rules.yml"
                pkg_check "nmo-hub has not nmo-node's user" \
                        eval "! pkg_has '$hub' './usr/lib/sysusers.d/nmo-node.conf'"
                pkg_check "nmo-hub postinst makes the user (systemd-sysusers)" \
                        pkg_script_has "$hub" postinst 'systemd-sysusers.*nmo-hub\.conf'
                pkg_check "nmo-hub postinst neither enables nor starts nmo-hub.service" \
                        pkg_unit_stays_off "$hub" nmo-hub.service
        fi
        if [ -f "$node" ]; then
                doc=./usr/share/doc/nmo-node
                pkg_check "nmo-node has /usr/bin/nmo-node" pkg_has "$node" './usr/bin/nmo-node'
                pkg_check "nmo-node has /usr/bin/nmo-keys" pkg_has "$node" './usr/bin/nmo-keys'
                pkg_check "nmo-node has the bash completions of nmo-node and nmo-keys" eval \
                        "pkg_has '$node' './usr/share/bash-completion/completions/nmo-node' &&
                         pkg_has '$node' './usr/share/bash-completion/completions/nmo-keys'"
                pkg_check "nmo-node has nmo-node.service" pkg_has "$node" "$unitdir/nmo-node.service"
                pkg_check "nmo-node has nmo-node.8, nmo-node.conf.5, nmo-keys.1" eval \
                        "pkg_has '$node' './usr/share/man/man8/nmo-node.8.gz' &&
                         pkg_has '$node' './usr/share/man/man5/nmo-node.conf.5.gz' &&
                         pkg_has '$node' './usr/share/man/man1/nmo-keys.1.gz'"
                pkg_check "nmo-node has its sysusers.d entry" pkg_has "$node" './usr/lib/sysusers.d/nmo-node.conf'
                pkg_check "nmo-node has its tmpfiles.d entry" pkg_has "$node" './usr/lib/tmpfiles.d/nmo-node.conf'
                pkg_check "nmo-node has PROTOCOL.md" pkg_has "$node" "$doc/PROTOCOL.md(\\.gz)?"
                pkg_check "nmo-node has examples/node.conf" pkg_has "$node" "$doc/examples/node.conf"
                pkg_check "nmo-node recommends libmicrohttpd12 (loaded for [metrics] only)" eval \
                        "dpkg-deb -f '$node' Recommends | grep -q 'libmicrohttpd12'"
                pkg_check "nmo-node has not nmo-hub" eval "! pkg_has '$node' '.*nmo-hub.*'"
                pkg_check "nmo-node does not depend on nmo-hub" pkg_depends_not "$node" nmo-hub
                pkg_check "nmo-node postinst makes the user (systemd-sysusers)" \
                        pkg_script_has "$node" postinst 'systemd-sysusers.*nmo-node\.conf'
                pkg_check "nmo-node postinst neither enables nor starts nmo-node.service" \
                        pkg_unit_stays_off "$node" nmo-node.service
        fi
        if [ -f "$analyst" ]; then
                pkg_check "nmo-analyst has /usr/bin/nmo-analyst" pkg_has "$analyst" './usr/bin/nmo-analyst'
                pkg_check "nmo-analyst has nmo-analyst.1" pkg_has "$analyst" './usr/share/man/man1/nmo-analyst.1.gz'
                pkg_check "nmo-analyst has its bash completion" pkg_has "$analyst" \
                        './usr/share/bash-completion/completions/nmo-analyst'
                pkg_check "nmo-analyst has not nmo-hub nor nmo-node" \
                        eval "! pkg_has '$analyst' '.*/nmo-(hub|node)(\\..*)?'"
                pkg_check "nmo-analyst does not depend on nmo-hub" pkg_depends_not "$analyst" nmo-hub
        fi

        if [ -f "$hub" ] && [ -f "$node" ] && [ -f "$analyst" ]; then
                nmo_check_install "$hub" "$node" "$analyst"
        fi

        rm -rf build-package
        mkdir -p build-package
        cp "$tmp"/*.deb "$tmp"/*.buildinfo "$changes" build-package/ 2>/dev/null
        echo "== the packages are in build-package/ ($((SECONDS - start)) s in all)"
        echo "$pkg_passed passed, $pkg_failed failed"
        [ "$pkg_failed" -eq 0 ]
}
