#!/bin/sh
# bench/run.sh — build libburrow and the benchmark harness, run every
# workload against BurrowDB, LMDB, SQLite, RocksDB and LevelDB, and write the
# report to docs/benchmarks.md (or $BENCH_OUT).
#
#   bench/run.sh                   the full run (n = 1,000,000)
#   bench/run.sh --n 100000        a quicker run; any burrow-bench option works
#   BENCH_OUT=/tmp/b.md bench/run.sh --n 20000
#
# When libburrow does not build (or lacks the engine), the peers are still
# measured and the report says why BurrowDB is missing.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
out=${BENCH_OUT:-$root/docs/benchmarks.md}
bin=$root/build/bench/burrow-bench
log=$(mktemp /tmp/burrow-bench-log.XXXXXX)
trap 'rm -f "$log" "$log.md"' EXIT

scripts/setup.sh --bench

# The engine's revision as built (others commit in this tree meanwhile).
rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain -- src include 2>/dev/null | head -n 1)
[ -n "$dirty" ] && rev="$rev plus uncommitted changes in src/ or include/"

burrow_status="built from this tree"
if ! make -C "$root" lib >"$log" 2>&1; then
    burrow_status="NOT measured: \`make lib\` failed:
\`\`\`
$(tail -n 15 "$log")
\`\`\`"
    echo "run.sh: make lib failed; measuring the peers only" >&2
    make -C "$root/bench" BURROW=0
elif ! make -C "$root/bench" >"$log" 2>&1; then
    burrow_status="NOT measured: the harness did not build against libburrow:
\`\`\`
$(tail -n 15 "$log")
\`\`\`"
    echo "run.sh: the harness did not build with libburrow; measuring the peers only" >&2
    make -C "$root/bench" BURROW=0
elif ! nm -g --defined-only "$root/build/libburrow.a" 2>/dev/null | grep -q ' T burrow_open$'; then
    burrow_status="NOT measured: build/libburrow.a has no burrow_open (engine not landed)"
fi
make -C "$root/bench" >/dev/null

# The data directory (for the filesystem line): --dir if given.
dir=/tmp/burrow-bench
prev=""
for a in "$@"; do
    [ "$prev" = "--dir" ] && dir=$a
    prev=$a
done
probe=$dir
while [ ! -d "$probe" ]; do probe=$(dirname "$probe"); done

cmd="bench/run.sh${*:+ $*}"
started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
t0=$(date +%s)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
rc=0
"$bin" --out "$log.md" "$@" || rc=$?
t1=$(date +%s)
load1=$(cut -d' ' -f1-3 /proc/loadavg)

pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "not installed"; }
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
mem=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
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
exit 0
