#!/usr/bin/env bash
# Runs every test suite of Mesh and ends with one line "N passed, N failed" summed over all of them.
# Needs root: the kernel tests load BPF programs into child cgroups they create and remove.
set -uo pipefail
cd "$(dirname "$0")/.."
bash .ci/prerequisites || exit 1

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
dotnet build Mesh.sln -c Release -warnaserror 2>&1 | tail -3
build=${PIPESTATUS[0]}
if [ "$build" -ne 0 ]; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

status=0
for project in tests/*/*.Tests.csproj; do
  name=$(basename "$project" .csproj)
  echo "== $name"
  dotnet test "$project" -c Release --no-build --logger "trx;LogFileName=$name.trx" --results-directory "$results" \
    2>&1 | grep -E --no-group-separator -A1 '^\s*(Passed|Failed)!|^\s*Failed |Error Message|^\s+at Mesh' | head -80
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done

# Sum the counters of every TRX file (<Counters total=".." passed=".." failed=".." ...>).
read -r passed failed < <(python3 - "$results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
passed = failed = 0
for path in glob.glob(sys.argv[1] + "/*.trx"):
    for counters in ET.parse(path).getroot().iter("{http://microsoft.com/schemas/VisualStudio/TeamTest/2010}Counters"):
        passed += int(counters.get("passed", 0))
        failed += int(counters.get("failed", 0)) + int(counters.get("error", 0)) + int(counters.get("timeout", 0)) + int(counters.get("aborted", 0))
print(passed, failed)
PY
)
if [ "${passed:-0}" -eq 0 ]; then
  status=1
fi
[ "${failed:-0}" -eq 0 ] || status=1
[ "$status" -eq 0 ] || [ "${failed:-0}" -gt 0 ] || failed=1
echo "${passed:-0} passed, ${failed:-0} failed"
exit $status
