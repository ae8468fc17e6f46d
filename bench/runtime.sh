#!/usr/bin/env bash
# Measures the release build: WASM size (raw, gzip, brotli as served), time from process start to /readyz = 200,
# and server RSS at idle. Run after `make build`:   bench/runtime.sh [runs]   (throughput: bench/run.sh)
# Numbers vary with the machine; the README records what this printed on the reference machine.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-10}
binary=target/release/gatehouse
wasm=target/site/pkg/gatehouse.wasm
[ -x "$binary" ] && [ -f "$wasm" ] || { echo "bench: run 'make build' first" >&2; exit 1; }

kb() { awk -v b="$1" 'BEGIN { printf "%.1f KB", b / 1024 }'; }
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
echo "WASM (release): raw $(kb "$raw"), gzip -9 $(kb "$gz")$( [ -f "$wasm.br" ] && echo ", brotli as served $(kb "$(stat -c %s "$wasm.br")")")"
js=target/site/pkg/gatehouse.js
echo "JS glue: raw $(kb "$(stat -c %s "$js")"), gzip -9 $(kb "$(gzip -9 -c "$js" | wc -c)")"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

start_once() { # sets $elapsed_ms (spawn to the first 200 from /readyz) and leaves the server running as $pid
  local db=$1 t0 t1
  t0=$(date +%s%N)
  DATABASE_URL="sqlite://$db" LEPTOS_SITE_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT=target/site RUST_LOG=warn \
    "$binary" >/dev/null 2>&1 &
  pid=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; do
    kill -0 "$pid" 2>/dev/null || { echo "bench: server exited" >&2; exit 1; }
    sleep 0.005
  done
  t1=$(date +%s%N)
  elapsed_ms=$(( (t1 - t0) / 1000000 ))
}

times=()
for i in $(seq "$runs"); do
  # Half the runs create the database (first start, migrations), half open an existing one.
  start_once "$work/db$(( i % 2 )).db"
  times+=("$elapsed_ms")
  kill -TERM "$pid"; wait "$pid" || true
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
echo "start to /readyz=200 over $runs runs: median $(echo "$sorted" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') ms, max $(echo "$sorted" | tail -1) ms"

start_once "$work/idle.db"
for path in / /healthz /readyz /missing; do curl -fs -o /dev/null "http://127.0.0.1:$port$path" || true; done
sleep 2
echo "idle RSS after serving a few pages: $(awk '/VmRSS/ { printf "%.1f MB", $2 / 1024 }' "/proc/$pid/status")"

kill -TERM "$pid"; wait "$pid" || true
