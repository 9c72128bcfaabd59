#!/bin/sh
# bench/run.sh — build libburrow and the benchmark harnesses, run every
# workload against BurrowDB, LMDB, SQLite, RocksDB and LevelDB, then the JSON
# codec against jansson, then documents and queries against SQLite's JSON
# support, then the hot tier, then burrowd against redis-server
# (bench/server.sh), and write the report to docs/benchmarks.md (or
# $BENCH_OUT).
#
#   bench/run.sh                   the full run (n = 1,000,000), then the JSON
#                                  codec, then the documents (n = 1,000,000)
#   bench/run.sh --n 100000        a quicker run; any burrow-bench option works
#                                  (--n and --dir also go to doc-bench)
#   BENCH_OUT=/tmp/b.md bench/run.sh --n 20000
#   bench/run.sh --only engines    the engines only (no JSON codec section)
#   bench/run.sh --only json       the JSON codec only: replaces the "## JSON
#                                  codec" section of the report (appends it when
#                                  there is none) and leaves the rest as it is;
#                                  any json-bench option works
#   bench/run.sh --only docs       documents and queries only: replaces the
#                                  "## Documents and queries" section (appends
#                                  it when there is none); any doc-bench option
#                                  works (bench/run.sh --only docs --n 200000)
#   bench/run.sh --only tier       the hot tier only: replaces the "## Hot tier"
#                                  section (appends it when there is none); any
#                                  tier-bench option works
#   bench/run.sh --only server     burrowd against redis-server over the network
#                                  (bench/server.sh): replaces the "## Server"
#                                  section; any bench/server.sh option works
#   BUILD=/tmp/b bench/run.sh ...  build somewhere other than build/
#
# When libburrow does not build (or lacks the engine), the peers are still
# measured and the report says why BurrowDB is missing; when the JSON codec
# or doc-bench does not build, its section says why.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
out=${BENCH_OUT:-$root/docs/benchmarks.md}
build=${BUILD:-$root/build}
case "$build" in /*) ;; *) build=$root/$build ;; esac
bin=$build/bench/burrow-bench
jbin=$build/bench/json-bench
dbin=$build/bench/doc-bench
tbin=$build/bench/tier-bench
log=$(mktemp)
trap 'rm -f "$log" "$log.md" "$log.json" "$log.json.md" "$log.out" "$log.out.sec" "$log.docs" "$log.docs.md" "$log.docs.err" "$log.docs.rc" "$log.tier" "$log.tier.md"' EXIT

# --only json|engines|docs|tier is ours; every other argument goes to the harness run.
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
    ""|json|engines|docs|tier|server) ;;
    *) echo "run.sh: --only takes json, engines, docs, tier or server, not '$only'" >&2; exit 2 ;;
esac

# In a full run doc-bench gets --n and --dir, when given; with --only docs,
# every remaining option. The data directory (for the filesystem lines): --dir.
dn=""
dir=/tmp/burrow-bench
prev=""
for a in "$@"; do
    case "$prev" in
        --n) dn=$a ;;
        --dir) dir=$a ;;
    esac
    prev=$a
done
probe=$dir
while [ ! -d "$probe" ]; do probe=$(dirname "$probe"); done

# put_section TITLE FILE: FILE (which starts with "## TITLE") replaces the
# report's "## TITLE" section (bench/section.sh).
. "$root/bench/section.sh"
put_section_here() { put_section "$out" "$1" "$2"; }

scripts/setup.sh --bench

# The server section (burrowd against redis-server) has its own script.
if [ "$only" = server ]; then
    BENCH_OUT=$out BUILD=$build "$root/bench/server.sh" "$@"
    exit $?
fi

# The engine's revision as built (others commit in this tree meanwhile).
rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain -- src include 2>/dev/null | head -n 1)
[ -n "$dirty" ] && rev="$rev plus uncommitted changes in src/ or include/"

pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "not installed"; }
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
mem=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
cmd="bench/run.sh${only:+ --only $only}${*:+ $*}"
fs=$(df -T "$probe" | awk 'NR == 2 { print $2 " (" $1 ", mounted on " $7 ")" }')

lib_ok=1
lib_log=""
if ! make -C "$root" BUILD="$build" lib >"$log" 2>&1; then
    lib_ok=0
    lib_log="\`\`\`
$(tail -n 15 "$log")
\`\`\`"
fi

if [ "$only" != json ] && [ "$only" != docs ] && [ "$only" != tier ]; then
    # JSON=0 DOCS=0 TIER=0: json-bench, doc-bench and tier-bench are built (or not) on
    # their own, below.
    burrow_status="built from this tree"
    if [ "$lib_ok" = 0 ]; then
        burrow_status="NOT measured: \`make lib\` failed:
$lib_log"
        echo "run.sh: make lib failed; measuring the peers only" >&2
        make -C "$root/bench" BUILD="$build" JSON=0 DOCS=0 TIER=0 BURROW=0
    elif ! make -C "$root/bench" BUILD="$build" JSON=0 DOCS=0 TIER=0 >"$log" 2>&1; then
        burrow_status="NOT measured: the harness did not build against libburrow:
\`\`\`
$(tail -n 15 "$log")
\`\`\`"
        echo "run.sh: the harness did not build with libburrow; measuring the peers only" >&2
        make -C "$root/bench" BUILD="$build" JSON=0 DOCS=0 TIER=0 BURROW=0
    elif ! nm -g --defined-only "$build/libburrow.a" 2>/dev/null | grep -q ' T burrow_open$'; then
        burrow_status="NOT measured: libburrow.a has no burrow_open (engine not landed)"
    fi
    make -C "$root/bench" BUILD="$build" JSON=0 DOCS=0 TIER=0 >/dev/null

    started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
    t0=$(date +%s)
    load0=$(cut -d' ' -f1-3 /proc/loadavg)
    rc=0
    "$bin" --out "$log.md" "$@" || rc=$?
    t1=$(date +%s)
    load1=$(cut -d' ' -f1-3 /proc/loadavg)

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
# the remaining options. Its section follows the engines'.
if [ "$only" != docs ] && [ "$only" != tier ]; then
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
fi
jstarted=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
jt0=$(date +%s)
jload0=$(cut -d' ' -f1-3 /proc/loadavg)
jrc=0
case "$json_status" in
    NOT*) ;;
    *) if [ "$only" = json ]; then
           "$jbin" --out "$log.json.md" "$@" || jrc=$?
       else
           "$jbin" --out "$log.json.md" || jrc=$?
       fi ;;
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

put_section_here "JSON codec" "$log.json"
echo "run.sh: wrote the JSON codec section of $out (json-bench exit status $jrc)" >&2
fi
[ "$only" = json ] && exit 0

# ---- documents and queries against SQLite (doc-bench) ---------------------
# In a full run doc-bench gets --n and --dir when given; with --only docs
# every remaining option. Its section follows the JSON codec's.
if [ "$only" != tier ]; then
if [ "$only" != docs ]; then
    set --
    [ -n "$dn" ] && set -- --n "$dn"
    [ "$dir" != /tmp/burrow-bench ] && set -- "$@" --dir "$dir"
fi
docs_status="built from this tree"
if [ "$lib_ok" = 0 ]; then
    docs_status="NOT measured: \`make lib\` failed:
$lib_log"
elif ! make -C "$root/bench" BUILD="$build" docs >"$log" 2>&1; then
    docs_status="NOT measured: doc-bench did not build (are collections, indexes and queries in libburrow yet?):
\`\`\`
$(tail -n 15 "$log")
\`\`\`"
    echo "run.sh: doc-bench did not build; the documents section says why" >&2
fi
dstarted=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
dt0=$(date +%s)
dload0=$(cut -d' ' -f1-3 /proc/loadavg)
drc=0
case "$docs_status" in
    NOT*) ;;
    *) # Its progress goes to stderr as it runs, and is kept for the report.
       ( rc=0; "$dbin" --out "$log.docs.md" "$@" 2>&1 >/dev/null || rc=$?; echo "$rc" >"$log.docs.rc" ) |
           tee "$log.docs.err" >&2
       drc=$(cat "$log.docs.rc") ;;
esac
dt1=$(date +%s)
dload1=$(cut -d' ' -f1-3 /proc/loadavg)

{
    echo "## Documents and queries"
    echo
    echo "BurrowDB's documents, indexes and queries (the public API of include/burrow.h:"
    echo "\`burrow_doc_insert\`, \`burrow_doc_get\`, \`burrow_find\`, \`burrow_doc_count\`) against"
    echo "SQLite's JSON functions, on the same documents, by \`build/bench/doc-bench\`"
    echo "(bench/doc_bench.c)."
    echo
    echo "- Date: $dstarted; this part took $((dt1 - dt0)) s"
    echo "- Command: \`$cmd\` (it runs \`build/bench/doc-bench --out FILE${*:+ $*}\`)"
    echo "- Machine: $(nproc) CPUs ($cpu), $mem RAM, Linux $(uname -r)"
    echo "- Load average (1, 5, 15 min) before: $dload0; after: $dload1" \
         "(other work on the machine makes the numbers noisier; compare ratios within one run)"
    echo "- Data directory: $dir on $fs"
    echo "- BurrowDB: commit $rev; $docs_status"
    echo "- SQLite: libsqlite3-dev $(pkgver libsqlite3-dev); compiler: $(cc --version | head -n 1)"
    echo
    echo "Method:"
    echo
    echo "- Documents: n auction bids generated from a fixed seed, ~207 bytes of JSON with"
    echo "  their id: \`_id\`, \`user\` (one of 10^5 strings), \`amount\` (an int in [0, 10^6)),"
    echo "  \`price\` (a double in [0, 1000) with cents), \`item\` (an object of three strings),"
    echo "  \`tags\` (an array of two strings), \`live\` (a bool), \`bids\` (an int)."
    echo "- Ids: BurrowDB generates them (the documents are inserted without \`_id\`; it"
    echo "  gives each a 26-character time-ordered id and stores it first in the document)."
    echo "  SQLite then gets the same documents, each with \`{\"_id\":\"<that id>\",\` in front"
    echo "  and that id as its key, so both engines hold the same (id, document) pairs,"
    echo "  inserted in id order. SQLite's texts are built before its timed part."
    echo "- Durability: each batch of 1,000 documents (--batch) is one write transaction with a"
    echo "  durable commit: BurrowDB \`BURROW_SYNC_FULL\`; SQLite \`journal_mode=WAL\` +"
    echo "  \`synchronous=FULL\` as in the engine section, its other settings the defaults"
    echo "  (4 KiB pages, a 2 MB page cache, no mmap)."
    echo "- SQLite's table: \`docs(id TEXT PRIMARY KEY, doc TEXT NOT NULL CHECK"
    echo "  (json_valid(doc))) WITHOUT ROWID\` (clustered by id, as a BurrowDB collection;"
    echo "  the CHECK makes SQLite validate each document, as BurrowDB does by parsing it;"
    echo "  SQLite 3.40 has no jsonb, so documents are stored as text). Its indexes are"
    echo "  expression indexes, \`CREATE INDEX docs_user ON docs(json_extract(doc, '\$.user'))\`"
    echo "  and the same on \`\$.amount\`; BurrowDB's \`burrow_index_create(txn, \"docs\","
    echo "  \"user\" / \"amount\", 0)\`. The indexes exist before the first insert, so every"
    echo "  insert maintains them. Each configuration (0, 1, 2 indexes) fills a new database"
    echo "  per engine; the 2-index databases are then reopened and queried."
    echo "- Reads: one thread, files warm in the page cache, results read as JSON text."
    echo "  Point gets: uniformly random ids, 1,000 per read transaction (\`burrow_doc_get\` /"
    echo "  \`SELECT doc FROM docs WHERE id = ?\`). Queries, 100 per read transaction:"
    echo "  equality \`{\"user\": \"user_NNNNN\"}\` / \`WHERE json_extract(doc, '\$.user') = ?\`;"
    echo "  range \`{\"amount\": {\"\$gte\": a, \"\$lte\": b}}\` / \`WHERE json_extract(doc,"
    echo "  '\$.amount') BETWEEN ? AND ?\` with b - a + 1 = 10^8 / n (~100 rows). BurrowDB has"
    echo "  no bound parameters, so each of its queries formats and compiles its filter"
    echo "  (timed); SQLite's statements are prepared once and bound per query. Each query"
    echo "  list holds 2,000 queries (--queries) from the seed, used in turn. Full scan: one count per"
    echo "  read transaction, \`burrow_doc_count({\"price\": {\"\$gt\": 900}, \"live\": true})\` /"
    echo "  \`SELECT count(*) FROM docs WHERE json_extract(doc, '\$.price') > 900 AND"
    echo "  json_type(doc, '\$.live') = 'true'\` (~5% match, no index on either field)."
    echo "- Each read measurement repeats its chunk (1,000 gets, 100 queries, one scan)"
    echo "  until 0.5 s (--min-time) have passed; the median of 3 (--runs) is reported. BurrowDB and SQLite take"
    echo "  turns, measurement by measurement, so other work on the machine hits both"
    echo "  alike. The inserts change the database and run once per configuration."
    echo "- File sizes: the sum of st_size of the engine's files after close (SQLite"
    echo "  checkpoints and removes its WAL at close). Raw: the documents' JSON text with"
    echo "  their ids, as given to SQLite."
    echo "- Checks, untimed, before the timed reads, and in the timed runs: see the list"
    echo "  below the tables. The progress log on stderr gives each phase's wall and CPU"
    echo "  time (CLOCK_MONOTONIC stamps, for \`perf report --time\`)."
    echo
    if [ -s "$log.docs.md" ]; then
        cat "$log.docs.md"
        [ "$drc" = 0 ] || echo "doc-bench exit status $drc: some check failed (see the checks above)."
    elif [ -z "${docs_status%%NOT*}" ]; then
        echo "Not measured (see above)."
    else
        echo "doc-bench produced no report (exit status $drc):"
        echo
        echo '```'
        tail -n 15 "$log.docs.err"
        echo '```'
    fi
} >"$log.docs"

put_section_here "Documents and queries" "$log.docs"
echo "run.sh: wrote the documents section of $out (doc-bench exit status $drc)" >&2
fi
[ "$only" = docs ] && exit 0

# ---- the hot tier (tier-bench) --------------------------------------------
# In a full run tier-bench gets --dir when given; with --only tier every
# remaining option. Its section goes last in the report.
if [ "$only" != tier ]; then
    set --
    [ "$dir" != /tmp/burrow-bench ] && set -- --dir "$dir"
fi
tier_status="built from this tree"
if [ "$lib_ok" = 0 ]; then
    tier_status="NOT measured: \`make lib\` failed:
$lib_log"
elif ! make -C "$root/bench" BUILD="$build" tier >"$log" 2>&1; then
    tier_status="NOT measured: tier-bench did not build (is the hot tier in libburrow yet?):
\`\`\`
$(tail -n 15 "$log")
\`\`\`"
    echo "run.sh: tier-bench did not build; the hot tier section says why" >&2
fi
tstarted=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
tt0=$(date +%s)
tload0=$(cut -d' ' -f1-3 /proc/loadavg)
trc=0
case "$tier_status" in
    NOT*) ;;
    *) "$tbin" --out "$log.tier.md" "$@" || trc=$? ;;
esac
tt1=$(date +%s)
tload1=$(cut -d' ' -f1-3 /proc/loadavg)

{
    echo "## Hot tier"
    echo
    echo "The hot tier (src/tier/tier.h), behind the public API (\`burrow_doc_get\` with"
    echo "\`burrow_options.hot_memory\`) and alone, by \`build/bench/tier-bench\`"
    echo "(bench/tier_bench.c), for DESIGN.md's budget \"hot document reads, embedded >= 5 M/s"
    echo "on one core\" and issue 4's policy workloads."
    echo
    echo "- Date: $tstarted; this part took $((tt1 - tt0)) s"
    echo "- Command: \`$cmd\` (it runs \`build/bench/tier-bench --out FILE${*:+ $*}\`)"
    echo "- Machine: $(nproc) CPUs ($cpu), $mem RAM, Linux $(uname -r)"
    echo "- Load average (1, 5, 15 min) before: $tload0; after: $tload1" \
         "(other work on the machine makes the rates noisier; the hit ratios do not depend on it)"
    echo "- BurrowDB: commit $rev; $tier_status"
    echo "- Compiler: $(cc --version | head -n 1)"
    echo
    echo "Method:"
    echo
    echo "- Hot reads: auction-bid documents of ~206 bytes of JSON (as in doc-bench) are"
    echo "  inserted into a new file, which is then opened twice, read-only: once with the"
    echo "  tier off, once with \`hot_memory\` = 256 MiB (every document fits; one untimed"
    echo "  pass fills the tier, and the tier's counters over the timed runs show that every"
    echo "  get hit). One thread reads the documents by id in a random order (the same"
    echo "  permutation for every row), 1,000 \`burrow_doc_get\` per read transaction,"
    echo "  output as JSON text or \`BURROW_OUT_BINARY\`. The tier-alone rows fill a tier"
    echo "  of their own with the same binary documents under the same keys and read them"
    echo "  with \`tier_get\` (a copy into one reused buffer) or \`tier_visit\` (a callback"
    echo "  on the tier's bytes, no copy), with the tier's mutex (the default, as behind the"
    echo "  API) and with \`TIER_UNLOCKED\`. Two hot set sizes: one that mostly stays in"
    echo "  the CPU's caches and one that does not. Each measurement loops for 0.3 s; the"
    echo "  median of 5 is reported with min and max; rows take turns run by run."
    echo "- Checked, untimed: every document read with the tier on equals the one read with"
    echo "  it off (JSON and binary), and the tier-alone reads return the same bytes."
    echo "- Policies: the tier alone, no file: 1,000,000 keys, each with a synthetic"
    echo "  200-byte document; a request is \`tier_get\`, and on a miss \`tier_admit\` of the"
    echo "  document (the default promotion rule admits every miss; a full tier evicts)."
    echo "  Budgets are 10% and 30% of the keys' total charge (\`tier_entry_charge\`); the"
    echo "  tier's hash table is charged in the same budget. Streams of 10,000,000 requests,"
    echo "  generated before timing from a fixed seed, the same for every policy:"
    echo "  Zipfian with theta = 0.99 (Gray et al. 1994, as YCSB's ZipfianGenerator; key i"
    echo "  has popularity rank i), and scan-polluted: the same draws, but the last 100,000"
    echo "  of every 500,000 requests are a sequential scan through the cold half of the"
    echo "  keys (20% of requests). The first 10% of a stream warms the tier and is not"
    echo "  counted; hit ratio and requests/s are over the rest. The tier's clock is a fake"
    echo "  one, 1 ms per 1,000 requests (half-life the default 60 s), so hit ratios repeat"
    echo "  exactly from run to run; the rates are single runs."
    echo "- What limits the API path: see the perf profile in bench/README.md (the per-get"
    echo "  collection lookup, the tier's hash walk and mutex, two copies of the document)."
    echo
    if [ -s "$log.tier.md" ]; then
        cat "$log.tier.md"
        [ "$trc" = 0 ] || echo "tier-bench exit status $trc: some check failed (see above)."
    elif [ -z "${tier_status%%NOT*}" ]; then
        echo "Not measured (see above)."
    else
        echo "tier-bench produced no report (exit status $trc)."
    fi
} >"$log.tier"

put_section_here "Hot tier" "$log.tier"
echo "run.sh: wrote the hot tier section of $out (tier-bench exit status $trc)" >&2
[ "$only" = tier ] && exit 0

# ---- burrowd against redis-server (bench/server.sh) -----------------------
# Its own options are not the harnesses'; a full run uses its defaults. It
# writes the "## Server" section, last in the report.
src=0
BENCH_OUT=$out BUILD=$build "$root/bench/server.sh" || src=$?
echo "run.sh: bench/server.sh exit status $src" >&2
exit 0
