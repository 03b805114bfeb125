#!/usr/bin/env bash
# larmor NUFFT vs `bart nufft` on the same problem in one run: 32 coils, 256^2 image, 402 radial spokes x 512
# samples (2x oversampled readout), type 2 (image -> samples) and type 1 (adjoint), float.
#   bench/compare_nufft.sh [BUILD_DIR]         (BUILD_DIR defaults to build; needs -DLARMOR_BUILD_BENCH=ON)
# BART's time is the whole command (cfl read/write, plan, transform) best of 3; larmor's is the execute call
# of a plan made once (bench_nufft, Google Benchmark) plus, separately, the one-time set_points cost.
# Trajectory units: `bart traj -r -x 256 -y 402 -o 2` gives (3, 512, 402) = (x, y, z) x samples x spokes in
# cycles/FOV for a 256-pixel FOV ([-128, 128)); larmor's coords are (spokes, samples, 2) = (y, x):
# larmor k[s, i, 0] = bart traj[1, i, s], larmor k[s, i, 1] = bart traj[0, i, s] (z dropped in 2D).
set -euo pipefail
BUILD=${1:-build}
BART=${BART:-bart}
THREADS=${OMP_NUM_THREADS:-$(nproc)}
export OMP_NUM_THREADS=$THREADS
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$BART" traj -r -x 256 -y 402 -o 2 "$tmp/traj"   # 2x oversampled: 512 samples in [-128, 128)
"$BART" zeros 4 256 256 1 32 "$tmp/z"; "$BART" noise "$tmp/z" "$tmp/img"
"$BART" zeros 4 1 512 402 32 "$tmp/zk"; "$BART" noise "$tmp/zk" "$tmp/ksp"

best() {  # best wall time in ms of 3 runs of the command
  local b=""
  for _ in 1 2 3; do
    local t0 t1
    t0=$(date +%s.%N); "$@" > /dev/null 2>&1; t1=$(date +%s.%N)
    b=$(awk -v a="$t0" -v c="$t1" -v b="$b" 'BEGIN { t = (c - a) * 1000; if (b == "" || t < b) b = t; printf "%.1f", b }')
  done
  echo "$b"
}
bart_fwd=$(best "$BART" nufft "$tmp/traj" "$tmp/img" "$tmp/out")
bart_adj=$(best "$BART" nufft -a -d 256:256:1 "$tmp/traj" "$tmp/ksp" "$tmp/out2")

"$BUILD/bench/bench_nufft" --benchmark_filter='BM_nufft_(forward|adjoint)/32/256/402/512/6|BM_nufft_set_points' \
  --benchmark_format=json --benchmark_repetitions=3 --benchmark_report_aggregates_only=true > "$tmp/larmor.json"

/usr/bin/python3 - "$tmp/larmor.json" "$bart_fwd" "$bart_adj" "$THREADS" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
bart = {"forward": float(sys.argv[2]), "adjoint": float(sys.argv[3])}
threads = int(sys.argv[4])
pts = 32 * 402 * 512
rows = {}
for b in d["benchmarks"]:
    if b.get("aggregate_name") != "median":
        continue
    ms = b["real_time"] if b["time_unit"] == "ms" else b["real_time"] / 1e6
    rows[b["run_name"]] = ms
print(f"32 coils, 256^2, 402 spokes x 512 samples, eps 1e-6 (larmor), {threads} threads")
print(f"{'':10s} {'larmor ms':>10s} {'bart ms':>9s} {'ratio':>6s} {'larmor pts/s/core':>18s} {'bart pts/s/core':>16s}")
for name, key in (("forward", "BM_nufft_forward/32/256/402/512/6/real_time"),
                  ("adjoint", "BM_nufft_adjoint/32/256/402/512/6/real_time")):
    l = rows.get(key)
    if l is None:
        continue
    b = bart[name]
    print(f"{name:10s} {l:10.1f} {b:9.1f} {b / l:6.1f} {pts / (l / 1e3) / threads:18.3g} {pts / (b / 1e3) / threads:16.3g}")
sp = rows.get("BM_nufft_set_points/real_time")
if sp is not None:
    print(f"set_points (once per trajectory): {sp:.1f} ms")
print("FINUFFT published (Barnett et al. 2019): ~4-5e6 points/s per core in 2D at 1e-5..1e-6")
PY
