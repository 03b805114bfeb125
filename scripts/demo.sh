#!/usr/bin/env bash
# Installs dependencies, builds larmor and runs the demo reconstruction (writes larmor_demo.png).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE=/usr/bin/python3
cmake --build build --target larmor_cli
./build/larmor demo "$@"
