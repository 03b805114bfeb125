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


def h5py_read_ismrmrd(path, group="dataset"):
    """An independent ISMRMRD reader (h5py + the ISMRMRD 1.x layout, written here): the header fields the
    demo needs, the noise readouts (ACQ_IS_NOISE_MEASUREMENT, bit 19) as (coils, samples), and the imaging
    readouts placed at x = Nx/2 - center_sample, y = kspace_encode_step_1 + Ny/2 - e1.center (forward
    readouts only), each line the mean of its readouts, then the readout oversampling removed: centred
    unitary inverse DFT along x, the central round(Nx * reconFOVx / encodedFOVx) points kept, DFT back."""
    import xml.etree.ElementTree as ET
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "r") as f:
        xml = f[group]["xml"][0]
        acqs = f[group]["data"][:]
    root = ET.fromstring(xml.decode() if isinstance(xml, bytes) else xml)
    ns = {"m": "http://www.ismrm.org/ISMRMRD"}

    def num(tag, cast=int):
        return cast(float(root.find(tag, ns).text))
    enc = "m:encoding/m:encodedSpace/"
    rec = "m:encoding/m:reconSpace/"
    nx, ny = num(enc + "m:matrixSize/m:x"), num(enc + "m:matrixSize/m:y")
    fov_enc, fov_rec = num(enc + "m:fieldOfView_mm/m:x", float), num(rec + "m:fieldOfView_mm/m:x", float)
    cy = num("m:encoding/m:encodingLimits/m:kspace_encoding_step_1/m:center")
    head = acqs["head"]
    nc = int(head["active_channels"][0])
    noise, k = [], np.zeros((nc, ny, nx), np.complex128)
    count = np.zeros(ny)
    for h, raw in zip(head, acqs["data"]):
        flags = int(h["flags"])
        data = raw.view(np.float32).reshape(nc, -1, 2)  # (channels, samples) interleaved re, im
        data = data[..., 0] + 1j * data[..., 1]
        if flags & (1 << 18):
            noise.append(data)
            continue
        assert not flags & (1 << 21), "reversed readouts are not handled here"
        x0 = nx // 2 - int(h["center_sample"])
        y = int(h["idx"]["kspace_encode_step_1"]) + ny // 2 - cy
        k[:, y, x0:x0 + data.shape[1]] += data
        count[y] += 1
    k /= np.maximum(count, 1)[None, :, None]
    keep = int(round(nx * fov_rec / fov_enc))
    img = np.fft.fftshift(np.fft.ifft(np.fft.ifftshift(k, axes=-1), axis=-1, norm="ortho"), axes=-1)
    img = img[..., nx // 2 - keep // 2: nx // 2 - keep // 2 + keep]
    k = np.fft.fftshift(np.fft.fft(np.fft.ifftshift(img, axes=-1), axis=-1, norm="ortho"), axes=-1)
    return dict(kspace=k, noise=np.concatenate(noise, axis=1) if noise else None, encoded=(nx, ny),
                keep=keep, lines=int((count > 0).sum()))


def test_read_ismrmrd_against_an_independent_h5py_reader():
    """larmor.read_ismrmrd (C++ io::read_ismrmrd_kspace) against the h5py reader above, sample by sample: the
    assembled k-space (oversampling removed) and the noise matrix; the header's matrices."""
    d = larmor.read_ismrmrd(DEMO)
    ref = h5py_read_ismrmrd(DEMO)
    assert tuple(d["header"]["encoded_matrix"][:2]) == ref["encoded"] == (192, 96)
    assert d["header"]["recon_matrix"][0] == ref["keep"] == 96
    assert ref["lines"] == 96
    k = d["kspace"][0]
    assert k.shape == (8, 1, 96, 96) and k.dtype == np.complex64
    err = np.linalg.norm(k[:, 0] - ref["kspace"]) / np.linalg.norm(ref["kspace"])
    print(f"read_ismrmrd vs h5py reader: relative difference {err:.2e}")
    assert err < 1e-6
    assert d["noise"].shape == ref["noise"].shape
    np.testing.assert_array_equal(d["noise"], ref["noise"].astype(np.complex64))


def test_read_ismrmrd_kspace_is_read_ismrmrd_and_leaves_no_environment():
    """read_ismrmrd and read_ismrmrd_kspace are one call (C++ io::read_ismrmrd_kspace; what they read is checked
    against an independent reader above); reading leaves HDF5_USE_FILE_LOCKING as it was (checked in the C
    environment, not Python's startup copy)."""
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


def test_info_reports_the_noise_of_the_scan():
    """`larmor info`'s noise lines against the noise readouts read with h5py (the reader above) and the
    statistics computed here in numpy: sigma_c = sqrt(mean |n_c|^2), rho_ij = Psi_ij / sqrt(Psi_ii Psi_jj)."""
    import re
    import subprocess
    from cli_path import find_cli
    cli = find_cli()
    if cli is None:
        pytest.skip("the larmor CLI is not built")
    out = subprocess.run([cli, "info", DEMO], capture_output=True, text=True, check=True, timeout=60).stdout
    n = h5py_read_ismrmrd(DEMO)["noise"].astype(np.complex128)  # (coils, samples)
    psi = n @ n.conj().T / n.shape[1]
    sigma = np.sqrt(np.real(np.diag(psi)))
    rho = np.abs(psi) / np.sqrt(np.outer(np.diag(psi).real, np.diag(psi).real))
    off = rho[np.triu_indices(len(sigma), 1)]
    m = re.search(r"noise\s+(\d+) samples per coil", out)
    assert m and int(m.group(1)) == n.shape[1], out
    m = re.search(r"noise sigma\s+min ([\d.e+-]+), median ([\d.e+-]+), max ([\d.e+-]+)", out)
    assert m, out
    s = np.sort(sigma)
    np.testing.assert_allclose([float(m.group(i)) for i in (1, 2, 3)], [s[0], s[len(s) // 2], s[-1]], rtol=1e-3)
    m = re.search(r"largest \|correlation\| ([\d.]+) \(coils (\d+) and (\d+)\), mean ([\d.]+)", out)
    assert m, out
    assert abs(float(m.group(1)) - off.max()) < 1.5e-3 and abs(float(m.group(4)) - off.mean()) < 1.5e-3
    assert rho[int(m.group(2)), int(m.group(3))] == pytest.approx(off.max(), abs=1e-9)
