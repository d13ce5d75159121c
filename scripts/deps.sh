# scripts/deps.sh: sourced by demo.sh, check.sh, fuzz.sh and bench.sh.
# Installs the Debian packages nmo-signal needs when they are missing (as
# root), or prints the exact command to run (as anyone else), then configures
# and builds. Scripts pass what only they need (clang, valgrind) as extras.

NMO_PACKAGES="gcc libc6-dev pkg-config meson ninja-build libsodium-dev libzmq3-dev \
liblmdb-dev lmdb-utils libprotobuf-c-dev protobuf-c-compiler libjson-c-dev libinih-dev \
libcmocka-dev python3 faketime libfuse3-dev fuse3 libglpk-dev libsystemd-dev systemd \
scdoc libmicrohttpd-dev"

# What only ./check.sh needs beyond the build: promtool (Debian prometheus)
# checks the /metrics output of the hub and of the node.
NMO_CHECK_PACKAGES="prometheus"

# What only `./check.sh --package` needs (the Debian packages in debian/),
# passed to nmo_install_deps as extras there and nowhere else.
NMO_PACKAGE_PACKAGES="debhelper dpkg-dev fakeroot lintian debootstrap"

# nmo_install_deps [extra packages...]: returns non-zero when packages are
# missing and cannot be installed.
nmo_install_deps() {
        local missing="" p
        for p in $NMO_PACKAGES "$@"; do
                if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
                        missing="$missing $p"
                fi
        done
        [ -z "$missing" ] && return 0
        if [ "$(id -u)" -eq 0 ]; then
                echo "Installing missing Debian packages:$missing"
                export DEBIAN_FRONTEND=noninteractive
                apt-get update -qq || return 1
                # shellcheck disable=SC2086
                apt-get install -y -qq --no-install-recommends $missing >/dev/null || return 1
        else
                echo "These Debian packages are missing:$missing" >&2
                echo "Install them with:" >&2
                echo "  sudo apt-get install -y --no-install-recommends$missing" >&2
                return 1
        fi
}

# nmo_build DIR [meson options...]: meson setup (once) and compile.
nmo_build() {
        local dir=$1
        shift
        if [ ! -f "$dir/build.ninja" ]; then
                meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || {
                        cat "$dir.setup.log" >&2
                        return 1
                }
                rm -f "$dir.setup.log"
        elif [ $# -gt 0 ]; then
                meson configure "$dir" "$@" >/dev/null || return 1
        fi
        meson compile -C "$dir" >"$dir.compile.log" 2>&1 || {
                cat "$dir.compile.log" >&2
                return 1
        }
        rm -f "$dir.compile.log"
}
