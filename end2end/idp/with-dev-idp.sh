#!/usr/bin/env bash
# Runs a command (the server, or `cargo leptos watch`) with the Dev IdP beside it, when no other sign-in provider is
# configured in the environment or in .env, and APP_URL is not https. Otherwise runs the command alone.
#   end2end/idp/with-dev-idp.sh ./target/release/gatehouse
set -euo pipefail
cd "$(dirname "$0")/../.."

from_env_file() { [ -f .env ] && sed -n "s/^$1=//p" .env | tail -n 1 || true; }
setting() { local value="${!1:-}"; [ -n "$value" ] && echo "$value" || from_env_file "$1"; }

app_url=$(setting APP_URL)
app_url=${app_url:-http://127.0.0.1:3000}
for var in OIDC_CLIENT_ID GOOGLE_CLIENT_ID GITHUB_CLIENT_ID DEV_IDP_URL; do
  if [ -n "$(setting "$var")" ]; then exec "$@"; fi
done
if [[ $app_url == https://* ]]; then
  echo "dev idp: not started (APP_URL is https; the Dev IdP is for local testing only)" >&2
  exec "$@"
fi

port=${DEV_IDP_PORT:-3900}
APP_URL=$app_url IDP_PORT=$port node end2end/idp/server.mjs &
idp=$!
trap 'kill "$idp" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 100); do
  curl -fs -o /dev/null "http://127.0.0.1:$port/.well-known/openid-configuration" && break
  kill -0 "$idp" 2>/dev/null || { echo "dev idp: failed to start" >&2; exit 1; }
  sleep 0.1
done
echo "dev idp: sign in at $app_url/login with \"Dev IdP (local testing only)\"" >&2
DEV_IDP_URL="http://127.0.0.1:$port" "$@"
