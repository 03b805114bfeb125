"""Streaming reconstruction from Python: larmor.recon_stream on a multi-slice file equals larmor.recon image for
image, and a ReconSession fed readouts built in numpy returns each slice when its last readout arrives, equal
to a numpy RSS of the same k-space."""
import pathlib
import subprocess
import threading
import time

import numpy as np
import pytest

import larmor

GENERATOR = pathlib.Path(larmor.__file__).resolve().parents[2] / "bench" / "larmor_make_ismrmrd3d"

HEADER = """<?xml version="1.0"?><ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD">
<experimentalConditions><H1resonanceFrequency_Hz>63500000</H1resonanceFrequency_Hz></experimentalConditions>
<encoding><encodedSpace><matrixSize><x>{n}</x><y>{n}</y><z>1</z></matrixSize>
<fieldOfView_mm><x>220</x><y>220</y><z>5</z></fieldOfView_mm></encodedSpace>
<reconSpace><matrixSize><x>{n}</x><y>{n}</y><z>1</z></matrixSize>
<fieldOfView_mm><x>220</x><y>220</y><z>5</z></fieldOfView_mm></reconSpace>
<encodingLimits><kspace_encoding_step_1><minimum>0</minimum><maximum>{m}</maximum><center>{c}</center>
</kspace_encoding_step_1><slice><minimum>0</minimum><maximum>{s}</maximum><center>0</center></slice></encodingLimits>
<trajectory>cartesian</trajectory></encoding></ismrmrdHeader>"""

LAST_IN_SLICE = 1 << (8 - 1)


@pytest.fixture(scope="module")
def multislice(tmp_path_factory):
    if not GENERATOR.exists():
        pytest.skip(f"{GENERATOR} not built (LARMOR_BUILD_BENCH=OFF)")
    path = tmp_path_factory.mktemp("session") / "slices.h5"
    # 5 sequential slices, 6 coils, 48 x 48, GRAPPA R=2 with 16 ACS lines, 2 noise scans
    subprocess.run([str(GENERATOR), "6", "48", "48", "5", "2", "1", "16", str(path), "2", "1", "slices"],
                   check=True, capture_output=True, timeout=60)
    return str(path)


def test_recon_stream_equals_recon(multislice):
    images, meta, method = larmor.recon(multislice)
    t0 = time.perf_counter()
    streamed, first = [], None
    for img, m in larmor.recon_stream(multislice):
        first = first if first is not None else time.perf_counter() - t0
        streamed.append((img, m))
    total = time.perf_counter() - t0
    print(f"recon_stream: first image after {first * 1e3:.0f} ms of {total * 1e3:.0f} ms")
    assert method == "grappa"
    assert len(streamed) == len(images) == 5
    for (img, m), ref, rm in zip(streamed, images, meta):
        assert m["slice"] == rm["slice"]
        np.testing.assert_array_equal(img, ref)
    assert [m["slice"] for _, m in streamed] == [0, 1, 2, 3, 4]
    assert [m["image_index"] for _, m in streamed] == [1, 2, 3, 4, 5]
    # positions 5 mm apart along z, as the generator writes them
    z = [m["position"][2] for _, m in streamed]
    np.testing.assert_allclose(np.diff(z), 5.0)


MANY = 64


@pytest.fixture(scope="module")
def many_slices(tmp_path_factory):
    if not GENERATOR.exists():
        pytest.skip(f"{GENERATOR} not built (LARMOR_BUILD_BENCH=OFF)")
    path = tmp_path_factory.mktemp("session") / "many_slices.h5"
    # MANY sequential slices, 6 coils, 48 x 48, fully sampled: the whole file takes far longer than one slice
    subprocess.run([str(GENERATOR), "6", "48", "48", str(MANY), "1", "1", "0", str(path), "2", "1", "slices"],
                   check=True, capture_output=True, timeout=60)
    return str(path)


