#!/usr/bin/env bash
# Compressed sensing: larmor l1-wavelet FISTA (bench_cs cfl) vs `bart pics -l1` per iteration, side by side
# in one run, on the same k-space, maps and mask (simulated 2D phantom, variable-density Poisson-like point
# mask, fully sampled 24^2 centre; both tools' default data scaling and cycle spinning).
#
#   bash bench/compare_cs.sh [BUILD_DIR] [COILS] [N] [RUNS] [THREADS...]
#
# Neither tool reports its time per iteration, so each runs as a process at two iteration counts (lo, hi)
# and the per-iteration cost is the difference of the medians over (hi - lo): start-up, file I/O, set-up,
# the power iteration and the adjoint cancel. Reported per thread count (OMP_NUM_THREADS, both tools):
# wall ms and CPU ms (user + sys of the process, all threads) per iteration. CPU time is the robust
# number on a shared machine (wall depends on what else runs); both runs alternate, so load hits both.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build-cs}
coils=${2:-32}
n=${3:-256}
runs=${4:-3}
shift $(( $# < 4 ? $# : 4 ))
threads=${*:-"1 2"}
exe=$(cd "$build" && pwd)/bench/bench_cs
[ -x "$exe" ] || { echo "compare_cs.sh: build bench_cs first (-DLARMOR_BUILD_BENCH=ON)" >&2; exit 2; }
exec /usr/bin/python3 - "$exe" "$coils" "$n" "$runs" $threads <<'PY'
import os, resource, shutil, subprocess, sys, tempfile, time
import numpy as np
exe, nc, n, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
threads = [int(t) for t in sys.argv[5:]]
y, x = np.mgrid[-1:1:n * 1j, -1:1:n * 1j]
obj = ((x / 0.7) ** 2 + (y / 0.9) ** 2 <= 1) * (1 + 0.5 * (x ** 2 + y ** 2 < 0.1))
ang = 2 * np.pi * np.arange(nc) / nc
maps = np.stack([np.exp(-((x - 1.4 * np.cos(a)) ** 2 + (y - 1.4 * np.sin(a)) ** 2) / 1.6) * np.exp(1j * a) for a in ang])
maps = (maps / np.sqrt((np.abs(maps) ** 2).sum(0))).astype(np.complex64)
r = np.random.default_rng(1)
mask = r.random((n, n)) < np.clip(0.6 * (1 - np.minimum(np.hypot(y, x), 1)) ** 2 + 0.03, 0, 1)
mask[n // 2 - 12:n // 2 + 12, n // 2 - 12:n // 2 + 12] = True
fftc = lambda a: np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(a, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
k = np.where(mask, fftc(maps * obj), 0).astype(np.complex64)

def write_cfl(base, a):  # a: (coils, y, x) -> BART [x y 1 coils]
    with open(base + ".hdr", "w") as f:
        f.write("# Dimensions\n%d %d 1 %d\n" % (a.shape[2], a.shape[1], a.shape[0]))
    np.ascontiguousarray(a, dtype=np.complex64).tofile(base + ".cfl")

def timed(cmd, env, cwd):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True)
    t = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return t * 1e3, (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) * 1e3

bart = shutil.which("bart")
print(f"{nc} coils x {n}^2, sampled {mask.mean():.3f}; per iteration: wall ms / CPU ms (median of {runs})")
with tempfile.TemporaryDirectory() as d:
    write_cfl(os.path.join(d, "k"), k)
    write_cfl(os.path.join(d, "s"), maps)
    lo, hi = 5, 25
    ours = lambda it: [exe, "cfl", "k", "s", "xl", str(it), "0.005"]
    theirs = lambda it: [bart, "pics", "-l1", "-r", "0.005", "-i", str(it), "k", "s", "xb"]
    for nt in threads:
        env = dict(os.environ, OMP_NUM_THREADS=str(nt))
        res = {"larmor": {lo: [], hi: []}, "bart": {lo: [], hi: []}}
        for _ in range(runs):
            for it in (lo, hi):
                res["larmor"][it].append(timed(ours(it), env, d))
                if bart:
                    res["bart"][it].append(timed(theirs(it), env, d))
        def per_it(tool):
            med = lambda it, j: sorted(v[j] for v in res[tool][it])[len(res[tool][it]) // 2]
            return [(med(hi, j) - med(lo, j)) / (hi - lo) for j in (0, 1)]
        lw, lc = per_it("larmor")
        line = f"threads {nt}: larmor {lw:.1f} / {lc:.1f} ms"
        if bart:
            bw, bc = per_it("bart")
            line += f"; bart pics -l1 {bw:.1f} / {bc:.1f} ms; ratio wall {bw / lw:.1f}x, CPU {bc / lc:.1f}x"
        print(line, flush=True)
PY
