#!/usr/bin/env bash
# Starts Azurite and silos on loopback, runs the client demo against them, and keeps serving until Ctrl-C.
#   ./run.sh              one silo (Localhost clustering), serve after the demo
#   ./run.sh --once       exit after the demo (0 when it succeeded)
#   ./run.sh --silos N    N silos (1-9) in one cluster; N > 1 uses Azure Table membership on Azurite
# Silo i listens on 11111+i (silo), 30000+i (gateway) and 127.0.0.1:8080+i (dashboard, /metrics). Each runs under a
# supervisor that restarts it when it exits; its pid is in .run/silo-<i>.pid, its log in .run/silo-<i>.log.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/common.sh

once=false
silos=1
while [ $# -gt 0 ]; do
  case "$1" in
    --once) once=true ;;
    --silos) silos="${2:-}"; if [ $# -gt 1 ]; then shift; fi ;;
    --silos=*) silos="${1#--silos=}" ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
if ! [[ "$silos" =~ ^[1-9]$ ]]; then echo "--silos must be 1-9, not '$silos'" >&2; exit 2; fi

# The client started here (and any client given these variables) joins the same cluster as the silos.
if [ "$silos" -gt 1 ]; then export Cluster__Clustering=AzureTable; fi
export Cluster__Clustering="${Cluster__Clustering:-Localhost}"
export Cluster__ClusterId="${Cluster__ClusterId:-leases}"
export Cluster__ServiceId="${Cluster__ServiceId:-orleans-leases}"
# Every silo started here runs this build, so inline batches are safe to turn on (see the README's Configuration).
export Leases__InlineWriteMaxBytes="${Leases__InlineWriteMaxBytes:-4096}"
export Cluster__ConnectionString="${Cluster__ConnectionString:-UseDevelopmentStorage=true}"
if [ "$Cluster__Clustering" = Localhost ]; then export Cluster__GatewayPort=30000; fi

ensure_installed
echo "Building..."
quietly dotnet build Orleans.Leases.sln -c Release --no-restore
start_azurite .azurite

RUN=.run
mkdir -p "$RUN"
rm -f "$RUN"/silo-*.pid "$RUN/stop"
SILO_DLL=Silo/bin/Release/net10.0/Orleans.Leases.Silo.dll

# supervise I: runs silo I until run.sh stops, restarting it whenever it exits, except when it refused to start
# (exit 1: bad configuration, which a restart would not cure). It also ends (stopping its silo) when run.sh is gone,
# even if run.sh was killed without running its EXIT trap, so no supervisor outlives run.sh and restarts silos.
supervise() {
  local i=$1 log="$RUN/silo-$1.log" pid="" status main=$$
  trap 'stop_silo "$pid"; exit 0' TERM
  while [ ! -e "$RUN/stop" ] && kill -0 "$main" 2>/dev/null; do
    Silo__SiloPort=$((11111 + i)) Silo__GatewayPort=$((30000 + i)) Silo__DashboardPort=$((8080 + i)) \
      dotnet "$SILO_DLL" >>"$log" 2>&1 &
    pid=$!
    echo "$pid" >"$RUN/silo-$i.pid"
    while kill -0 "$pid" 2>/dev/null; do
      if ! kill -0 "$main" 2>/dev/null; then stop_silo "$pid"; exit 0; fi
      sleep 1 & wait $!
    done
    status=0
    wait "$pid" || status=$?
    pid=""
    [ -e "$RUN/stop" ] && break
    if [ "$status" -eq 1 ]; then echo "supervisor: silo $i refused to start (exit 1); not restarting" >>"$log"; break; fi
    echo "supervisor: silo $i exited ($status) at $(date +%T); restarting" >>"$log"
    sleep 1
  done
}

# stop_silo PID: SIGTERM, then SIGKILL if the silo is still there after STOP_PATIENCE seconds. The silo bounds its own
# stop (Recovery:ShutdownTimeout, 20 s, plus 10 s for the ungraceful part); this is the backstop.
STOP_PATIENCE=40
stop_silo() {
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq $((STOP_PATIENCE * 10))); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

SUPERVISORS=()
stop_all() {
  touch "$RUN/stop"
  for s in "${SUPERVISORS[@]}"; do kill "$s" 2>/dev/null || true; done
  for s in "${SUPERVISORS[@]}"; do wait "$s" 2>/dev/null || true; done
  rm -f "$RUN"/silo-*.pid "$RUN/stop"
  stop_started
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# active_silos PORT: the number of active silos the dashboard on PORT counts.
active_silos() {
  local reply
  reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET /DashboardCounters HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 && cat <&3) 2>/dev/null || true)
  [[ "$reply" =~ \"totalActiveHostCount\":([0-9]+) ]] && echo "${BASH_REMATCH[1]}" || echo 0
}

echo "Starting $silos silo(s), $Cluster__Clustering clustering, cluster '$Cluster__ClusterId' (logs in $RUN/)..."
for ((i = 0; i < silos; i++)); do
  : >"$RUN/silo-$i.log"
  supervise "$i" 2>>"$RUN/silo-$i.log" &
  SUPERVISORS+=($!)
done
# healthy PORT: the silo whose dashboard is on PORT answers /healthz with 200 (storage reachable, a shard answers).
healthy() {
  local reply
  reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 && cat <&3) 2>/dev/null || true)
  [[ "$reply" == "HTTP/1.1 200"* ]]
}

for ((i = 0; i < silos; i++)); do
  deadline=$((SECONDS + 90))
  until healthy $((8080 + i)); do
    if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "${SUPERVISORS[$i]}" 2>/dev/null; then
      echo "Silo $i did not become healthy; see $RUN/silo-$i.log:" >&2
      tail -5 "$RUN/silo-$i.log" >&2
      exit 1
    fi
    sleep 0.5
  done
done
if [ "$silos" -gt 1 ]; then
  deadline=$((SECONDS + 60))
  until [ "$(active_silos 8080)" -eq "$silos" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "The silos did not form one cluster of $silos; see $RUN/" >&2; exit 1; fi
    sleep 0.5
  done
fi
echo "Cluster up: $silos active silo(s), gateway(s) from 127.0.0.1:30000."

dotnet ClientApp/bin/Release/net10.0/Orleans.Leases.ClientApp.dll demo

if ! $once; then
  for name in $(compgen -e | grep '^Cluster__'); do printf 'export %s=%q\n' "$name" "${!name}"; done >"$RUN/cluster.env"
  echo "Serving. Azurite on 127.0.0.1:10000-10002."
  for ((i = 0; i < silos; i++)); do
    echo "  silo $i: gateway 127.0.0.1:$((30000 + i)), dashboard http://127.0.0.1:$((8080 + i))/, metrics http://127.0.0.1:$((8080 + i))/metrics"
  done
  echo "Other clients join with: source $RUN/cluster.env. Ctrl-C to stop."
  wait "${SUPERVISORS[@]}"
fi
