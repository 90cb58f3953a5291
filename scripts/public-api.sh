#!/usr/bin/env bash
# Writes every public symbol the build reports as undeclared (RS0016) into its project's PublicAPI.Unshipped.txt.
# Run it after a deliberate public change; review the diff.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build Orleans.Leases.sln -c Release --no-restore 2>&1 \
  | sed -nE "s|^(.*)/[^/]+\.cs\([0-9,]+\): error RS0016: Symbol '(.*)' is not part of the declared public API.*|\1\t\2|p" \
  | sort -u | while IFS=$'\t' read -r dir symbol; do
      # The project folder: the nearest one above the file with a PublicAPI.Unshipped.txt.
      while [ ! -f "$dir/PublicAPI.Unshipped.txt" ]; do dir=$(dirname "$dir"); done
      grep -qxF -- "$symbol" "$dir/PublicAPI.Unshipped.txt" || echo "$symbol" >> "$dir/PublicAPI.Unshipped.txt"
    done
