#!/bin/sh
# The run command: installs what is missing, builds, and runs the embedded
# example on a database in ./data (created on first run, reopened after).
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
make -j"$(nproc)" all >/dev/null
mkdir -p data
exec build/examples/hello data/hello.burrow "$@"
