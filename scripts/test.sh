#!/usr/bin/env bash
# Runs Zynk's whole test suite: formatting, lints, the SDK's browser build (wasm32), and every
# test on both backends (SQLite + in-process state, and PostgreSQL + Redis), with a local EVM node
# (anvil) for the EVM chain and an independent credential verifier (npm packages pinned in
# tools/).
#
# PostgreSQL and Redis are used where they already run (127.0.0.1:5432 with trust auth for the
# `postgres` role, 127.0.0.1:6379), or taken from ZYNK_TEST_POSTGRES_URL / ZYNK_TEST_REDIS_URL.
# When they are missing this script installs them (Debian/Ubuntu packages, as root) and starts
# private instances under target/test-services (ZYNK_TEST_PRIVATE_SERVICES=1 forces those even
# when shared ones run). A service that cannot be reached fails the run:
# no test is ever skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
services="$root/target/test-services"
mkdir -p "$services"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf '\033[1;31merror: %s\033[0m\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

apt_install() {
    command -v apt-get >/dev/null || return 1
    if [ -z "${ZYNK_APT_UPDATED:-}" ]; then as_root apt-get update -qq || return 1; export ZYNK_APT_UPDATED=1; fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

redis_pong() {
    local reply
    reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'PING\r\n' >&3 \
        && IFS= read -r -t 3 line <&3 && printf '%s' "$line") 2>/dev/null ) || return 1
    [[ "$reply" == +PONG* ]]
}

# The SDK's browser build needs the standard library for wasm32-unknown-unknown.
wasm_target_installed() { [ -d "$(rustc --print sysroot)/lib/rustlib/wasm32-unknown-unknown/lib" ]; }

ensure_wasm_target() {
    wasm_target_installed && return
    command -v rustup >/dev/null \
        || die "the Rust target wasm32-unknown-unknown is not installed and there is no rustup to add it: install the Rust standard library for wasm32-unknown-unknown (needed to build the SDK for browsers)"
    say "adding the Rust target wasm32-unknown-unknown (the SDK's browser build)"
    rustup target add wasm32-unknown-unknown \
        || die "rustup target add wasm32-unknown-unknown failed: the SDK's browser build cannot be checked without it"
    wasm_target_installed \
        || die "rustup target add wasm32-unknown-unknown succeeded, but $(rustc --print sysroot) still has no standard library for it"
}

ensure_toolchain() {
    command -v cargo >/dev/null || die "cargo is required (https://rustup.rs), Rust 1.95 or newer"
    if command -v rustup >/dev/null; then
        rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
        rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
    fi
    ensure_wasm_target
    if ! cargo nextest --version >/dev/null 2>&1; then
        say "installing cargo-nextest"
        cargo install cargo-nextest --locked
    fi
}

