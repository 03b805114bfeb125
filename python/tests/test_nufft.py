"""NUFFT bindings: nufft / nufft_adjoint against a direct DFT in numpy, shapes (coil axis first, samples
last), grid identity with fftc, dcf, trajectories, non-Cartesian CG-SENSE against a dense solve."""
import numpy as np
import pytest

import larmor


def direct(x, k):
    """y(k) = N^-1/2 sum_r x(r) exp(-2 pi i k.r/N), r = j - N//2, over the last k.shape[-1] axes of x."""
    d = k.shape[-1]
    shape = x.shape[-d:]
    grids = np.meshgrid(*[np.arange(n) - n // 2 for n in shape], indexing="ij")
    r = np.stack([g.ravel() / n for g, n in zip(grids, shape)], axis=-1)  # (npix, d)
    kk = k.reshape(-1, d)
    E = np.exp(-2j * np.pi * kk @ r.T) / np.sqrt(np.prod(shape))
    xb = x.reshape(x.shape[:-d] + (-1,))
    return (xb @ E.T).reshape(x.shape[:-d] + k.shape[:-1])


@pytest.mark.parametrize("eps", [1e-3, 1e-5, 1e-6])
def test_nufft_matches_direct_dft_2d(eps):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((3, 18, 20)) + 1j * rng.standard_normal((3, 18, 20))).astype(np.complex64)
    k = rng.uniform(-0.5, 0.5, (7, 11, 2)) * np.array([18, 20])
    y = larmor.nufft(x, k, eps=eps)
    assert y.shape == (3, 7, 11) and y.dtype == np.complex64
    ref = direct(x.astype(np.complex128), k)
    assert np.linalg.norm(y - ref) / np.linalg.norm(ref) < 10 * max(eps, 1e-6)
    yy = (rng.standard_normal((3, 7, 11)) + 1j * rng.standard_normal((3, 7, 11))).astype(np.complex64)
    xa = larmor.nufft_adjoint(yy, k, (18, 20), eps=eps)
    assert xa.shape == (3, 18, 20)
    # adjoint of the direct DFT
    d = 2
    grids = np.meshgrid(*[np.arange(n) - n // 2 for n in (18, 20)], indexing="ij")
    r = np.stack([g.ravel() / n for g, n in zip(grids, (18, 20))], axis=-1)
    E = np.exp(-2j * np.pi * k.reshape(-1, d) @ r.T) / np.sqrt(18 * 20)
    xref = (yy.reshape(3, -1).astype(np.complex128) @ E.conj()).reshape(3, 18, 20)
    assert np.linalg.norm(xa - xref) / np.linalg.norm(xref) < 10 * max(eps, 1e-6)


def test_nufft_1d_3d_and_complex128():
    rng = np.random.default_rng(1)
    x1 = rng.standard_normal(33) + 1j * rng.standard_normal(33)  # complex128, no batch axis
    k1 = rng.uniform(-16.5, 16.5, (40, 1))
    y1 = larmor.nufft(x1, k1, eps=1e-6)
    assert y1.shape == (40,)
    assert np.linalg.norm(y1 - direct(x1, k1)) / np.linalg.norm(direct(x1, k1)) < 1e-5
    x3 = (rng.standard_normal((2, 6, 8, 10)) + 1j * rng.standard_normal((2, 6, 8, 10))).astype(np.complex64)
    k3 = rng.uniform(-0.5, 0.5, (50, 3)) * np.array([6, 8, 10])
    y3 = larmor.nufft(x3, k3, eps=1e-5)
    ref = direct(x3.astype(np.complex128), k3)
    assert np.linalg.norm(y3 - ref) / np.linalg.norm(ref) < 1e-4


def test_integer_coordinates_equal_fftc():
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((2, 16, 12)) + 1j * rng.standard_normal((2, 16, 12))).astype(np.complex64)
    ky, kx = np.meshgrid(np.arange(16) - 8, np.arange(12) - 6, indexing="ij")
    k = np.stack([ky, kx], axis=-1).astype(np.float64)  # (16, 12, 2)
    y = larmor.nufft(x, k, eps=1e-7)
    ref = larmor.fftc(x)
    assert np.linalg.norm(y - ref) / np.linalg.norm(ref) < 1e-5
    back = larmor.nufft_adjoint(ref, k, (16, 12), eps=1e-7)
    assert np.linalg.norm(back - x) / np.linalg.norm(x) < 1e-5


def test_bad_arguments():
    x = np.zeros((4, 8, 8), np.complex64)
    with pytest.raises(ValueError):
        larmor.nufft(x, np.zeros((10, 4)))
    with pytest.raises(ValueError):
        larmor.nufft(x, np.zeros((10, 2)), eps=0)
    with pytest.raises(ValueError):
        larmor.nufft_adjoint(np.zeros((4, 10), np.complex64), np.zeros((10, 2)), (8, 8, 8))
    with pytest.raises(ValueError):
        larmor.nufft_adjoint(np.zeros((4, 9), np.complex64), np.zeros((10, 2)), (8, 8))
    with pytest.raises(RuntimeError):
        larmor.nufft(x, np.full((10, 2), np.nan))
    with pytest.raises(ValueError):
        larmor.radial_trajectory(10, 20, kind="spiral")


def test_trajectory_and_dcf():
    k = larmor.radial_trajectory(64, 128, 64)
    assert k.shape == (64, 128, 2)
    assert np.abs(k).max() <= 32 + 1e-9
    g = larmor.radial_trajectory(3, 8, kind="golden")
    ang = np.degrees(np.arctan2(g[1, 0, 0], g[1, 0, 1]) - np.arctan2(g[0, 0, 0], g[0, 0, 1])) % 360
    assert abs(ang - 111.246) < 1e-2 or abs(ang - (111.246 + 180) % 360) < 1e-2
    w = larmor.dcf(k, (64, 64))
    assert w.shape == (64, 128) and w.dtype == np.float32
    r = np.hypot(k[..., 0], k[..., 1])
    sel = (r > 6) & (r < 24)
    expect = np.pi * r * 0.5 / 64
    assert np.mean(np.abs(w[sel] - expect[sel]) / expect[sel]) < 0.05
    wr = larmor.dcf(k, method="ramp")
    assert np.mean(np.abs(wr[sel] - expect[sel]) / expect[sel]) < 0.05
    assert larmor.stack_of_stars_trajectory(4, 5, 16).shape == (4, 5, 16, 3)
    assert larmor.kooshball_trajectory(5, 16).shape == (5, 16, 3)
    assert larmor.spiral_trajectory(4, 100, 32).shape == (4, 100, 2)


def test_gridding_recovers_image_scale():
    # gridding with the Pipe-Menon weights of a well-sampled radial trajectory reproduces a smooth image
    n = 32
    yy, xx = np.mgrid[:n, :n] - n // 2
    img = np.exp(-(yy**2 + xx**2) / 40.0).astype(np.complex64)
    k = larmor.radial_trajectory(100, 2 * n, n)
    y = larmor.nufft(img, k)
    w = larmor.dcf(k, (n, n))
    rec = larmor.nufft_adjoint(y * w, k, (n, n))
    assert np.linalg.norm(rec - img) / np.linalg.norm(img) < 0.05


def test_cgsense_noncartesian_matches_dense_solve():
    rng = np.random.default_rng(3)
    ny, nx, coils = 12, 12, 4
    yy, xx = np.mgrid[:ny, :nx]
    maps = np.stack([np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 60.0) * np.exp(1j * 0.2 * c * xx)
                     for c, (cy, cx) in enumerate([(0, 0), (0, 11), (11, 0), (11, 11)])]).astype(np.complex64)
    truth = ((np.abs(yy - 6) < 4) & (np.abs(xx - 5) < 3)).astype(np.complex64) + 0.2
    k = larmor.radial_trajectory(9, 24, 12, kind="golden")
    y = larmor.nufft(maps * truth, k, eps=1e-7)
    y = y + 0.01 * (rng.standard_normal(y.shape) + 1j * rng.standard_normal(y.shape))
    reg = 0.01
    grids = np.meshgrid(np.arange(ny) - ny // 2, np.arange(nx) - nx // 2, indexing="ij")
    r = np.stack([grids[0].ravel() / ny, grids[1].ravel() / nx], axis=-1)
    F = np.exp(-2j * np.pi * k.reshape(-1, 2) @ r.T) / np.sqrt(ny * nx)
    E = np.concatenate([F * maps[c].ravel()[None, :] for c in range(coils)])
    A = E.conj().T @ E + reg * np.eye(ny * nx)
    ref = np.linalg.solve(A, E.conj().T @ y.reshape(-1)).reshape(ny, nx)
    out = larmor.cgsense_noncartesian(y.astype(np.complex64), maps, k, reg=reg, iters=200, tol=1e-7)
    assert out.shape == (ny, nx)
    assert np.linalg.norm(out - ref) / np.linalg.norm(ref) < 2e-3
    out4 = larmor.cgsense_noncartesian(y.astype(np.complex64), maps[None], k, reg=reg, iters=200, tol=1e-7,
                                       toeplitz=False)
    assert np.linalg.norm(out4 - ref) / np.linalg.norm(ref) < 2e-3


@pytest.mark.skipif(__import__("shutil").which("bart") is None, reason="bart not installed")
def test_against_bart_nufft_and_pics(tmp_path):
    import subprocess
    N, coils, spokes = 32, 4, 24
    d = str(tmp_path)
    subprocess.run(["bart", "traj", "-r", "-x", str(N), "-y", str(spokes), "-o", "2", d + "/traj"], check=True,
                   capture_output=True)
    tb = larmor.read_cfl(d + "/traj")                      # numpy (spokes, samples, 3) = (x, y, z) last
    k = np.ascontiguousarray(tb.real[..., [1, 0]]).astype(np.float64)   # larmor (y, x)
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:N, :N]
    maps = np.stack([np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (N * N / 3.0)) * np.exp(1j * 0.05 * c * xx)
                     for c, (cy, cx) in enumerate([(0, 0), (0, N), (N, 0), (N, N)])]).astype(np.complex64)
    maps /= np.sqrt((np.abs(maps) ** 2).sum(0))
    truth = (((yy - N / 2) ** 2 + (xx - N / 2) ** 2) < (N / 3) ** 2) * (1 + 0.5 * (xx > N / 2))
    x = (maps * truth).astype(np.complex64)
    larmor.write_cfl(d + "/img", x[:, None])              # BART (x, y, 1, coils)
    subprocess.run(["bart", "nufft", d + "/traj", d + "/img", d + "/ksp"], check=True, capture_output=True)
    kb = larmor.read_cfl(d + "/ksp").reshape(coils, spokes, 2 * N)
    kl = larmor.nufft(x, k)
    # same units and scale; BART's width-6 Kaiser-Bessel NUFFT is accurate to a few per cent
    assert np.linalg.norm(kb - kl) / np.linalg.norm(kb) < 0.05
    y = (kl + 0.01 * np.abs(kl).max() * (rng.standard_normal(kl.shape) + 1j * rng.standard_normal(kl.shape))).astype(np.complex64)
    larmor.write_cfl(d + "/y", y[..., None])               # BART (1, samples, spokes, coils)
    larmor.write_cfl(d + "/sens", maps[:, None])
    for reg in (0.0, 0.1):
        subprocess.run(["bart", "pics", "-S", "-t", d + "/traj", "-l2", "-r", str(reg), "-i", "30", d + "/y",
                        d + "/sens", d + "/rec"], check=True, capture_output=True)
        rb = larmor.read_cfl(d + "/rec").reshape(N, N)
        rl = larmor.cgsense_noncartesian(y, maps, k, reg=reg, iters=30, tol=0)
        assert np.linalg.norm(rl - rb) / np.linalg.norm(rb) < 0.03


