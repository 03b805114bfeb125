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
