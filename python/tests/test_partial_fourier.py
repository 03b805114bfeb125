"""larmor.partial_fourier against a small numpy POCS and homodyne written here, against the ground truth of a
phantom with smooth phase, and with bad input."""
import numpy as np
import pytest

import larmor
from gil_check import assert_gil_released
from phantoms import phantom


def fftc(x, axes=(-2, -1)):
    return np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(x, axes=axes), axes=axes, norm="ortho"), axes=axes)


def ifftc(x, axes=(-2, -1)):
    return np.fft.fftshift(np.fft.ifftn(np.fft.ifftshift(x, axes=axes), axes=axes, norm="ortho"), axes=axes)


def truth_images(nc=6, n=64):
    """Coil images of the shared phantom times a smooth (linear + quadratic) object phase."""
    obj, maps, _ = phantom(nc=nc, n=n, noise=0)
    y, x = np.mgrid[-1:1:n * 1j, -1:1:n * 1j]
    phase = np.exp(1j * (1.2 * x - 0.9 * y + 0.6 * (x ** 2 + y ** 2)))
    return (maps * obj * phase).astype(np.complex64)


def hann_window(n, begin, end):
    """Phase window along one axis: Hann over the symmetric centre |i - n//2| <= hs."""
    c = n // 2
    hs = min(c - begin, end - 1 - c)
    d = np.arange(n) - c
    return np.where(np.abs(d) <= hs, 0.5 * (1 + np.cos(np.pi * d / (hs + 1))), 0.0)


def numpy_phase(k, begin, end):
    w = hann_window(k.shape[-2], begin, end)
    z = ifftc(k * w[:, None])
    m = np.abs(z)
    return np.where(m > 0, z / np.where(m > 0, m, 1), 1)


def numpy_pocs(k, begin, end, iters):
    """POCS along y (Haacke 1991), written independently: per coil, fixed number of passes."""
    k = k.astype(np.complex128)
    ph = numpy_phase(k, begin, end)
    acq = np.zeros(k.shape[-2], bool)
    acq[begin:end] = True
    est = k.copy()
    for _ in range(iters):
        y = fftc(np.abs(ifftc(est)) * ph)
        est = np.where(acq[:, None], k, y)
    return est


def numpy_homodyne(k, end):
    """Homodyne along y (Noll 1991) for acquired lines [0, end): ramp 2 -> 0 through the symmetric region."""
    n = k.shape[-2]
    c = n // 2
    d = np.arange(n) - c
    h = np.clip(1 - d / (end - c), 0, 2)
    ph = numpy_phase(k.astype(np.complex128), 0, end)
    m = np.real(np.conj(ph) * ifftc(k * h[:, None]))
    return m, ph


