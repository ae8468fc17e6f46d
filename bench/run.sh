#!/usr/bin/env bash
# make bench: Gatehouse side by side with a bare axum "hello" server, in the same run, on this machine.
#
# Both servers are release builds pinned to CPU 0 with one tokio worker; wrk (-t1 -c64, --latency) is pinned to CPU 1,
# and so are the Dev IdP and the sign-in driver. Each round measures every row once, hello included, so every ratio
# compares figures taken minutes apart at most; the table shows the median of the rounds. Writes bench/results.md.
#
#   bench/run.sh                      (after `make build`; `make bench` does both)
#   BENCH_ROUNDS=3 BENCH_DURATION=10s BENCH_SIGNINS=300 BENCH_SESSIONS=10000 bench/run.sh
#   BENCH_ONLY="login login-passkeys" bench/run.sh   a quick look at some rows (hello and /healthz always run): their
#                                                   table on the terminal; no memory or audit figures, and
#                                                   bench/results.md and the floors are left alone; `signin` among
#                                                   them adds the sign-in's CPU
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

rounds=${BENCH_ROUNDS:-3}
duration=${BENCH_DURATION:-10s}
signins=${BENCH_SIGNINS:-300}
sessions=${BENCH_SESSIONS:-10000}
connections=64
results=bench/results.md

[ -x target/release/gatehouse ] || { echo "bench: run 'make build' first" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "bench: needs two CPUs (server on one, load generator on the other)" >&2; exit 1; }
. bench/lib.sh
need wrk wrk
echo "bench: building the hello baseline (bench/hello)" >&2
cargo build --release --locked --quiet --manifest-path bench/hello/Cargo.toml --target-dir target/bench-hello
hello_bin=target/bench-hello/release/hello

. end2end/lib.sh
hello_port=$(free_port)
app_port=$(free_port)
off_port=$(free_port)
pk_port=$(free_port)
pg_app_port=$(free_port)
idp_port=$(free_port)
hello="http://127.0.0.1:$hello_port"
app="http://127.0.0.1:$app_port"
off="http://127.0.0.1:$off_port"
pkapp="http://127.0.0.1:$pk_port"
pgapp="http://127.0.0.1:$pg_app_port"
idp="http://127.0.0.1:$idp_port"

TOKIO_WORKER_THREADS=1 taskset -c 0 "$hello_bin" "127.0.0.1:$hello_port" >"$work/hello.log" 2>&1 &
pids+=($!)
wait_for "$hello/" "hello" "$work/hello.log"

IDP_PORT=$idp_port IDP_REDIRECT_URIS="$app/auth/callback/dev,$pgapp/auth/callback/dev" \
  taskset -c 1 node end2end/idp/server.mjs >"$work/idp.log" 2>&1 &
pids+=($!)
wait_for "$idp/.well-known/openid-configuration" "the Dev IdP" "$work/idp.log"

# The rate limits stay on, set out of reach: every request pays for its check, none is refused (the sign-in rows
# alone start thousands of sign-ins from this one address).
limits_on="RATE_LIMIT_SIGN_IN=1000000/1s RATE_LIMIT_OAUTH=1000000/1s RATE_LIMIT_API=1000000/1s"
# The app's access tokens of the OAuth rows last an hour (the longest allowed), so they outlive the run.
env $limits_on OAUTH_ACCESS_TOKEN_LIFETIME=1h APP_URL=$app DATABASE_URL="sqlite://$work/gatehouse.db" LEPTOS_SITE_ADDR="127.0.0.1:$app_port" \
  LEPTOS_SITE_ROOT=target/site LEPTOS_ENV=PROD RUST_LOG=warn LOG_FORMAT=json DEV_IDP_URL=$idp \
  TOKIO_WORKER_THREADS=1 taskset -c 0 target/release/gatehouse >"$work/app.log" 2>&1 &
app_pid=$!
pids+=("$app_pid")
wait_for "$app/readyz" "Gatehouse" "$work/app.log"

