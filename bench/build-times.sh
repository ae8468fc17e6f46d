#!/usr/bin/env bash
# Measures build times: a clean release build (server + WASM) in a throwaway target directory, then a dev
# rebuild after a one-line change in a component (what `cargo leptos watch` does on save).
#   bench/build-times.sh        (takes ~10 minutes on 2 cores; the usual target/ is left alone)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/.tools/node_modules/.bin:$PATH"

target=$(mktemp -d /tmp/gatehouse-bench-target.XXXX)
component=src/pages/home.rs
backup=$(mktemp)
cp "$component" "$backup"
cleanup() { cp "$backup" "$component"; rm -rf "$target" "$backup"; }
trap cleanup EXIT

seconds() { local t0=$SECONDS; "$@" >/dev/null 2>&1; echo $(( SECONDS - t0 )); }

export CARGO_TARGET_DIR=$target
echo "clean release build (cargo leptos build --release): $(seconds cargo leptos build --release) s"
echo "clean dev build (cargo leptos build): $(seconds cargo leptos build) s"
sed -i 's/Sign in once. Stay in control./Sign in once. Stay in control!/' "$component"
echo "dev rebuild after a one-line change in a component: $(seconds cargo leptos build) s"
cp "$backup" "$component"
echo "release rebuild after the same change: $(seconds cargo leptos build --release) s"
