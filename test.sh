#!/usr/bin/env bash
# Runs every test against a real Azurite (started here unless one is listening), then prints "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")"
source scripts/common.sh

ensure_installed
start_azurite memory
trap 'stop_started' EXIT

mkdir -p TestResults
set +e
dotnet test Tests/Tests.csproj -c Release --no-restore --nologo --logger "console;verbosity=normal" "$@" 2>&1 | tee TestResults/test.log
status=${PIPESTATUS[0]}
set -e

summary=$(grep -Eo 'Failed: +[0-9]+, Passed: +[0-9]+, Skipped: +[0-9]+' TestResults/test.log | tail -1)
if [ -z "$summary" ]; then
  echo "0 passed, 0 failed (no test ran: see the build output above)"
  exit 1
fi
failed=$(echo "$summary" | grep -Eo 'Failed: +[0-9]+' | grep -Eo '[0-9]+')
passed=$(echo "$summary" | grep -Eo 'Passed: +[0-9]+' | grep -Eo '[0-9]+')
skipped=$(echo "$summary" | grep -Eo 'Skipped: +[0-9]+' | grep -Eo '[0-9]+')
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
