#!/bin/sh
# Installs the Debian packages BurrowDB needs that are missing on this machine.
# Idempotent and quiet when everything is already there.
#   scripts/setup.sh            build + test dependencies
#   scripts/setup.sh --bench    also the benchmark peers (LMDB, SQLite, RocksDB, LevelDB)
set -eu

build_pkgs="gcc make pkg-config libxxhash-dev libuv1-dev libhiredis-dev libedit-dev"
test_pkgs="libcmocka-dev clang libclang-rt-14-dev redis-tools bsdutils"
bench_pkgs="liblmdb-dev libsqlite3-dev librocksdb-dev libleveldb-dev libjansson-dev g++ redis-server"

want="$build_pkgs $test_pkgs"
for arg in "$@"; do
    case "$arg" in
        --bench) want="$want $bench_pkgs" ;;
        *) echo "setup.sh: unknown option '$arg'" >&2; exit 2 ;;
    esac
done

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "setup: installing$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists once if they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
    $SUDO apt-get update -qq >/dev/null
fi
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
