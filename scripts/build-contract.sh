#!/usr/bin/env bash
# Compiles contracts/ZynkRegistry.sol with the solc pinned in tools/package.json (solcjs: the
# compiler is wasm inside the npm package, so nothing is downloaded at compile time) and writes the
# committed artifact contracts/ZynkRegistry.json, which `alloy::sol!` in crates/zynk-evm reads.
# The Rust build never runs this script or needs Node.
#
#   scripts/build-contract.sh           rebuild contracts/ZynkRegistry.json
#   scripts/build-contract.sh --check   recompile into a temporary directory and fail if the
#                                       committed artifact differs (it is stale or hand-edited)
#
# The output is deterministic: same source + same compiler + same settings = same bytes.
set -euo pipefail
cd "$(dirname "$0")/.."

name=ZynkRegistry
src="contracts/$name.sol"
artifact="contracts/$name.json"
# Settings. Changing any of them changes the bytecode: rebuild and commit the artifact.
# `paris` (no PUSH0/MCOPY/transient storage) so the bytecode runs on any post-merge EVM chain,
# including L2s and private networks that lag behind mainnet's hardforks.
evm_version=paris
optimizer_runs=200

die() { printf 'error: %s\n' "$*" >&2; exit 1; }

check=0
case "${1:-}" in
    "") ;;
    --check) check=1 ;;
    *) die "usage: $0 [--check]" ;;
esac

command -v node >/dev/null || die "node is needed to run solcjs (Debian: apt-get install nodejs npm)"
solcjs=tools/node_modules/.bin/solcjs
if [ ! -x "$solcjs" ]; then
    command -v npm >/dev/null || die "npm is needed to install the pinned solc (npm ci --prefix tools)"
    echo "installing the pinned tools: npm ci --prefix tools" >&2
    npm ci --prefix tools >&2
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Standard JSON input: one source under a fixed name (the name is part of the metadata hash that
# solc appends to the bytecode, so it must not depend on where the repository is checked out).
node -e '
const fs = require("fs");
const [src, evmVersion, runs] = process.argv.slice(1);
process.stdout.write(JSON.stringify({
  language: "Solidity",
  sources: { "ZynkRegistry.sol": { content: fs.readFileSync(src, "utf8") } },
  settings: {
    evmVersion,
    optimizer: { enabled: true, runs: Number(runs) },
    metadata: { bytecodeHash: "ipfs" },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
}));
' "$src" "$evm_version" "$optimizer_runs" >"$tmp/input.json"

"$solcjs" --standard-json <"$tmp/input.json" >"$tmp/output.json"
version="$("$solcjs" --version)"

out="$tmp/$name.json"
node -e '
const fs = require("fs");
const [outputPath, name, version, evmVersion, runs] = process.argv.slice(1);
// solcjs prints ">>> Cannot retry compilation with SMT because there are no SMT solvers
// available." before the JSON on some versions: start at the first brace.
const text = fs.readFileSync(outputPath, "utf8");
const out = JSON.parse(text.slice(text.indexOf("{")));
const errors = (out.errors || []).filter((e) => e.severity === "error");
for (const e of out.errors || []) process.stderr.write((e.formattedMessage || e.message) + "\n");
if (errors.length) process.exit(1);
const c = out.contracts["ZynkRegistry.sol"][name];
const artifact = {
  contractName: name,
  compiler: { name: "solc", version, evmVersion, optimizer: { enabled: true, runs: Number(runs) } },
  abi: c.abi,
  bytecode: { object: "0x" + c.evm.bytecode.object },
  deployedBytecode: { object: "0x" + c.evm.deployedBytecode.object },
};
process.stdout.write(JSON.stringify(artifact, null, 2) + "\n");
' "$tmp/output.json" "$name" "$version" "$evm_version" "$optimizer_runs" >"$out"

if [ "$check" = 1 ]; then
    [ -f "$artifact" ] || die "$artifact is missing: run scripts/build-contract.sh"
    if ! cmp -s "$out" "$artifact"; then
        diff -u "$artifact" "$out" | head -40 >&2 || true
        die "$artifact is stale: run scripts/build-contract.sh and commit the result"
    fi
    echo "$artifact is up to date ($version)"
else
    cp "$out" "$artifact"
    echo "wrote $artifact ($version, evm $evm_version, optimizer runs $optimizer_runs)"
fi
