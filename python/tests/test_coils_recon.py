"""Coil maps, combination, compression, noise and the raw-data chain from Python, against numpy and
ground truth; the demo raw data shipped in data/."""
import os

import numpy as np
import pytest

import larmor
from phantoms import phantom

DEMO = os.path.join(os.path.dirname(__file__), "..", "..", "data", "shepp_logan_8ch_96.h5")


def cosines(a, b, mask):
    ip = np.abs((np.conj(a) * b).sum(0))
    return (ip / np.sqrt((np.abs(a) ** 2).sum(0) * (np.abs(b) ** 2).sum(0) + 1e-30))[mask]


def test_espirit_walsh_inati_recover_true_maps():
    obj, maps, k = phantom()
    mask = obj > 0
    imgs = larmor.ifftc(k)
    esp = larmor.espirit_maps(k)
    assert esp.shape == (1, 8, 64, 64) and esp.dtype == np.complex64
    assert cosines(esp[0], maps, mask).mean() > 0.999
    assert cosines(larmor.walsh_maps(imgs), maps, mask).mean() > 0.99
    assert cosines(larmor.inati_maps(imgs), maps, mask).mean() > 0.99


def test_combine_with_true_maps_returns_object_and_matches_numpy():
    obj, maps, k = phantom(noise=0)
    imgs = maps * obj
    c = larmor.combine(imgs, maps)
    assert np.allclose(c.real, obj, atol=1e-4) and np.abs(c.imag).max() < 1e-4
    ref = (np.conj(maps) * imgs).sum(0) / (np.abs(maps) ** 2).sum(0)
    assert np.allclose(c, ref, atol=1e-5)
    psi = np.eye(8, dtype=np.complex64) * 2
    assert np.allclose(larmor.combine(imgs, maps, noise_cov=psi), c, atol=1e-4)


def test_noise_prewhitening_whitens():
    r = np.random.default_rng(2)
    a = (r.standard_normal((6, 6)) + 1j * r.standard_normal((6, 6)) + 3 * np.eye(6)).astype(np.complex64)
    n = a @ (r.standard_normal((6, 20000)) + 1j * r.standard_normal((6, 20000))).astype(np.complex64)
    w = larmor.noise_prewhitener(n)
    white = larmor.prewhiten(n, w)
    cov = white @ white.conj().T / (n.shape[1] - 1)
    assert np.allclose(cov, np.eye(6), atol=2e-3)
    w_snr = larmor.noise_prewhitener(n, scaling="snr", acquisition_dwell=2.0, noise_dwell=1.0)
    assert np.allclose(w_snr, w * np.sqrt(2 * 2.0 * 0.793), rtol=1e-5)


def test_coil_compress_keeps_the_image():
    obj, maps, k = phantom(nc=16)
    for method in ("svd", "gcc"):
        kc = larmor.coil_compress(k, 6, method=method)
        assert kc.shape == (6, 64, 64)
        full = larmor.rss(larmor.ifftc(k))
        comp = larmor.rss(larmor.ifftc(kc))
        assert np.linalg.norm(full - comp) / np.linalg.norm(full) < 0.02, method


def test_read_ismrmrd_and_recon_demo_data():
    d = larmor.read_ismrmrd(DEMO)
    assert d["header"]["encoded_matrix"][0] == 192 and d["header"]["recon_matrix"][0] == 96
    assert len(d["kspace"]) == 1 and d["kspace"][0].shape == (8, 1, 96, 96)
    assert d["noise"].shape[0] == 8
    images, meta, method = larmor.recon(DEMO, method="espirit")
    assert method == "espirit" and images[0].shape == (1, 96, 96) and images[0].dtype == np.float32
    assert meta[0]["fov_mm"][0] == pytest.approx(300.0)
    rss_imgs, _, _ = larmor.recon(DEMO, method="rss")
    corr = np.corrcoef(images[0].ravel(), rss_imgs[0].ravel())[0, 1]
    assert corr > 0.98
    with pytest.raises(ValueError, match="unknown method"):
        larmor.recon(DEMO, method="nope")


def test_walsh_and_inati_options_are_used():
    obj, maps, k = phantom(nc=6, n=48)
    imgs = larmor.ifftc(k)
    w3 = larmor.walsh_maps(imgs, kernel=3)
    assert np.abs(w3 - larmor.walsh_maps(imgs)).max() > 1e-3  # default kernel 7
    assert np.array_equal(w3, larmor.walsh_maps(imgs, 3))
    i2 = larmor.inati_maps(imgs, kernel=7, iters=2)
    assert np.abs(i2 - larmor.inati_maps(imgs)).max() > 1e-4
    with pytest.raises(ValueError, match="iters must be >= 1"):
        larmor.inati_maps(imgs, iters=0)


def test_read_ismrmrd_kspace_is_read_ismrmrd_and_leaves_no_environment():
    """read_ismrmrd and read_ismrmrd_kspace are one call (C++ io::read_ismrmrd_kspace); reading leaves
    HDF5_USE_FILE_LOCKING as it was (checked in the C environment, not Python's startup copy)."""
    import ctypes
    libc = ctypes.CDLL(None)
    libc.getenv.restype = ctypes.c_char_p
    before = libc.getenv(b"HDF5_USE_FILE_LOCKING")
    a, b = larmor.read_ismrmrd(DEMO), larmor.read_ismrmrd_kspace(DEMO)
    assert libc.getenv(b"HDF5_USE_FILE_LOCKING") == before
    assert a["indices"] == b["indices"] and a["header"] == b["header"]
    assert all(np.array_equal(x, y) for x, y in zip(a["kspace"], b["kspace"]))
    assert np.array_equal(a["noise"], b["noise"])
    assert "io::read_ismrmrd_kspace" in larmor.read_ismrmrd.__doc__
