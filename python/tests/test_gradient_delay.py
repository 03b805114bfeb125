"""Radial gradient delays: larmor.ring_gradient_delay, larmor.correct_gradient_delay and the raw-data chain's
gradient_delay step, on spokes simulated in numpy with known delays (the exact DFT of an image at the shifted
positions k = (u n + S n) dk) and on the real 12-coil radial cardiac scan, beside `bart estdelay -R`."""
import os
import shutil
import subprocess
import tempfile

import numpy as np
import pytest

import larmor

HERE = os.path.dirname(os.path.abspath(__file__))
CARDIAC = os.path.join(HERE, "..", "..", "data", "scans", "gpunufft_radial_cardiac_12ch",
                       "radial_cardiac_25_projections.mat")


def spokes(n_spokes, samples, oversampling, golden=False):
    """Nominal spokes (spokes, samples, 2) in (x, y), cycles per FOV, the directions (spokes, 2) and dk."""
    dk = 1.0 / oversampling
    ang = (np.arange(n_spokes) * np.pi * (np.sqrt(5) - 1)) % (2 * np.pi) if golden else \
        2 * np.pi * np.arange(n_spokes) / n_spokes
    n = np.stack([np.cos(ang), np.sin(ang)], -1)
    u = (np.arange(samples) - samples // 2) * dk
    return u[None, :, None] * n[:, None, :], n, dk


def simulate(N, n_spokes, coils, oversampling, S, noise=0.0, golden=False, seed=0):
    """data (spokes, coils, samples), nominal coords (spokes, samples, 2) in larmor's (y, x), the object as the
    chain's ESPIRiT-normalised maps see it (times the root-sum-of-squares of the coil maps), true coords."""
    nom, n, dk = spokes(n_spokes, N * oversampling, oversampling, golden)
    act = nom + dk * (n @ np.asarray(S).T)[:, None, :]
    yy, xx = np.meshgrid(np.arange(N) - N // 2, np.arange(N) - N // 2, indexing="ij")
    obj = ((xx / (0.32 * N)) ** 2 + (yy / (0.4 * N)) ** 2 < 1) * 1.0 + 0j
    obj[((xx - 0.1 * N) / (0.1 * N)) ** 2 + (yy / (0.17 * N)) ** 2 < 1] = 0.3
    obj *= np.exp(3j * xx / N)
    maps = np.stack([np.exp(-((xx / N - 0.5 * np.cos(a)) ** 2 + (yy / N - 0.5 * np.sin(a)) ** 2) / 0.2) * np.exp(1j * a)
                     for a in 2 * np.pi * np.arange(coils) / coils])
    k = act.reshape(-1, 2)
    E = np.exp(-2j * np.pi * (np.outer(k[:, 0], xx.ravel()) + np.outer(k[:, 1], yy.ravel())) / N) / N
    data = np.stack([E @ (m * obj).ravel() for m in maps]).reshape(coils, n_spokes, -1).transpose(1, 0, 2)
    rng = np.random.default_rng(seed)
    data = data + noise * (rng.standard_normal(data.shape) + 1j * rng.standard_normal(data.shape))
    seen = obj * np.sqrt(np.sum(np.abs(maps) ** 2, axis=0))
    return data.astype(np.complex64), np.ascontiguousarray(nom[..., ::-1]), seen, act[..., ::-1]


def writecfl(base, a):
    with open(base + ".hdr", "w") as f:
        f.write("# Dimensions\n" + " ".join(str(d) for d in a.shape) + "\n")
    np.asfortranarray(a.astype(np.complex64)).ravel(order="F").tofile(base + ".cfl")


def bart_ring(data, coords_yx):
    """`bart estdelay -R` on (spokes, coils, samples) data; returns S in larmor's (x, y) naming. BART's first
    value belongs to traj dimension 1 (here y) and its second to dimension 0 (x): measured on the simulation."""
    bart = shutil.which("bart")
    if bart is None:
        pytest.fail("bart not found on PATH: it is a declared dependency of the tests (scripts/install-deps.sh)")
    with tempfile.TemporaryDirectory() as d:
        traj = np.zeros((3,) + coords_yx.shape[1::-1], np.complex64)
        traj[0], traj[1] = coords_yx[..., 1].T, coords_yx[..., 0].T
        writecfl(os.path.join(d, "t"), traj)
        writecfl(os.path.join(d, "k"), data.transpose(2, 0, 1)[None])
        out = subprocess.run([bart, "estdelay", "-R", os.path.join(d, "t"), os.path.join(d, "k")], check=True,
                             capture_output=True, text=True).stdout
    first, second, sxy = (float(v) for v in out.strip().split(":"))
    return {"sxx": second, "syy": first, "sxy": sxy}


@pytest.mark.parametrize("S", [[[0.6, 0.15], [0.15, -0.4]], [[-1.2, 0.0], [0.0, 0.8]], [[0.0, 0.0], [0.0, 0.0]]])
def test_ring_recovers_simulated_delays_better_than_bart(S):
    data, coords, _, _ = simulate(64, 48, 6, 2, S)
    e = larmor.ring_gradient_delay(data, coords)
    err = max(abs(e["sxx"] - S[0][0]), abs(e["syy"] - S[1][1]), abs(e["sxy"] - S[0][1]))
    assert err < 0.01, e
    b = bart_ring(data, coords)
    bart_err = max(abs(b["sxx"] - S[0][0]), abs(b["syy"] - S[1][1]), abs(b["sxy"] - S[0][1]))
    assert err <= bart_err + 0.005, (e, b)


def test_ring_with_noise_golden_angle_and_no_oversampling():
    S = [[0.5, -0.2], [-0.2, 0.9]]
    data, coords, _, _ = simulate(64, 64, 6, 2, S, noise=0.05, golden=True)
    e = larmor.ring_gradient_delay(data, coords)
    assert abs(e["sxx"] - 0.5) < 0.03 and abs(e["syy"] - 0.9) < 0.03 and abs(e["sxy"] + 0.2) < 0.03, e
    data, coords, _, _ = simulate(48, 40, 4, 1, S)  # readout not oversampled: crop 1 by default
    e = larmor.ring_gradient_delay(data, coords)
    assert abs(e["sxx"] - 0.5) < 0.02 and abs(e["syy"] - 0.9) < 0.02 and abs(e["sxy"] + 0.2) < 0.02, e


def test_correct_gradient_delay_gives_the_sampled_trajectory():
    S = [[0.7, 0.1], [0.1, -0.3]]
    _, coords, _, actual = simulate(16, 12, 2, 2, S)
    fixed = larmor.correct_gradient_delay(coords, sxx=0.7, syy=-0.3, sxy=0.1)
    np.testing.assert_allclose(fixed, actual, atol=1e-4)
    with pytest.raises(RuntimeError, match="not a spoke"):
        larmor.correct_gradient_delay(coords ** 2, 0.1, 0.1)


def test_chain_corrects_the_delay_and_reports_it():
    """noncartesian_recon (ESPIRiT maps, CG-SENSE) on 1-sample delays: with the RING step the image is closer
    to the object (times the coils' RSS, which ESPIRiT's normalised maps leave in the image) than without; the
    line reports S."""
    N = 64
    S = [[1.0, 0.2], [0.2, -0.8]]
    data, coords, obj, _ = simulate(N, 96, 8, 2, S)
    traj = (coords[..., ::-1] / N).astype(np.float32)  # ISMRMRD (kx, ky), normalised units
    on, line = larmor.noncartesian_recon(data, traj, (N, N), iters=20)
    off, line_off = larmor.noncartesian_recon(data, traj, (N, N), iters=20, gradient_delay="off")
    assert "gradient delay S_xx 0.99" in line or "gradient delay S_xx 1.00" in line, line
    assert "S_yy -0.80" in line and "gradient delay" not in line_off
    inside = np.abs(obj) > 0

    def err(img):
        a = img[0][inside]
        b = np.abs(obj[inside])
        return np.linalg.norm(a * np.vdot(a, b) / np.vdot(a, a) - b) / np.linalg.norm(b)

    assert err(on) < 0.06 and err(on) < 0.6 * err(off), (err(on), err(off))  # measured 0.045 vs 0.094
    with pytest.raises(ValueError, match="gradient_delay"):
        larmor.noncartesian_recon(data, traj, (N, N), gradient_delay="maybe")


def test_ring_on_the_real_radial_cardiac_scan_agrees_with_bart():
    scipy_io = pytest.importorskip("scipy.io")
    mat = scipy_io.loadmat(CARDIAC)
    raw, k = mat["rawdata"], mat["k"]  # (256 samples, 25 spokes, 12 coils); kx + i ky in [-0.5, 0.5]
    data = np.ascontiguousarray(raw.transpose(1, 2, 0)).astype(np.complex64)
    coords = np.stack([k.imag.T * 256, k.real.T * 256], axis=-1)
    e = larmor.ring_gradient_delay(data, coords)
    b = bart_ring(data, coords)
    # measured: larmor -0.277 / -0.125 / -0.056, bart -0.272 / -0.087 / -0.065 (bart crops the readout to 60 %
    # of its FOV although this one is not oversampled, and searches a +-0.75-sample grid)
    for key in ("sxx", "syy", "sxy"):
        assert abs(e[key] - b[key]) < 0.06, (e, b)
    assert e["residual"] < 0.1 and e["pairs"] >= 12  # 18 distinct intersections of 25 spokes
