#!/bin/sh
# bench/run.sh — build libburrow and the benchmark harnesses, run every
# workload against BurrowDB, LMDB, SQLite, RocksDB and LevelDB, then the JSON
# codec against jansson, and write the report to docs/benchmarks.md (or
# $BENCH_OUT).
#
#   bench/run.sh                   the full run (n = 1,000,000), then the JSON codec
#   bench/run.sh --n 100000        a quicker run; any burrow-bench option works
#   BENCH_OUT=/tmp/b.md bench/run.sh --n 20000
#   bench/run.sh --only engines    the engines only (no JSON codec section)
#   bench/run.sh --only json       the JSON codec only: replaces the "## JSON
#                                  codec" section of the report (appends it when
#                                  there is none) and leaves the rest as it is;
#                                  any json-bench option works
#   BUILD=/tmp/b bench/run.sh ...  build somewhere other than build/
#
# When libburrow does not build (or lacks the engine), the peers are still
# measured and the report says why BurrowDB is missing; when the JSON codec
# does not build, its section says why.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
out=${BENCH_OUT:-$root/docs/benchmarks.md}
build=${BUILD:-$root/build}
case "$build" in /*) ;; *) build=$root/$build ;; esac
bin=$build/bench/burrow-bench
jbin=$build/bench/json-bench
log=$(mktemp /tmp/burrow-bench-log.XXXXXX)
trap 'rm -f "$log" "$log.md" "$log.json" "$log.json.md" "$log.out"' EXIT

# --only json|engines is ours; every other argument goes to the harness run.
only=""
take=0
for a in "$@"; do
    shift
    if [ "$take" = 1 ]; then only=$a; take=0; continue; fi
    case "$a" in
        --only) take=1; continue ;;
        --only=*) only=${a#--only=}; continue ;;
    esac
    set -- "$@" "$a"
done
case "$only" in
    ""|json|engines) ;;
    *) echo "run.sh: --only takes json or engines, not '$only'" >&2; exit 2 ;;
esac

scripts/setup.sh --bench

# The engine's revision as built (others commit in this tree meanwhile).
rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain -- src include 2>/dev/null | head -n 1)
[ -n "$dirty" ] && rev="$rev plus uncommitted changes in src/ or include/"

pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "not installed"; }
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
mem=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
cmd="bench/run.sh${only:+ --only $only}${*:+ $*}"

lib_ok=1
lib_log=""
if ! make -C "$root" BUILD="$build" lib >"$log" 2>&1; then
    lib_ok=0
    lib_log="\`\`\`
$(tail -n 15 "$log")
\`\`\`"
fi

if [ "$only" != json ]; then
    # JSON=0: json-bench is built (or not) on its own, below.
    burrow_status="built from this tree"
    if [ "$lib_ok" = 0 ]; then
        burrow_status="NOT measured: \`make lib\` failed:
$lib_log"
        echo "run.sh: make lib failed; measuring the peers only" >&2
        make -C "$root/bench" BUILD="$build" JSON=0 BURROW=0
    elif ! make -C "$root/bench" BUILD="$build" JSON=0 >"$log" 2>&1; then
        burrow_status="NOT measured: the harness did not build against libburrow:
\`\`\`
$(tail -n 15 "$log")
\`\`\`"
        echo "run.sh: the harness did not build with libburrow; measuring the peers only" >&2
        make -C "$root/bench" BUILD="$build" JSON=0 BURROW=0
    elif ! nm -g --defined-only "$build/libburrow.a" 2>/dev/null | grep -q ' T burrow_open$'; then
        burrow_status="NOT measured: libburrow.a has no burrow_open (engine not landed)"
    fi
    make -C "$root/bench" BUILD="$build" JSON=0 >/dev/null

    # The data directory (for the filesystem line): --dir if given.
    dir=/tmp/burrow-bench
    prev=""
    for a in "$@"; do
        [ "$prev" = "--dir" ] && dir=$a
        prev=$a
    done
    probe=$dir
    while [ ! -d "$probe" ]; do probe=$(dirname "$probe"); done

    started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
    t0=$(date +%s)
    load0=$(cut -d' ' -f1-3 /proc/loadavg)
    rc=0
    "$bin" --out "$log.md" "$@" || rc=$?
    t1=$(date +%s)
    load1=$(cut -d' ' -f1-3 /proc/loadavg)

    fs=$(df -T "$probe" | awk 'NR == 2 { print $2 " (" $1 ", mounted on " $7 ")" }')

    {
        echo "# Benchmarks"
        echo
        echo "Written by \`bench/run.sh\` (see bench/README.md); do not edit by hand."
        echo "Budgets: DESIGN.md, \"Performance budgets\" (ratios in one run on one machine)."
        echo
        echo "- Date: $started; the run took $((t1 - t0)) s"
        echo "- Command: \`$cmd\` (it runs \`build/bench/burrow-bench --out FILE${*:+ $*}\`)"
        echo "- Machine: $(nproc) CPUs ($cpu), $mem RAM, Linux $(uname -r)"
        echo "- Load average (1, 5, 15 min) before the run: $load0; after: $load1" \
             "(other work on the machine makes the numbers noisier; compare ratios within one run)"
        echo "- Data directory: $dir on $fs"
        echo "- BurrowDB: commit $rev; $burrow_status"
        echo "- LMDB: liblmdb-dev $(pkgver liblmdb-dev); SQLite: libsqlite3-dev $(pkgver libsqlite3-dev);" \
             "RocksDB: librocksdb-dev $(pkgver librocksdb-dev); LevelDB: libleveldb-dev $(pkgver libleveldb-dev);" \
             "compiler: $(cc --version | head -n 1)"
        echo
        echo "## Method"
        echo
        echo "- Each engine runs in its own child process, one after another, on its own"
        echo "  subdirectory of the data directory (removed at the end)."
        echo "- Keys are 16 bytes (big-endian hash of the index, then the index), values"
        echo "  are incompressible pseudo-random bytes (100 bytes; 4,096 in the 4 KiB fill)."
        echo "  \"Random order\" is index order, which is a random key order fixed by the seed."
        echo "- Durability: every write transaction, batched or not, is committed with the"
        echo "  engine's full durability: BurrowDB \`BURROW_SYNC_FULL\`; LMDB defaults (synced"
        echo "  commits); SQLite \`journal_mode=WAL\` + \`synchronous=FULL\`; RocksDB and"
        echo "  LevelDB a WriteBatch per transaction with \`WriteOptions.sync = true\`. So the"
        echo "  batched workloads pay one commit (and its syncs) per 1,000 operations."
        echo "- Settings are each library's defaults apart from those: LMDB map size"
        echo "  max(8 GiB, a multiple of the data) and nothing else (readahead stays on:"
        echo "  no MDB_NORDAHEAD); SQLite one \`WITHOUT ROWID\` table, default page cache,"
        echo "  no mmap; RocksDB default options with create_if_missing (no bloom filter,"
        echo "  the library's default compression, which cannot shrink these values);"
        echo "  LevelDB default options with create_if_missing (no bloom filter, the"
        echo "  library's default compression, Snappy in Debian's build, which cannot shrink"
        echo "  these values either); BurrowDB \`burrow_options_init\` defaults."
        echo "- Medians of 3 runs (marked (m)): point reads, scan, durable commits, open"
        echo "  warm/cold. The fills, overwrites and deletes change the database and run once."
        echo "- File sizes: the sum of st_size of all files in the engine's directory after"
        echo "  closing (RocksDB after Flush + CompactRange of the whole range; its LOG,"
        echo "  MANIFEST and OPTIONS files are included, the WAL is gone after close;"
        echo "  LevelDB after CompactRange of the whole range, which writes the memtable out"
        echo "  first; its LOG, LOG.old, MANIFEST and CURRENT files are included, and an"
        echo "  empty log file is left)."
        echo "- Cold open: after close, every file is fdatasync'ed and dropped from the page"
        echo "  cache with posix_fadvise(POSIX_FADV_DONTNEED); the notes give the share of"
        echo "  pages mincore() still saw resident afterwards."
        echo
        if [ -s "$log.md" ]; then
            cat "$log.md"
        else
            echo "burrow-bench produced no report (exit status $rc)."
        fi
    } >"$out"
    echo "run.sh: wrote $out (burrow-bench exit status $rc)" >&2
fi

[ "$only" = engines ] && exit 0

# ---- the JSON codec against jansson (json-bench) --------------------------
# In a full run json-bench runs with its defaults; with --only json it gets
# the remaining options. Its section goes last in the report.
json_status="built from this tree"
if [ "$lib_ok" = 0 ]; then
    json_status="NOT measured: \`make lib\` failed:
$lib_log"
elif ! make -C "$root/bench" BUILD="$build" json >"$log" 2>&1; then
    json_status="NOT measured: json-bench did not build (is the JSON codec in src/doc/ yet?):
\`\`\`
$(tail -n 15 "$log")
\`\`\`"
    echo "run.sh: json-bench did not build; the JSON codec section says why" >&2
fi
if [ "$only" = json ]; then
    jargs="$*"
else
    jargs=""
    set --
fi
jstarted=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
jt0=$(date +%s)
jload0=$(cut -d' ' -f1-3 /proc/loadavg)
jrc=0
case "$json_status" in
    NOT*) ;;
    *) "$jbin" --out "$log.json.md" "$@" || jrc=$? ;;
esac
jt1=$(date +%s)
jload1=$(cut -d' ' -f1-3 /proc/loadavg)

{
    echo "## JSON codec"
    echo
    echo "BurrowDB's JSON parser and writer (\`json_parse\`, \`json_write\` of src/doc/doc.h,"
    echo "measured directly, below the public API) against jansson, by \`build/bench/json-bench\`."
    echo
    echo "- Date: $jstarted; this part took $((jt1 - jt0)) s"
    echo "- Command: \`$cmd\` (it runs \`build/bench/json-bench --out FILE${jargs:+ $jargs}\`)"
    echo "- Machine: $(nproc) CPUs ($cpu), $mem RAM, Linux $(uname -r)"
    echo "- Load average (1, 5, 15 min) before: $jload0; after: $jload1"
    echo "- BurrowDB: commit $rev; $json_status"
    echo "- jansson: libjansson-dev $(pkgver libjansson-dev); compiler: $(cc --version | head -n 1)"
    echo
    echo "Method:"
    echo
    echo "- Four inputs generated by json-bench from a fixed seed: \`small\`, many distinct"
    echo "  ~200-byte records (ints, doubles, strings, a bool, a small object and array),"
    echo "  each parsed and written on its own; \`array\`, one ~1 MiB array of objects;"
    echo "  \`nested\`, one document of 400 nested arrays and objects with values at every"
    echo "  level; \`strings\`, one ~1 MiB array of long texts with escapes"
    printf '%s\n' '  (\n, \", \u00e9, surrogate pairs) and raw multi-byte UTF-8.'
    echo "- Parse: BurrowDB \`json_parse\` into one reused \`doc_builder\` (the binary"
    echo "  document is the result); jansson \`json_loadb(text, len, 0)\` then \`json_decref\`"
    echo "  (its tree is the result; freeing it is part of the cost)."
    echo "- Write: BurrowDB \`json_write\` (compact) of the binary document into one reused"
    echo "  buffer; jansson \`json_dumpb(tree, JSON_COMPACT)\` into one reused buffer. Both keep"
    echo "  keys in insertion order (jansson has done so always since 2.8; JSON_PRESERVE_ORDER"
    echo "  is a no-op and JSON_SORT_KEYS, which would cost it a sort, is not used). jansson"
    echo "  prints doubles with %.17g, BurrowDB in the shortest form that reads back, so"
    echo "  output sizes differ (see the inputs table)."
    echo "- MB/s is 10^6 bytes of the input JSON text per second, for parse and write alike."
    echo "  Each measurement loops over the input until 0.3 s have passed (--min-time); the"
    echo "  tables give the median of 5 (--reps), and the min and max. The four operations"
    echo "  take turns repetition by repetition, so other work on the machine disturbs both"
    echo "  libraries alike. One thread."
    echo "- Checked before timing: both parsers accept every document, and each writer's"
    echo "  output re-parses, with both parsers, to a document equal to the original."
    echo
    if [ -s "$log.json.md" ]; then
        cat "$log.json.md"
    elif [ -z "${json_status%%NOT*}" ]; then
        echo "Not measured (see above)."
    else
        echo "json-bench produced no report (exit status $jrc)."
    fi
} >"$log.json"

if [ "$only" = json ]; then
    # Keep the report as it is up to its JSON codec section; replace that.
    if [ -s "$out" ]; then
        sed '/^## JSON codec$/,$d' "$out" >"$log.out"
        [ -n "$(tail -c 1 "$log.out")" ] && echo >>"$log.out"
        [ -n "$(tail -n 1 "$log.out")" ] && echo >>"$log.out"
    else
        printf '# Benchmarks\n\nWritten by `bench/run.sh` (see bench/README.md); do not edit by hand.\n\n' >"$log.out"
    fi
    cat "$log.out" "$log.json" >"$out"
else
    { echo; cat "$log.json"; } >>"$out"
fi
echo "run.sh: wrote the JSON codec section of $out (json-bench exit status $jrc)" >&2
exit 0
