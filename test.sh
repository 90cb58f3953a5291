#!/usr/bin/env bash
# Runs every test against a real Azurite (started here unless one is listening), then prints "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")"
source scripts/common.sh

ensure_installed
start_azurite memory
trap 'stop_started' EXIT

rm -rf TestResults
set +e
dotnet test Tests/Tests.csproj -c Release --no-restore --nologo \
  --logger "console;verbosity=normal" --logger "trx;LogFileName=results.trx" --results-directory TestResults "$@"
status=$?
set -e

# The closing line, from the run's own record, so a run that executed no test is visible.
counters=$(grep -o '<Counters [^>]*>' TestResults/results.trx 2>/dev/null || true)
count() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*' || echo 0; }
if [ -z "$counters" ]; then
  echo "0 passed, 0 failed (no test ran: see the build output above)"
  exit 1
fi
passed=$(count passed)
failed=$(( $(count failed) + $(count error) + $(count timeout) + $(count aborted) ))
skipped=$(( $(count notExecuted) ))
echo "$passed passed, $failed failed, $skipped skipped"
if [ "$status" -eq 0 ] && [ "$passed" -eq 0 ]; then exit 1; fi
exit "$status"
