# Shared by bench/run.sh and bench/profile.sh (source it after end2end/lib.sh): a signed-in person with a token.

# signed_in APP IDP COOKIES -> "cookie token": a fresh Dev IdP account signed in once (one session, one personal
# access token with every scope, a short activity list), its cookie appended to COOKIES.
signed_in() {
  local scopes='["profile:read","profile:write","sessions:read","sessions:write","audit:read","tokens:read","tokens:write"]'
  : >"$3"
  taskset -c 1 python3 bench/signin.py "$1" "$2" 1 1 new:0 "$3" >/dev/null
  local cookie="gatehouse_session=$(head -n1 "$3")"
  echo "$cookie" "$(curl -fsS -H "Cookie: $cookie" -H "Origin: $1" -H 'Content-Type: application/json' \
    -d "{\"name\":\"bench\",\"scopes\":$scopes,\"expires_in_days\":1}" \
    "$1/api/v1/tokens" | python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])')"
}

# need COMMAND PACKAGE: installs Debian's PACKAGE when COMMAND is missing.
need() {
  command -v "$1" >/dev/null && return 0
  echo "${0##*/}: installing $2 (Debian package)" >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq "$2" >/dev/null; else sudo apt-get install -y -qq "$2" >/dev/null; fi
}