def nrmse(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("keep", [40, 48, 56])
def test_pocs_matches_numpy_and_beats_zero_filling(keep):
    truth = truth_images()
    k = fftc(truth).astype(np.complex64)
    k[:, keep:, :] = 0
    ours = larmor.partial_fourier(k, method="pocs", axis=-2, iters=6, tol=0)
    assert ours.dtype == np.complex64 and ours.shape == k.shape
    ref = numpy_pocs(k, 0, keep, 6)
    assert nrmse(ours, ref) < 1e-4
    np.testing.assert_array_equal(ours[:, :keep], k[:, :keep])  # acquired lines kept
    e_zf, e_pocs = nrmse(ifftc(k), truth), nrmse(ifftc(ours), truth)
    print(f"{keep}/64: zero-filled {e_zf:.4f} POCS {e_pocs:.4f}")
    assert e_pocs < 0.15 * e_zf  # measured 0.115 (40/64), 0.072 (48), 0.056 (56)


def test_homodyne_matches_numpy():
    truth = truth_images()
    k = fftc(truth).astype(np.complex64)
    k[:, 44:, :] = 0
    ours = larmor.partial_fourier(k, method="homodyne")
    m, ph = numpy_homodyne(k, 44)
    img = ifftc(ours)
    assert nrmse(img, m * ph) < 1e-5
    assert nrmse(np.real(np.conj(ph) * img), m) < 1e-5
    assert nrmse(np.abs(img), np.abs(truth)) < 0.45 * nrmse(np.abs(ifftc(k)), np.abs(truth))  # measured 0.368


def test_axes_ranges_shapes():
    truth = truth_images(nc=2, n=48)
    full = fftc(truth).astype(np.complex64)
    k = full.copy()
    k[:, :, :12] = 0  # readout asymmetry: the early echo missing
    a = larmor.partial_fourier(k, axis=-1)
    b = larmor.partial_fourier(k, axis=(2,), acquired=[(12, 48)])
    c = larmor.partial_fourier(k, axis=-1, acquired=(12, 48))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert nrmse(ifftc(a), truth) < 0.25 * nrmse(ifftc(k), truth)  # measured 0.0185 vs 0.0893
    # One coil as a 2D array, non-contiguous input, complex128 input: the same result.
    one = larmor.partial_fourier(k[0], axis=-1)
    np.testing.assert_allclose(one, a[0], rtol=0, atol=1e-6 * np.abs(a).max())
    wide = np.zeros((2, 48, 96), np.complex64)
    wide[:, :, ::2] = k
    np.testing.assert_allclose(larmor.partial_fourier(wide[:, :, ::2], axis=-1), a, rtol=0, atol=1e-6 * np.abs(a).max())
    np.testing.assert_allclose(larmor.partial_fourier(k.astype(np.complex128), axis=-1), a, rtol=0,
                               atol=1e-6 * np.abs(a).max())
    # z and y at once in 3D (6/8 of each): against the fully sampled truth, far better than zero filling, the
    # acquired samples returned as given.
    truth3 = (np.repeat(truth[:, None], 16, axis=1) * np.hanning(16)[None, :, None, None]).astype(np.complex64)
    k3 = fftc(truth3, axes=(1, 2, 3)).astype(np.complex64)
    k3[:, 12:] = 0
    k3[:, :, 36:] = 0
    f3 = larmor.partial_fourier(k3, axis=(-3, -2))
    assert f3.shape == k3.shape
    # (the kz = -8 plane of a symmetric Hann profile is exactly 0, so the detected z range is [1, 12))
    np.testing.assert_array_equal(f3[:, 1:12, :36], k3[:, 1:12, :36])
    e_zf3 = nrmse(ifftc(k3, axes=(1, 2, 3)), truth3)
    e_pocs3 = nrmse(ifftc(f3, axes=(1, 2, 3)), truth3)
    print(f"3D z+y 12/16, 36/48: zero-filled {e_zf3:.4f} POCS {e_pocs3:.4f}")
    assert e_pocs3 < 0.006 and e_pocs3 < 0.1 * e_zf3  # measured 0.0051 vs 0.0609
    # zero: unchanged.
    np.testing.assert_array_equal(larmor.partial_fourier(k, method="zero", axis=-1), k)


def test_bad_input():
    k = fftc(truth_images(nc=2, n=32)).astype(np.complex64)
    k[:, 22:] = 0
    with pytest.raises(ValueError):
        larmor.partial_fourier(k, method="nope")
    with pytest.raises(ValueError):
        larmor.partial_fourier(k, axis=3)
    with pytest.raises(ValueError):
        larmor.partial_fourier(k, axis=0)  # the coil axis
    with pytest.raises(ValueError):
        larmor.partial_fourier(k, axis="y")
    with pytest.raises(ValueError):
        larmor.partial_fourier(k, acquired=(0, 40))  # outside the axis
    with pytest.raises(ValueError, match="less than half"):
        larmor.partial_fourier(k, acquired=(0, 15))
    with pytest.raises(ValueError):
        larmor.partial_fourier(k[None, None])  # rank 5
    with pytest.raises(ValueError):
        larmor.partial_fourier(k, iters=0)
    bad = k.copy()
    bad[1, 3, 3] = np.nan
    with pytest.raises(RuntimeError):
        larmor.partial_fourier(bad)
    with pytest.raises(RuntimeError):
        larmor.partial_fourier(np.zeros_like(k))


def test_releases_gil():
    k = fftc(truth_images(nc=16, n=128)).astype(np.complex64)
    k[:, 80:] = 0
    assert_gil_released(lambda: larmor.partial_fourier(k, iters=40, tol=0))
