#!/usr/bin/env bash
# Fuzzes the Siemens twix reader (fuzz/fuzz_twix.cpp: parse_twix + k-space assembly) and the ISMRMRD header
# path (fuzz/fuzz_ismrmrd.cpp: XML header + readout headers + k-space assembly) and the ISMRMRD stream protocol
# (fuzz/fuzz_stream.cpp: message framing + XML header + k-space assembly) with libFuzzer,
# AddressSanitizer and UBSan for N seconds each (default 60):
#   bash scripts/fuzz.sh [SECONDS]
# Configures a clang build in build-fuzz (CC=clang CXX=clang++, -DLARMOR_BUILD_FUZZ=ON), makes a seed
# corpus of small twix files (shrunk copies of the real scans in data/scans, and synthetic
# VD and VB files always) and runs the fuzzer; corpus growth stays in build-fuzz/corpus-twix between runs.
# A crash, leak, timeout or sanitizer report fails the script and leaves the input in build-fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-60}
BUILD=${LARMOR_FUZZ_BUILD_DIR:-build-fuzz}
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}

CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLARMOR_BUILD_FUZZ=ON \
  -DLARMOR_WERROR=ON -DLARMOR_BUILD_TESTS=OFF -DLARMOR_BUILD_BENCH=OFF -DLARMOR_BUILD_PYTHON=OFF >/dev/null
cmake --build "$BUILD" --target fuzz_twix fuzz_ismrmrd fuzz_stream

SEEDS="$BUILD/seeds-twix" CORPUS="$BUILD/corpus-twix" ARTIFACTS="$BUILD/artifacts"
rm -rf "$SEEDS"
mkdir -p "$CORPUS" "$ARTIFACTS"
shopt -s nullglob
/usr/bin/python3 fuzz/make_twix_seeds.py "$SEEDS" data/scans/*/*.dat

# -max_len above the largest seed; -rss_limit_mb / -malloc_limit_mb catch allocations driven by corrupt
# length fields; -timeout catches hangs.
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$BUILD/fuzz/fuzz_twix" "$CORPUS" "$SEEDS" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 \
  -rss_limit_mb=2048 -malloc_limit_mb=1024 -artifact_prefix="$ARTIFACTS/" -print_final_stats=1
echo "fuzz: $SECONDS_TO_RUN s of fuzz_twix without a finding"

SEEDS_I="$BUILD/seeds-ismrmrd" CORPUS_I="$BUILD/corpus-ismrmrd"
rm -rf "$SEEDS_I"
mkdir -p "$CORPUS_I"
/usr/bin/python3 fuzz/make_ismrmrd_seeds.py "$SEEDS_I" data/*.h5
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$BUILD/fuzz/fuzz_ismrmrd" "$CORPUS_I" "$SEEDS_I" -max_total_time="$SECONDS_TO_RUN" -max_len=16384 -timeout=10 \
  -rss_limit_mb=2048 -malloc_limit_mb=1024 -artifact_prefix="$ARTIFACTS/" -print_final_stats=1
echo "fuzz: $SECONDS_TO_RUN s of fuzz_ismrmrd without a finding"

SEEDS_S="$BUILD/seeds-stream" CORPUS_S="$BUILD/corpus-stream"
rm -rf "$SEEDS_S"
mkdir -p "$CORPUS_S"
/usr/bin/python3 fuzz/make_stream_seeds.py "$SEEDS_S" data/*.h5
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$BUILD/fuzz/fuzz_stream" "$CORPUS_S" "$SEEDS_S" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 \
  -rss_limit_mb=2048 -malloc_limit_mb=1024 -artifact_prefix="$ARTIFACTS/" -print_final_stats=1
echo "fuzz: $SECONDS_TO_RUN s of fuzz_stream without a finding"
