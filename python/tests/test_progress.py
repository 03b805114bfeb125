"""Long Python calls report progress when asked (a callable, or progress=True for a tqdm bar) and give the
same results as without it."""
import numpy as np
import pytest

import larmor
from phantoms import phantom


def test_espirit_maps_progress_reaches_its_total_and_changes_nothing():
    _, _, k = phantom(nc=6, n=48, noise=1e-3)
    calls = []
    with_cb = larmor.espirit_maps(k, progress=lambda done, total: calls.append((done, total)))
    plain = larmor.espirit_maps(k)
    assert np.array_equal(with_cb, plain)
    assert calls, "the progress callable was never called"
    dones = [d for d, _ in calls]
    assert dones == sorted(dones) and dones[-1] == calls[-1][1] == 48  # one unit per readout position
    bar = larmor.espirit_maps(k, progress=True)  # a tqdm bar on stderr
    assert np.array_equal(bar, plain)
    with pytest.raises(ValueError, match="progress"):
        larmor.espirit_maps(k, progress="yes")


def test_recon_progress_counts_the_images(tmp_path):
    import shutil
    import subprocess
    gen = "ismrmrd_generate_cartesian_shepp_logan"
    if shutil.which(gen) is None:
        pytest.fail(f"{gen} (ismrmrd-tools, a test dependency) is not installed")
    f = tmp_path / "sl.h5"
    subprocess.run([gen, "-m", "64", "-c", "4", "-r", "3", "-o", str(f)], check=True, capture_output=True)
    seen = []
    images, meta, method = larmor.recon(str(f), progress=seen.append)
    ref_images, ref_meta, ref_method = larmor.recon(str(f))
    assert seen == list(range(1, len(ref_images) + 1)) and len(ref_images) == 3
    assert method == ref_method
    for a, b in zip(images, ref_images):
        assert np.array_equal(a, b)
    assert [m["repetition"] for m in meta] == [m["repetition"] for m in ref_meta]
    images, _, _ = larmor.recon(str(f), progress=True)
    assert len(images) == 3


def test_cs_progress_counts_every_iteration_2d_3d_and_noncartesian():
    """3D CS is the long call in a notebook: larmor.cs reports (iteration, iters) after every solver iteration,
    for FISTA and ADMM, Cartesian 2D and 3D and non-Cartesian, and the image is the one without progress."""
    _, maps, k = phantom(nc=4, n=32, noise=1e-3)
    mask = (np.random.default_rng(3).random((32, 32)) < 0.5).astype(np.float32)
    mask[12:20, 12:20] = 1
    km = k * mask
    k3 = np.stack([km, km, km, km], axis=1)  # (coils, z, y, x): 4 partitions
    m3 = np.stack([maps] * 4, axis=1)
    for data, mp, kw in [(km, maps, dict(wavelet=0.01, iters=12)), (km, maps, dict(tv=0.01, iters=7)),
                         (k3, m3, dict(wavelet=0.01, iters=9))]:
        calls = []
        img = larmor.cs(data, mp, progress=lambda it, total: calls.append((it, total)), **kw)
        assert calls == [(i, kw["iters"]) for i in range(1, kw["iters"] + 1)], calls
        assert np.array_equal(img, larmor.cs(data, mp, **kw))
    assert larmor.cs(km, maps, wavelet=0.01, iters=5, progress=True).shape == (32, 32)  # a tqdm bar
    # Non-Cartesian: 24 radial spokes through the NUFFT.
    n = 32
    ang = np.pi * np.arange(24) / 24
    r = np.arange(-n, n) / 2.0
    coords = np.stack([np.outer(np.sin(ang), r), np.outer(np.cos(ang), r)], -1).reshape(-1, 2)
    samples = larmor.nufft(larmor.ifftc(k), coords)  # coil images -> (coils, M)
    calls = []
    img = larmor.cs(samples, maps, coords=coords, wavelet=0.01, iters=6, progress=lambda it, total: calls.append(it))
    assert calls == list(range(1, 7)) and img.shape == (n, n)
    with pytest.raises(ValueError, match="progress"):
        larmor.cs(km, maps, iters=3, progress="yes")
