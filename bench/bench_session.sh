#!/usr/bin/env bash
# Streaming reconstruction (issue 19): peak memory of `larmor recon` and time to the first image of
# larmor.recon_stream on a sequential multi-slice scan, against the size of its k-space.
#
#   bash bench/bench_session.sh [BUILD_DIR] [SLICES] [COILS] [N]     (default build 40 32 256: 640 MiB of k-space)
#
# The scan: larmor_make_ismrmrd3d's "slices" layout (every slice's last readout flagged ACQ_LAST_IN_SLICE,
# 4 noise scans), fully sampled (auto -> espirit) and GRAPPA R=2 with 24 ACS lines.
set -euo pipefail
build=${1:-build}
slices=${2:-40}
coils=${3:-32}
n=${4:-256}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PY=/usr/bin/python3
kspace_mib=$(( slices * coils * n * n * 8 / 1048576 ))
echo "scan: $slices slices x $coils coils x ${n}^2 = $kspace_mib MiB of k-space (complex64)"
for accel in 1 2; do
  raw=$work/scan_r$accel.h5
  "$build/bench/larmor_make_ismrmrd3d" "$coils" "$n" "$n" "$slices" "$accel" 1 24 "$raw" 4 1 slices 2>/dev/null
  for method in auto rss; do
    /usr/bin/time -v "$build/larmor" recon "$raw" -o "$work/out.h5" --method $method 2> "$work/log" >/dev/null
    peak=$(awk '/Maximum resident/ {print int($6 / 1024)}' "$work/log")
    wall=$(awk '/Elapsed/ {print $8}' "$work/log")
    used=$(grep -o 'method [a-z+]* ->' "$work/log" | tail -1 | cut -d' ' -f2)
    echo "R=$accel --method $method ($used): peak $peak MiB = $(( 100 * peak / kspace_mib )) % of the k-space, wall $wall"
  done
  PYTHONPATH="$build/python" $PY - "$raw" <<'PYEOF'
import sys, time
import larmor
t0 = time.perf_counter()
first = None
count = 0
for img, meta in larmor.recon_stream(sys.argv[1]):
    first = first if first is not None else time.perf_counter() - t0
    count += 1
total = time.perf_counter() - t0
print(f"  recon_stream: first image after {first:.2f} s, {count} images in {total:.2f} s")
PYEOF
done
