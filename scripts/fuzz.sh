#!/bin/sh
# Builds the libFuzzer targets in fuzz/ with clang (ASan + UBSan) and runs
# each for a while. In CI (scripts/test.sh) each runs for a few seconds; for
# a real campaign give more:
#   scripts/fuzz.sh                 10 s per target
#   scripts/fuzz.sh 600             10 min per target
#   scripts/fuzz.sh 60 fuzz_json    one target
# Seeds come from fuzz/corpus/<name>/; what the fuzzer learns goes to
# build/fuzz/corpus/<name>/ (not committed). A crash leaves its input in
# build/fuzz/ and makes this script fail.
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-10}
[ $# -gt 0 ] && shift
targets=${*:-$(cd fuzz && ls fuzz_*.c | sed "s/\.c$//")}
make -s fuzz >/dev/null
for t in $targets; do
    name=${t#fuzz_}
    work=build/fuzz/corpus/$name
    mkdir -p "$work"
    seeds=""
    [ -d "fuzz/corpus/$name" ] && seeds="fuzz/corpus/$name"
    echo "=== $t: ${seconds}s"
    # -rss_limit_mb bounds memory; -max_len keeps inputs near document size.
    build/fuzz/$t -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix=build/fuzz/"$t"- "$work" $seeds 2>&1 |
        grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY|fuzz_)" || true
    # libFuzzer's exit status is lost in the pipe: a crash leaves an artifact.
    if ls build/fuzz/"$t"-* >/dev/null 2>&1; then
        echo "=== $t FAILED: see build/fuzz/$t-*" >&2
        exit 1
    fi
done
echo "=== fuzz targets passed"
