#!/bin/sh
# The test command: installs what is missing, builds, and runs every test
# (plain, then under AddressSanitizer + UndefinedBehaviorSanitizer).
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
make -j"$(nproc)" all tests
make test-fast
make -j"$(nproc)" BUILD=build/san SAN=1 tests
make test-san
# The fuzz targets, briefly (FUZZ_SECONDS each; scripts/fuzz.sh 600 for a
# real campaign).
scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
