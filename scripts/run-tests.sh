#!/bin/sh
# Runs every test binary in a directory, prints each one's result, and fails
# if any failed. Arguments after the directory go to every test.
set -u
dir=$1; shift
fail=0
for t in "$dir"/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    echo "=== $name"
    if ! "$t" "$@"; then
        echo "=== $name FAILED"
        fail=1
    fi
done
[ $fail -eq 0 ] && echo "=== all tests in $dir passed"
exit $fail
