#!/usr/bin/env python3
"""l1-wavelet CS quality, larmor vs `bart pics -l1`, each tool at its best lambda of the same sweep.

    python3 bench/cs_quality.py BUILD_DIR [--iters 100] [--data brain16,brain8,sim] [--flags g c ...]

Both tools get the same k-space, mask and `bart ecalib -m1` maps (cfl files); larmor runs as
`BUILD/bench/bench_cs cfl K MAPS OUT ITERS LAMBDA [flags]` (the same call shape as `bart pics -l1 -r LAMBDA
-i ITERS K MAPS OUT`). Error = NRMSE after the best complex factor a = <ref, x> / <x, x> (BART's centred
FFT differs from larmor's by a global sign when n/2 is odd, and BART without -S returns the image / s):

* brain16: data/scans/pulseq_invivo_brain_16ch (fully sampled 128^2, 16 coils), retrospective variable-
  density random mask (12 %, 20^2 centre, seed 0); reference = sum_c conj(S_c) ifftc(k_c) of the fully
  sampled data with the same maps.
* brain8: data/scans/sigpy_brain_8ch (8 coils, 230 x 180, Poisson ~12 % as acquired): 25 % of the
  acquired samples outside the 24^2 centre are held out (seed 0); error = NRMSE of the predicted held-out
  samples M_h fftc(S x) against the measured ones.
* sim: an analytic-ish phantom (ellipses + smooth texture) 128^2, 8 Gaussian-profile coils, noise 1 %,
  random variable-density mask 20 %; reference as brain16.

Prints, per data set and tool, the sweep and the best (lambda, NRMSE). CPU time (user + sys of the child
processes) per tool is summed over the sweep.
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SCANS = os.path.join(HERE, "..", "data", "scans")


def write_cfl(name, a):
    """a: numpy array in C order (slowest first) -> BART cfl with dims reversed (x fastest)."""
    a = np.ascontiguousarray(a, dtype=np.complex64)
    dims = list(a.shape[::-1])
    with open(name + ".hdr", "w") as f:
        f.write("# Dimensions\n" + " ".join(str(d) for d in dims) + "\n")
    a.tofile(name + ".cfl")


def read_cfl(name):
    with open(name + ".hdr") as f:
        f.readline()
        dims = [int(d) for d in f.readline().split()]
    while len(dims) > 1 and dims[-1] == 1:
        dims.pop()
    return np.fromfile(name + ".cfl", dtype=np.complex64).reshape(dims[::-1])


def fftc(x, axes=(-2, -1)):
    return np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(x, axes=axes), axes=axes, norm="ortho"), axes=axes)


def ifftc(x, axes=(-2, -1)):
    return np.fft.fftshift(np.fft.ifftn(np.fft.ifftshift(x, axes=axes), axes=axes, norm="ortho"), axes=axes)


def read_twix_ve(path):
    """Minimal VD/VE/XA twix reader for the single-slice brain: (coils, lines, samples)."""
    raw = open(path, "rb").read()
    n_meas = int(np.frombuffer(raw, np.uint32, 1, 4)[0])
    off = int(np.frombuffer(raw, np.uint64, 1, 8 + (n_meas - 1) * 152 + 8)[0])
    pos = off + int(np.frombuffer(raw, np.uint32, 1, off)[0])
    lines = {}
    while pos + 192 <= len(raw):
        dma = int(np.frombuffer(raw, np.uint32, 1, pos)[0]) & 0x1FFFFFF
        mask = int(np.frombuffer(raw, np.uint64, 1, pos + 40)[0])
        ns, nc, lin = (int(v) for v in np.frombuffer(raw, np.uint16, 3, pos + 48))
        if mask & 1:  # ACQEND
            break
        if not mask & (1 << 5) and not mask & (1 << 25):  # not SYNCDATA, not NOISEADJSCAN
            d = np.empty((nc, ns), np.complex64)
            p = pos + 192
            for c in range(nc):
                d[c] = np.frombuffer(raw, np.complex64, ns, p + 32)
                p += 32 + 8 * ns
            lines[lin] = d
        pos += dma
    ny = max(lines) + 1
    nc, ns = next(iter(lines.values())).shape
    k = np.zeros((nc, ny, ns), np.complex64)
    for lin, d in lines.items():
        k[:, lin] = d
    return k


def vd_mask(ny, nx, frac, calib, seed):
    """Random variable-density point mask: p ~ (1 - r)^2 scaled to frac, a fully sampled calib^2 centre."""
    rng = np.random.default_rng(seed)
    y, x = np.meshgrid(np.linspace(-1, 1, ny), np.linspace(-1, 1, nx), indexing="ij")
    w = np.clip(1 - np.sqrt(x * x + y * y) / np.sqrt(2), 0, 1) ** 2
    cy, cx = ny // 2 - calib // 2, nx // 2 - calib // 2
    m = np.zeros((ny, nx), bool)
    m[cy:cy + calib, cx:cx + calib] = True
    target = frac * ny * nx - m.sum()
    lo, hi = 0.0, 100.0
    for _ in range(60):
        s = (lo + hi) / 2
        if np.minimum(s * w, 1)[~m].sum() > target:
            hi = s
        else:
            lo = s
    return m | (rng.random((ny, nx)) < np.minimum(lo * w, 1))


def phantom(n, seed=1):
    y, x = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n), indexing="ij")
    img = np.zeros((n, n), np.complex64)
    for (cy, cx, ay, ax, th, v) in [(0, 0, .92, .69, 0, 1.0), (0, 0, .87, .64, 0, -.6), (.0, .22, .41, .11, -.3, -.2),
                                    (0, -.22, .31, .16, .3, -.2), (.35, 0, .25, .21, 0, .15), (-.6, 0, .05, .05, 0, .2),
                                    (-.6, .1, .03, .05, 0, .2), (.1, 0, .05, .05, 0, .25), (-.1, 0, .05, .05, 0, .15)]:
        c, s = np.cos(th), np.sin(th)
        u, w = (x - cx) * c + (y - cy) * s, -(x - cx) * s + (y - cy) * c
        img[(u / ax) ** 2 + (w / ay) ** 2 <= 1] += v
    rng = np.random.default_rng(seed)
    tex = np.real(ifftc(fftc(rng.standard_normal((n, n))) * np.exp(-(x * x + y * y) * 30)))
    img = img * (1 + 0.5 * tex / np.abs(tex).max()) * np.exp(1j * 0.8 * (x + 0.5 * y))
    return img.astype(np.complex64)


def sim_coils(nc, n):
    y, x = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n), indexing="ij")
    out = []
    for c in range(nc):
        a = 2 * np.pi * c / nc
        out.append(np.exp(-((x - 1.3 * np.cos(a)) ** 2 + (y - 1.3 * np.sin(a)) ** 2) / 1.5) * np.exp(1j * (a + x)))
    return np.array(out, np.complex64)


def nrmse(x, ref):
    x, ref = x.ravel().astype(np.complex128), ref.ravel().astype(np.complex128)
    a = np.vdot(x, ref) / max(np.vdot(x, x).real, 1e-30)
    return float(np.linalg.norm(a * x - ref) / np.linalg.norm(ref))


class Runner:
    def __init__(self, build, work, iters, flags):
        self.bench = os.path.join(build, "bench", "bench_cs")
        self.work, self.iters, self.flags = work, iters, flags
        self.cpu = {"larmor": 0.0, "bart": 0.0}

    def _run(self, tool, cmd):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu[tool] += (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)

    def larmor(self, lam):
        out = os.path.join(self.work, "xl")
        self._run("larmor", [self.bench, "cfl", self.k, self.m, out, str(self.iters), str(lam)] + self.flags)
        return read_cfl(out).reshape(self.shape)

    def bart(self, lam):
        out = os.path.join(self.work, "xb")
        self._run("bart", ["bart", "pics", "-l1", "-r", str(lam), "-i", str(self.iters), "-S", self.k, self.m, out])
        return read_cfl(out).reshape(self.shape)

    def setup(self, k_under, name):
        """k_under: (coils, ny, nx) with zeros where not sampled. Writes cfls and ecalib maps."""
        self.k = os.path.join(self.work, name + "_k")
        self.m = os.path.join(self.work, name + "_m")
        self.shape = k_under.shape[1:]
        write_cfl(self.k, k_under[:, None])  # BART dims x, y, z = 1, coils
        subprocess.run(["bart", "ecalib", "-m1", self.k, self.m], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        return read_cfl(self.m).reshape(k_under.shape)


def sweep(run, err, lams_l, lams_b):
    res = {}
    for tool, lams, f in (("larmor", lams_l, run.larmor), ("bart", lams_b, run.bart)):
        if tool in run.tools:
            res[tool] = [(lam, err(f(lam))) for lam in lams]
    return res


def report(name, res):
    print(f"## {name}")
    for tool, rows in res.items():
        best = min(rows, key=lambda r: r[1])
        print(f"  {tool:7s} " + "  ".join(f"{l:g}:{e:.4f}" for l, e in rows) + f"   best {best[0]:g} -> {best[1]:.4f}")
    if len(res) < 2:
        return None
    bl, bb = (min(e for _, e in res[t]) for t in ("larmor", "bart"))
    print(f"  best larmor / bart = {bl / bb:.4f}")
    sys.stdout.flush()
    return bl, bb


def geom(lo, hi, n):
    return [float(f"{v:.3g}") for v in np.geomspace(lo, hi, n)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--data", default="brain16,brain8,sim")
    ap.add_argument("--flags", nargs="*", default=[])
    ap.add_argument("--points", type=int, default=9)
    ap.add_argument("--tools", default="larmor,bart")
    ap.add_argument("--range", type=float, nargs=2, default=[2e-4, 1e-2], help="larmor's lambda range")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="cs_quality_")
    run = Runner(a.build, work, a.iters, a.flags)
    run.tools = a.tools.split(",")
    n = a.points
    for name in a.data.split(","):
        if name == "brain16":
            k = read_twix_ve(os.path.join(SCANS, "pulseq_invivo_brain_16ch", "2024-02-06-164128_localcoil16ch.dat"))
            mask = vd_mask(*k.shape[1:], 0.12, 20, 0)
            maps = run.setup(k * mask, name)
            ref = np.sum(np.conj(maps) * ifftc(k), axis=0)
            res = sweep(run, lambda x: nrmse(x, ref), geom(*a.range, n), geom(5e-4, 2.5e-2, n))
        elif name == "brain8":
            k = np.load(os.path.join(SCANS, "sigpy_brain_8ch", "cartesian_ksp.npy"))
            acq = np.abs(k).sum(0) > 0
            ny, nx = acq.shape
            centre = np.zeros_like(acq)
            centre[ny // 2 - 12:ny // 2 + 12, nx // 2 - 12:nx // 2 + 12] = True
            held = acq & ~centre & (np.random.default_rng(0).random(acq.shape) < 0.25)
            maps = run.setup(k * (acq & ~held), name)
            def err(x):
                return nrmse(fftc(maps * x)[:, held], k[:, held])
            res = sweep(run, err, geom(*a.range, n), geom(5e-4, 2.5e-2, n))
        elif name == "sim":
            N = 128
            img = phantom(N)
            coils = sim_coils(8, N)
            rng = np.random.default_rng(2)
            kf = fftc(coils * img)
            kf += 0.01 * np.abs(kf).max() * 0.05 * (rng.standard_normal(kf.shape) + 1j * rng.standard_normal(kf.shape))
            kf = kf.astype(np.complex64)
            mask = vd_mask(N, N, 0.2, 16, 3)
            maps = run.setup(kf * mask, name)
            ref = np.sum(np.conj(maps) * ifftc(kf), axis=0)
            res = sweep(run, lambda x: nrmse(x, ref), geom(*a.range, n), geom(5e-4, 2.5e-2, n))
        else:
            raise SystemExit(f"unknown data set {name}")
        report(name + (" flags " + " ".join(a.flags) if a.flags else ""), res)
    print(f"CPU (user+sys) over the sweeps: larmor {run.cpu['larmor']:.1f} s, bart {run.cpu['bart']:.1f} s")


if __name__ == "__main__":
    main()
