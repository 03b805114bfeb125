#!/usr/bin/env bash
# Builds larmor (Release) in BUILD_DIR (default: build) and runs every test: C++ (ctest) and Python (pytest).
# Set LARMOR_WERROR=ON to turn warnings into errors (CI does).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
PY=/usr/bin/python3
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLARMOR_WERROR="${LARMOR_WERROR:-OFF}" \
  -DPython_EXECUTABLE=$PY
cmake --build "$build"
# Both suites run to the end; the closing lines list every skipped test with its reason and count all.
rc=0
ctest --test-dir "$build" --output-on-failure -j2 2>&1 | tee "$build/ctest.out" || rc=1
pytest_out=""
if [ -d "$build/python/larmor" ]; then
  pytest_out="$build/pytest.out"
  PYTHONPATH="$build/python" $PY -m pytest -q -rs python/tests 2>&1 | tee "$pytest_out" || rc=1
fi
$PY scripts/test_summary.py "$build/ctest.out" "$build/Testing/Temporary/LastTest.log" $pytest_out
exit $rc