ensure_postgres() {
    if [ -n "${ZYNK_TEST_POSTGRES_URL:-}" ]; then return; fi
    if [ -z "${ZYNK_TEST_PRIVATE_SERVICES:-}" ] && port_open 5432; then
        export ZYNK_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/postgres"
        return
    fi
    local port=55432 data="$services/postgres"
    if ! port_open $port; then
        local bin
        bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
        if [ -z "$bin" ]; then
            say "installing PostgreSQL"
            apt_install postgresql || die "PostgreSQL is not running and could not be installed"
            bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
        fi
        say "starting a private PostgreSQL on port $port"
        local run=()
        if [ "$(id -u)" -eq 0 ]; then
            # PostgreSQL refuses to run as root: use the postgres system user.
            id postgres >/dev/null 2>&1 || die "no postgres system user to run PostgreSQL as"
            mkdir -p "$data"; chown postgres "$data" "$services"
            run=(runuser -u postgres --)
        fi
        if [ ! -f "$data/PG_VERSION" ]; then
            "${run[@]}" "$bin/initdb" -D "$data" -A trust -U postgres >/dev/null
        fi
        "${run[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w \
            -o "-p $port -c listen_addresses=127.0.0.1 -k /tmp" start >/dev/null \
            || die "PostgreSQL did not start; see $data/server.log"
    fi
    port_open $port || die "PostgreSQL on port $port is unreachable"
    export ZYNK_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

# coturn (Debian package `coturn`) for the TURN tests: each test starts its own private
# turnserver on a free loopback port (state under a temporary directory).
ensure_coturn() {
    if ! command -v turnserver >/dev/null || ! command -v turnutils_uclient >/dev/null; then
        say "installing coturn"
        apt_install coturn || die "coturn (turnserver, turnutils_uclient) is missing and could not be installed"
    fi
    export ZYNK_TURNSERVER="$(command -v turnserver)"
    export ZYNK_TURNUTILS_UCLIENT="$(command -v turnutils_uclient)"
    "$ZYNK_TURNSERVER" --version >/dev/null 2>&1 || die "turnserver does not run"
}

ensure_redis() {
    if [ -n "${ZYNK_TEST_REDIS_URL:-}" ]; then return; fi
    if [ -z "${ZYNK_TEST_PRIVATE_SERVICES:-}" ] && redis_pong 6379; then
        export ZYNK_TEST_REDIS_URL="redis://127.0.0.1:6379"
        return
    fi
    local port=56379
    if ! redis_pong $port; then
        if ! command -v redis-server >/dev/null; then
            say "installing Redis"
            apt_install redis-server || die "Redis is not running and could not be installed"
        fi
        say "starting a private Redis on port $port"
        redis-server --port $port --bind 127.0.0.1 --daemonize yes --save "" --appendonly no \
            --dir "$services" --logfile "$services/redis.log" >/dev/null
        for _ in $(seq 1 50); do redis_pong $port && break; sleep 0.1; done
    fi
    redis_pong $port || die "Redis on port $port is unreachable; see $services/redis.log"
    export ZYNK_TEST_REDIS_URL="redis://127.0.0.1:$port"
}

# Node.js tools pinned in tools/package.json: solc (the registry contract), anvil (a real local
# EVM node the tests start) and did-jwt-vc (an independent verifier of issued credentials).
ensure_tools() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        say "installing Node.js and npm"
        apt_install nodejs npm || die "Node.js and npm are needed for the EVM and credential tests and could not be installed"
    fi
    if [ ! -x tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil ] \
        || [ ! -d tools/node_modules/did-jwt-vc ] \
        || [ tools/package-lock.json -nt tools/node_modules/.package-lock.json ]; then
        say "installing the pinned tools (npm ci --prefix tools)"
        npm ci --prefix tools --no-audit --no-fund >/dev/null || die "npm ci --prefix tools failed"
    fi
    tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil --version >/dev/null \
        || die "anvil from tools/node_modules does not run"
    export ZYNK_ANVIL="$root/tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
    say "checking contracts/ZynkRegistry.json against its source"
    scripts/build-contract.sh --check
}

# A real S3-compatible server for the file storage tests: s3s-fs (pure Rust, from the crates
# registry; 0.14.1 is the newest that builds with rustc 1.95), installed under
# target/test-services/s3s-fs when missing and started on 127.0.0.1:58014 with its data in
# target/test-services/s3 (each test makes its own bucket there). ZYNK_TEST_S3_URL and
# ZYNK_TEST_S3_ROOT point the tests at another one.
ensure_s3() {
    if [ -n "${ZYNK_TEST_S3_URL:-}" ]; then
        [ -n "${ZYNK_TEST_S3_ROOT:-}" ] || die "ZYNK_TEST_S3_URL is set but ZYNK_TEST_S3_ROOT (its data directory) is not"
        return
    fi
    local port=58014 data="$services/s3" bin="$services/s3s-fs/bin/s3s-fs" pidfile="$services/s3s-fs.pid"
    mkdir -p "$data"
    # A server on the port must be the one this checkout started (the tests make their buckets
    # in its data directory).
    if port_open $port && ! { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }; then
        die "something else listens on 127.0.0.1:$port; stop it, or set ZYNK_TEST_S3_URL and ZYNK_TEST_S3_ROOT (its data directory)"
    fi
    if ! port_open $port; then
        if [ ! -x "$bin" ]; then
            say "installing s3s-fs 0.14.1 (the S3-compatible server of the file tests)"
            cargo install s3s-fs --version 0.14.1 --features binary --locked --root "$services/s3s-fs" \
                || die "cargo install s3s-fs failed: the file storage tests need an S3-compatible server"
        fi
        say "starting s3s-fs on port $port"
        nohup "$bin" --host 127.0.0.1 --port $port --access-key zynktest --secret-key zynktestsecret \
            "$data" >"$services/s3s-fs.log" 2>&1 &
        echo $! >"$pidfile"
        for _ in $(seq 1 50); do port_open $port && break; sleep 0.1; done
    fi
    port_open $port || die "s3s-fs on port $port is unreachable; see $services/s3s-fs.log"
    export ZYNK_TEST_S3_URL="s3+http://zynktest:zynktestsecret@127.0.0.1:$port"
    export ZYNK_TEST_S3_ROOT="$data"
}

