#!/bin/sh
# The run command: installs what is missing, builds, and runs the server,
# burrowd, on its defaults: 127.0.0.1:7379, data in ./data (created on first
# run, reopened after), durability "always". Extra arguments go to burrowd
# (scripts/run.sh --port 7380 --hot-mem 256mb); stop it with Ctrl-C.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
make -j"$(nproc)" all >/dev/null
exec build/burrowd --dir data "$@"
