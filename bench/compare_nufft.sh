#!/usr/bin/env bash
# larmor NUFFT vs `bart nufft` on the same problem in one run: 32 coils, 256^2 image, 402 radial spokes x 512
# samples (2x oversampled readout), type 2 (image -> samples) and type 1 (adjoint), float, eps 1e-6 (larmor).
#   bench/compare_nufft.sh [BUILD_DIR] [REPS]   (BUILD_DIR defaults to build; needs -DLARMOR_BUILD_BENCH=ON)
# CPU time (user + sys), not wall time: the machines this runs on are shared. One thread by default
# (OMP_NUM_THREADS=1, both programs), so CPU time per transform = time per core. The runs alternate
# (bart forward, bart adjoint, larmor) REPS times (default 3); medians are reported.
# BART's time is the CPU time of the whole command (cfl read/write, plan, transform); larmor's is the CPU
# time of one execute of a plan made once (bench_nufft BM_nufft_target, process CPU time), with dispatch
# forced to the best SIMD target (index 0) and to HWY_SCALAR (the scalar reference kernels, last index),
# plus, separately, the one-time set_points cost.
# Trajectory units: `bart traj -r -x 256 -y 402 -o 2` gives (3, 512, 402) = (x, y, z) x samples x spokes in
# cycles/FOV for a 256-pixel FOV ([-128, 128)); larmor's coords are (spokes, samples, 2) = (y, x):
# larmor k[s, i, 0] = bart traj[1, i, s], larmor k[s, i, 1] = bart traj[0, i, s] (z dropped in 2D).
set -euo pipefail
BUILD=${1:-build}
REPS=${2:-3}
BART=${BART:-bart}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$BART" traj -r -x 256 -y 402 -o 2 "$tmp/traj"   # 2x oversampled: 512 samples in [-128, 128)
"$BART" zeros 4 256 256 1 32 "$tmp/z"; "$BART" noise "$tmp/z" "$tmp/img"
"$BART" zeros 4 1 512 402 32 "$tmp/zk"; "$BART" noise "$tmp/zk" "$tmp/ksp"

/usr/bin/python3 - "$BUILD/bench/bench_nufft" "$BART" "$tmp" "$REPS" <<'PY'
import json, os, statistics, subprocess, sys
bench, bart, tmp, reps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
threads = int(os.environ["OMP_NUM_THREADS"])

def cpu_of(cmd):
    """CPU seconds (user + sys) of a child process and its stdout."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return ru.ru_utime + ru.ru_stime, out

# larmor: BM_nufft_target/<target>/<0 forward|1 adjoint>/32; target 0 = best, 4 = HWY_SCALAR
flt = "BM_nufft_target/(0|4)/[01]/32/|BM_nufft_set_points"
res = {"bart forward": [], "bart adjoint": []}
labels = {}
for r in range(reps):
    res["bart forward"].append(cpu_of([bart, "nufft", f"{tmp}/traj", f"{tmp}/img", f"{tmp}/out"])[0])
    res["bart adjoint"].append(cpu_of([bart, "nufft", "-a", "-d", "256:256:1", f"{tmp}/traj", f"{tmp}/ksp",
                                       f"{tmp}/out2"])[0])
    _, out = cpu_of([bench, f"--benchmark_filter={flt}", "--benchmark_format=json", "--benchmark_min_time=1"])
    for b in json.loads(out)["benchmarks"]:
        name = b["run_name"]
        scale = {"ms": 1e-3, "us": 1e-6, "ns": 1e-9}[b["time_unit"]]
        if name.startswith("BM_nufft_target"):
            t, d = name.split("/")[1:3]
            key = f"larmor {'forward' if d == '0' else 'adjoint'} {'simd' if t == '0' else 'scalar'}"
            labels[key] = b.get("label", "")
            res.setdefault(key, []).append(b["cpu_time"] * scale)
        else:
            res.setdefault("set_points", []).append(b["cpu_time"] * scale)
    print(f"rep {r + 1}/{reps}: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in res.items()), file=sys.stderr)

med = {k: statistics.median(v) for k, v in res.items()}
pts = 32 * 402 * 512
print(f"32 coils, 256^2, 402 spokes x 512 samples, float, larmor eps 1e-6, {threads} thread(s), "
      f"CPU time (user+sys), median of {reps} alternating runs; load {os.getloadavg()[0]:.1f}")
print(f"{'':8s} {'larmor SIMD s':>13s} {'larmor scalar s':>15s} {'bart s':>8s} {'SIMD/scalar':>11s} "
      f"{'bart/larmor':>11s} {'larmor pts/s/core':>17s} {'bart pts/s/core':>15s}")
for d in ("forward", "adjoint"):
    s, c, b = med[f"larmor {d} simd"], med[f"larmor {d} scalar"], med[f"bart {d}"]
    print(f"{d:8s} {s:13.3f} {c:15.3f} {b:8.2f} {c / s:11.2f} {b / s:11.1f} {pts / s / threads:17.3g} "
          f"{pts / b / threads:15.3g}")
print("targets: " + ", ".join(f"{k}: {v}" for k, v in labels.items()))
if "set_points" in med:
    print(f"set_points (once per trajectory): {med['set_points'] * 1e3:.1f} ms CPU")
print("FINUFFT published (Barnett et al. 2019): ~4-5e6 points/s per core in 2D at 1e-5..1e-6")
PY
