#!/usr/bin/env bash
# check-rules.sh RULES SOURCE_ROOT: the example Prometheus alerting rules
# pass `promtool check rules`, and every nmo_* metric they use is one the hub
# (hub/metrics.c) or the node (node/node-metrics.c) exports. Without promtool
# (Debian package prometheus) the first check is skipped (exit 77 if nothing
# else could be checked either).
set -u
rules=$1 src=$2
fail=0
names=$(grep -oE 'nmo_(hub|node)_[a-z0-9_]+' "$rules" | sed 's/_bucket$//' | sort -u)
if [ -z "$names" ]; then
        echo "FAIL: $rules uses no nmo_ metric"
        exit 1
fi
for n in $names; do
        if ! grep -q "\"$n\"" "$src/hub/metrics.c" "$src/node/node-metrics.c"; then
                echo "FAIL: $rules uses $n, which neither daemon exports"
                fail=1
        fi
done
if command -v promtool >/dev/null; then
        if ! out=$(promtool check rules "$rules" 2>&1); then
                echo "FAIL: promtool check rules:"
                echo "$out"
                fail=1
        else
                echo "$out"
        fi
else
        echo "promtool not found (apt-get install prometheus): syntax not checked"
fi
[ $fail -eq 0 ] && echo "ok: $(echo "$names" | wc -l) metrics, all exported"
exit $fail