# pg_dump / pg_restore (the backup tests on PostgreSQL; Debian package postgresql-client) and
# systemd-analyze (the check of the documented systemd unit; Debian package systemd).
ensure_ops_tools() {
    if ! command -v pg_dump >/dev/null || ! command -v pg_restore >/dev/null; then
        say "installing the PostgreSQL client tools (pg_dump, pg_restore)"
        apt_install postgresql-client \
            || die "pg_dump and pg_restore are missing and could not be installed (Debian package postgresql-client): the backup tests on PostgreSQL need them"
    fi
    if ! command -v systemd-analyze >/dev/null; then
        say "installing systemd-analyze (Debian package systemd)"
        apt_install systemd \
            || die "systemd-analyze is missing and could not be installed (Debian package systemd): the systemd unit test needs it"
    fi
    export ZYNK_SYSTEMD_ANALYZE="$(command -v systemd-analyze)"
}

ensure_toolchain
ensure_tools
ensure_postgres
ensure_redis
ensure_s3
say "S3: $ZYNK_TEST_S3_URL (data in $ZYNK_TEST_S3_ROOT)"
ensure_coturn
ensure_ops_tools
say "PostgreSQL: $ZYNK_TEST_POSTGRES_URL"
say "Redis: $ZYNK_TEST_REDIS_URL"

say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
say "cargo build -p zynk-sdk --target wasm32-unknown-unknown"
cargo build -p zynk-sdk --target wasm32-unknown-unknown --locked
say "cargo clippy -p zynk-sdk --target wasm32-unknown-unknown"
cargo clippy -p zynk-sdk --target wasm32-unknown-unknown --locked -- -D warnings
# --- browser client (issue 13): build check, then Playwright in Chromium on both engines ---
# Debian's Chromium (Playwright's own browser downloads cannot work here), installed when missing.
ensure_chromium() {
    if [ -n "${ZYNK_CHROMIUM:-}" ]; then return; fi
    if ! command -v chromium >/dev/null; then
        say "installing Chromium (Debian package chromium)"
        apt_install chromium || die "chromium is missing and could not be installed (the browser tests need it)"
    fi
    export ZYNK_CHROMIUM="$(command -v chromium)"
}

web_tests() {
    ensure_chromium
    say "checking web/dist against its sources (scripts/build-web.sh --check)"
    scripts/build-web.sh --check
    say "cargo build -p zynkd (the server the browser tests start)"
    cargo build -p zynkd --locked
    for engine in embedded scale; do
        say "browser tests in Chromium: $engine"
        (cd web && ZYNKD_BIN="$root/target/debug/zynkd" node tests/e2e.mjs "$engine") \
            || die "the browser tests failed on the $engine engine"
    done
}
web_tests
# --- end browser client ---

say "cargo nextest"
cargo nextest run --workspace --locked --no-fail-fast "$@"