# What the limits cost: a second instance on the same SQLite file with the API's limit off (the same token works on
# both), whose sign-in limit is one an hour, so that row measures how fast a refusal (429) is answered.
APP_URL=$off DATABASE_URL="sqlite://$work/gatehouse.db" LEPTOS_SITE_ADDR="127.0.0.1:$off_port" \
  LEPTOS_SITE_ROOT=target/site LEPTOS_ENV=PROD RUST_LOG=warn LOG_FORMAT=json DEV_IDP_URL=$idp \
  RATE_LIMIT_API=off RATE_LIMIT_SIGN_IN=1/1h \
  TOKIO_WORKER_THREADS=1 taskset -c 0 target/release/gatehouse >"$work/offapp.log" 2>&1 &
pids+=($!)
wait_for "$off/readyz" "Gatehouse without API limits" "$work/offapp.log"
curl -sS -o /dev/null "$off/auth/login/dev" # uses up its one sign-in start: from here on every start is refused

# Passkeys on: the same release advertising http://localhost (browsers refuse passkeys on an IP address), on the same
# SQLite file. Its row asks at 127.0.0.1 with the Host a browser at localhost sends (a request naming the IP address
# would be redirected to localhost), so /login is measured with its passkey button, autofill field and script tag.
env $limits_on APP_URL="http://localhost:$pk_port" DATABASE_URL="sqlite://$work/gatehouse.db" \
  LEPTOS_SITE_ADDR="127.0.0.1:$pk_port" LEPTOS_SITE_ROOT=target/site LEPTOS_ENV=PROD RUST_LOG=warn LOG_FORMAT=json \
  DEV_IDP_URL=$idp TOKIO_WORKER_THREADS=1 taskset -c 0 target/release/gatehouse >"$work/pkapp.log" 2>&1 &
pids+=($!)
wait_for "$pkapp/readyz" "Gatehouse with passkeys" "$work/pkapp.log"
curl -fsS -H "Host: localhost:$pk_port" "$pkapp/login" | grep -q 'data-passkey="sign-in"' ||
  { echo "bench: /login at localhost shows no passkey button" >&2; exit 1; }

# The same release on PostgreSQL (a fresh database `gatehouse_bench` on the server .ci/postgres finds or starts),
# beside the SQLite one, pinned the same way. PostgreSQL's own processes serving it are pinned to CPU 0 too, after a
# warm-up opened the pool's connections, so the database's work counts on the server's side, as SQLite's does.
pg_admin=$(.ci/postgres)
psql "$pg_admin" -qc "DROP DATABASE IF EXISTS gatehouse_bench WITH (FORCE)" -c "CREATE DATABASE gatehouse_bench"
env $limits_on APP_URL=$pgapp DATABASE_URL="${pg_admin%/*}/gatehouse_bench" LEPTOS_SITE_ADDR="127.0.0.1:$pg_app_port" \
  LEPTOS_SITE_ROOT=target/site LEPTOS_ENV=PROD RUST_LOG=warn LOG_FORMAT=json DEV_IDP_URL=$idp \
  TOKIO_WORKER_THREADS=1 taskset -c 0 target/release/gatehouse >"$work/pgapp.log" 2>&1 &
pg_app_pid=$!
pids+=("$pg_app_pid")
wait_for "$pgapp/readyz" "Gatehouse on PostgreSQL" "$work/pgapp.log"

# One signed-in person for the page rows (a fresh account: one session, one token, a short activity list), on each.
read -r cookie token < <(signed_in "$app" "$idp" "$work/cookies")
read -r pg_cookie pg_token < <(signed_in "$pgapp" "$idp" "$work/pgcookies")

