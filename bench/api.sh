#!/usr/bin/env bash
# Throughput of the token-protected API: GET /api/v1/me with a personal access token (hash lookup, scope check, a
# user read), next to /healthz for scale. Run after `make build`:   bench/api.sh   (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench: wrk is needed (apt-get install wrk)" >&2; exit 1; }
end2end/with-token.sh sh -c '
  for path in /healthz /api/v1/me; do
    rps=$(wrk -t2 -c16 -d10s -H "Authorization: Bearer $GATEHOUSE_TOKEN" "$GATEHOUSE_URL$path" | awk "/Requests\/sec/ { print \$2 }")
    echo "throughput GET $path with a token (wrk -t2 -c16 -d10s): $rps req/s"
  done
  bad=$(wrk -t2 -c16 -d5s -H "Authorization: Bearer gth_not_a_real_token" "$GATEHOUSE_URL/api/v1/me" | awk "/Requests\/sec/ { print \$2 }")
  echo "throughput GET /api/v1/me refused (malformed token, wrk -t2 -c16 -d5s): $bad req/s"
'
