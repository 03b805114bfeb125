"""Compressed sensing from Python: larmor.cs against a numpy FISTA (iterate by iterate, same db2 wavelet
written here as matrices), against CG-SENSE and `bart pics` at each tool's best lambda (simulated data
with a known object; the real 8-channel brain by k-space cross-validation on held-out samples)."""
import os
import shutil
import subprocess
import tempfile

import numpy as np
import pytest

import larmor
from phantoms import phantom

BART = shutil.which("bart")
BRAIN = os.path.join(os.path.dirname(__file__), "..", "..", "data", "scans", "sigpy_brain_8ch", "cartesian_ksp.npy")


def fftc(x):
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def ifftc(x):
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(x, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def db2_matrix(n):
    """One periodic db2 level on n (even) samples as an n x n matrix: low-pass rows, then high-pass rows."""
    s3 = np.sqrt(3.0)
    h = np.array([1 + s3, 3 + s3, 3 - s3, 1 - s3]) / (4 * np.sqrt(2.0))
    g = np.array([(-1) ** j * h[3 - j] for j in range(4)])
    W = np.zeros((n, n))
    for k in range(n // 2):
        for j in range(4):
            W[k, (2 * k + j) % n] += h[j]
            W[n // 2 + k, (2 * k + j) % n] += g[j]
    return W


def soft(z, t):
    a = np.abs(z)
    return z * np.maximum(0, 1 - t / np.maximum(a, 1e-30))


def vd_mask(ny, nx, frac, calib, seed):
    r = np.random.default_rng(seed)
    y, x = np.mgrid[-1:1:ny * 1j, -1:1:nx * 1j]
    p = np.clip(frac * 2.5 * (1 - np.minimum(np.hypot(y, x), 1)) ** 2 + 0.02, 0, 1)
    m = r.random((ny, nx)) < p
    m[ny // 2 - calib // 2: ny // 2 + calib // 2, nx // 2 - calib // 2: nx // 2 + calib // 2] = True
    return m


def test_cs_matches_numpy_fista_iterate_by_iterate():
    nc, n = 4, 32
    obj, maps, k = phantom(nc, n, noise=1e-3)
    mask = vd_mask(n, n, 0.4, 8, 3)
    k = np.where(mask, k, 0).astype(np.complex64)
    lam, step = 0.02, 0.5
    W = db2_matrix(n)  # one level: 32 -> 16 = min_size
    A = lambda x: mask * fftc(maps * x)
    AH = lambda y: np.sum(np.conj(maps) * ifftc(mask * y), axis=0)
    b = AH(k.astype(np.complex128))

    def prox(v, t):
        c = W @ v @ W.T
        keep = c[:16, :16].copy()
        c = soft(c, t)
        c[:16, :16] = keep
        return W.T @ c @ W

    x = np.zeros((n, n), complex)
    z, t = x.copy(), 1.0
    for it in range(1, 7):
        xn = prox(z - step * (AH(A(z)) - b), step * lam)
        tn = (1 + np.sqrt(1 + 4 * t * t)) / 2
        z = xn + (t - 1) / tn * (xn - x)
        x, t = xn, tn
        ours = larmor.cs(k, maps, mask=mask, wavelet=lam, iters=it, cycle_spin=False, step=step, scale=1.0,
                         wavelet_coarse=False)
        assert np.linalg.norm(ours - x) / np.linalg.norm(x) < 2e-5, it


def test_pogm_matches_numpy_pogm_iterate_by_iterate():
    # Kim & Fessler (2018) proximal OGM, Fessler (2020) Fig. 3, in numpy: the last iteration's momentum uses
    # the factor 8, so every N is run from the start.
    nc, n = 4, 32
    obj, maps, k = phantom(nc, n, noise=1e-3)
    mask = vd_mask(n, n, 0.4, 8, 4)
    k = np.where(mask, k, 0).astype(np.complex64)
    lam, tau = 0.02, 0.5
    W = db2_matrix(n)
    A = lambda x: mask * fftc(maps * x)
    AH = lambda y: np.sum(np.conj(maps) * ifftc(mask * y), axis=0)
    b = AH(k.astype(np.complex128))

    def prox(v, t):
        c = W @ v @ W.T
        keep = c[:16, :16].copy()
        c = soft(c, t)
        c[:16, :16] = keep
        return W.T @ c @ W

    for N in (1, 2, 3, 6, 10):
        x = np.zeros((n, n), complex)
        w, z, th, ga = x.copy(), x.copy(), 1.0, tau
        for it in range(1, N + 1):
            thn = (1 + np.sqrt((4 if it < N else 8) * th * th + 1)) / 2
            gan = tau * (2 * th + thn - 1) / thn
            wn = x - tau * (AH(A(x)) - b)
            zn = wn + (th - 1) / thn * (wn - w) + th / thn * (wn - x) + (th - 1) * tau / (ga * thn) * (z - x)
            x = prox(zn, gan * lam)
            w, z, th, ga = wn, zn, thn, gan
        ours = larmor.cs(k, maps, mask=mask, wavelet=lam, iters=N, cycle_spin=False, step=tau, scale=1.0,
                         solver="pogm", wavelet_coarse=False)
        assert np.linalg.norm(ours - x) / np.linalg.norm(x) < 2e-5, N


def test_dynamic_llr_and_time_tv_beat_zero_filled():
    nc, n, T = 4, 32, 6
    obj, maps, _ = phantom(nc, n)
    y, x = np.mgrid[0:n, 0:n] / n
    truth = np.stack([obj + 0.5 * (1 + np.sin(2 * np.pi * t / T)) * ((y - 0.45) ** 2 + (x - 0.5) ** 2 < 0.01)
                      for t in range(T)]).astype(np.complex64)
    r = np.random.default_rng(5)
    masks = np.stack([vd_mask(n, n, 0.2, 8, 50 + t) for t in range(T)])
    k = np.stack([masks[t] * (fftc(maps * truth[t]) + 0.01 * (r.standard_normal((nc, n, n)) +
                                                              1j * r.standard_normal((nc, n, n))))
                  for t in range(T)]).astype(np.complex64)
    zf = np.sum(np.conj(maps)[None] * ifftc(k), axis=1)

    def err(img):
        a = np.vdot(img, truth) / np.vdot(img, img)  # best complex scale (zero-filled is not density-compensated)
        return np.linalg.norm(a * img - truth) / np.linalg.norm(truth)

    e_zf = err(zf)
    llr = larmor.cs(k, maps, llr=0.05, iters=30)
    assert llr.shape == (T, n, n)
    tvt = larmor.cs(k, maps, mask=masks, tv_time=0.05, tv=0.005, iters=10)
    assert err(llr) < 0.8 * e_zf and err(tvt) < e_zf, (e_zf, err(llr), err(tvt))
    # Seeded random block shifts: reproducible.
    np.testing.assert_array_equal(llr, larmor.cs(k, maps, llr=0.05, iters=30))


def test_cs_info_scale_and_bad_arguments():
    obj, maps, k = phantom(4, 32)
    img, info = larmor.cs(k, maps, wavelet=0.01, iters=3, return_info=True)
    assert info["iterations"] == 3 and info["scale"] > 0 and 0 < info["step"] < 2
    with pytest.raises(ValueError):
        larmor.cs(k, maps)  # no penalty
    with pytest.raises(ValueError):
        larmor.cs(k, maps, wavelet=0.01, solver="cg")
    with pytest.raises(ValueError):
        larmor.cs(k, maps, llr=0.01)
    with pytest.raises(ValueError):
        larmor.cs(k, maps, tv=0.01, solver="fista")


def run_bart(d, args):
    subprocess.run([BART] + args, cwd=d, check=True, capture_output=True)


@pytest.mark.skipif(BART is None, reason="bart not installed")
def test_simulated_no_worse_than_bart_at_best_lambda():
    nc, n = 8, 64
    obj, maps, kf = phantom(nc, n, noise=2e-3, seed=4)
    mask = vd_mask(n, n, 0.25, 12, 5)
    k = np.where(mask, kf, 0).astype(np.complex64)
    ref = obj.astype(np.complex64)
    err = lambda x: np.linalg.norm(x - ref) / np.linalg.norm(ref)
    cg = err(larmor.cgsense(k, maps, iters=30))
    with tempfile.TemporaryDirectory() as d:
        larmor.write_cfl(os.path.join(d, "k"), k[:, None])
        larmor.write_cfl(os.path.join(d, "s"), maps[:, None])
        for name, opt, bart_opt, lams, iters in (
                ("l1", "wavelet", ["-l1", "-r"], [0.0005, 0.002, 0.008], 60),
                ("tv", "tv", ["-R"], [0.002, 0.008, 0.032], 20)):
            ours, theirs = [], []
            for lam in lams:
                ours.append(err(larmor.cs(k, maps, iters=iters, **{opt: lam})))
                arg = [str(lam)] if name == "l1" else ["T:3:0:%g" % lam]
                run_bart(d, ["pics", "-S", "-i", str(iters)] + bart_opt + arg + ["k", "s", "x"])
                theirs.append(err(larmor.read_cfl(os.path.join(d, "x")).reshape(n, n)))
            print(name, "larmor", np.round(ours, 4), "bart", np.round(theirs, 4), "cgsense", round(cg, 4))
            assert min(ours) < 0.9 * cg
            assert min(ours) <= min(theirs) + 2e-3


@pytest.mark.skipif(BART is None or not os.path.exists(BRAIN), reason="bart or the brain scan is missing")
def test_real_brain_cross_validation_no_worse_than_bart():
    """The real 8-channel brain (Poisson disc, ~12 % sampled) has no fully sampled reference, so the
    reference is the scanner's own data: 25 % of the acquired samples outside the 24 x 24 centre are held
    out, both tools reconstruct from the rest, and each image predicts the held-out samples (fftc(S x))."""
    k = np.load(BRAIN).astype(np.complex64)
    nc, ny, nx = k.shape
    acq = np.abs(k).sum(0) > 0
    centre = np.zeros_like(acq)
    centre[ny // 2 - 12: ny // 2 + 12, nx // 2 - 12: nx // 2 + 12] = True
    r = np.random.default_rng(0)
    held = acq & ~centre & (r.random(acq.shape) < 0.25)
    train = acq & ~held
    kt = np.where(train, k, 0).astype(np.complex64)
    maps = larmor.espirit_maps(kt, calib=24)[0]
    ref = k[:, held]
    def err(x):
        # BART's centred FFT differs from fftc by a global sign when n/2 is odd (230 / 2 = 115): the
        # image's global phase is a convention, so each prediction gets its best global complex factor.
        p = larmor.fftc(maps * x)[:, held]
        p = p * (np.vdot(p, ref) / np.vdot(p, p))
        return np.linalg.norm(p - ref) / np.linalg.norm(ref)

    with tempfile.TemporaryDirectory() as d:
        larmor.write_cfl(os.path.join(d, "k"), kt[:, None])
        larmor.write_cfl(os.path.join(d, "s"), maps[:, None])
        for name, opt, lams, iters in (("l1", "wavelet", [0.0005, 0.001, 0.002, 0.005], 30),
                                       ("tv", "tv", [0.0005, 0.002, 0.005], 15)):
            ours, theirs = [], []
            for lam in lams:
                ours.append(err(larmor.cs(kt, maps, mask=train, iters=iters, **{opt: lam})))
                reg = ["-l1", "-r", str(lam)] if name == "l1" else ["-R", "T:3:0:%g" % lam]
                run_bart(d, ["pics", "-S", "-i", str(iters)] + reg + ["k", "s", "x"])
                theirs.append(err(larmor.read_cfl(os.path.join(d, "x")).reshape(ny, nx)))
            print(name, "held-out NRMSE larmor", np.round(ours, 4), "bart", np.round(theirs, 4))
            # Measured 2026-12-01: l1 0.2848 vs bart 0.2816 (larmor 1 % worse, issue 17 open on this point).
            assert min(ours) <= 1.02 * min(theirs)
