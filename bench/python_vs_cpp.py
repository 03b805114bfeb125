#!/usr/bin/python3
"""Python calls against the C++ calls of the same work, side by side in one run (issue: every user path as
fast as the benchmark of the same work).

    PYTHONPATH=build/python /usr/bin/python3 bench/python_vs_cpp.py BUILD [COILS] [N] [REPEAT] [ROUNDS]

BUILD is the build directory (build/bench/larmor_ops and build/python). The data: `larmor_ops phantom`
(Shepp-Logan x smooth coil sensitivities, COILS x N x N, default 32 x 256), undersampled R = 4 with 24
ACS lines; maps from ESPIRiT. Each operation runs REPEAT times (default 5) inside one process on each
side -- `larmor_ops OP ...` prints the median compute time of the C++ call (file reading excluded), the
Python side times larmor.<op>(numpy arrays) with time.perf_counter -- and the two sides alternate, C++
then Python, ROUNDS times (default 3; the VM's speed drifts within seconds, so one pair is not enough):

    grappa        larmor::grappa(k)                  larmor.grappa(k)
    espirit_maps  larmor::espirit_maps(full)         larmor.espirit_maps(full)
    cgsense       larmor::cgsense(k, maps), 10 it    larmor.cgsense(k, maps, iters=10, tol=0)
    cs            larmor::cs(k, maps), l1 0.005, 20  larmor.cs(k, maps, wavelet=0.005, iters=20)
    nufft         plan + points + forward NUFFT of the coil images onto N pi / 2 radial spokes of 2N samples
                                                     larmor.nufft(images, larmor.radial_trajectory(...))

Python's extra steps are inside its time (converting nothing: the arrays are C-contiguous complex64, as
the bindings use them in place; finding the ACS and the lattice are in both). Prints one line per
operation: the median over the rounds of each side's median, the ratio Python / C++, and the ratio of the
two sides' fastest rounds; and the SIMD target the kernels ran on.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def cpp_ms(ops, args):
    r = subprocess.run([ops] + args, capture_output=True, text=True, check=True)
    for line in r.stderr.splitlines():
        if line.startswith("compute_ms"):
            return float(line.split()[1])
    raise RuntimeError(f"larmor_ops {args[0]}: no compute_ms in {r.stderr!r}")


def py_ms(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    coils = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 256
    repeat = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    sys.path.insert(0, os.path.join(build, "python"))
    import larmor

    ops = os.path.join(build, "bench", "larmor_ops")
    target = subprocess.run([ops, "targets"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as d:
        full, under, maps, out = (os.path.join(d, s) for s in ("full", "under", "maps", "out"))
        subprocess.run([ops, "phantom", str(coils), str(n), full], check=True)
        subprocess.run([ops, "undersample", "4", "24", full, under], check=True, capture_output=True)
        subprocess.run([ops, "ecalib", full, maps], check=True, capture_output=True)
        # numpy (coils, y, x), C-contiguous complex64, as a user's arrays would be.
        kf = np.ascontiguousarray(larmor.read_cfl(full).reshape(coils, n, n))
        ku = np.ascontiguousarray(larmor.read_cfl(under).reshape(coils, n, n))
        m = np.ascontiguousarray(larmor.read_cfl(maps).reshape(coils, n, n))
        spokes = int(round(n * 3.14159265358979 / 2))
        coords = larmor.radial_trajectory(spokes, 2 * n)
        rows = [
            ("grappa", ["grappa", under, out, str(repeat)], lambda: larmor.grappa(ku)),
            ("espirit_maps", ["ecalib", full, out, str(repeat)], lambda: larmor.espirit_maps(kf)),
            ("cgsense 10 it", ["cgsense", under, maps, out, "10", str(repeat)],
             lambda: larmor.cgsense(ku, m, iters=10, tol=0)),
            ("cs 20 it", ["cs", under, maps, out, "20", "0.005", str(repeat)],
             lambda: larmor.cs(ku, m, wavelet=0.005, iters=20)),
            # (the phantom array stands in for the coil images: the same work)
            ("nufft", ["nufft", full, out, str(repeat)], lambda: larmor.nufft(kf, coords)),
        ]
        print(f"{coils} coils x {n}^2, R = 4 + 24 ACS, {rounds} rounds of {repeat} runs per side, SIMD target "
              f"{target}, threads {larmor.num_threads()}")
        print(f"{'operation':<14} {'C++ ms':>10} {'Python ms':>10} {'Python/C++':>11} {'fastest':>9}")
        for name, args, fn in rows:
            cs_, ps_ = [], []
            for _ in range(rounds):
                cs_.append(cpp_ms(ops, args))
                ps_.append(py_ms(fn, repeat))
            c, p = statistics.median(cs_), statistics.median(ps_)
            print(f"{name:<14} {c:10.1f} {p:10.1f} {p / c:11.3f} {min(ps_) / min(cs_):9.3f}", flush=True)


if __name__ == "__main__":
    main()
