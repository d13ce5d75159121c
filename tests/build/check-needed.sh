#!/usr/bin/env bash
# check-needed.sh PROGRAM...: none of the programs names libmicrohttpd (or
# GnuTLS, which it brings) among the libraries it needs at start: the
# metrics endpoint loads it when it starts (common/promhttp.c), so that an
# idle node agent stays small.
set -u
fail=0
for p in "$@"; do
        if ! needed=$(readelf -d "$p" 2>&1); then
                echo "FAIL: readelf $p: $needed"
                fail=1
                continue
        fi
        if echo "$needed" | grep -E 'NEEDED.*(microhttpd|gnutls)'; then
                echo "FAIL: $p links the library above at start"
                fail=1
        else
                echo "ok: $(basename "$p") needs neither libmicrohttpd nor GnuTLS at start"
        fi
done
exit $fail
