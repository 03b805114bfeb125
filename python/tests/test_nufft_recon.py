"""NUFFT with upsampling 1.25 against a direct DFT in numpy; non-Cartesian raw data -> image
(larmor.noncartesian_recon) and non-Cartesian compressed sensing (larmor.cs_noncartesian) on a radial
simulation whose k-space comes from the direct DFT (not from larmor's NUFFT)."""
import numpy as np
import pytest

import larmor
from phantoms import phantom


def dft_matrix(shape, k):
    """E[m, r] = N^-1/2 exp(-2 pi i k_m.r/N), r = j - N//2 (C order over shape): y = E x."""
    grids = np.meshgrid(*[np.arange(n) - n // 2 for n in shape], indexing="ij")
    r = np.stack([g.ravel() / n for g, n in zip(grids, shape)], axis=-1)
    return np.exp(-2j * np.pi * k.reshape(-1, len(shape)) @ r.T) / np.sqrt(np.prod(shape))


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("shape", [(37,), (18, 21), (6, 9, 8)])
@pytest.mark.parametrize("eps", [1e-3, 1e-6])
def test_upsampling_125_matches_direct_dft(shape, eps):
    rng = np.random.default_rng(len(shape))
    d = len(shape)
    x = (rng.standard_normal((2,) + shape) + 1j * rng.standard_normal((2,) + shape)).astype(np.complex64)
    # points over the whole period, some outside [-N/2, N/2) (periodic) and some on the edge
    k = rng.uniform(-0.6, 0.6, (70, d)) * np.array(shape)
    k[0] = -np.array(shape) / 2
    E = dft_matrix(shape, k)
    y = larmor.nufft(x, k, eps=eps, upsampling=1.25)
    assert y.shape == (2, 70) and y.dtype == np.complex64
    ref = x.reshape(2, -1).astype(np.complex128) @ E.T
    assert rel(y, ref) < 10 * max(eps, 1e-6)
    yy = (rng.standard_normal((2, 70)) + 1j * rng.standard_normal((2, 70))).astype(np.complex64)
    xa = larmor.nufft_adjoint(yy, k, shape, eps=eps, upsampling=1.25)
    assert xa.shape == (2,) + shape
    xref = (yy.astype(np.complex128) @ E.conj()).reshape((2,) + shape)
    assert rel(xa, xref) < 10 * max(eps, 1e-6)
    # the same transform as upsampling 2 (two different grids and kernels)
    y2 = larmor.nufft(x, k, eps=eps)
    assert rel(y, y2) < 20 * max(eps, 1e-6)


def test_upsampling_rejects_other_factors():
    with pytest.raises(ValueError):
        larmor.nufft(np.zeros((8, 8), np.complex64), np.zeros((3, 2)), upsampling=1.5)


def radial_acquisition(n=32, nc=4, spokes=52, samples=64, seed=3):
    """Object and maps of phantoms.phantom at n^2; radial k-space (coils, spokes, samples) by the direct DFT."""
    obj, maps, _ = phantom(nc=nc, n=n, noise=0)
    k = larmor.radial_trajectory(spokes, samples, n)  # (spokes, samples, 2) (y, x), [-n/2, n/2)
    E = dft_matrix((n, n), k)
    y = (maps * obj).reshape(nc, -1).astype(np.complex128) @ E.T
    rng = np.random.default_rng(seed)
    y += 1e-4 * np.abs(y).max() * (rng.standard_normal(y.shape) + 1j * rng.standard_normal(y.shape))
    return obj, maps, k, y.reshape(nc, spokes, samples).astype(np.complex64)


def disc_limited(img, n):
    """img low-pass filtered to the k-space disc |k| <= n/2 a radial acquisition measures."""
    ky, kx = np.meshgrid(np.arange(n) - n // 2, np.arange(n) - n // 2, indexing="ij")
    return larmor.ifftc(larmor.fftc(img.astype(np.complex64)) * (ky ** 2 + kx ** 2 <= (n / 2) ** 2))


def test_noncartesian_recon_radial_matches_object():
    n, nc, spokes, samples = 32, 4, 52, 64
    obj, maps, k, y = radial_acquisition(n, nc, spokes, samples)
    # ISMRMRD layout: data (readouts, coils, samples), traj (readouts, samples, dims) as (kx, ky)
    data = np.ascontiguousarray(y.transpose(1, 0, 2))
    traj = np.ascontiguousarray(k[..., ::-1]).astype(np.float32)
    ref = np.abs(disc_limited(obj, n)) * np.sqrt((np.abs(maps) ** 2).sum(0))
    inside = obj > 0
    results = {}
    for method in ("cgsense", "gridding"):
        img, line = larmor.noncartesian_recon(data, traj, (n, n), method=method)
        img = np.asarray(img).reshape(n, n)
        assert "radial" in line and str(spokes) in line
        s = (img[inside] @ ref[inside]) / (img[inside] @ img[inside])  # magnitude scale of the maps is free
        results[method] = rel(s * img[inside], ref[inside])
    # C++ (tests/cpp/test_nufft_recon.cpp) measured 0.083 / 0.040 at 48^2 with the ESPIRiT maps' own scale
    assert results["cgsense"] < 0.12, results
    assert results["gridding"] < 0.12, results
    # units: the same trajectory in normalised units [-0.5, 0.5) and in radians [-pi, pi) gives the same image
    a, _ = larmor.noncartesian_recon(data, traj, (n, n), method="gridding")
    b, lb = larmor.noncartesian_recon(data, traj / n, (n, n), method="gridding")
    c, _ = larmor.noncartesian_recon(data, traj * (2 * np.pi / n), (n, n), method="gridding", units="radians")
    assert rel(np.asarray(b), np.asarray(a)) < 1e-4 and rel(np.asarray(c), np.asarray(a)) < 1e-4
    assert "normali" in lb


def test_noncartesian_recon_rejects_bad_input():
    data = np.zeros((4, 2, 16), np.complex64)
    with pytest.raises(ValueError):
        larmor.noncartesian_recon(data, np.zeros((4, 15, 2), np.float32), (8, 8))
    with pytest.raises(ValueError):
        larmor.noncartesian_recon(data, np.zeros((4, 16, 2), np.float32), (8,))


def test_cs_noncartesian_beats_cgsense_and_scales_with_data():
    n, nc, spokes, samples = 32, 6, 16, 64
    obj, maps, k, y = radial_acquisition(n, nc, spokes, samples, seed=5)
    rng = np.random.default_rng(8)
    y = y + 0.01 * np.abs(y).max() * (rng.standard_normal(y.shape) + 1j * rng.standard_normal(y.shape)).astype(
        np.complex64)
    ref = disc_limited(obj, n)
    x_cs = larmor.cs_noncartesian(y, maps, k, wavelet=0.05, iters=60)
    x_cg = larmor.cgsense_noncartesian(y, maps, k, iters=30)
    assert x_cs.shape == (n, n) and x_cs.dtype == np.complex64
    e_cs, e_cg = rel(x_cs, ref), rel(x_cg, ref)
    assert e_cs < 0.9 * e_cg, (e_cs, e_cg)
    assert e_cs < 0.3, e_cs
    # larmor.cs dispatches to it when given coords; the data scale carries through (y x 1000 -> image x 1000)
    x_1000 = larmor.cs(1000 * y, maps, coords=k, wavelet=0.05, iters=60)
    assert rel(x_1000, 1000 * x_cs) < 1e-3
