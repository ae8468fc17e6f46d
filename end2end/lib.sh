# Shared by the scripts that run throwaway servers (end2end/with-token.sh, bench/run.sh): a work folder, the
# processes started, and their cleanup on exit. Source it; it sets $work and $pids and installs the EXIT trap.

work=$(mktemp -d)
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # A failed run keeps the servers' logs, which say why.
  if [ "$status" != 0 ] && compgen -G "$work/*.log" >/dev/null; then
    local kept="${TMPDIR:-/tmp}/${0##*/}-logs"
    rm -rf "$kept" && mkdir -p "$kept" && cp "$work"/*.log "$kept"/
    echo "${0##*/}: the servers' logs are kept in $kept" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# wait_for URL WHAT LOG: until URL answers 2xx (30 s at most); otherwise show LOG and fail.
wait_for() {
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "${0##*/}: $2 did not start; its log:" >&2
  cat "$3" >&2
  exit 1
}

# A TCP port nothing listens on right now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
