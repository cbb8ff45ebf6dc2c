#!/usr/bin/env bash
# scripts/openapi.sh: regenerate openapi/openapi.json from the code.
#
#   scripts/openapi.sh
#
# Runs `launchpad-api openapi`, which prints the OpenAPI document on stdout
# (no database needed). The file is replaced only when generation succeeds,
# so a failed build never leaves a truncated spec behind. scripts/test.sh
# fails when the committed file differs from what this prints.

set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"

if ! command -v cargo >/dev/null 2>&1 && [[ -x ${HOME:-}/.cargo/bin/cargo ]]; then
	PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || {
	echo "error: cargo (the Rust toolchain) is not on PATH" >&2
	exit 1
}

out="openapi/openapi.json"
mkdir -p "$(dirname "$out")"
tmp="$(mktemp "$out.XXXXXX")"
trap 'rm -f "$tmp"' EXIT

# Built like scripts/test.sh builds (the whole workspace), so both share one
# build of the dependencies; `cargo run -p launchpad-api` would build them
# again with that one package's features.
SQLX_OFFLINE=true cargo build -q --workspace --bins
"${CARGO_TARGET_DIR:-target}/debug/launchpad-api" openapi >"$tmp"
if [[ ! -s $tmp ]]; then
	echo "error: launchpad-api openapi printed nothing" >&2
	exit 1
fi

if [[ -f $out ]] && cmp -s "$tmp" "$out"; then
	echo "$out is already up to date"
else
	chmod 644 "$tmp"
	mv -f "$tmp" "$out"
	echo "wrote $out"
fi
