"""larmor's Python module against numpy: centred FFT, RSS, zero-copy, dtype conversion, errors, GIL."""
import os
import shutil
import subprocess
import tempfile

import numpy as np
import pytest

import larmor
from gil_check import assert_gil_released


def crandn(*shape, seed=0):
    r = np.random.default_rng(seed)
    return (r.standard_normal(shape) + 1j * r.standard_normal(shape)).astype(np.complex64)


def ref_fftc(x, axes):
    return np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(x, axes=axes), axes=axes, norm="ortho"), axes=axes)


@pytest.mark.parametrize("shape,axes", [((4, 16, 18), (-2, -1)), ((3, 9, 7), (1, 2)), ((5, 6, 7, 8), (1, 2, 3)),
                                         ((33,), (0,)), ((2, 3, 4, 5, 6), (0, 4))])
def test_fftc_matches_numpy(shape, axes):
    x = crandn(*shape)
    y = larmor.fftc(x, axes=axes)
    ref = ref_fftc(x.astype(np.complex128), axes)
    assert y.dtype == np.complex64 and y.shape == x.shape
    assert np.linalg.norm(y - ref) / np.linalg.norm(ref) < 2e-6
    back = larmor.ifftc(y, axes=axes)
    assert np.linalg.norm(back - x) / np.linalg.norm(x) < 2e-6


def test_non_contiguous_and_complex128_inputs():
    big = crandn(6, 20, 24)
    view = big[::2, :, ::-1]  # strided, negative stride, complex64: used in place
    assert np.allclose(larmor.fftc(view), ref_fftc(view, (-2, -1)), atol=1e-5)
    x128 = big.astype(np.complex128)  # converted to complex64
    y = larmor.fftc(x128)
    assert y.dtype == np.complex64
    assert np.allclose(y, ref_fftc(big, (-2, -1)), atol=1e-5)
    assert np.allclose(larmor.rss(np.abs(big)), np.sqrt((np.abs(big) ** 2).sum(0)), rtol=1e-5)  # float input


def test_rss_matches_numpy_and_axis():
    x = crandn(8, 12, 10)
    assert np.allclose(larmor.rss(x), np.sqrt((np.abs(x) ** 2).sum(0)), rtol=1e-5)
    assert np.allclose(larmor.rss(x, axis=-1), np.sqrt((np.abs(x) ** 2).sum(-1)), rtol=1e-5)
    assert larmor.rss(x).dtype == np.float32


def test_rss_out_writes_into_the_callers_buffer():
    x = crandn(6, 20, 24)
    ref = np.sqrt((np.abs(x) ** 2).sum(0))
    out = np.full((20, 24), -1.0, np.float32)
    r = larmor.rss(x, out=out)
    assert r is out and np.allclose(out, ref, rtol=1e-5)
    wide = np.zeros((20, 48), np.float32)  # a strided destination: every second column
    larmor.rss(x, out=wide[:, ::2])
    assert np.allclose(wide[:, ::2], ref, rtol=1e-5) and not wide[:, 1::2].any()
    with pytest.raises(ValueError, match="shape"):
        larmor.rss(x, out=np.zeros((20, 25), np.float32))
    with pytest.raises(ValueError, match="float32"):
        larmor.rss(x, out=np.zeros((20, 24), np.float64))
    frozen = np.zeros((20, 24), np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        larmor.rss(x, out=frozen)


def test_results_are_not_copies():
    y = larmor.fftc(crandn(2, 8, 8))
    assert y.flags.c_contiguous and y.base is not None  # owned by larmor's capsule, no copy made
    y[0, 0, 0] = 5  # writable
    assert y[0, 0, 0] == 5


def test_errors_become_value_and_runtime_errors():
    with pytest.raises(ValueError, match="axis"):
        larmor.fftc(crandn(2, 4, 4), axes=(3,))
    with pytest.raises(ValueError):
        larmor.rss(crandn(5))
    with pytest.raises(ValueError, match="maps must be"):
        larmor.espirit_maps(crandn(2, 32, 32), maps=3)
    with pytest.raises(RuntimeError, match="NaN"):
        bad = crandn(4, 32, 32)
        bad[0, 1, 1] = np.nan
        larmor.espirit_maps(bad)
    with pytest.raises(RuntimeError, match="no such file"):
        larmor.read_ismrmrd("/nonexistent.h5")
    with pytest.raises(ValueError):
        larmor.coil_compress(crandn(4, 32, 32), 2, method="pca")


def test_cfl_round_trip():
    x = crandn(4, 1, 16, 20)
    with tempfile.TemporaryDirectory() as d:
        base = os.path.join(d, "x")
        larmor.write_cfl(base, x)
        with open(base + ".hdr") as f:
            assert f.read().split("\n")[1].split()[:4] == ["20", "16", "1", "4"]
        # the .cfl is the array in column-major (BART) order: x fastest, complex64
        raw = np.fromfile(base + ".cfl", np.complex64)
        np.testing.assert_array_equal(raw, x.ravel())
        assert np.array_equal(larmor.read_cfl(base), x)


def test_cfl_read_and_written_by_bart():
    """bart (a declared dependency: scripts/install-deps.sh) reads larmor's .cfl and larmor reads bart's: `bart fft
    -u 3` of larmor's file against numpy's centred unitary FFT, and `bart ones` read back."""
    bart = shutil.which("bart")
    if bart is None:
        pytest.fail("bart not found on PATH: it is a declared dependency of the tests (scripts/install-deps.sh)")
    x = crandn(4, 1, 16, 20)
    with tempfile.TemporaryDirectory() as d:
        base = os.path.join(d, "x")
        larmor.write_cfl(base, x)
        subprocess.run([bart, "fft", "-u", "3", base, os.path.join(d, "y")], check=True, capture_output=True)
        y = larmor.read_cfl(os.path.join(d, "y"))
        ref = ref_fftc(x.astype(np.complex128), axes=(-2, -1))
        assert y.shape == x.shape
        assert np.linalg.norm(y - ref) / np.linalg.norm(ref) < 2e-6
        subprocess.run([bart, "ones", "4", "20", "16", "1", "4", os.path.join(d, "o")], check=True,
                       capture_output=True)
        o = larmor.read_cfl(os.path.join(d, "o"))
        assert o.shape == (4, 1, 16, 20) and o.dtype == np.complex64
        np.testing.assert_array_equal(o, np.ones_like(o))


def test_gil_is_released():
    """Python keeps running while another thread is inside a long larmor call."""
    x = crandn(8, 512, 512)
    larmor.walsh_maps(x[:2, :64, :64])  # warm up
    assert_gil_released(lambda: larmor.walsh_maps(x, 7))
