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
#   make profile KIND=dashboard        one kind; kinds: healthz home login dashboard profile api-pat signin pg-dashboard
#
# pg-dashboard runs a second server on PostgreSQL (a fresh database `gatehouse_profile` on the server .ci/postgres
# finds or starts) and samples it together with the PostgreSQL backends serving it, pinned to CPU 0 with it, as
# `make bench` pins them: the CPU per request and the table of whose code ran count both processes.
#   PROFILE_SECONDS=8 bench/profile.sh dashboard api-pat
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

all_kinds=(healthz home login dashboard profile api-pat signin pg-dashboard)
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
idp_port=$(free_port)
sqlite_port=$(free_port)
pg_port=$(free_port)
idp="http://127.0.0.1:$idp_port"

IDP_PORT=$idp_port \
  IDP_REDIRECT_URIS="http://127.0.0.1:$sqlite_port/auth/callback/dev,http://127.0.0.1:$pg_port/auth/callback/dev" \
  taskset -c 1 node end2end/idp/server.mjs >"$work/idp.log" 2>&1 &
pids+=($!)
wait_for "$idp/.well-known/openid-configuration" "the Dev IdP" "$work/idp.log"

# start_app PORT DATABASE_URL: a server pinned to CPU 0 on that database, with a signed-in person; sets app, app_pid,
# cookie, token and sampled (the processes sampled and whose CPU counts: the server, and PostgreSQL's backends).
start_app() {
  app="http://127.0.0.1:$1"
  env RATE_LIMIT_SIGN_IN=1000000/1s RATE_LIMIT_OAUTH=1000000/1s RATE_LIMIT_API=1000000/1s \
    APP_URL=$app DATABASE_URL="$2" LEPTOS_SITE_ADDR="127.0.0.1:$1" \
    LEPTOS_SITE_ROOT=target/site LEPTOS_ENV=PROD LOG_FORMAT=json DEV_IDP_URL=$idp \
    TOKIO_WORKER_THREADS=1 taskset -c 0 "$bin" >"$work/app-$1.log" 2>&1 &
  app_pid=$!
  pids+=("$app_pid")
  wait_for "$app/readyz" "Gatehouse" "$work/app-$1.log"
  read -r cookie token < <(signed_in "$app" "$idp" "$work/cookies-$1")
  sampled=("$app_pid")
}

# on_postgres: a second server on a fresh PostgreSQL database; its backends (the pool's connections, opened by a
# short load first) pinned to CPU 0 beside it and sampled with it.
on_postgres() {
  local admin
  admin=$(.ci/postgres)
  psql "$admin" -qc "DROP DATABASE IF EXISTS gatehouse_profile WITH (FORCE)" -c "CREATE DATABASE gatehouse_profile"
  start_app "$pg_port" "${admin%/*}/gatehouse_profile"
  taskset -c 1 wrk -t1 -c$connections -d2s -H "Cookie: $cookie" "$app/dashboard" >/dev/null
  local pid
  for pid in $(psql "${admin%/*}/gatehouse_profile" -tAc \
    "SELECT pid FROM pg_stat_activity WHERE application_name = 'gatehouse' AND datname = 'gatehouse_profile'"); do
    taskset -pc 0 "$pid" >/dev/null
    sampled+=("$pid")
  done
}

# sample KIND: perf over `seconds` while the load runs; prints the requests done per second.
sample() {
  local kind=$1 url header=""
  case $kind in
    healthz) url=$app/healthz ;;
    home) url=$app/ ;;
    login) url=$app/login ;;
    dashboard | pg-dashboard) url=$app/dashboard header="Cookie: $cookie" ;;
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
  perf record -q -e cpu-clock -F 2000 -g -p "$(IFS=,; echo "${sampled[*]}")" -o "target/profiling/$kind.perf.data" -- sleep "$seconds" 2>/dev/null
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

# The sampled processes' CPU time so far (user and system, all threads), in ms; sign-ins finished so far.
cpu_ms() {
  local pid
  for pid in "${sampled[@]}"; do cat "/proc/$pid/stat"; done |
    awk '{ t += $14 + $15 } END { print t * 1000 / '"$(getconf CLK_TCK)"' }'
}
done_so_far() { [ -f "$work/signins" ] && wc -l <"$work/signins" || echo 0; }

start_app "$sqlite_port" "sqlite://$work/gatehouse.db"
on_sqlite=("$app" "$app_pid" "$cookie" "$token")
mkdir -p bench/profiles
for kind in "${kinds[@]}"; do
  echo "profile: $kind" >&2
  if [ "$kind" = pg-dashboard ]; then
    on_postgres
  else
    app=${on_sqlite[0]} app_pid=${on_sqlite[1]} cookie=${on_sqlite[2]} token=${on_sqlite[3]} sampled=("$app_pid")
  fi
  read -r rate cost < <(sample "$kind")
  out=bench/profiles/$kind.txt
  {
    echo "# Profile: $kind"
    echo
    echo "$(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD)$(git diff --quiet -- src Cargo.toml 2>/dev/null || echo ' (with local changes)'); $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)."
    echo "Server pinned to CPU 0 (one tokio worker)$( [ "$kind" = pg-dashboard ] && echo ' with the PostgreSQL backends serving it (sampled with it)'), load on CPU 1; perf -e cpu-clock -F 2000 -g for ${seconds} s."
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
