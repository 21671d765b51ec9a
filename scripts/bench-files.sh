#!/usr/bin/env bash
# Benchmark of encrypted files (docs/benchmarks.md): one file of SIZE_MIB MiB (default 2048, i.e.
# 2 GiB) sent with `zynk file send` and fetched with `zynk file get` through a release `zynkd` on
# loopback, once with the local blob directory and once with S3-compatible storage (s3s-fs, as
# scripts/test.sh starts it: ZYNK_TEST_S3_URL / ZYNK_TEST_S3_ROOT). Prints wall time, MB/s and the
# peak RSS of zynkd and of zynk for each direction, and checks the fetched file is identical.
#
#   cargo build --release -p zynkd -p zynk-cli && scripts/bench-files.sh [SIZE_MIB]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib="${1:-2048}"
bin="${ZYNK_BIN:-target/release}"
s3_url="${ZYNK_TEST_S3_URL:-s3+http://zynktest:zynktestsecret@127.0.0.1:58014}"
s3_root="${ZYNK_TEST_S3_ROOT:-$(pwd)/target/test-services/s3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/zynk-bench-files.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export ZYNK_PASSWORD="bench password 1234"

# /proc/PID/status VmHWM (peak resident set) in KiB.
peak_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

source_file="$work/payload.bin"
echo "writing a ${size_mib} MiB file of random bytes" >&2
dd if=/dev/urandom of="$source_file" bs=1M count="$size_mib" status=none
bytes=$(stat -c %s "$source_file")
want=$(sha256sum "$source_file" | cut -d' ' -f1)

printf '| storage | direction | seconds | MB/s | peak RSS zynkd (MiB) | peak RSS zynk (MiB) |\n'
printf '|---|---|---|---|---|---|\n'
for storage in local s3; do
    data="$work/$storage"
    mkdir -p "$data"
    port=$((18000 + RANDOM % 2000))
    env_vars=(ZYNK_DATA_DIR="$data" ZYNK_LISTEN="127.0.0.1:$port" ZYNK_AUTH__PBKDF2_ITERATIONS=1000
        ZYNK_RATE_LIMITS__ENABLED=false ZYNK_LOG=warn)
    bucket=""
    if [ "$storage" = s3 ]; then
        bucket="bench-$(date +%s)-$RANDOM"
        mkdir -p "$s3_root/$bucket"
        env_vars+=(ZYNK_FILES__STORAGE_URL="$s3_url/$bucket")
    fi
    env -u ZYNK_DATABASE_URL -u ZYNK_REDIS_URL "${env_vars[@]}" "$bin/zynkd" serve >"$work/zynkd-$storage.log" 2>&1 &
    server=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    url="http://127.0.0.1:$port"
    "$bin/zynk" --home "$work/$storage-alice" --server "$url" register alice >/dev/null
    "$bin/zynk" --home "$work/$storage-bob" --server "$url" register bob >/dev/null
    idle=$(peak_kib "$server")

    start=$(date +%s.%N)
    message=$(/usr/bin/time -f %M -o "$work/send.rss" "$bin/zynk" --home "$work/$storage-alice" file send bob "$source_file")
    end=$(date +%s.%N)
    send_s=$(echo "$end - $start" | bc -l)
    send_server=$(peak_kib "$server")

    start=$(date +%s.%N)
    /usr/bin/time -f %M -o "$work/get.rss" "$bin/zynk" --home "$work/$storage-bob" file get "$message" -o "$work/received.bin" >/dev/null
    end=$(date +%s.%N)
    get_s=$(echo "$end - $start" | bc -l)
    get_server=$(peak_kib "$server")

    got=$(sha256sum "$work/received.bin" | cut -d' ' -f1)
    [ "$got" = "$want" ] || { echo "the fetched file differs" >&2; exit 1; }
    kill "$server"; wait "$server" 2>/dev/null || true
    mb() { echo "scale=1; $bytes / 1000000 / $1" | bc -l; }
    mib() { echo "scale=1; $1 / 1024" | bc -l; }
    printf '| %s | send (idle zynkd %s) | %.1f | %s | %s | %s |\n' "$storage" "$(mib "$idle")" "$send_s" "$(mb "$send_s")" \
        "$(mib "$send_server")" "$(mib "$(cat "$work/send.rss")")"
    printf '| %s | get | %.1f | %s | %s | %s |\n' "$storage" "$get_s" "$(mb "$get_s")" \
        "$(mib "$get_server")" "$(mib "$(cat "$work/get.rss")")"
    rm -rf "$data" "$work/received.bin"
    [ -n "$bucket" ] && rm -rf "${s3_root:?}/$bucket"
done
