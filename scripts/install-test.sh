# shellcheck shell=bash
# scripts/install-test.sh: sourced by scripts/package.sh. Proves the
# operator's path of README.md ("From the package to a running, monitored
# hub") with the .debs just built, in a throwaway Debian 12 root, never on
# this machine's own system: debootstrap --variant=minbase bookworm (cached
# as a tarball, so later runs download nothing but what changed), apt-get
# install of the three .debs with their dependencies from Debian's archive,
# the users, the state directories and `systemctl enable` (offline, in the
# chroot), then init, the passphrase as a systemd credential, the README's
# sed line for the metrics endpoint, the hub started the way its unit would
# start it (ExecStart= as User=, in the background), stats and /metrics, a
# member node enrolled that delivers one signal, and both stopped with
# SIGTERM. Every step is one pkg_check line.
#
# Needs root (chroot, mount). The chroot shares this machine's network, so
# the hub and its metrics endpoint listen on loopback ports that are free
# here. /proc, /dev and /sys are mounted into the root and unmounted, and
# every process left in the root is killed, whatever fails (trap).
#
#   NMO_INSTALL_CACHE   the cached root and .debs (default /var/cache/nmo-signal)
#   NMO_DEBIAN_MIRROR   Debian's archive (default http://deb.debian.org/debian)

# The root, its mounts and the processes started in it, for inst_cleanup.
inst_root=""
inst_mounts=()
inst_pids=()

