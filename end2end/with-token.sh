#!/usr/bin/env bash
# Runs a command against a throwaway Gatehouse: GATEHOUSE_BIN (the release binary unless named; `make test-api-fuzz`
# names the one the Rust tests built) on a fresh SQLite file with the Dev IdP, signed in as the Dev IdP's default person, and a personal access token holding every scope. The command sees
#   GATEHOUSE_URL   the app's base URL          GATEHOUSE_TOKEN   the token (gth_…, lives one day)
#   GATEHOUSE_DB    the SQLite file (to check what the command did)
# and the run fails if the command fails or the server logs an error. Used by the API fuzzer and the API benchmark.
#
#   end2end/with-token.sh sh -c 'curl -H "Authorization: Bearer $GATEHOUSE_TOKEN" $GATEHOUSE_URL/api/v1/me'
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
app_port=${TOKEN_APP_PORT:-3020}
idp_port=${TOKEN_IDP_PORT:-3920}
app="http://127.0.0.1:$app_port"
idp="http://127.0.0.1:$idp_port"
bin=${GATEHOUSE_BIN:-target/release/gatehouse}
[ -x "$bin" ] || { echo "with-token: $bin is missing: run 'make build' first" >&2; exit 1; }
. end2end/lib.sh

IDP_PORT=$idp_port APP_URL=$app node end2end/idp/server.mjs >"$work/idp.log" 2>&1 &
pids+=($!)
wait_for "$idp/.well-known/openid-configuration" "the Dev IdP" "$work/idp.log"

# The fuzzer sends a few thousand calls a minute with one token, and hundreds of deliberately bad credentials: the
# API's rate limit stays on, set above that, and its address is never blocked.
APP_URL=$app DATABASE_URL="sqlite://$work/gatehouse.db" LEPTOS_SITE_ADDR="127.0.0.1:$app_port" \
  LEPTOS_SITE_ROOT=target/site LEPTOS_ENV=PROD RUST_LOG=warn LOG_FORMAT=json DEV_IDP_URL=$idp \
  RATE_LIMIT_API=100000/1m BLOCK_AFTER_FAILURES=0 PROVIDER_TOKENS=keep "$bin" >"$work/app.log" 2>&1 &
pids+=($!)
wait_for "$app/readyz" "Gatehouse" "$work/app.log"

# Sign in as a browser would (every redirect followed, cookies kept), then make a token with every scope. The Dev
# IdP's tokens are kept (PROVIDER_TOKENS=keep), so /api/v1/connections has a real connection to answer about.
jar="$work/cookies"
curl -fsS -L -c "$jar" -b "$jar" -o /dev/null "$app/auth/login/dev"
scopes='["profile:read","profile:write","sessions:read","sessions:write","audit:read","tokens:read","tokens:write","connections:token"]'
token=$(curl -fsS -b "$jar" -H "Origin: $app" -H 'Content-Type: application/json' \
  -d "{\"name\":\"with-token.sh\",\"scopes\":$scopes,\"expires_in_days\":1}" \
  "$app/api/v1/tokens" | python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])')

status=0
GATEHOUSE_URL=$app GATEHOUSE_TOKEN=$token GATEHOUSE_DB="$work/gatehouse.db" "$@" || status=$?
if grep -q '"level":"ERROR"' "$work/app.log"; then
  echo "with-token: the server logged errors:" >&2
  grep '"level":"ERROR"' "$work/app.log" >&2
  status=1
fi
exit "$status"
