#!/usr/bin/env bash
# Starts Azurite and a silo on loopback, runs the client demo, and keeps serving until Ctrl-C.
#   ./run.sh          serve after the demo
#   ./run.sh --once   exit after the demo (0 when it succeeded)
set -euo pipefail
cd "$(dirname "$0")"
source scripts/common.sh

once=false
for arg in "$@"; do
  case "$arg" in
    --once) once=true ;;
    -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

ensure_installed
echo "Building..."
quietly dotnet build Orleans.Leases.sln -c Release --no-restore
start_azurite .azurite

SILO_PID=""
trap 'stop_started $SILO_PID' EXIT
echo "Starting the silo (gateway 127.0.0.1:30000)..."
dotnet Silo/bin/Release/net10.0/Orleans.Leases.Silo.dll >silo.log 2>&1 &
SILO_PID=$!
if ! wait_for_port 30000 60 "$SILO_PID"; then
  echo "The silo did not start; see silo.log:" >&2
  tail -5 silo.log >&2
  exit 1
fi

dotnet ClientApp/bin/Release/net10.0/Orleans.Leases.ClientApp.dll demo

if ! $once; then
  echo "Serving: silo gateway on 127.0.0.1:30000, Azurite on 127.0.0.1:10000. Ctrl-C to stop."
  wait "$SILO_PID"
fi