# An app the person authorized, as apps get their tokens (code + PKCE, then /oauth/token): an access token (an
# ES256 JWT) for the API and introspection rows, and a pool of refresh tokens for the refresh row, each used once —
# every answer's new refresh token goes back into the pool (rotation; a token used twice would end the
# authorization and fail the row).
app_client=$(DATABASE_URL="sqlite://$work/gatehouse.db" target/release/gatehouse clients add --name "Bench app" \
  --redirect-uri http://127.0.0.1/bench-callback --scope "openid profile:read offline_access")
# Each round's run ends with up to one request per connection in flight, whose new refresh tokens are lost: the pool
# starts with enough for every round, and each run writes what is left of it back for the next.
read -r client_id client_secret app_jwt < <(taskset -c 1 python3 bench/app_tokens.py "$app" "$cookie" "$app_client" \
  $(( connections * (rounds + 1) + 16 )) "$work/refresh-tokens")
app_basic="Authorization: Basic $(printf '%s:%s' "$client_id" "$client_secret" | base64 -w0)"
cat >"$work/refresh.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local threads = {}
function setup(thread) table.insert(threads, thread) end
pool = {}
function init(args)
  for line in io.lines("$work/refresh-tokens") do table.insert(pool, line) end
end
function done(summary, latency, requests)
  local left = io.open("$work/refresh-tokens", "w")
  for _, thread in ipairs(threads) do
    for _, token in ipairs(thread:get("pool")) do left:write(token, "\n") end
  end
  left:close()
end
function request()
  local token = table.remove(pool) or "the-pool-ran-dry"
  return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. token)
end
function response(status, headers, body)
  local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if token then table.insert(pool, token) end
end
LUA
cat >"$work/introspect.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "token=$app_jwt"
LUA
taskset -c 1 wrk -t1 -c$connections -d2s -H "Cookie: $pg_cookie" "$pgapp/dashboard" >/dev/null
for pid in $(psql "${pg_admin%/*}/gatehouse_bench" -tAc \
  "SELECT pid FROM pg_stat_activity WHERE application_name = 'gatehouse' AND datname = 'gatehouse_bench'"); do
  taskset -pc 0 "$pid" >/dev/null
done

# key|name|url|header (empty: none)|expected answer (empty: 2xx/3xx; 429: every answer a refusal)|wrk script (empty:
# GET). The key names the row in bench/floors.
rows=(
  "hello|bare axum hello (baseline)|$hello/|"
  "healthz|\`GET /healthz\`|$app/healthz|"
  "home|anonymous \`GET /\`|$app/|"
  "login|anonymous \`GET /login\`|$app/login|"
  "login-passkeys|anonymous \`GET /login\`, passkeys on (\`APP_URL\` at localhost)|$pkapp/login|Host: localhost:$pk_port"
  "dashboard|signed-in \`GET /dashboard\`|$app/dashboard|Cookie: $cookie"
  "profile|signed-in \`GET /profile\`|$app/profile|Cookie: $cookie"
  "api-pat|\`GET /api/v1/me\` with a personal access token|$app/api/v1/me|Authorization: Bearer $token"
  "api-session|\`GET /api/v1/me\` with a session cookie|$app/api/v1/me|Cookie: $cookie"
  "api-pat-unlimited|\`GET /api/v1/me\` with a personal access token, API rate limit off|$off/api/v1/me|Authorization: Bearer $token"
  "refused|\`GET /auth/login/dev\` over the sign-in rate limit (429)|$off/auth/login/dev||429"
  "api-jwt|\`GET /api/v1/me\` with an app's access token (ES256 JWT)|$app/api/v1/me|Authorization: Bearer $app_jwt"
  "oauth-refresh|\`POST /oauth/token\`, refresh grant (a new refresh token each time)|$app/oauth/token|$app_basic||$work/refresh.lua"
  "oauth-introspect|\`POST /oauth/introspect\` of an app's access token|$app/oauth/introspect|$app_basic||$work/introspect.lua"
  "pg-dashboard|signed-in \`GET /dashboard\`, PostgreSQL|$pgapp/dashboard|Cookie: $pg_cookie"
  "pg-api-pat|\`GET /api/v1/me\` with a personal access token, PostgreSQL|$pgapp/api/v1/me|Authorization: Bearer $pg_token"
)

# For a row that failed: wrk again, counting the answers by status, so the failure says which statuses it got. (Not
# used for the measured runs: a Lua callback per response would slow the load generator.)
cat >"$work/status.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) codes = {} end
function response(status, headers, body) codes[status] = (codes[status] or 0) + 1 end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    for status, count in pairs(t:get("codes")) do io.write(string.format("status %s: %d\n", status, count)) end
  end
end
LUA

