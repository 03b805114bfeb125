"""Every solver and method gives the same result on 1 and on 2 threads (the contract: results do not
depend on the thread count). Where the code fixes its summation order (GRAPPA, the CG dot products,
partial Fourier, the point-mask SENSE normal operator's coil groups, NUFFT spreading) the results are
equal bit for bit; FFTW's threaded plans may round differently from its serial ones, so methods whose
FFTs run on several threads are held to float round-off (1e-6 relative), far below any effect an image
could show and far above nothing: a partial sum split by the thread count that an iterative solver
carries through 30 iterations shows up here.

(tests/cpp/test_single_user.cpp checks that an operator shared by two threads is refused, not silently
corrupted.)
"""
import numpy as np
import pytest

import larmor
from phantoms import phantom


@pytest.fixture(autouse=True)
def restore_threads():
    before = larmor.num_threads()
    yield
    larmor.set_num_threads(0)
    if before != larmor.num_threads():
        larmor.set_num_threads(before)


def on(threads, f):
    larmor.set_num_threads(threads)
    try:
        return f()
    finally:
        larmor.set_num_threads(0)


ITERATIVE = 1e-4  # iterative solvers on multithreaded FFTs: FFTW's round-off, carried through the iterations


def same(f, exact, tol=1e-6):
    a, b = on(1, f), on(2, f)
    a = a if isinstance(a, tuple) else (a,)
    b = b if isinstance(b, tuple) else (b,)
    for x, y in zip(a, b):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape
        if exact:
            assert np.array_equal(x, y), np.abs(x - y).max()
        else:
            d = np.linalg.norm(x - y) / max(np.linalg.norm(x), 1e-30)
            assert d < tol, d


def lattice(k, R, acs=24):
    ny = k.shape[-2]
    keep = np.zeros(ny, bool)
    keep[::R] = True
    keep[ny // 2 - acs // 2: ny // 2 + acs // 2] = True
    return np.where(keep[:, None], k, 0).astype(np.complex64)


def poisson_like(ny, nx, frac, seed):
    """A variable-density random point mask over (y, x) with a fully sampled centre."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[-1:1:ny * 1j, -1:1:nx * 1j]
    p = np.clip(frac * 1.5 * np.exp(-(x ** 2 + y ** 2) / 0.4), 0, 1)
    m = rng.random((ny, nx)) < p
    m[ny // 2 - 8:ny // 2 + 8, nx // 2 - 8:nx // 2 + 8] = True
    return m.astype(np.float32)


@pytest.fixture(scope="module")
def data():
    obj, maps, k = phantom(nc=12, n=96, noise=2e-3, seed=3)
    return obj, maps.astype(np.complex64), k


def test_grappa_and_unmixing_bitwise(data):
    _, _, k = data
    u = lattice(k, 3)
    same(lambda: larmor.grappa(u), exact=True)


def test_partial_fourier_bitwise(data):
    _, _, k = data
    pf = k.copy()
    pf[:, :30] = 0
    same(lambda: larmor.partial_fourier(pf, method="pocs"), exact=True)
    same(lambda: larmor.partial_fourier(pf, method="homodyne"), exact=True)


def test_point_mask_solvers(data):
    """l1-wavelet CS on a point mask runs on the point-mask normal operator, whose coil groups no longer
    follow the thread count (single-threaded FFTs per coil): bit for bit. CG-SENSE's point-mask operator
    transforms all coils in one multithreaded FFTW plan: round-off."""
    _, maps, k = data
    m = poisson_like(96, 96, 0.3, 1)
    km = (k * m).astype(np.complex64)
    same(lambda: larmor.cs(km, maps, mask=m, wavelet=0.005, iters=30), exact=True)
    same(lambda: larmor.cgsense(km, maps, mask=m, iters=20), exact=False, tol=ITERATIVE)


def test_every_other_method_within_round_off(data):
    _, maps, k = data
    u = lattice(k, 2)
    m = (np.abs(u).sum(axis=(0, 2)) > 0).astype(np.float32)
    img = larmor.ifftc(k)
    # Measured equal bit for bit on this machine; held to round-off (FFTW's threaded plans may differ).
    same(lambda: larmor.sense(u, maps, 2), exact=False)
    same(lambda: larmor.cgsense(u, maps, iters=15), exact=False, tol=ITERATIVE)
    same(lambda: larmor.cs(u, maps, wavelet=0.005, iters=20), exact=False, tol=ITERATIVE)
    same(lambda: larmor.cs(u, maps, tv=0.005, iters=10), exact=False, tol=ITERATIVE)
    same(lambda: larmor.espirit_maps(k), exact=False)
    same(lambda: larmor.inati_maps(img), exact=False)
    same(lambda: larmor.fftc(k), exact=False)
    # Walsh's blocks no longer follow the thread count (they restart its sliding sums and warm starts).
    same(lambda: larmor.walsh_maps(img), exact=True)
    del m


def test_nufft_and_noncartesian_within_round_off(data):
    _, maps, _ = data
    coords = larmor.radial_trajectory(64, 31, 96).reshape(-1, 2) if hasattr(larmor, "radial_trajectory") else None
    if coords is None:
        pytest.fail("larmor.radial_trajectory is missing")
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((96, 96)) + 1j * rng.standard_normal((96, 96))).astype(np.complex64)
    same(lambda: larmor.nufft(x, coords), exact=True)
    y = larmor.nufft(maps * x, coords)
    same(lambda: larmor.nufft_adjoint(y, coords, (96, 96)), exact=True)
    same(lambda: larmor.cgsense(y, maps, coords=coords, iters=10), exact=False)


def test_chain_methods_within_round_off(tmp_path):
    gen = "ismrmrd_generate_cartesian_shepp_logan"
    import shutil
    import subprocess
    if shutil.which(gen) is None:
        pytest.fail(f"{gen} (ismrmrd-tools, a test dependency) is not installed")
    f = tmp_path / "sl.h5"
    subprocess.run([gen, "-m", "64", "-c", "8", "-a", "2", "-w", "24", "-n", "0.01", "-o", str(f)],
                   check=True, capture_output=True)
    for method in ("auto", "grappa", "sense", "cgsense", "espirit", "cs"):
        def run():
            imgs, _, _ = larmor.recon(str(f), method=method)
            return tuple(np.asarray(i) for i in imgs)
        same(run, exact=method == "grappa")

