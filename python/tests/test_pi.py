"""Parallel imaging from Python (GRAPPA, SENSE, CG-SENSE, g-factors) against numpy references, ground
truth phantoms and BART's pics through cfl files."""
import os
import shutil
import subprocess
import tempfile

import numpy as np
import pytest

import larmor
from gil_check import assert_gil_released
from phantoms import phantom


def undersample(k, R, acs=24, offset=0):
    ny = k.shape[-2]
    keep = np.zeros(ny, bool)
    keep[offset::R] = True
    keep[ny // 2 - acs // 2: ny // 2 - acs // 2 + acs] = True
    return np.where(keep[:, None], k, 0).astype(np.complex64), keep


def nrmse(a, ref, mask=None):
    if mask is not None:
        a, ref = a[mask], ref[mask]
    return np.linalg.norm(a - ref) / np.linalg.norm(ref)


def numpy_sense(k, maps, R):
    """SENSE for lines y = 0, R, 2R, ... (offset 0): the zero-filled coil images alias with weight 1/R at
    shifts of N/R (phase exp(2 pi i * 0) = 1 for offset 0); solve the R x R least squares per pixel."""
    nc, ny, nx = k.shape
    lat = np.zeros_like(k)
    lat[:, ::R] = k[:, ::R]
    alias = larmor.ifftc(lat)
    out = np.zeros((ny, nx), np.complex128)
    step = ny // R
    for y in range(step):
        ys = [(y + j * step) for j in range(R)]
        for x in range(nx):
            E = np.stack([maps[:, yy, x] for yy in ys], axis=1) / R  # (nc, R)
            sol = np.linalg.lstsq(E, alias[:, y, x], rcond=None)[0]
            out[ys, x] = sol
    return out


def test_sense_matches_numpy_unfolding_and_truth():
    obj, maps, k = phantom(noise=0)
    for R in (2, 4):
        u, _ = undersample(k, R, acs=0)
        img = larmor.sense(u, maps)
        assert img.dtype == np.complex64 and img.shape == obj.shape
        ref = numpy_sense(u, maps, R)
        support = (np.abs(maps) ** 2).sum(0) > 1e-6
        assert nrmse(img, ref, support) < 1e-3  # float32 vs a float64 solve at R = 4
        assert nrmse(np.abs(img), obj, support) < 1e-3
        # (maps, coils, y, x) with one set is the same.
        assert np.allclose(larmor.sense(u, maps[None]), img)


def test_grappa_fills_lines_keeps_acquired_and_recovers_object():
    obj, maps, k = phantom(nc=12, n=96, noise=1e-3)
    truth = larmor.rss(larmor.ifftc(k))
    for R in (2, 3):
        u, keep = undersample(k, R, acs=24, offset=1)
        filled = larmor.grappa(u)
        assert filled.shape == u.shape and filled.dtype == np.complex64
        assert np.array_equal(filled[:, keep], u[:, keep])  # acquired lines exactly as acquired
        assert np.all(np.abs(filled[:, ~keep]).sum(axis=(0, 2)) > 0)  # every missing line filled
        e = nrmse(larmor.rss(larmor.ifftc(filled)), truth)
        e0 = nrmse(larmor.rss(larmor.ifftc(u)), truth)
        assert e < 0.05 and e < 0.2 * e0, (R, e, e0)
        # Separate calibration data gives the same kernel as the embedded ACS.
        acs = k[:, 48 - 12:48 + 12]
        # (the embedded block also takes in the lattice lines next to the ACS: slightly more rows)
        assert nrmse(larmor.grappa(u, acs=acs), filled) < 1e-3


def test_grappa_image_path_and_gfactor():
    obj, maps, k = phantom(nc=8, n=64, noise=1e-3)
    u, keep = undersample(k, 2, acs=24)
    unmix = larmor.grappa_unmixing(u, maps)
    img = larmor.grappa_unmix(u, unmix)
    via_k = larmor.combine(larmor.ifftc(larmor.grappa(u)), maps)
    support = obj > 0
    assert nrmse(img, via_k, support) < 0.03
    g = larmor.grappa_gfactor(u, maps)
    assert g.dtype == np.float32 and g.shape == obj.shape
    assert 1.0 <= np.mean(g[support]) < 2.0
    # SENSE g-factor: 1 for R = 1, >= 1 for R = 2, larger for R = 4.
    assert np.allclose(larmor.sense_gfactor(maps, 1)[support], 1, atol=1e-4)
    g2, g4 = larmor.sense_gfactor(maps, 2), larmor.sense_gfactor(maps, 4)
    assert np.all(g2[support] >= 1 - 1e-4) and np.mean(g4[support]) > np.mean(g2[support])


def test_cgsense_converges_to_sense_and_returns_residuals():
    obj, maps, k = phantom(noise=0)
    u, keep = undersample(k, 2, acs=0)
    img, res = larmor.cgsense(u, maps, iters=100, tol=1e-7, return_residuals=True)
    support = (np.abs(maps) ** 2).sum(0) > 1e-6
    assert nrmse(img, larmor.sense(u, maps), support) < 1e-3
    assert res[0] == pytest.approx(1.0) and res[-1] < 1e-3 and len(res) <= 101
    # A random mask with ACS (given explicitly, as booleans and as float weights).
    r = np.random.default_rng(3)
    mask = r.random(obj.shape) < 0.35
    mask[24:40, 24:40] = True
    um = np.where(mask, k, 0).astype(np.complex64)
    a = larmor.cgsense(um, maps, mask=mask, iters=60)
    b = larmor.cgsense(um, maps, mask=mask.astype(np.float32), iters=60)
    c = larmor.cgsense(um, maps, mask=mask.astype(np.int16) * 3, iters=60)  # integers: non-zero = sampled
    assert nrmse(a, b) < 1e-5 and nrmse(a, c) < 1e-6
    assert nrmse(np.abs(a), obj, support) < 0.05


@pytest.mark.skipif(shutil.which("bart") is None, reason="bart not installed")
def test_cgsense_same_iterates_as_bart_pics():
    obj, maps, k = phantom(nc=8, n=64, noise=1e-3)
    u, _ = undersample(k, 3, acs=16)
    with tempfile.TemporaryDirectory() as d:
        # BART dims (x, y, z, coils, maps): our (coils, y, x) reversed, plus the z axis.
        larmor.write_cfl(os.path.join(d, "k"), u[:, None])
        larmor.write_cfl(os.path.join(d, "s"), maps[None, :, None])
        for n in (5, 20):
            subprocess.run(["bart", "pics", "-l2", "-r", "0", "-i", str(n), "-w", "1", "-S", "k", "s", "x"], cwd=d,
                           check=True, capture_output=True)
            ref = larmor.read_cfl(os.path.join(d, "x")).reshape(obj.shape)
            ours = larmor.cgsense(u, maps, iters=n, tol=0)
            assert nrmse(ours, ref) < 1e-3, n


def test_bad_input_raises():
    obj, maps, k = phantom(nc=4, n=64)
    u, _ = undersample(k, 2)
    with pytest.raises(ValueError):
        larmor.sense(u, maps[:3])  # coil count mismatch
    with pytest.raises(ValueError):
        larmor.cgsense(u, maps, mask=np.ones((3, 3), bool))
    with pytest.raises(ValueError):
        larmor.grappa(u, kernel=(4,))
    with pytest.raises(RuntimeError):
        larmor.grappa(np.zeros_like(u))
    u3, _ = undersample(k, 3, acs=0)
    with pytest.raises(ValueError):
        larmor.sense(u3, maps)  # R = 3 does not divide 64 lines
    few, _ = undersample(k, 4, acs=6)
    with pytest.raises(RuntimeError):
        larmor.grappa(few)  # too few ACS lines for the kernel


def test_complex128_and_views_accepted():
    obj, maps, k = phantom(nc=4, n=64)
    u, _ = undersample(k, 2)
    a = larmor.sense(u, maps)
    b = larmor.sense(u.astype(np.complex128), maps.astype(np.complex128))
    assert np.allclose(a, b, atol=1e-6)
    big = np.zeros((4, 64, 128), np.complex64)
    big[:, :, ::2] = u
    assert np.allclose(larmor.grappa(big[:, :, ::2]), larmor.grappa(u))


def test_gil_released_during_cgsense():
    obj, maps, k = phantom(nc=16, n=192)
    u, _ = undersample(k, 2)
    assert_gil_released(lambda: larmor.cgsense(u, maps, iters=200, tol=0))


def test_grappa_gfactor_same_call_as_cpp_and_near_sense():
    """larmor.grappa_gfactor(kspace, maps, acs, kernel, reg, kernel_z) is C++'s grappa_gfactor(kspace, maps,
    acs, grappa_options): the kernel calibrated on acs's centre; against the step-by-step pipeline and
    SENSE's analytic g-factor at R = 2."""
    obj, maps, k = phantom(nc=8, n=64, noise=1e-3)
    u, keep = undersample(k, 2, acs=24)
    support = obj > 0
    g = larmor.grappa_gfactor(u, maps, None, kernel=(4, 5), reg=1e-3)
    g_acs = larmor.grappa_gfactor(u, maps, k, kernel=(4, 5), reg=1e-3)
    gs = larmor.sense_gfactor(maps, 2)
    # Mean g over the object: GRAPPA 1.2599, SENSE 1.2553 (ratio 1.0037), kernel from the full k-space 1.0082 x.
    assert abs(np.mean(g[support]) / np.mean(gs[support]) - 1) < 0.03
    assert abs(np.mean(g_acs[support]) / np.mean(g[support]) - 1) < 0.03
    # The unmixing-weight formula by hand: g = sqrt(sum |u|^2 * sum |S|^2) / R.
    unmix = larmor.grappa_unmixing(u, maps, kernel=(4, 5), reg=1e-3)
    ref = np.sqrt((np.abs(unmix) ** 2).sum(0) * (np.abs(maps) ** 2).sum(0)) / 2
    assert np.allclose(g, ref, rtol=1e-4, atol=1e-6)
    # The (maps, coils, y, x) layout with one set is the same call.
    assert np.array_equal(larmor.grappa_gfactor(u, maps[None], None, kernel=(4, 5), reg=1e-3), g)


@pytest.mark.parametrize("call", ["sense", "cgsense", "grappa_gfactor", "grappa_unmixing"])
def test_several_map_sets_are_refused_like_cpp(call):
    """Two ESPIRiT sets are never silently reduced to the first: ValueError with the C++ message."""
    obj, maps, k = phantom(nc=6, n=32)
    u, keep = undersample(k, 2, acs=16)
    two = np.stack([maps, maps])
    f = getattr(larmor, call)
    with pytest.raises(ValueError, match=rf"{call}: maps \(maps, coils, \.\.\.\) must hold one set of maps, got shape "
                                         r"\(2, 6, 32, 32\)"):
        f(u, two)
    one = f(u, maps[None])  # one set in the sets layout: accepted, same as (coils, ...)
    assert np.array_equal(one, f(u, maps))


def test_reg_is_absolute_in_sense_and_cgsense():
    """reg is the same absolute lambda in sense and cgsense ((A^H A + reg I) x = A^H k): both converge to the
    same image for the same reg, for data of any scale (scaling k scales x, the reg term does not rescale)."""
    obj, maps, k = phantom(nc=8, n=64, noise=1e-3)
    u, keep = undersample(k, 2, acs=0)
    for scale in (1.0, 1000.0):
        us = (u * scale).astype(np.complex64)
        s = larmor.sense(us, maps, reg=0.05)
        c = larmor.cgsense(us, maps, reg=0.05, iters=200, tol=1e-7)
        assert nrmse(c, s) < 1e-3
        assert nrmse(s / scale, larmor.sense(u, maps, reg=0.05)) < 1e-5


def test_concurrent_reconstructions_from_python_threads_equal_serial():
    """The GIL is released, so two Python threads reconstruct at once; results equal the serial ones."""
    import threading
    jobs = []
    for seed, nc in ((1, 8), (2, 6)):
        obj, maps, k = phantom(nc=nc, n=64, noise=1e-2, seed=seed)
        u, _ = undersample(k, 2, acs=16)
        jobs.append((u, maps))

    def run(u, maps):
        return (larmor.cgsense(u, maps, reg=1e-3, iters=15, tol=0), larmor.sense(u, maps, reg=1e-3),
                larmor.espirit_maps(u, calib=16))

    serial = [run(*j) for j in jobs]
    out = [None, None]
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, run(*jobs[i]))) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(out, serial):
        for x, y in zip(a, b):
            assert nrmse(x, y) < 1e-5
