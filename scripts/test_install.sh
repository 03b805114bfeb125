#!/usr/bin/env bash
# Installs larmor from a clean clone of this repository's HEAD the two ways docs/install.md describes, each into
# a throw-away place, and uses it there:
#   1. `pip install --no-build-isolation .` into a virtual environment (Debian's python3-venv, with the system's
#      numpy): `import larmor` and the `larmor` command work without PYTHONPATH; the demo runs on its scan.
#   2. `cmake --build <build> --target package` -> larmor_<version>_amd64.deb, unpacked with dpkg-deb into a
#      throw-away root: its Depends are Debian packages; the CLI, the Python package and find_package(larmor)
#      (a small consumer program compiled and run against the unpacked headers and libraries) work from it.
#
#   bash scripts/test_install.sh            (CI runs it after the test suites; ccache makes the rebuilds cheap)
# Extra CMake options for both builds: LARMOR_INSTALL_CMAKE_ARGS (CI passes its -DLARMOR_WERROR=ON so that the
# compiler cache of the main build is hit).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PY=/usr/bin/python3
extra=${LARMOR_INSTALL_CMAKE_ARGS:-}
start=$(date +%s)
git clone -q "$repo" "$work/src"

# Both build trees sit inside the clone, as build/ does in the main tree: ccache (base_dir = the source tree)
# then sees the same relative paths as the main build's and serves its objects.
echo "== pip install . (virtual environment with the system's site packages)"
$PY -m venv --system-site-packages "$work/venv"
(cd "$work/src" && CMAKE_ARGS="$extra" LARMOR_PIP_BUILD_DIR="$work/src/build-pip" \
  "$work/venv/bin/python" -m pip install --no-build-isolation --no-deps -q .)
(cd "$work" && env -u PYTHONPATH "$work/venv/bin/python" - <<'PYEOF'
import numpy as np, larmor
k = np.fft.fftshift(np.fft.fft2(np.ones((2, 16, 16), np.complex64)), axes=(-2, -1))
print("import larmor", larmor.__version__, "from", larmor.__file__, "- rss of a flat image:", float(larmor.rss(np.fft.ifft2(k)).mean()))
assert "venv" in larmor.__file__
PYEOF
)
"$work/venv/bin/larmor" --version
(cd "$work" && "$work/venv/bin/larmor" demo --png "$work/demo.png" | tail -3)
head -c 4 "$work/demo.png" | grep -q PNG
echo "pip: done in $(( $(date +%s) - start )) s"

echo "== .deb (CPack), unpacked into a throw-away root"
cmake -S "$work/src" -B "$work/src/build-deb" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLARMOR_BUILD_TESTS=OFF \
  -DLARMOR_BUILD_BENCH=OFF -DPython_EXECUTABLE=$PY $extra > /dev/null
cmake --build "$work/src/build-deb" --target package > "$work/package.log" || { tail -30 "$work/package.log"; exit 1; }
deb=$(ls "$work"/src/build-deb/larmor_*.deb)
dpkg-deb --field "$deb" Package Version Depends
dpkg-deb --field "$deb" Depends | grep -q "libfftw3-single3" || { echo "Depends lacks FFTW"; exit 1; }
dpkg-deb -x "$deb" "$work/root"
"$work/root/usr/bin/larmor" --version
(cd "$work" && "$work/root/usr/bin/larmor" demo --png "$work/demo_deb.png" | tail -1)
head -c 4 "$work/demo_deb.png" | grep -q PNG
(cd "$work" && env PYTHONPATH="$work/root/usr/lib/python3/dist-packages" $PY -c \
  "import larmor; print('deb python package', larmor.__version__, larmor.__file__); assert '/root/usr/' in larmor.__file__")
mkdir -p "$work/consumer"
cat > "$work/consumer/CMakeLists.txt" <<'CMEOF'
cmake_minimum_required(VERSION 3.18)
project(consumer CXX)
find_package(larmor CONFIG REQUIRED)
add_executable(consumer main.cpp)
target_link_libraries(consumer PRIVATE larmor::larmor)
CMEOF
cat > "$work/consumer/main.cpp" <<'CPPEOF'
// A program built against the unpacked .deb: the centred FFT of a constant is a spike at the centre.
#include <cstdio>
#include "larmor/larmor.hpp"
int main() {
  larmor::array<larmor::cfloat, 2> x(larmor::extents<2>{8, 8});
  for (auto& v : x) v = 1.f;
  const auto k = larmor::fftc(x.cview());
  std::printf("consumer: larmor %s, |k(4,4)| = %.3f\n", larmor::version, std::abs(k(4, 4)));
  return std::abs(std::abs(k(4, 4)) - 8.f) < 1e-4f ? 0 : 1;
}
CPPEOF
cmake -S "$work/consumer" -B "$work/consumer/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/root/usr" > /dev/null
cmake --build "$work/consumer/build" > /dev/null
"$work/consumer/build/consumer"
echo "install tests: pip and .deb passed in $(( $(date +%s) - start )) s"
