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
ctest --test-dir "$build" --output-on-failure -j2
if [ -d "$build/python/larmor" ]; then
  PYTHONPATH="$build/python" $PY -m pytest -q python/tests
fi
