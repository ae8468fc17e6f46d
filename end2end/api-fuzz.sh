#!/usr/bin/env bash
# Fuzzes the JSON API with schemathesis, driven by the OpenAPI document the server generates, against a throwaway
# Gatehouse with a token holding every scope (see with-token.sh). Fails on any 5xx, any answer whose status,
# content type or body breaks the document, or any error the server logs. Bounded by examples per operation.
#
#   make test-api-fuzz                 (builds, installs schemathesis, runs this)
#   FUZZ_EXAMPLES=500 end2end/api-fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_EXAMPLES=${FUZZ_EXAMPLES:-100}
echo "api-fuzz: schemathesis, $FUZZ_EXAMPLES examples per operation"
# The token travels only in the Authorization header; it lives one day on a database deleted afterwards.
# `DELETE /api/v1/tokens` (revoke all) would revoke the fuzzer's own token and end the run's coverage there: it is
# left out here, and tested in tests/api/bearer.rs.
end2end/with-token.sh sh -c 'set -e
.tools/venv/bin/schemathesis run "$GATEHOUSE_URL/api/v1/openapi.json" \
  --url "$GATEHOUSE_URL" \
  --exclude-operation-id revoke_all_tokens \
  --header "Authorization: Bearer $GATEHOUSE_TOKEN" \
  --checks not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance \
  --max-examples "$FUZZ_EXAMPLES" \
  --seed 20261123 \
  --generation-database none \
  --request-timeout 10 \
  --no-color
# A fuzzer whose every request was refused would pass too: make sure it got through, as a person changing things.
python3 - "$GATEHOUSE_DB" <<"PY"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
counts = dict(db.execute("SELECT kind, COUNT(*) FROM audit_events GROUP BY kind").fetchall())
print("api-fuzz: audit events written by the run:", counts)
missing = [k for k in ("profile_updated", "token_created") if counts.get(k, 0) < 2]
sys.exit(f"api-fuzz: the fuzzer never got past authentication for {missing}" if missing else 0)
PY'
echo "api-fuzz: no server errors and no answer outside the OpenAPI document"
