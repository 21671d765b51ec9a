#!/usr/bin/env bash
# Builds zynkd and zynk-bench in release mode and runs the benchmark set on both backends.
# Loopback only; every run is bounded. Results go to stdout (and are recorded by hand in
# docs/benchmarks.md with the machine and the date).
#
#   scripts/bench.sh            # everything
#   scripts/bench.sh http       # one group: http | ws | idle | pairs
#   scripts/bench.sh pairs      # the one-core workload: server on CPU 1, generator on CPU 0
#   ZYNK_BENCH_PREFILL="1000000 10000000" scripts/bench.sh pairs   # growth runs too
set -euo pipefail
cd "$(dirname "$0")/.."
export ZYNK_TEST_POSTGRES_URL="${ZYNK_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export ZYNK_TEST_REDIS_URL="${ZYNK_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
cargo build --release -p zynkd -p zynk-bench
bench=target/release/zynk-bench
# 10,000 idle sockets need more than the default 1024 file descriptors (client and server).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
group="${1:-all}"
echo "== $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
for backend in embedded scale; do
    if [ "$group" = all ] || [ "$group" = http ]; then
        $bench --backend $backend http --connections 64 --seconds 10
        $bench --backend $backend http --connections 64 --seconds 10 --rate "$([ $backend = embedded ] && echo 15000 || echo 7500)"
    fi
    if [ "$group" = all ] || [ "$group" = ws ]; then
        $bench --backend $backend ws --pairs 50 --seconds 10
        $bench --backend $backend ws --pairs 50 --seconds 10 --rate 5000
    fi
    if [ "$group" = all ] || [ "$group" = idle ]; then
        $bench --backend $backend idle --connections 10000
    fi
done

# The one-core workload (issue 15): the server pinned to CPU 1, the load generator to CPU 0;
# fresh storage per run; then the throughput run again on databases pre-filled with
# ZYNK_BENCH_PREFILL messages, and idle-socket memory on a pinned fresh server.
bench_pairs() {
    for backend in embedded scale; do
        taskset -c 0 $bench --backend $backend --server-cpus 1 pairs
        for n in ${ZYNK_BENCH_PREFILL:-}; do
            taskset -c 0 $bench --backend $backend --server-cpus 1 pairs --prefill "$n" --rates 0
        done
        taskset -c 0 $bench --backend $backend --server-cpus 1 idle --connections 10000
    done
}
if [ "$group" = all ] || [ "$group" = pairs ]; then
    bench_pairs
fi