# measure URL HEADER [429] [SCRIPT] -> "rps p99_ms"; refuses a run with any non-2xx/3xx answer or socket error (with
# 429: a run in which any answer was not a refusal).
measure() {
  local url=$1 header=$2 expect=${3:-} script=${4:-} out
  local -a with=()
  [ -n "$header" ] && with+=(-H "$header")
  [ -n "$script" ] && with+=(-s "$script")
  out=$(taskset -c 1 wrk -t1 -c$connections -d"$duration" --latency "${with[@]}" "$url")
  local bad
  if [ "$expect" = 429 ]; then
    # Every answer must be a refusal: as many non-2xx/3xx answers as requests, and no socket errors.
    bad=$(awk '/requests in/ { n = $1 } /Non-2xx/ { r = $NF } /Socket errors/ { e = 1 } END { print (e || r != n) ? 1 : 0 }' <<<"$out")
  else
    bad=$(grep -qE 'Non-2xx|Socket errors' <<<"$out" && echo 1 || echo 0)
  fi
  if [ "$bad" = 1 ]; then
    echo "bench: $url answered with errors:" >&2
    echo "$out" >&2
    # The status-counting script replaces the row's own, so a row with a script of its own (a POST) is not re-run:
    # as a GET it would only count 405s.
    if [ -z "$script" ]; then
      echo "bench: the same again, counting the statuses:" >&2
      taskset -c 1 wrk -t1 -c$connections -d"$duration" -s "$work/status.lua" ${header:+-H "$header"} "$url" >&2 || true
    fi
    exit 1
  fi
  awk '
    /Requests\/sec/ { rps = $2 }
    $1 == "99%" {
      v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
      p99 = (unit == "us") ? v / 1000 : (unit == "s") ? v * 1000 : (unit == "m") ? v * 60000 : v
    }
    END { printf "%s %.2f\n", rps, p99 }' <<<"$out"
}

# Full OIDC sign-ins of a returning person through the Dev IdP (login start, the IdP, the callback's code exchange,
# ID-token checks and new session): sign-ins per second, and the app's own CPU time per sign-in, from /proc.
# Sets signin_rate, signin_cpu and done_count.
cpu_ms() { awk '{ print ($14 + $15) * 1000 / '"$(getconf CLK_TCK)"' }' "/proc/$app_pid/stat"; }
measure_signins() {
  taskset -c 1 python3 bench/signin.py "$app" "$idp" 1 1 same:e2e-bench-returning "$work/cookies" >/dev/null
  local before after seconds
  before=$(cpu_ms)
  read -r done_count seconds < <(taskset -c 1 python3 bench/signin.py "$app" "$idp" "$signins" 4 same:e2e-bench-returning "$work/cookies")
  after=$(cpu_ms)
  signin_rate=$(awk -v n="$done_count" -v s="$seconds" 'BEGIN { printf "%.0f", n / s }')
  signin_cpu=$(awk -v a="$after" -v b="$before" -v n="$done_count" 'BEGIN { printf "%.2f", (a - b) / n }')
}

# BENCH_ONLY: the rows named, after hello and /healthz (which every ratio needs).
if [ -n "${BENCH_ONLY:-}" ]; then
  kept=()
  for row in "${rows[@]}"; do
    key=${row%%|*}
    case " hello healthz $BENCH_ONLY " in *" $key "*) kept+=("$row") ;; esac
  done
  rows=("${kept[@]}")
fi

for round in $(seq "$rounds"); do
  for i in "${!rows[@]}"; do
    IFS='|' read -r _ name url header expect script <<<"${rows[$i]}"
    echo "bench: round $round/$rounds: $name" >&2
    read -r rps p99 < <(measure "$url" "$header" "$expect" "$script")
    echo "$i $round $rps $p99" >>"$work/samples"
  done