# inst_cleanup: kills what runs in the root (the processes started here,
# then any other whose root directory is the root), unmounts in reverse
# order and removes the root, but only once nothing is mounted in it any
# more. Safe to call twice, and from a trap.
inst_cleanup() {
        local p i left=0
        [ -n "$inst_root" ] || return 0
        for p in "${inst_pids[@]}"; do
                kill -TERM "$p" 2>/dev/null
        done
        for p in /proc/[0-9]*; do
                if [ "$(readlink "$p/root" 2>/dev/null)" = "$inst_root" ]; then
                        echo "   killing pid ${p#/proc/} left in the root: $(tr '\0' ' ' <"$p/cmdline")"
                        kill -KILL "${p#/proc/}" 2>/dev/null
                fi
        done
        for p in "${inst_pids[@]}"; do
                for i in 1 2 3 4 5 6 7 8 9 10; do
                        kill -0 "$p" 2>/dev/null || break
                        sleep 0.5
                done
                kill -KILL "$p" 2>/dev/null
        done
        inst_pids=()
        for ((i = ${#inst_mounts[@]} - 1; i >= 0; i--)); do
                umount "${inst_mounts[i]}" 2>/dev/null || umount -l "${inst_mounts[i]}" 2>/dev/null
        done
        inst_mounts=()
        if grep -qF " $inst_root/" /proc/self/mounts; then
                echo "   mounts left under $inst_root, not removing it:" >&2
                grep -F " $inst_root/" /proc/self/mounts >&2
                left=1
        else
                rm -rf --one-file-system "$inst_root"
        fi
        inst_root=""
        return "$left"
}

# inst_mount ARGS... TARGET: mount, remembering TARGET for inst_cleanup.
inst_mount() {
        local target=${*: -1}
        mount "$@" || return 1
        inst_mounts+=("$target")
}

# inst_as USER COMMAND...: COMMAND in the root as USER, with a clean
# environment and umask 0077, as systemd would start a unit's ExecStart=
# with User= and UMask=0077 (setpriv, not sudo: minbase has no sudo).
inst_as() {
        local user=$1
        shift
        chroot "$inst_root" setpriv --reuid="$user" --regid="$user" --init-groups \
                env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/var/lib/"$user" \
                sh -c 'umask 0077 && exec "$@"' sh "$@"
}

# inst_root_do COMMAND...: COMMAND in the root as root.
inst_root_do() {
        chroot "$inst_root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
                DEBIAN_FRONTEND=noninteractive "$@"
}

# inst_free_port [AVOID...]: a TCP port free on loopback here whose
# successor is free too (the hub's alert feed listens on its port + 1).
inst_free_port() {
        python3 - "$@" <<'PY'
import random, socket, sys
avoid = {int(a) for a in sys.argv[1:]}
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(200):
    p = random.randrange(20000, 32000)
    if p not in avoid and p + 1 not in avoid and free(p) and free(p + 1):
        print(p)
        sys.exit(0)
sys.exit(1)
PY
}

# inst_wait SECONDS COMMAND...: runs COMMAND every half second until it
# succeeds (0) or SECONDS pass (1).
inst_wait() {
        local end=$((SECONDS + $1))
        shift
        until "$@"; do
                [ "$SECONDS" -lt "$end" ] || return 1
                sleep 0.5
        done
}

# inst_json_is FIELD VALUE COMMAND...: COMMAND prints one JSON object whose
# FIELD (a Python expression on j) is VALUE (a Python literal).
inst_json_is() {
        local field=$1 value=$2
        shift 2
        "$@" 2>/dev/null | python3 -c "
import json, sys
j = json.load(sys.stdin)
sys.exit(0 if ($field) == ($value) else 1)" 2>/dev/null
}

# inst_metrics_has PORT REGEX: GET http://127.0.0.1:PORT/metrics (from
# here: the chroot shares the network) has a line matching REGEX.
inst_metrics_has() {
        python3 - "$1" "$2" <<'PY'
import re, sys, urllib.request
body = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode()
sys.exit(0 if re.search(sys.argv[2], body, re.M) else 1)
PY
}

# inst_stop PID: SIGTERM, then the exit status (0 expected) within 30 s.
inst_stop() {
        local pid=$1 i
        kill -TERM "$pid" 2>/dev/null || return 1
        for i in $(seq 60); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.5
        done
        kill -0 "$pid" 2>/dev/null && return 1
        local keep=() p
        for p in "${inst_pids[@]}"; do
                [ "$p" = "$pid" ] || keep+=("$p")
        done
        inst_pids=("${keep[@]}")
        wait "$pid"
}

# inst_bootstrap TARBALL MIRROR: a minbase bookworm root, its apt lists
# fresh, packed into TARBALL. Returns 2 when the archive is unreachable.
inst_bootstrap() {
        local tarball=$1 mirror=$2 new=$1.new.d log
        # shellcheck disable=SC2154  # tmp: nmo_check_package's scratch directory
        log=$tmp/debootstrap.log
        if ! python3 -c "import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + '/dists/bookworm/Release', timeout=20)" "$mirror" 2>/dev/null; then
                return 2
        fi
        rm -rf --one-file-system "$new"
        echo "   debootstrap --variant=minbase bookworm from $mirror (once; a few minutes)"
        if ! nice debootstrap --variant=minbase bookworm "$new" "$mirror" >"$log" 2>&1; then
                tail -n 20 "$log"
                rm -rf --one-file-system "$new"
                return 1
        fi
        # A Debian 12 server's sources (deb822, as the host's), and the lists,
        # so that a later run installs without apt-get update.
        rm -f "$new/etc/apt/sources.list"
        cat >"$new/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
        cp /etc/resolv.conf "$new/etc/resolv.conf"
        if ! chroot "$new" apt-get update -qq >>"$log" 2>&1; then
                tail -n 20 "$log"
                rm -rf --one-file-system "$new"
                return 1
        fi
        chroot "$new" apt-get clean
        tar -C "$new" --numeric-owner -czf "$tarball.tmp" . &&
                mv "$tarball.tmp" "$tarball"
        local r=$?
        rm -rf --one-file-system "$new"
        return "$r"
}

# nmo_check_install HUB_DEB NODE_DEB ANALYST_DEB: the steps above, counted
# with pkg_check (package.sh). Prints "skip: ..." and returns when it
# cannot run here (not root, no cached root and no network).
nmo_check_install() {
        local hub_deb=$1 node_deb=$2 analyst_deb=$3
        local cache=${NMO_INSTALL_CACHE:-/var/cache/nmo-signal}
        local mirror=${NMO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
        local arch tarball r start=$SECONDS
        if [ "$(id -u)" -ne 0 ]; then
                echo "skip: the install test needs root (chroot, mount); run ./check.sh --package as root"
                return 0
        fi
        arch=$(dpkg --print-architecture)
        tarball=$cache/bookworm-minbase-$arch.tar.gz
        mkdir -p "$cache/archives"
        if [ ! -f "$tarball" ]; then
                inst_bootstrap "$tarball" "$mirror"
                r=$?
                if [ "$r" -eq 2 ]; then
                        echo "skip: the install test: $mirror is not reachable and there is no" \
                                "cached root ($tarball)"
                        return 0
                fi
                pkg_check "debootstrap a minbase Debian 12 root ($((SECONDS - start)) s)" \
                        test "$r" -eq 0
                [ "$r" -eq 0 ] || return 0
        else
                echo "   cached root: $tarball"
        fi

        inst_root=$(mktemp -d "${TMPDIR:-/tmp}/nmo-install-root.XXXXXX")
        inst_mounts=()
        inst_pids=()
        tar -C "$inst_root" --numeric-owner -xzf "$tarball" || {
                pkg_check "unpack the cached root" false
                inst_cleanup
                return 0
        }
        cp /etc/resolv.conf "$inst_root/etc/resolv.conf"
        # Nothing a package installs may start in the chroot (dbus' init script).
        printf '#!/bin/sh\nexit 101\n' >"$inst_root/usr/sbin/policy-rc.d"
        chmod 0755 "$inst_root/usr/sbin/policy-rc.d"
        if ! { inst_mount -t proc proc "$inst_root/proc" &&
                inst_mount --bind /dev "$inst_root/dev" &&
                inst_mount --bind /sys "$inst_root/sys"; }; then
                pkg_check "mount /proc, /dev and /sys in the root" false
                inst_cleanup
                return 0
        fi
        inst_steps "$hub_deb" "$node_deb" "$analyst_deb" "$cache" "$mirror"
        pkg_check "the install test leaves no process and no mount behind" inst_cleanup
        echo "   install test: $((SECONDS - start)) s"
}

# inst_steps HUB_DEB NODE_DEB ANALYST_DEB CACHE MIRROR: the operator's
# steps in the mounted root. Stops at the first step the others need.
inst_steps() {
        local hub_deb=$1 node_deb=$2 analyst_deb=$3 cache=$4 mirror=$5
        local root=$inst_root log=$tmp/install.log d
        local port mport exec_start user hub_pid node_pid
        local hubdir=/var/lib/nmo-hub nodedir=/var/lib/nmo-node
        local creds=/run/credentials/nmo-hub.service
        local pass=s3cret-passphrase-for-the-install-test

        echo "== install test in a Debian 12 root ($root)"
        mkdir -p "$root/tmp/debs"
        cp "$hub_deb" "$node_deb" "$analyst_deb" "$root/tmp/debs/"
        # The dependencies downloaded by earlier runs.
        cp "$cache"/archives/*.deb "$root/var/cache/apt/archives/" 2>/dev/null

        # 1. apt install (README step 1): the dependencies from the archive.
        # With the cached lists first; if the archive has moved on since,
        # apt-get update and again.
        local install_cmd
        install_cmd=(apt-get install -y -q -o Dpkg::Use-Pty=0
                "/tmp/debs/$(basename "$hub_deb")" "/tmp/debs/$(basename "$node_deb")"
                "/tmp/debs/$(basename "$analyst_deb")")
        if ! inst_root_do "${install_cmd[@]}" >"$log" 2>&1; then
                echo "   apt-get install with the cached lists failed; apt-get update"
                if ! inst_root_do apt-get update -qq >>"$log" 2>&1 &&
                        ! python3 -c "import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + '/dists/bookworm/Release', timeout=20)" "$mirror" 2>/dev/null; then
                        echo "skip: the install test: $mirror is not reachable for the dependencies"
                        return 0
                fi
                inst_root_do "${install_cmd[@]}" >>"$log" 2>&1
        fi
        pkg_check "apt-get install ./nmo-hub_*.deb ./nmo-node_*.deb ./nmo-analyst_*.deb in a minbase root, dependencies from the archive" eval \
                "inst_root_do dpkg-query -W -f='\${Status}\n' nmo-hub nmo-node nmo-analyst |
                 grep -c '^install ok installed' | grep -qx 3" || {
                tail -n 30 "$log"
                return 0
        }
        # Keep what apt downloaded for the next run (only what this run used).
        rm -f "$cache"/archives/*.deb
        cp "$root"/var/cache/apt/archives/*.deb "$cache/archives/" 2>/dev/null
        echo "   $(grep -c '^Get:[0-9]* http' "$log") downloads from the archive; $(find "$cache/archives" -name '*.deb' | wc -l) .debs cached"

        pkg_check "installed: users nmo-hub and nmo-node (sysusers.d)" \
                eval "inst_root_do getent passwd nmo-hub nmo-node >/dev/null"
        pkg_check "installed: /var/lib/nmo-hub 0711 nmo-hub:nmo-hub (tmpfiles.d)" \
                test "$(inst_root_do stat -c '%a %U:%G' "$hubdir")" = "711 nmo-hub:nmo-hub"
        pkg_check "installed: /var/lib/nmo-node 0700 nmo-node:nmo-node (tmpfiles.d)" \
                test "$(inst_root_do stat -c '%a %U:%G' "$nodedir")" = "700 nmo-node:nmo-node"
        pkg_check "installed: nmo-hub.service neither enabled nor started" eval \
                "! ls '$root'/etc/systemd/system/*.wants/nmo-hub.service 2>/dev/null"
        pkg_check "systemctl enable nmo-hub (offline, in the chroot) links the unit" eval \
                "inst_root_do systemctl enable nmo-hub >>'$log' 2>&1 &&
                 test -L '$root/etc/systemd/system/multi-user.target.wants/nmo-hub.service'"

        # 2. init as nmo-hub (the README asks for the passphrase; here a file).
        port=$(inst_free_port) && mport=9750
        if ! inst_free_port_ok "$mport"; then
                mport=$(inst_free_port "$port" $((port + 1)))
        fi
        install -d -m 0700 -o root "$root/run/nmo-test"
        printf '%s\n' "$pass" >"$root/run/nmo-test/passphrase"
        chmod 0600 "$root/run/nmo-test/passphrase"
        chroot "$root" chown nmo-hub: /run/nmo-test /run/nmo-test/passphrase
        pkg_check "nmo-hub init --dir $hubdir --listen tcp://127.0.0.1:$port --passphrase-file as nmo-hub" eval \
                "inst_as nmo-hub nmo-hub init --dir $hubdir --listen tcp://127.0.0.1:$port \
                        --passphrase-file /run/nmo-test/passphrase >>'$log' 2>&1" || {
                tail -n 20 "$log"
                return 0
        }

        # 3. The passphrase as systemd gives the credential: encrypted with
        # systemd-creds (README step 3; host key, no TPM in a chroot), then
        # decrypted into $CREDENTIALS_DIRECTORY (0400, the unit's user), as
        # LoadCredentialEncrypted= does at start.
        install -d -m 0700 "$root/etc/nmo-signal"
        pkg_check "systemd-creds encrypt --with-key=host --name=nmo-passphrase - (stdin)" eval \
                "inst_root_do systemd-creds encrypt --with-key=host --name=nmo-passphrase - \
                        /etc/nmo-signal/nmo-hub-passphrase.cred \
                        <'$root/run/nmo-test/passphrase' >>'$log' 2>&1"
        install -d -m 0500 "$root$creds"
        pkg_check "systemd-creds decrypt of it gives the passphrase back" eval \
                "inst_root_do systemd-creds decrypt --name=nmo-passphrase \
                        /etc/nmo-signal/nmo-hub-passphrase.cred $creds/nmo-passphrase \
                        >>'$log' 2>&1 &&
                 cmp -s '$root/run/nmo-test/passphrase' '$root$creds/nmo-passphrase'"
        if [ ! -s "$root$creds/nmo-passphrase" ]; then
                echo "   systemd-creds did not work here: the credential written directly"
                cp "$root/run/nmo-test/passphrase" "$root$creds/nmo-passphrase"
        fi
        chmod 0400 "$root$creds/nmo-passphrase"
        chroot "$root" chown -R nmo-hub: "$creds"
        rm -f "$root/run/nmo-test/passphrase"

        # 4. The README's sed line, as written there; then another port when
        # 9750 is taken on this machine.
        inst_as nmo-hub sed -i 's/^; listen = 127.0.0.1:9750/listen = 127.0.0.1:9750/' \
                "$hubdir/hub.conf"
        pkg_check "README's sed line enables [metrics] listen = 127.0.0.1:9750" \
                grep -qx 'listen = 127.0.0.1:9750' "$root$hubdir/hub.conf"
        if [ "$mport" != 9750 ]; then
                echo "   127.0.0.1:9750 is taken here: metrics on $mport instead"
                sed -i "s/^listen = 127.0.0.1:9750\$/listen = 127.0.0.1:$mport/" \
                        "$root$hubdir/hub.conf"
        fi

        # 5. Start it as the unit would: ExecStart= as User=, with the credential.
        exec_start=$(sed -n 's/^ExecStart=//p' "$root/lib/systemd/system/nmo-hub.service")
        user=$(sed -n 's/^User=//p' "$root/lib/systemd/system/nmo-hub.service")
        pkg_check "nmo-hub.service: ExecStart=$exec_start, User=$user" \
                test -n "$exec_start" -a "$user" = nmo-hub
        # Type=notify: what the hub tells systemd, caught on a socket of our own.
        local notify=/run/nmo-notify/notify
        install -d -m 0755 "$root/run/nmo-notify"
        python3 - "$root$notify" "$tmp/notify.log" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
with open(sys.argv[2], "a") as log:
    while True:
        log.write(s.recv(4096).decode(errors="replace") + "\n--\n")
        log.flush()
PY
        inst_pids+=("$!")
        inst_wait 5 test -S "$root$notify"
        # shellcheck disable=SC2086  # ExecStart= is split into words, as systemd does
        chroot "$root" setpriv --reuid="$user" --regid="$user" --init-groups \
                env -i PATH=/usr/bin:/bin HOME="$hubdir" CREDENTIALS_DIRECTORY="$creds" \
                NOTIFY_SOCKET="$notify" \
                sh -c 'umask 0077 && exec "$@"' sh $exec_start >"$tmp/hub.log" 2>&1 &
        hub_pid=$!
        inst_pids+=("$hub_pid")
        pkg_check "ExecStart= serves: nmo-hub stats --json says serving (passphrase from the credential)" inst_wait 30 \
                inst_json_is "j['serving']" True inst_as nmo-hub nmo-hub stats --dir "$hubdir" --json || {
                tail -n 20 "$tmp/hub.log"
                return 0
        }
        pkg_check "Type=notify: READY=1 with STATUS=serving on tcp://127.0.0.1:$port" eval \
                "inst_wait 5 grep -qx READY=1 '$tmp/notify.log' &&
                 grep -qF 'STATUS=serving on tcp://127.0.0.1:$port' '$tmp/notify.log'"
        pkg_check "nmo-hub stats (text) as nmo-hub shows serving" eval \
                "inst_as nmo-hub nmo-hub stats --dir $hubdir | grep -qE '^serving +true\$'"
        pkg_check "GET 127.0.0.1:$mport/metrics has nmo_hub_members lines" inst_wait 10 \
                inst_metrics_has "$mport" '^nmo_hub_members'

        # The member's side (Quick start, steps 2 to 4).
        install -m 0644 "$root$hubdir/keys/hub.pub" "$root/tmp/hub.pub"
        pkg_check "nmo-node init --dir $nodedir --hub tcp://127.0.0.1:$port --hub-pub hub.pub as nmo-node" eval \
                "inst_as nmo-node nmo-node init --dir $nodedir --hub tcp://127.0.0.1:$port \
                        --hub-pub /tmp/hub.pub --name acme-metals >>'$log' 2>&1" || {
                tail -n 20 "$log"
                return 0
        }
        install -m 0644 "$root$nodedir/keys/member.pub" "$root/tmp/member.pub"
        local fp
        fp=$(inst_root_do nmo-keys fingerprint /tmp/member.pub 2>>"$log" | grep -oE '[0-9a-f]{4}(-[0-9a-f]{4}){4}' | head -n 1)
        pkg_check "nmo-hub member add --name acme-metals --pub member.pub --fingerprint $fp as nmo-hub" eval \
                "inst_as nmo-hub nmo-hub member add --dir $hubdir --name acme-metals \
                        --pub /tmp/member.pub --fingerprint '$fp' >>'$log' 2>&1"
        pkg_check "nmo-node submit (Quick start) as nmo-node" eval \
                "inst_as nmo-node nmo-node submit --dir $nodedir --material gallium \
                        --event export-licensing --severity high --country CN \
                        --status in-effect --share 25-50 --volume 40 >>'$log' 2>&1"
        chroot "$root" setpriv --reuid=nmo-node --regid=nmo-node --init-groups \
                env -i PATH=/usr/bin:/bin HOME="$nodedir" \
                sh -c 'umask 0077 && exec "$@"' sh nmo-node run --dir "$nodedir" \
                >"$tmp/node.log" 2>&1 &
        node_pid=$!
        inst_pids+=("$node_pid")
        pkg_check "nmo-node run delivers it: nmo-node status --json, the signal delivered" \
                inst_wait 60 inst_json_is "[s['state'] for s in j['signals']]" "['delivered']" \
                inst_as nmo-node nmo-node status --dir "$nodedir" --json
        pkg_check "nmo-hub stats --json: signals_stored 1" inst_wait 30 \
                inst_json_is "j['signals_stored']" 1 inst_as nmo-hub nmo-hub stats --dir "$hubdir" --json

        # Stop both as systemd would (SIGTERM); both exit 0.
        pkg_check "nmo-node run stops on SIGTERM with exit 0" inst_stop "$node_pid"
        pkg_check "nmo-hub serve stops on SIGTERM with exit 0" inst_stop "$hub_pid"
        for d in "$tmp/hub.log" "$tmp/node.log"; do
                if grep -qiE 'error|fatal' "$d"; then
                        echo "   $(basename "$d") (errors in it):"
                        sed 's/^/     /' "$d" | tail -n 15
                fi
        done
}

# inst_free_port_ok PORT: PORT is free on loopback here.
inst_free_port_ok() {
        python3 -c "import socket, sys
s = socket.socket()
s.bind(('127.0.0.1', int(sys.argv[1])))" "$1" 2>/dev/null
}
