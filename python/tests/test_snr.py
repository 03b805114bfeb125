"""Pseudo-replica noise and SNR maps (larmor.pseudo_replica, Robson 2008) against analytic noise: the unitary
inverse FFT of white noise, noise coloured by a covariance, and the SENSE g-factor written here in numpy from
Pruessmann 1999 (g_p = sqrt([(S^H S)^-1]_pp [S^H S]_pp) per aliased pixel set)."""
import shutil
import subprocess

import numpy as np
import pytest

import larmor
from cli_path import find_cli


def ifftc(k, axes=(-2, -1)):
    return np.fft.fftshift(np.fft.ifftn(np.fft.ifftshift(k, axes=axes), axes=axes, norm="ortho"), axes=axes)


def fftc(x, axes=(-2, -1)):
    return np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(x, axes=axes), axes=axes, norm="ortho"), axes=axes)


def coil_maps(coils, n):
    yy, xx = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n), indexing="ij")
    maps = np.stack([np.exp(-((xx - 1.2 * np.cos(a)) ** 2 + (yy - 1.2 * np.sin(a)) ** 2) / 1.5) * np.exp(1j * a)
                     for a in 2 * np.pi * np.arange(coils) / coils])
    return (maps / np.sqrt(np.sum(np.abs(maps) ** 2, axis=0))).astype(np.complex64)


def test_noise_of_a_unitary_ifft_is_the_sample_noise():
    rng = np.random.default_rng(0)
    k = (rng.standard_normal((2, 32, 32)) + 1j * rng.standard_normal((2, 32, 32))).astype(np.complex64)
    snr, sd = larmor.pseudo_replica(lambda x: ifftc(x[0]), k, replicas=200)
    assert sd.shape == (32, 32) and snr.shape == (32, 32)
    assert abs(sd.mean() - 1) < 0.02, sd.mean()  # E|n|^2 = 1 per sample; the unitary FFT keeps it per pixel
    np.testing.assert_allclose(snr, np.abs(ifftc(k[0])) / sd, rtol=1e-5)
    # coloured noise: coil 0 has variance 4 -> std 2; coil 1 correlated with it
    psi = np.array([[4.0, 1.0], [1.0, 2.0]], np.complex64)
    _, sd0 = larmor.pseudo_replica(lambda x: ifftc(x[0]), k, replicas=200, noise_cov=psi)
    _, sd1 = larmor.pseudo_replica(lambda x: ifftc(x[1]), k, replicas=200, noise_cov=psi)
    assert abs(sd0.mean() - 2) < 0.04 and abs(sd1.mean() - np.sqrt(2)) < 0.03, (sd0.mean(), sd1.mean())
    # the covariance between coils is right too: the difference of the coils has variance 4 + 2 - 2 * 1 = 4
    _, sdd = larmor.pseudo_replica(lambda x: ifftc(x[0] - x[1]), k, replicas=200, noise_cov=psi)
    assert abs(sdd.mean() - 2) < 0.04, sdd.mean()


def test_noise_only_on_acquired_samples():
    k = np.zeros((1, 16, 16), np.complex64)
    k[0, ::2] = 1  # every other line acquired
    _, sd = larmor.pseudo_replica(lambda x: x[0], k, replicas=100)
    assert np.all(sd[1::2] == 0) and abs(sd[::2].mean() - 1) < 0.05
    mask = np.zeros((16, 16), bool)
    mask[:4] = True
    _, sd = larmor.pseudo_replica(lambda x: x[0], k, replicas=50, mask=mask)
    assert np.all(sd[4:] == 0) and np.all(sd[:4] > 0)


def analytic_sense_gfactor(maps, R):
    """g for uniform undersampling by R along y (numpy, per aliased pixel set)."""
    coils, ny, nx = maps.shape
    g = np.zeros((ny, nx))
    step = ny // R
    for y in range(step):
        ys = [y + r * step for r in range(R)]
        for x in range(nx):
            S = maps[:, ys, x]  # (coils, R)
            G = S.conj().T @ S
            Gi = np.linalg.inv(G)
            g[ys, x] = np.sqrt(np.real(np.diag(Gi) * np.diag(G)))
    return g


