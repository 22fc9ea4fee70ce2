#!/bin/sh
# t/bench/index.sh - builds the shared index benchmark with -O2 and runs it
# (not part of make check). Arguments go to the benchmark:
#   t/bench/index.sh [-d DIR] [-n ENTRIES] [-p PROCS] [-c CHURN_CAPACITY]
# Needs: cc, pkg-config, libxxhash-dev (what `make deps` installs).
set -eu

cd "$(dirname "$0")/../.."
mkdir -p build/bench
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -g -Iinclude -Isrc -Wall -Wextra \
	-o build/bench/index_bench t/bench/index_bench.c src/store/index*.c \
	$(pkg-config --cflags --libs libxxhash) -pthread
exec build/bench/index_bench "$@"
