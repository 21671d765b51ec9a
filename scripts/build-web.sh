#!/usr/bin/env bash
# Builds the browser client: the Rust SDK compiled to WebAssembly (crates/zynk-web, through
# wasm-bindgen) and the TypeScript UI in web/ (Preact + Vite), into the committed web/dist that
# zynkd embeds and serves at `/`. The Rust build of zynkd never runs this script or needs Node.
#
#   scripts/build-web.sh                rebuild web/dist
#   scripts/build-web.sh --check        rebuild into a temporary directory and fail if the
#                                       committed web/dist differs (stale or hand-edited)
#   scripts/build-web.sh --tools-only   only install the pinned tools (wasm-bindgen CLI, npm)
#
# The wasm-bindgen CLI must be exactly the version of the wasm-bindgen crate in Cargo.lock; it is
# installed once under target/test-services/wasm-bindgen.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

die() { printf 'error: %s\n' "$*" >&2; exit 1; }
say() { printf '==> %s\n' "$*" >&2; }

mode=build
case "${1:-}" in
    "") ;;
    --check) mode=check ;;
    --tools-only) mode=tools ;;
    *) die "usage: $0 [--check|--tools-only]" ;;
esac

# The wasm-bindgen version pinned by Cargo.lock.
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$bindgen_version" ] || die "no wasm-bindgen in Cargo.lock"
bindgen_root="$root/target/test-services/wasm-bindgen"
bindgen="$bindgen_root/bin/wasm-bindgen"

ensure_bindgen() {
    if [ -x "$bindgen" ] && "$bindgen" --version | grep -qx "wasm-bindgen $bindgen_version"; then
        return
    fi
    say "installing wasm-bindgen-cli $bindgen_version (it must match the wasm-bindgen crate of Cargo.lock)"
    # --locked first; when the registry lacks one of the CLI's locked dependencies, resolve them
    # anew (the CLI's own version is still pinned exactly).
    cargo install wasm-bindgen-cli --version "=$bindgen_version" --locked --root "$bindgen_root" -j 2 \
        || cargo install wasm-bindgen-cli --version "=$bindgen_version" --root "$bindgen_root" -j 2 \
        || die "cargo install wasm-bindgen-cli $bindgen_version failed"
}

ensure_npm() {
    command -v node >/dev/null && command -v npm >/dev/null \
        || die "node and npm are needed to build the UI (Debian: apt-get install nodejs npm)"
    if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
        say "installing the UI's pinned packages (npm ci --prefix web)"
        npm ci --prefix web --no-audit --no-fund >/dev/null || die "npm ci --prefix web failed"
    fi
}

ensure_wasm_target() {
    [ -d "$(rustc --print sysroot)/lib/rustlib/wasm32-unknown-unknown/lib" ] && return
    command -v rustup >/dev/null || die "the Rust target wasm32-unknown-unknown is missing and there is no rustup"
    rustup target add wasm32-unknown-unknown
}

ensure_wasm_target
ensure_bindgen
ensure_npm
[ "$mode" = tools ] && exit 0

# 1. The SDK as WebAssembly (release: size and speed), bound for the browser as an ES module.
say "cargo build -p zynk-web --target wasm32-unknown-unknown --release"
cargo build -p zynk-web --target wasm32-unknown-unknown --release --locked
pkg="web/src/wasm"
rm -rf "$pkg"
"$bindgen" --target web --out-dir "$pkg" --out-name zynk_web \
    target/wasm32-unknown-unknown/release/zynk_web.wasm

# 2. The UI.
out="$root/web/dist"
if [ "$mode" = check ]; then
    out="$(mktemp -d)/dist"
    trap 'rm -rf "$(dirname "$out")"' EXIT
fi
say "vite build → $out"
(cd web && npx --no-install vite build --outDir "$out" --emptyOutDir >/dev/null)
# Gzip copies of the assets (deterministic: no name, no time), which zynkd sends to browsers
# that accept gzip: the first load then stays within its budget (docs/benchmarks.md).
node -e '
const fs = require("fs"), path = require("path"), zlib = require("zlib");
const dir = path.join(process.argv[1], "assets");
for (const f of fs.readdirSync(dir)) {
  if (!/\.(js|css|wasm)$/.test(f)) continue;
  fs.writeFileSync(path.join(dir, f + ".gz"), zlib.gzipSync(fs.readFileSync(path.join(dir, f)), { level: 9 }));
}' "$out"
node web/tests/budget.mjs "$out" >&2

if [ "$mode" = check ]; then
    if ! diff -r "$out" web/dist >/dev/null; then
        diff -rq "$out" web/dist >&2 || true
        die "web/dist is stale: run scripts/build-web.sh and commit web/dist"
    fi
    say "web/dist matches its sources"
fi
