#!/usr/bin/env bash
# make profile: where the server's CPU goes for one kind of request, as `make bench` loads it.
#
# Builds the server with frame pointers (target/profiling, the release profile otherwise), runs it as bench/run.sh
# does (pinned to CPU 0, one tokio worker, rate limits on but out of reach, default logging), puts one kind of load on
# it from CPU 1, and samples it with `perf record -e cpu-clock -g` (the hardware-event default captures nothing on
# these VMs). Writes bench/profiles/<kind>.txt: the throughput and server CPU per request while sampled, then the
# top functions by self time and by inclusive time (a function and everything it calls), each also in µs per request. The raw
# samples stay in target/profiling/<kind>.perf.data for `perf report -i`.
#
#   make profile                       every kind
#   make profile KIND=dashboard        one kind; kinds: healthz home login dashboard profile api-pat signin
#   PROFILE_SECONDS=8 bench/profile.sh dashboard api-pat
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

all_kinds=(healthz home login dashboard profile api-pat signin)
kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=("${all_kinds[@]}")
seconds=${PROFILE_SECONDS:-6}
connections=64

[ -d target/site/pkg ] || { echo "profile: run 'make build' first (the pages need target/site)" >&2; exit 1; }
. bench/lib.sh
need wrk wrk
need perf linux-perf

echo "profile: building the server with frame pointers (target/profiling)" >&2
RUSTFLAGS="-C force-frame-pointers=yes" cargo build --release --locked --quiet --features ssr --bin gatehouse \
  --target-dir target/profiling
bin=target/profiling/release/gatehouse

. end2end/lib.sh
app_port=$(free_port)
idp_port=$(free_port)
app="http://127.0.0.1:$app_port"
idp="http://127.0.0.1:$idp_port"

IDP_PORT=$idp_port IDP_REDIRECT_URIS="$app/auth/callback/dev" taskset -c 1 node end2end/idp/server.mjs \
  >"$work/idp.log" 2>&1 &
pids+=($!)
wait_for "$idp/.well-known/openid-configuration" "the Dev IdP" "$work/idp.log"

env RATE_LIMIT_SIGN_IN=1000000/1s RATE_LIMIT_OAUTH=1000000/1s RATE_LIMIT_API=1000000/1s \
  APP_URL=$app DATABASE_URL="sqlite://$work/gatehouse.db" LEPTOS_SITE_ADDR="127.0.0.1:$app_port" \
  LEPTOS_SITE_ROOT=target/site LEPTOS_ENV=PROD LOG_FORMAT=json DEV_IDP_URL=$idp \
  TOKIO_WORKER_THREADS=1 taskset -c 0 "$bin" >"$work/app.log" 2>&1 &
app_pid=$!
pids+=("$app_pid")
wait_for "$app/readyz" "Gatehouse" "$work/app.log"
read -r cookie token < <(signed_in "$app" "$idp" "$work/cookies")

# sample KIND: perf over `seconds` while the load runs; prints the requests done per second.
sample() {
  local kind=$1 url header=""
  case $kind in
    healthz) url=$app/healthz ;;
    home) url=$app/ ;;
    login) url=$app/login ;;
    dashboard) url=$app/dashboard header="Cookie: $cookie" ;;
    profile) url=$app/profile header="Cookie: $cookie" ;;
    api-pat) url=$app/api/v1/me header="Authorization: Bearer $token" ;;
    signin) url="" ;;
    *) echo "profile: unknown kind '$kind' (kinds: ${all_kinds[*]})" >&2; exit 2 ;;
  esac
  local load
  if [ -n "$url" ]; then
    taskset -c 1 wrk -t1 -c$connections -d$((seconds + 4))s ${header:+-H "$header"} "$url" >"$work/load.out" &
  else
    taskset -c 1 python3 bench/signin.py "$app" "$idp" 100000 4 same:e2e-bench-returning "$work/signins" \
      >"$work/load.out" 2>/dev/null &
  fi
  load=$!
  sleep 2 # warm up: caches filled, connections open
  local cpu_before count_before
  cpu_before=$(cpu_ms)
  count_before=$(done_so_far)
  perf record -q -e cpu-clock -F 2000 -g -p "$app_pid" -o "target/profiling/$kind.perf.data" -- sleep "$seconds" 2>/dev/null
  local cpu_after count_after
  cpu_after=$(cpu_ms)
  count_after=$(done_so_far)
  if [ -n "$url" ]; then
    wait "$load"
    # wrk counts only at the end: its rate over the whole run stands for the sampled seconds.
    local rate
    rate=$(awk '/Requests\/sec/ { print $2 }' "$work/load.out")
    count_before=0 count_after=$(awk -v r="$rate" -v s="$seconds" 'BEGIN { printf "%.0f", r * s }')
  else
    kill "$load" 2>/dev/null || true
    wait "$load" 2>/dev/null || true
  fi
  # "requests per second" and "µs of server CPU per request" over the sampled seconds.
  awk -v n=$((count_after - count_before)) -v s="$seconds" -v c="$(awk -v a="$cpu_after" -v b="$cpu_before" 'BEGIN { print a - b }')" \
    'BEGIN { printf "%.0f %.1f\n", n / s, (n > 0) ? c * 1000 / n : 0 }'
}

# The server's CPU time so far (user and system, all threads), in ms; sign-ins finished so far.
cpu_ms() { awk '{ print ($14 + $15) * 1000 / '"$(getconf CLK_TCK)"' }' "/proc/$app_pid/stat"; }
done_so_far() { [ -f "$work/signins" ] && wc -l <"$work/signins" || echo 0; }

mkdir -p bench/profiles
for kind in "${kinds[@]}"; do
  echo "profile: $kind" >&2
  read -r rate cost < <(sample "$kind")
  out=bench/profiles/$kind.txt
  {
    echo "# Profile: $kind"
    echo
    echo "$(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD)$(git diff --quiet -- src Cargo.toml 2>/dev/null || echo ' (with local changes)'); $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)."
    echo "Server pinned to CPU 0 (one tokio worker), load on CPU 1; perf -e cpu-clock -F 2000 -g for ${seconds} s."
    echo "While sampled: $rate $( [ "$kind" = signin ] && echo 'sign-ins' || echo 'requests' ) per second, $cost µs of server CPU each (from /proc)."
    echo "Reproduce: make profile KIND=$kind"
    echo
    perf report -i "target/profiling/$kind.perf.data" --stdio --no-children --sort comm,symbol -g none --percent-limit 0 2>/dev/null |
      python3 bench/profile_summary.py where "$cost" 25
    echo
    perf report -i "target/profiling/$kind.perf.data" --stdio --no-children --sort symbol -g none --percent-limit 0.4 2>/dev/null |
      python3 bench/profile_summary.py self "$cost" 40
    echo
    perf report -i "target/profiling/$kind.perf.data" --stdio --children --sort symbol -g none --percent-limit 0.5 2>/dev/null |
      python3 bench/profile_summary.py inclusive "$cost" 40
  } >"$out"
  echo "profile: wrote $out" >&2
done
