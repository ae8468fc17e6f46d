#!/usr/bin/env bash
# Fuzzes the JSON API with schemathesis, driven by the OpenAPI document the server generates, against a throwaway
# Gatehouse with a token holding every scope (see with-token.sh). Fails on any 5xx, any answer whose status,
# content type or body breaks the document, or any error the server logs. Bounded by examples per operation.
#
#   make test-api-fuzz                 (builds, installs schemathesis, runs this)
#   FUZZ_EXAMPLES=500 end2end/api-fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_EXAMPLES=${FUZZ_EXAMPLES:-40}
echo "api-fuzz: schemathesis, $FUZZ_EXAMPLES examples per operation"
# The token travels only in the Authorization header; it lives one day on a database deleted afterwards.
end2end/with-token.sh sh -c '.tools/venv/bin/schemathesis run "$GATEHOUSE_URL/api/v1/openapi.json" \
  --url "$GATEHOUSE_URL" \
  --header "Authorization: Bearer $GATEHOUSE_TOKEN" \
  --checks not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance \
  --max-examples "$FUZZ_EXAMPLES" \
  --seed 20261123 \
  --request-timeout 10 \
  --no-color'
echo "api-fuzz: no server errors and no answer outside the OpenAPI document"
