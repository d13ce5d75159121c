#!/usr/bin/env bash
# check-completions.sh SCRIPT BUILD_ROOT: the bash completion completes the
# programs' commands, subcommands and options, from their --help.
set -u
script=$1 build=$2
PATH=$build/hub:$build/node:$build/analyst:$build/keys:$PATH
# shellcheck disable=SC1090
. "$script"
fail=0
expect() { # expect "WORDS..." WANT: completing the last word gives WANT among others
        local want=$1
        shift
        COMP_WORDS=("$@")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMPREPLY=()
        _nmo_complete
        if ! printf '%s\n' "${COMPREPLY[@]}" | grep -qx -- "$want"; then
                echo "FAIL: '$*' does not complete to $want (got: ${COMPREPLY[*]})"
                fail=1
        fi
}
expect stats nmo-hub st
expect member nmo-hub mem
expect revoke nmo-hub member rev
expect --json nmo-hub stats --j
expect --quiet nmo-hub member list --qu
expect submit nmo-node sub
expect --material nmo-node submit --mat
expect countries nmo-node vocabulary cou
expect releases nmo-analyst --store /x rel
expect --rollup nmo-analyst --store /x cells --roll
expect generate nmo-keys gen
exit $fail