done

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# A row's medians: `column ROW N` of the samples (3: req/s, 4: p99); `per_round ROW BASE`: its ratio to row BASE
# (hello is 0), taken per round against that round's BASE, then the median of those.
column() { awk -v i="$1" -v c="$2" '$1 == i { print $c }' "$work/samples" | median; }
per_round() {
  awk -v i="$1" -v base="$2" '$1 == base { h[$2] = $3 } $1 == i { r[$2] = $3 } END { for (k in r) print r[k] / h[k] }' \
    "$work/samples" | median
}
if [ -n "${BENCH_ONLY:-}" ]; then
  echo "| request | req/s | p99 | ÷ bare axum hello |"
  echo "|---|---:|---:|---:|"
  for i in "${!rows[@]}"; do
    IFS='|' read -r _ name _ <<<"${rows[$i]}"
    printf '| %s | %.0f | %s ms | %.3f |\n' "$name" "$(column "$i" 3)" "$(column "$i" 4)" "$(per_round "$i" 0)"
  done
  case " $BENCH_ONLY " in
    *" signin "*)
      measure_signins
      echo "| Gatehouse CPU per sign-in ($done_count sign-ins, $signin_rate per second) | | | $signin_cpu ms |" ;;
  esac
  exit 0
fi

measure_signins

# RSS with many live sessions of different people, each used once since it was made (so the session cache holds
# every one of them).
live=$(wc -l <"$work/cookies")
if [ "$sessions" -gt "$live" ]; then
  echo "bench: signing in until $sessions sessions are live" >&2
  taskset -c 1 python3 bench/signin.py "$app" "$idp" $(( sessions - live )) 4 new:1 "$work/cookies" >/dev/null