def test_cgsense_3d_toeplitz_matches_direct_normal():
    rng = np.random.default_rng(7)
    shape = (6, 8, 10)
    maps = (rng.standard_normal((3,) + shape) + 1j * rng.standard_normal((3,) + shape)).astype(np.complex64)
    k = larmor.stack_of_stars_trajectory(6, 10, 20, 10)
    y = (rng.standard_normal((3,) + k.shape[:-1]) + 1j * rng.standard_normal((3,) + k.shape[:-1])).astype(np.complex64)
    a = larmor.cgsense_noncartesian(y, maps, k, reg=0.1, iters=5, tol=0, toeplitz=True)
    b = larmor.cgsense_noncartesian(y, maps, k, reg=0.1, iters=5, tol=0, toeplitz=False)
    assert a.shape == shape
    assert np.linalg.norm(a - b) / np.linalg.norm(b) < 1e-4


def test_plan_object_matches_one_call_functions():
    rng = np.random.default_rng(8)
    k = larmor.radial_trajectory(20, 40, 24, kind="tiny_golden")
    plan = larmor.NufftPlan((24, 24), k, eps=1e-5)
    assert plan.shape == [24, 24] and plan.kernel_width == 6
    x = (rng.standard_normal((2, 3, 24, 24)) + 1j * rng.standard_normal((2, 3, 24, 24))).astype(np.complex64)
    y = plan.forward(x)
    assert y.shape == (2, 3, 20, 40)
    assert np.allclose(y, larmor.nufft(x, k, eps=1e-5), atol=1e-5)
    assert np.allclose(plan.adjoint(y), larmor.nufft_adjoint(y, k, (24, 24), eps=1e-5), atol=1e-4)
    with pytest.raises(ValueError):
        plan.forward(np.zeros((24, 25), np.complex64))
    with pytest.raises(ValueError):
        plan.adjoint(np.zeros((20, 41), np.complex64))
