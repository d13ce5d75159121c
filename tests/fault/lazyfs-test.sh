#!/usr/bin/env bash
# lazyfs-test.sh: the self-test of nmo-lazyfs, the power-cut file system.
#
#   tests/fault/lazyfs-test.sh NMO_LAZYFS
#
# Mounts a backing directory that holds a few files (synced: they were there
# at the mount), changes files through the mount with and without fsync,
# cuts the power (SIGUSR1) and checks both the backing directory and a new
# mount of it: a write without fsync is gone, a write followed by fsync or
# made on an O_DSYNC descriptor is kept, an extension and a shrink get their
# old size (and bytes) back, an overwrite of synced data gets the old data
# back, only the writes after the last fsync are lost, and a file created or
# renamed keeps its name (metadata counts as durable at once). Then an armed
# cut (SIGUSR2): the file system freezes after a write that leaves unsynced
# data, while a writer alternates writes and fsyncs; after the kill and the
# cut the file holds what the writer's last completed fsync covered. Needs root,
# /dev/fuse and fusermount3; skipped (exit 77) without them. Takes a second.
set -u
lazyfs=${1:-${NMO_LAZYFS:-}}
[ -x "$lazyfs" ] || { echo "usage: lazyfs-test.sh NMO_LAZYFS" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "lazyfs-test: skipped (needs root)"; exit 77; }
[ -c /dev/fuse ] || { echo "lazyfs-test: skipped (no /dev/fuse)"; exit 77; }
command -v fusermount3 >/dev/null || { echo "lazyfs-test: skipped (no fusermount3)"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nmo-lazyfs-test-XXXXXX")
disk=$tmp/disk mnt=$tmp/mnt fs_pid=""
cleanup() {
        [ -n "$fs_pid" ] && kill -TERM "$fs_pid" 2>/dev/null && wait "$fs_pid" 2>/dev/null
        mountpoint -q "$mnt" 2>/dev/null && fusermount3 -uz "$mnt"
        rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$disk" "$mnt"
fails=0
check() { # check NAME CONDITION...: one test case
        local name=$1
        shift
        if "$@"; then echo "ok: $name"; else echo "FAIL: $name"; fails=$((fails + 1)); fi
}
mount_fs() { # mounts and waits (at most 5 s) until the mount answers
        "$lazyfs" --seed 7 "$disk" "$mnt" 2>>"$tmp/lazyfs.log" &
        fs_pid=$!
        for _ in $(seq 500); do
                mountpoint -q "$mnt" && [ -d "$mnt/." ] && return 0
                kill -0 "$fs_pid" 2>/dev/null || break
                sleep 0.01
        done
        echo "FAIL: nmo-lazyfs does not mount"; cat "$tmp/lazyfs.log"; exit 1
}
cut_fs() { # the power cut; waits (at most 10 s) for the rollback
        kill -USR1 "$fs_pid"
        for _ in $(seq 1000); do kill -0 "$fs_pid" 2>/dev/null || break; sleep 0.01; done
        if kill -0 "$fs_pid" 2>/dev/null; then echo "FAIL: nmo-lazyfs does not end on SIGUSR1"; exit 1; fi
        wait "$fs_pid"; local rc=$?
        fs_pid=""
        [ "$rc" -eq 0 ] || { echo "FAIL: nmo-lazyfs exit $rc after the cut"; cat "$tmp/lazyfs.log"; exit 1; }
}

# Present at the mount, so synced.
head -c 4096 /dev/zero | tr '\0' A >"$disk/extend"
head -c 4096 /dev/zero | tr '\0' A >"$disk/shrink"
printf 'old data' >"$disk/overwrite"
mount_fs

python3 - "$mnt" <<'PY' || { echo "FAIL: the writes through the mount"; exit 1; }
import os, sys
m = sys.argv[1]
def put(name, data, off=0, sync=False, flags=os.O_WRONLY | os.O_CREAT):
    fd = os.open(os.path.join(m, name), flags, 0o600)
    os.pwrite(fd, data, off)
    if sync:
        os.fsync(fd)
    os.close(fd)
put("unsynced", b"hello")
put("synced", b"kept", sync=True)
put("dsync", b"kept", flags=os.O_WRONLY | os.O_CREAT | os.O_DSYNC)
put("extend", b"B" * 4096, off=4096)
os.truncate(os.path.join(m, "shrink"), 10)
put("overwrite", b"new data")
put("partly", b"first", sync=True)
put("partly", b"SECOND", off=5)
put("partly", b"FIRST")
put("moved-tmp", b"renamed", sync=True)
os.rename(os.path.join(m, "moved-tmp"), os.path.join(m, "moved"))
# What a running program sees before the cut.
assert open(os.path.join(m, "unsynced"), "rb").read() == b"hello"
assert os.path.getsize(os.path.join(m, "extend")) == 8192
assert open(os.path.join(m, "partly"), "rb").read() == b"FIRSTSECOND"
PY
cut_fs
mountpoint -q "$mnt" && { echo "FAIL: still mounted after the cut"; exit 1; }

verify() { # verify DIR WHERE
        local d=$1 w=$2
        check "$w: a write without fsync is gone (the file, created, stays empty)" \
                test -f "$d/unsynced" -a ! -s "$d/unsynced"
        check "$w: a write followed by fsync is kept" test "$(cat "$d/synced")" = kept
        check "$w: a write on an O_DSYNC descriptor is kept" test "$(cat "$d/dsync")" = kept
        check "$w: an extension without fsync: the old size and bytes are back" \
                test "$(stat -c %s "$d/extend")" = 4096 -a "$(tr -d A <"$d/extend" | wc -c)" = 0
        check "$w: a shrink without fsync: the old size and bytes are back" \
                test "$(stat -c %s "$d/shrink")" = 4096 -a "$(tr -d A <"$d/shrink" | wc -c)" = 0
        check "$w: an overwrite of synced data without fsync: the old data is back" \
                test "$(cat "$d/overwrite")" = "old data"
        check "$w: only the writes after the last fsync are lost" test "$(cat "$d/partly")" = first
        check "$w: a rename is durable at once" test "$(cat "$d/moved" 2>/dev/null)" = renamed -a ! -e "$d/moved-tmp"
}
verify "$disk" "backing directory"
mount_fs
verify "$mnt" "mounted again"

# The armed cut. The writer logs each value once its fsync has returned.
kill -USR2 "$fs_pid"
python3 - "$mnt/armed" >"$tmp/armed.log" <<'PY' &
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o600)
for i in range(1, 1000):
    v = b"value %04d" % i
    os.pwrite(fd, v, 0)
    os.fsync(fd)
    print(v.decode(), flush=True)
PY
writer=$!
froze=0
for _ in $(seq 500); do grep -q frozen "$tmp/lazyfs.log" && { froze=1; break; }; sleep 0.01; done
sleep 0.2 # the writer is blocked now: nothing more becomes durable
kill -KILL "$writer"; wait "$writer" 2>/dev/null
check "armed: the file system froze after a write" test "$froze" = 1
cut_fs
want=$(tail -n 1 "$tmp/armed.log")
check "armed: after the freeze and the cut the file holds the last synced value ($want)" \
        test "$(cat "$disk/armed" 2>/dev/null)" = "$want" -a -n "$want"
mount_fs
kill -TERM "$fs_pid"; wait "$fs_pid"; fs_pid=""
echo "lazyfs-test: $fails failed"
[ "$fails" -eq 0 ]
