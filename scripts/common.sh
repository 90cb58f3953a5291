# Shared by run.sh and test.sh: install what is missing, start and stop Azurite.

AZURITE_PID=""

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for_port PORT SECONDS [PID]: waits until PORT accepts connections; fails early if PID exits.
wait_for_port() {
  local deadline=$((SECONDS + $2))
  until port_open "$1"; do
    if [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; then return 1; fi
    if [ "$SECONDS" -ge "$deadline" ]; then return 1; fi
    sleep 0.2
  done
}

ensure_installed() {
  command -v dotnet >/dev/null || { echo "The .NET 10 SDK is required: https://dot.net" >&2; exit 1; }
  command -v npm >/dev/null || { echo "Node.js (with npm) is required for Azurite." >&2; exit 1; }
  if [ ! -x node_modules/.bin/azurite ]; then
    echo "Installing Azurite (npm ci)..."
    npm ci --no-audit --no-fund --loglevel=error
  fi
  echo "Restoring .NET packages..."
  quietly dotnet restore Orleans.Leases.sln
}

# quietly CMD...: runs CMD, showing its output only if it fails.
quietly() {
  local log
  log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

# start_azurite MODE: MODE is "memory" (tests) or a data folder. Reuses an Azurite already listening.
start_azurite() {
  if port_open 10000; then
    echo "Using the Azurite already listening on 127.0.0.1:10000."
    return
  fi
  local storage=(--inMemoryPersistence)
  if [ "$1" != memory ]; then mkdir -p "$1"; storage=(--location "$1"); fi
  echo "Starting Azurite on 127.0.0.1:10000-10002..."
  node_modules/.bin/azurite --silent --skipApiVersionCheck --loose \
    --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 "${storage[@]}" \
    >azurite.log 2>&1 &
  AZURITE_PID=$!
  if ! wait_for_port 10000 30 "$AZURITE_PID"; then
    echo "Azurite did not start; see azurite.log:" >&2
    tail -5 azurite.log >&2
    exit 1
  fi
}

# stop_started PID...: stops what this script started (and its Azurite); whatever ignores SIGTERM for 10 s is killed
# (Azurite sometimes does).
stop_started() {
  local pid
  for pid in "$@" "$AZURITE_PID"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  return 0
}