def test_closing_the_stream_early_cancels(many_slices):
    """recon_stream's worker (larmor._larmor._FileStream, what the generator wraps) closed after its first image:
    the worker stops with larmor.Cancelled (recon_file_stream's cancel flag; recon_session.hpp: the current or
    next push/finish throws), so the stream ends in Cancelled and yields fewer images than the file holds. A
    close() that does not cancel lets the worker finish: all MANY images and no error, and this test fails.
    (Timing: ESPIRiT takes about 9 ms per 6-coil 48 x 48 slice here, so the other 63 slices about half a second;
    close() comes well under a millisecond after the first image.)"""
    stream = larmor._larmor._FileStream(many_slices, method="espirit")
    first = stream.next()
    assert first is not None
    t0 = time.perf_counter()
    stream.close()  # cancels the C++ worker and joins it
    close_s = time.perf_counter() - t0
    made = 1
    with pytest.raises(larmor.Cancelled, match="cancelled"):
        while stream.next() is not None:  # the images queued before the worker stopped, then its error
            made += 1
    print(f"closed after the first image: {made} of {MANY} images, close() {close_s * 1e3:.1f} ms")
    assert made < MANY
    # The generator closes the same way (GeneratorExit -> close()): it returns promptly.
    gen = larmor.recon_stream(many_slices, method="espirit")
    next(gen)
    t0 = time.perf_counter()
    gen.close()
    assert time.perf_counter() - t0 < 30


def test_recon_stream_of_a_bad_file_raises(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5 at all" * 10)
    with pytest.raises(RuntimeError):
        list(larmor.recon_stream(str(bad)))
    with pytest.raises(ValueError):
        list(larmor.recon_stream(str(bad), method="nope"))


def phantom(nc, n, scale):
    y, x = np.mgrid[-1:1:n * 1j, -1:1:n * 1j]
    obj = ((x / 0.7) ** 2 + (y / 0.9) ** 2 < 1).astype(np.complex64) * (1 + 0.5 * (x ** 2 + y ** 2 < 0.1))
    coils = np.stack([np.exp(-((x - np.cos(a)) ** 2 + (y - np.sin(a)) ** 2)) *
                      np.exp(1j * a) for a in np.linspace(0, 2 * np.pi, nc, endpoint=False)])
    imgs = (scale * coils * obj).astype(np.complex64)
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(imgs, axes=(-2, -1)), norm="ortho"),
                           axes=(-2, -1)).astype(np.complex64)


def test_session_fed_from_numpy_returns_each_slice_at_its_last_readout():
    nc, n, slices = 4, 32, 3
    session = larmor.ReconSession(HEADER.format(n=n, m=n - 1, c=n // 2, s=slices - 1), method="rss")
    for s in range(slices):
        k = phantom(nc, n, 1 + s)
        for y in range(n):
            last = y == n - 1
            out = session.push(k[:, y, :], kspace_encode_step_1=y, slice=s, center_sample=n // 2,
                               flags=LAST_IN_SLICE if last else 0, position=(0.0, 0.0, 5.0 * s))
            if not last:
                assert out == []
                continue
            assert len(out) == 1
            img, meta = out[0]
            assert meta["slice"] == s and meta["image_index"] == s + 1
            # numpy RSS of the centred inverse FFT
            ref = np.sqrt((np.abs(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), norm="ortho"),
                                                  axes=(-2, -1))) ** 2).sum(0))
            np.testing.assert_allclose(img[0], ref, rtol=1e-4, atol=1e-5 * ref.max())
    assert session.finish() == []
    assert session.method == "rss"
    assert session.images_made == slices
    with pytest.raises(ValueError):
        session.push(np.zeros((nc, n), np.complex64), slice=0)  # after finish()
    with pytest.raises(ValueError):
        larmor.ReconSession(HEADER.format(n=n, m=n - 1, c=n // 2, s=0)).push(np.zeros((nc, n), np.complex64), bogus=1)


def test_recon_stream_of_readouts_and_cancel_from_another_thread():
    nc, n = 4, 32
    header = HEADER.format(n=n, m=n - 1, c=n // 2, s=1)
    k = phantom(nc, n, 1.0)
    readouts = [dict(data=k[:, y, :], kspace_encode_step_1=y, slice=s, center_sample=n // 2,
                     flags=LAST_IN_SLICE if y == n - 1 else 0) for s in range(2) for y in range(n)]
    out = list(larmor.recon_stream((header, readouts), method="rss"))
    assert [m["slice"] for _, m in out] == [0, 1]
    np.testing.assert_allclose(out[0][0], out[1][0])
    # cancel() from another thread: the next push raises larmor.Cancelled (a RuntimeError)
    session = larmor.ReconSession(header, method="rss")
    t = threading.Thread(target=session.cancel)
    t.start()
    t.join()
    with pytest.raises(larmor.Cancelled):
        session.push(k[:, 0, :], kspace_encode_step_1=0)
    assert issubclass(larmor.Cancelled, RuntimeError)
