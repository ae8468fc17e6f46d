#!/usr/bin/env bash
# Runs a command with a local mail catcher (maildev: SMTP plus a web inbox) beside it when no SMTP_URL is set in the
# environment or in .env, and APP_URL is not https; the command gets SMTP_URL pointing at it. Otherwise runs the
# command alone.
#   end2end/mail/with-maildev.sh end2end/idp/with-dev-idp.sh ./target/release/gatehouse
set -euo pipefail
cd "$(dirname "$0")/../.."

from_env_file() { [ -f .env ] && sed -n "s/^$1=//p" .env | tail -n 1 || true; }
setting() { local value="${!1:-}"; [ -n "$value" ] && echo "$value" || from_env_file "$1"; }

app_url=$(setting APP_URL)
if [ -n "$(setting SMTP_URL)" ] || [[ ${app_url:-} == https://* ]] || [ "$(setting PASSWORD_LOGIN)" = false ]; then
  exec "$@"
fi

smtp=${MAILDEV_SMTP_PORT:-1025}
web=${MAILDEV_WEB_PORT:-1080}
end2end/node_modules/.bin/maildev --smtp "$smtp" --web "$web" --ip 127.0.0.1 --web-ip 127.0.0.1 >/dev/null &
catcher=$!
trap 'kill "$catcher" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 100); do
  curl -fs -o /dev/null "http://127.0.0.1:$web/api/healthz" && break
  kill -0 "$catcher" 2>/dev/null || { echo "mail: maildev failed to start (is port $smtp or $web taken?)" >&2; exit 1; }
  sleep 0.1
done
echo "mail: Gatehouse's mail (address confirmations, password resets) arrives at http://127.0.0.1:$web" >&2
SMTP_URL="smtp://127.0.0.1:$smtp" "$@"