# ---- Fuzzing (cargo fuzz; see docs/testing.md, "Fuzzing") -------------------------------------
# Builds every target in fuzz/ with the nightly toolchain (in its own target directory,
# target/fuzz) and runs each for a few seconds from its committed corpus. New inputs go to a
# scratch directory, not the committed corpus; a crash fails the run (its input is kept under
# target/fuzz/artifacts). ZYNK_FUZZ_SECONDS sets the time per target (default 5). The
# `request_body` target links the whole server (a much longer build) and is built and run only
# with ZYNK_FUZZ_SERVER=1.
run_fuzzers() {
    local bin="$services/cargo-fuzz/bin" seconds="${ZYNK_FUZZ_SECONDS:-5}"
    command -v rustup >/dev/null || die "rustup is needed for the nightly toolchain of the fuzz targets"
    if ! rustup run nightly rustc --version >/dev/null 2>&1; then
        say "installing the nightly Rust toolchain (fuzz targets)"
        rustup toolchain install nightly --profile minimal || die "rustup could not install the nightly toolchain"
    fi
    if [ ! -x "$bin/cargo-fuzz" ]; then
        say "installing cargo-fuzz 0.13.2 into $services/cargo-fuzz"
        cargo install cargo-fuzz --version 0.13.2 --locked --root "$services/cargo-fuzz" \
            || die "cargo install cargo-fuzz failed"
    fi
    local flags=(--sanitizer none --debug-assertions --codegen-units 16 --target-dir "$root/target/fuzz")
    if [ -n "${ZYNK_FUZZ_SERVER:-}" ]; then
        flags+=(--features server)
    else
        say "fuzz target request_body not built (set ZYNK_FUZZ_SERVER=1 to build and run it)"
    fi
    say "cargo +nightly fuzz build (target/fuzz)"
    (cd fuzz && PATH="$bin:$PATH" cargo +nightly fuzz build "${flags[@]}") \
        || die "the fuzz targets do not build"
    local target scratch
    for target in $(cd fuzz && PATH="$bin:$PATH" cargo +nightly fuzz list); do
        if [ "$target" = request_body ] && [ -z "${ZYNK_FUZZ_SERVER:-}" ]; then continue; fi
        say "fuzzing $target for ${seconds}s"
        scratch="$root/target/fuzz/scratch/$target"
        rm -rf "$scratch"; mkdir -p "$scratch" "$root/target/fuzz/artifacts/$target"
        (cd fuzz && PATH="$bin:$PATH" cargo +nightly fuzz run "${flags[@]}" "$target" \
            "$scratch" "corpus/$target" -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$root/target/fuzz/artifacts/$target/" \
            2>"$scratch.log") \
            || { tail -n 40 "$scratch.log" >&2; die "fuzz target $target failed (input in target/fuzz/artifacts/$target)"; }
        grep -h 'stat::number_of_executed_units' "$scratch.log" >&2 || true
    done
}

# ---- Schemathesis (see docs/testing.md, "Schemathesis") ---------------------------------------
# Starts zynkd on the embedded default (SQLite, in-process state, local blobs) in a scratch
# directory, registers a user with real proofs of possession (zynk-test-user), and runs a
# bounded schemathesis (every check, fixed seed and examples per operation, settings in
# scripts/schemathesis/) against its OpenAPI document with that user's token. Any failure (a 5xx,
# an answer outside the document, a response body off its schema) fails the run.
# ZYNK_SCHEMATHESIS_EXAMPLES sets the examples per operation (default 25).
run_schemathesis() {
    local venv="$services/schemathesis" examples="${ZYNK_SCHEMATHESIS_EXAMPLES:-25}"
    if [ ! -x "$venv/bin/st" ]; then
        python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv \
            || die "Python 3 with venv is needed for schemathesis"
        say "installing schemathesis 4.32.5 into $venv"
        python3 -m venv "$venv" && "$venv/bin/pip" install -q 'schemathesis==4.32.5' \
            || die "pip install schemathesis failed"
    fi
    say "cargo build zynkd and zynk-test-user"
    cargo build --locked -p zynkd -p zynk-testkit --bin zynkd --bin zynk-test-user
    local dir port pid token op status=0
    dir=$(mktemp -d "$services/schemathesis-run.XXXXXX")
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    ZYNK_LISTEN="127.0.0.1:$port" ZYNK_DATA_DIR="$dir/data" ZYNK_AUTH__PBKDF2_ITERATIONS=1000 \
        ZYNK_RATE_LIMITS__ENABLED=false ZYNK_TURN__SHARED_SECRET=schemathesis \
        ZYNK_TURN__URLS='["turn:127.0.0.1:3478?transport=udp"]' \
        target/debug/zynkd serve >"$dir/zynkd.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do port_open "$port" && break; sleep 0.2; done
    port_open "$port" || { kill "$pid" 2>/dev/null; die "zynkd did not start; see $dir/zynkd.log"; }
    # Operations that end the caller's session run last, with a user of their own: once one
    # succeeds, the rest of them answer 401 (documented).
    local ending=("POST /api/v1/auth/logout" "DELETE /api/v1/devices/{device_id}"
        "DELETE /api/v1/sessions/{session_id}")
    local round filter user
    for round in main ending; do
        filter=()
        for op in "${ending[@]}"; do
            if [ "$round" = main ]; then filter+=(--exclude-name "$op"); else filter+=(--include-name "$op"); fi
        done
        user="schemathesis_$round"
        token=$(target/debug/zynk-test-user "http://127.0.0.1:$port" "$user" | head -n 1) \
            || { kill "$pid"; die "could not register the schemathesis user $user"; }
        say "schemathesis ($round operations): $examples examples per operation (report in $dir)"
        (cd scripts/schemathesis && PYTHONPATH=. "$venv/bin/st" --config-file schemathesis.toml run \
            "http://127.0.0.1:$port/api/v1/openapi.json" --checks all --max-examples "$examples" \
            --workers 2 --no-color -H "Authorization: Bearer $token" "${filter[@]}" \
            --report junit --report-dir "$dir/report-$round") || status=$?
    done
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
    [ "$status" -eq 0 ] || die "schemathesis found failures (server log: $dir/zynkd.log)"
    rm -rf "$dir"
}

run_fuzzers
run_schemathesis
