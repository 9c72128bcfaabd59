# bench/section.sh — sourced by bench/run.sh and bench/server.sh (sh, not bash).
#
# put_section OUT TITLE FILE: FILE (which starts with "## TITLE") replaces the
# "## TITLE" section of the report OUT, up to the next "## " heading, and the
# rest of the report stays as it is; appended when the report has no such
# section; when OUT is empty or missing, it becomes the report's header and
# this section.
put_section() {
    _ps_out=$1
    _ps_title=$2
    _ps_file=$3
    _ps_tmp=$(mktemp)
    # The section without trailing blank lines.
    sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$_ps_file" >"$_ps_tmp.sec"
    if [ -s "$_ps_out" ] && grep -qx "## $_ps_title" "$_ps_out"; then
        awk -v t="## $_ps_title" -v f="$_ps_tmp.sec" '
            $0 == t { while ((getline l < f) > 0) print l; skip = 1; next }
            skip && /^## / { skip = 0; print "" }
            !skip { print }' "$_ps_out" >"$_ps_tmp"
        cat "$_ps_tmp" >"$_ps_out"
    elif [ -s "$_ps_out" ]; then
        [ -n "$(tail -c 1 "$_ps_out")" ] && echo >>"$_ps_out"
        { echo; cat "$_ps_tmp.sec"; } >>"$_ps_out"
    else
        { printf '# Benchmarks\n\nWritten by `bench/run.sh` (see bench/README.md); do not edit by hand.\n\n'
          cat "$_ps_tmp.sec"; } >"$_ps_out"
    fi
    rm -f "$_ps_tmp" "$_ps_tmp.sec"
}