fi
live=$(wc -l <"$work/cookies")
rss=$(awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$app_pid/status")
# Of it, pages of mapped files (the binary, and the SQLite file: PRAGMA mmap_size maps it) rather than the heap.
rss_file=$(awk '/RssFile/ { printf "%.1f", $2 / 1024 }' "/proc/$app_pid/status")

# What a first visit downloads: the page and every asset it references (stylesheet, JS, WASM, icon), compressed as
# the server sends them to a browser that accepts brotli.
first_visit() { # first_visit PATH [HEADER] [SERVER] -> bytes
  local path=$1 header=${2:-} server=${3:-$app} page total asset
  local -a with=(-H 'Accept-Encoding: br, gzip')
  [ -n "$header" ] && with+=(-H "$header")
  page=$(curl -fsS ${header:+-H "$header"} "$server$path")
  total=$(curl -fsS -o /dev/null -w '%{size_download}' "${with[@]}" "$server$path")
  for asset in $(grep -oE '/(pkg/[^"'"'"' )]+|favicon\.svg|passkey\.js)' <<<"$page" | sort -u); do
    total=$(( total + $(curl -fsS -o /dev/null -w '%{size_download}' "${with[@]}" "$server$asset") ))
  done
  echo "$total"
}
login_bytes=$(first_visit /login)
login_passkeys_bytes=$(first_visit /login "Host: localhost:$pk_port" "$pkapp")
dashboard_bytes=$(first_visit /dashboard "Cookie: $cookie")
wasm=target/site/pkg/gatehouse.wasm
js=target/site/pkg/gatehouse.js
sizes() { echo "$(stat -c %s "$1") $(gzip -9 -c "$1" | wc -c) $( [ -f "$1.br" ] && stat -c %s "$1.br" || echo 0)"; }
read -r wasm_raw wasm_gz wasm_br < <(sizes "$wasm")
read -r js_raw js_gz js_br < <(sizes "$js")

for log in "$work/app.log" "$work/offapp.log" "$work/pkapp.log" "$work/pgapp.log"; do
  if grep -q '"level":"ERROR"' "$log"; then
    echo "bench: the server logged errors ($log):" >&2
    grep '"level":"ERROR"' "$log" >&2
    exit 1
  fi
done

# What the audit hash chain costs each event (benches/audit_chain.rs): a chained append beside a plain INSERT of the
# same row, each in a write transaction of its own, on a SQLite file and on PostgreSQL, pinned to CPU 0; and what
# checking the whole chain costs each event.
echo "bench: the audit chain's cost per event" >&2
cargo bench --features ssr --locked --quiet --bench audit_chain --no-run
psql "$pg_admin" -qc "DROP DATABASE IF EXISTS gatehouse_bench_audit WITH (FORCE)" -c "CREATE DATABASE gatehouse_bench_audit"
audit_cost=$(BENCH_POSTGRES_URL="${pg_admin%/*}/gatehouse_bench_audit" taskset -c 0 \
  cargo bench --features ssr --locked --quiet --bench audit_chain -- 1000 2>/dev/null | grep '^audit \(append\|verify\)')

# The machine's kind: its CPU's name, and whether it has AVX-512 (two kinds that both call themselves "AMD EPYC" differ
# by that, and every ratio to hello with it: the hello server gains more from a wider memcpy than Gatehouse does).
machine="$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(grep -qw avx512f /proc/cpuinfo && echo AVX-512 || echo no AVX-512)"
for i in "${!rows[@]}"; do [ "${rows[$i]%%|*}" = healthz ] && healthz_row=$i; done
{
  echo "# Gatehouse benchmark"
  echo
  echo "$(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet -- . ':!bench/results.md' 2>/dev/null || echo ' (with local changes)'), $(nproc) CPUs: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)."
  echo "Servers pinned to CPU 0 with one tokio worker; \`wrk -t1 -c$connections -d$duration\` pinned to CPU 1; $rounds rounds, medians."
  echo "Reproduce: \`make bench\` (or \`bench/run.sh\` after \`make build\`)."
  echo
  echo "Machine kind (what the floors against hello are kept per): $machine."
  echo
  echo "| request | req/s | p99 | ÷ bare axum hello | ÷ \`/healthz\` |"
  echo "|---|---:|---:|---:|---:|"
  for i in "${!rows[@]}"; do
    IFS='|' read -r key name _ <<<"${rows[$i]}"
    rps=$(column "$i" 3)
    p99=$(column "$i" 4)
    ratio=$(per_round "$i" 0)
    relative=$(per_round "$i" "$healthz_row")
    printf '| %s | %s | %s ms | %s | %s |\n' "$name" "$(printf '%.0f' "$rps")" "$p99" "$(printf '%.3f' "$ratio")" \
      "$(printf '%.3f' "$relative")"
    echo "$key $ratio $p99 $relative" >>"$work/ratios"
  done
  echo
  echo "| sign-in and memory | figure |"
  echo "|---|---:|"
  echo "| full OIDC sign-ins of a returning person through the Dev IdP (4 at a time, $done_count in all) | $signin_rate per second |"
  echo "| Gatehouse CPU per sign-in (from /proc, the Dev IdP not counted) | $signin_cpu ms |"
  echo "| RSS with $live live sessions, each used once | $rss MB |"
  echo "| … of it, pages of mapped files (the binary, the SQLite file) | $rss_file MB |"
  echo
  echo "| the audit hash chain (\`cargo bench --bench audit_chain\`, 1,000 events × 5 rounds, medians) |"
  echo "|---|"
  sed 's/^/| /; s/$/ |/' <<<"$audit_cost"
  echo
  kb() { awk -v b="$1" 'BEGIN { printf "%.1f KB", b / 1024 }'; }
  echo "| browser download | raw | gzip -9 | brotli, as served |"
  echo "|---|---:|---:|---:|"
  echo "| WASM, whole app | $(kb "$wasm_raw") | $(kb "$wasm_gz") | $(kb "$wasm_br") |"
  echo "| JS glue | $(kb "$js_raw") | $(kb "$js_gz") | $(kb "$js_br") |"
  echo "| first visit to \`/login\` (page, CSS, JS, WASM, icon, compressed as served) | | | $(kb "$login_bytes") |"
  echo "| … with passkeys on (the same, and \`/passkey.js\`) | | | $(kb "$login_passkeys_bytes") |"
  echo "| first visit to \`/dashboard\`, signed in | | | $(kb "$dashboard_bytes") |"
} >"$results"
cat "$results"

# The floors (bench/floors): every row at or above its ratio to /healthz of the same run (and, where one is set, under
# its p99), /healthz at or above its ratio to hello on this kind of machine, the sign-in under its CPU, the memory
# under its ceiling. A row below its floor fails the run, by name.
signin_key="signin-cpu-ms"
echo "$signin_key $signin_cpu" >>"$work/ratios"
echo "rss-mb $rss" >>"$work/ratios"
python3 bench/check_floors.py bench/floors "$work/ratios" "$machine"
