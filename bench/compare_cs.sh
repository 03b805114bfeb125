#!/usr/bin/env bash
# Compressed sensing: larmor.cs (FISTA, l1-wavelet) vs `bart pics -l1` per iteration, side by side, on the
# same k-space, maps and mask (simulated 2D phantom, variable-density Poisson-like point mask, ~25 %).
#
#   bash bench/compare_cs.sh [BUILD_DIR] [COILS] [N] [RUNS]
#
# Neither tool reports its time per iteration, so each runs at two iteration counts (lo, hi) and the
# per-iteration cost is the difference of the median wall times over (hi - lo): set-up, file I/O, the
# power iteration and the adjoint cancel. larmor is timed in-process (Python), BART as a process.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build-cs}
coils=${2:-32}
n=${3:-256}
runs=${4:-3}
export PYTHONPATH=$build/python
exec /usr/bin/python3 - "$coils" "$n" "$runs" <<'PY'
import os, shutil, subprocess, sys, tempfile, time
import numpy as np
import larmor
nc, n, runs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
y, x = np.mgrid[-1:1:n * 1j, -1:1:n * 1j]
obj = ((x / 0.7) ** 2 + (y / 0.9) ** 2 <= 1) * (1 + 0.5 * (x ** 2 + y ** 2 < 0.1))
ang = 2 * np.pi * np.arange(nc) / nc
maps = np.stack([np.exp(-((x - 1.4 * np.cos(a)) ** 2 + (y - 1.4 * np.sin(a)) ** 2) / 1.6) * np.exp(1j * a) for a in ang])
maps = (maps / np.sqrt((np.abs(maps) ** 2).sum(0))).astype(np.complex64)
r = np.random.default_rng(1)
mask = r.random((n, n)) < np.clip(0.6 * (1 - np.minimum(np.hypot(y, x), 1)) ** 2 + 0.03, 0, 1)
mask[n // 2 - 12:n // 2 + 12, n // 2 - 12:n // 2 + 12] = True
k = np.where(mask, larmor.fftc(maps * obj), 0).astype(np.complex64)
def med(f):
    t = []
    for _ in range(runs):
        t0 = time.perf_counter(); f(); t.append(time.perf_counter() - t0)
    return sorted(t)[len(t) // 2] * 1e3
lo, hi = 5, 45
ours = (med(lambda: larmor.cs(k, maps, mask=mask, wavelet=0.005, iters=hi)) -
        med(lambda: larmor.cs(k, maps, mask=mask, wavelet=0.005, iters=lo))) / (hi - lo)
print(f"{nc} coils x {n}^2, sampled {mask.mean():.3f}, threads {larmor.num_threads() if hasattr(larmor, 'num_threads') else '?'}")
print(f"larmor.cs l1-wavelet FISTA: {ours:.1f} ms per iteration")
bart = shutil.which("bart")
if bart:
    with tempfile.TemporaryDirectory() as d:
        larmor.write_cfl(os.path.join(d, "k"), k[:, None])
        larmor.write_cfl(os.path.join(d, "s"), maps[:, None])
        blo, bhi = 3, 13
        run = lambda it: subprocess.run([bart, "pics", "-l1", "-r", "0.005", "-i", str(it), "k", "s", "x"], cwd=d,
                                        check=True, capture_output=True)
        theirs = (med(lambda: run(bhi)) - med(lambda: run(blo))) / (bhi - blo)
    print(f"bart pics -l1: {theirs:.1f} ms per iteration; larmor is {theirs / ours:.1f}x faster")
PY
