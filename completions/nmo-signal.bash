# bash completion for nmo-hub, nmo-node, nmo-analyst and nmo-keys.
# Commands and options come from the programs' own --help, so they are
# always those of the installed version.

# _nmo_commands PROGRAM: the commands its --help lists under "Commands:".
_nmo_commands()
{
        "$1" --help 2>/dev/null | awk '/^Commands:/ { on = 1; next }
                on && /^  [a-z]/ { print $1; next } on && !/^  / { on = 0 }'
}

# _nmo_options PROGRAM WORDS...: the long options of PROGRAM WORDS --help.
_nmo_options()
{
        "$@" --help 2>/dev/null | grep -oE -- '--[a-z][a-z-]*' | sort -u
}

_nmo_complete()
{
        local prog=${COMP_WORDS[0]} cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
        local -a words=()
        local i w

        # The command words typed so far (options and their values skipped;
        # nmo-analyst takes --store DIR before its command).
        for ((i = 1; i < COMP_CWORD; i++)); do
                w=${COMP_WORDS[i]}
                case $w in
                --store | --dir | --pub | --file) ((i++)) ;;
                -*) ;;
                *) words+=("$w") ;;
                esac
        done
        case $prev in
        --dir | --store | --file | --pub | --hub-pub | --passphrase-file | --out)
                COMPREPLY=($(compgen -f -- "$cur"))
                return
                ;;
        esac
        if [ ${#words[@]} -eq 0 ] && [[ $cur != -* ]]; then
                COMPREPLY=($(compgen -W "$(_nmo_commands "$prog")" -- "$cur"))
                return
        fi
        if [ "$prog" = nmo-hub ] && [ "${words[0]:-}" = member ] && [ ${#words[@]} -eq 1 ] &&
                [[ $cur != -* ]]; then
                COMPREPLY=($(compgen -W "add renew list show suspend resume revoke" -- "$cur"))
                return
        fi
        if [ "$prog" = nmo-node ] && [ "${words[0]:-}" = vocabulary ] && [ ${#words[@]} -eq 1 ] &&
                [[ $cur != -* ]]; then
                COMPREPLY=($(compgen -W "materials events countries" -- "$cur"))
                return
        fi
        if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "$(_nmo_options "$prog" "${words[@]}")" -- "$cur"))
        fi
}
complete -F _nmo_complete nmo-hub nmo-node nmo-analyst nmo-keys