@pytest.mark.parametrize("R", [2, 3])
def test_sense_gfactor_by_pseudo_replicas_matches_the_analytic_gfactor(R):
    n, coils = 48, 8
    maps = coil_maps(coils, n)
    yy, xx = np.meshgrid(np.arange(n) - n // 2, np.arange(n) - n // 2, indexing="ij")
    obj = ((xx / 18.0) ** 2 + (yy / 20.0) ** 2 < 1).astype(np.complex64)
    full = fftc(maps * obj).astype(np.complex64)
    acc = np.zeros_like(full)
    acc[:, ::R] = full[:, ::R]
    _, sd_full = larmor.pseudo_replica(lambda k: larmor.sense(k, maps), full, replicas=300, seed=2)
    _, sd_acc = larmor.pseudo_replica(lambda k: larmor.sense(k, maps), acc, replicas=300, seed=3)
    g = sd_acc / (sd_full * np.sqrt(R))
    ref = analytic_sense_gfactor(maps.astype(np.complex128), R)
    rel = np.abs(g / ref - 1)
    # 300 replicas: each std is known to ~4 %, their ratio to ~6 %
    assert np.median(rel) < 0.06 and np.percentile(rel, 95) < 0.15, (np.median(rel), np.percentile(rel, 95))
    assert ref.max() > 1.2  # the test has g-factors worth measuring
    # larmor's own analytic sense_gfactor agrees with the numpy formula
    np.testing.assert_allclose(larmor.sense_gfactor(maps, R), ref, rtol=2e-3)


def test_pseudo_replica_of_a_nonlinear_method_and_errors():
    n = 32
    maps = coil_maps(4, n)
    yy, xx = np.meshgrid(np.arange(n) - n // 2, np.arange(n) - n // 2, indexing="ij")
    obj = ((xx / 12.0) ** 2 + (yy / 13.0) ** 2 < 1).astype(np.complex64)
    k = fftc(maps * obj).astype(np.complex64)
    k[:, 1::2] = 0
    k[:, n // 2 - 4:n // 2 + 4] = fftc(maps * obj)[:, n // 2 - 4:n // 2 + 4]
    calls = []
    snr, sd = larmor.pseudo_replica(lambda x: larmor.cs(x, maps, wavelet=0.01, iters=20), k, replicas=8,
                                    progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (8, 8) and len(calls) == 8
    assert np.all(np.isfinite(snr)) and sd.max() > 0
    with pytest.raises(ValueError, match="mask"):
        larmor.pseudo_replica(lambda x: x[0], k, mask=np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="mask"):
        larmor.pseudo_replica(lambda x: x[0], k, mask=np.ones(k.shape[1:], bool).T[:, :-1])
    with pytest.raises(ValueError, match="non-empty"):
        larmor.pseudo_replica(lambda x: x, np.zeros((0, 4, 4), np.complex64))
    with pytest.raises(ValueError, match="positive definite"):
        larmor.pseudo_replica(lambda x: x[0], k, noise_cov=-np.eye(4))
    sizes = iter([4, 5, 5])
    with pytest.raises(ValueError, match="returned"):
        larmor.pseudo_replica(lambda x: np.zeros(next(sizes), np.complex64), k, replicas=2)


GENERATOR = shutil.which("ismrmrd_generate_cartesian_shepp_logan")


@pytest.mark.skipif(GENERATOR is None, reason="ismrmrd_generate_cartesian_shepp_logan missing (ismrmrd-tools)")
def test_chain_writes_gfactor_maps(tmp_path):
    """larmor.recon(gfactor=True) and `larmor recon --gfactor`: one map per slice and lattice for grappa (the
    repetitions of an interleaved R = 2 scan share one), g >= 1 on the object and the maps' shape that of the
    images; sense the same; cs none (said, nothing written). The maps' values against an analytic reference
    are tested in tests/cpp/test_chain_gfactor.cpp."""
    raw = tmp_path / "r2.h5"
    subprocess.run([GENERATOR, "-m", "96", "-c", "8", "-a", "2", "-r", "3", "-n", "0.01", "-o", str(raw)],
                   check=True, capture_output=True)
    images, meta, method, derived = larmor.recon(raw, gfactor=True)
    gmaps = derived["gfactor"]
    assert method == "grappa" and len(images) >= 3 and len(gmaps) == 1, (method, len(images), len(gmaps))
    g, gmeta = gmaps[0]
    assert g.shape == images[0].shape and gmeta["slice"] == 0
    obj = images[0] > 0.2 * images[0].max()
    assert np.median(g[obj]) >= 0.99 and g[obj].max() < 3, (np.median(g[obj]), g[obj].max())
    n = len(images)
    images, meta, method = larmor.recon(raw)  # without: three elements, as before
    assert len(images) == n
    # one echo, no echo times: no field map (tests/cpp/test_chain_fieldmap.cpp has the multi-echo maps)
    _, _, _, derived = larmor.recon(raw, gfactor=True, b0_map=True)
    assert derived["b0_map"] == [] and len(derived["gfactor"]) == 1
    cli = find_cli()
    if cli is None:
        pytest.fail("the larmor CLI is not built (build*/larmor or LARMOR_CLI)")
    out = subprocess.run([cli, "recon", str(raw), "-o", str(tmp_path / "img.h5"), "--gfactor",
                          str(tmp_path / "g.h5")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "1 g-factor map(s)" in out.stderr and (tmp_path / "g.h5").exists()
    same = subprocess.run([cli, "recon", str(raw), "-o", str(tmp_path / "x.h5"), "--gfactor", str(tmp_path / "x.h5")],
                          capture_output=True, text=True)
    assert same.returncode != 0 and "different files" in same.stderr, same.stderr
    out = subprocess.run([cli, "recon", str(raw), "-o", str(tmp_path / "cs.h5"), "--method", "cs", "--gfactor",
                          str(tmp_path / "gcs.h5")], capture_output=True, text=True)
    assert out.returncode == 0 and "no closed form" in out.stderr and not (tmp_path / "gcs.h5").exists(), out.stderr


def test_receive_field_follows_simulated_coil_shading():
    """larmor.receive_field against the true root sum of squares of simulated loop coils (numpy), on a flat
    object with two inserts; and the chain's normalize='coils' plumbing (the values of the chain's
    normalisation: tests/cpp/test_receive_field.cpp)."""
    n, coils = 128, 12
    yy, xx = np.meshgrid((np.arange(n) - n // 2) / n, (np.arange(n) - n // 2) / n, indexing="ij")
    rho = ((xx ** 2 / 0.14 + yy ** 2 / 0.18) < 1).astype(float)
    rho[((xx - 0.08) ** 2 + yy ** 2) < 0.006] = 0.6
    ang = 2 * np.pi * np.arange(coils) / coils
    mag = np.stack([1.0 / (0.03 + (xx - 0.55 * np.cos(a)) ** 2 + (yy - 0.55 * np.sin(a)) ** 2) for a in ang])
    maps = mag * np.exp(1j * (ang[:, None, None] + 4 * xx))
    k = fftc(maps * rho).astype(np.complex64)
    f = larmor.receive_field(k)
    truth = np.sqrt((mag ** 2).sum(0))
    obj = rho > 0
    ratio = f[obj] / truth[obj]
    assert np.sqrt(np.mean((ratio / np.median(ratio) - 1) ** 2)) < 0.08
    flat = rho == 1
    before = truth[flat].std() / truth[flat].mean()
    after = (truth / f)[flat].std() / (truth / f)[flat].mean()
    assert before > 0.2 and after < 0.35 * before, (before, after)
    with pytest.raises(ValueError, match="degree"):
        larmor.receive_field(k, degree=9)


@pytest.mark.skipif(GENERATOR is None, reason="ismrmrd_generate_cartesian_shepp_logan missing (ismrmrd-tools)")
def test_chain_normalize_keeps_the_unnormalised_images(tmp_path):
    raw = tmp_path / "full.h5"
    subprocess.run([GENERATOR, "-m", "96", "-c", "8", "-o", str(raw)], check=True, capture_output=True)
    plain, _, _ = larmor.recon(raw)
    images, meta, method, derived = larmor.recon(raw, normalize="coils")
    assert len(derived["unnormalized"]) == len(images) == len(plain)
    np.testing.assert_allclose(derived["unnormalized"][0][0], plain[0], rtol=1e-4, atol=1e-6 * plain[0].max())
    assert not np.allclose(images[0], plain[0], rtol=1e-2)
    with pytest.raises(ValueError, match="normalize"):
        larmor.recon(raw, normalize="bodycoil")
    with pytest.raises(RuntimeError, match="body-coil"):
        larmor.recon(raw, normalize="body")  # the generator's file has no body-coil channel
    auto, _, _, _ = larmor.recon(raw, normalize="auto")  # no body coil: the array alone, as coils
    np.testing.assert_allclose(auto[0], images[0], rtol=1e-5, atol=1e-7 * images[0].max())
    out = tmp_path / "n.h5"
    assert larmor.recon_to_file(str(raw), str(out), normalize="coils")["images"] == len(images)
