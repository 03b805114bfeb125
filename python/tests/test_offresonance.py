"""Off-resonance-corrected non-Cartesian reconstruction (larmor.cgsense / larmor.cs with fieldmap and
sample_times) against the exact encoding written here in numpy:

    y_c(m) = N^-1/2 sum_r S_c(r) x(r) exp(i 2 pi f(r) t_m) exp(-2 pi i k_m . r / N),   r = j - N//2

and against conjugate gradients on that exact model, written here in numpy (the same Krylov iterate: CG-SENSE
without density compensation converges slowly, so the test compares iterate with iterate)."""
import numpy as np
import pytest

import larmor

N = 32


def spiral(interleaves, samples, kmax):
    """Variable-density Archimedean-like spiral (interleaves, samples, 2) in (y, x), cycles per FOV."""
    f = np.arange(samples) / samples
    rad = kmax * f ** 1.2
    ang = 2 * np.pi * (6 * f[None, :] + np.arange(interleaves)[:, None] / interleaves)
    return np.stack([rad * np.sin(ang), rad * np.cos(ang)], axis=-1)


def problem(interleaves=16, samples=300, readout=20e-3, field=160.0, coils=4, seed=0):
    yy, xx = np.meshgrid(np.arange(N) - N // 2, np.arange(N) - N // 2, indexing="ij")
    truth = ((xx / 12.0) ** 2 + (yy / 14.0) ** 2 < 1).astype(np.complex128)
    truth[(xx / 5.0) ** 2 + ((yy - 3) / 4.0) ** 2 < 1] = 0.4
    truth[(np.abs(xx + 5) < 2) & (np.abs(yy + 5) < 3)] = 1.6
    # a gradient plus a susceptibility-like bump, about -field .. +field Hz
    hz = field * (0.7 * xx / (N / 2) + 0.5 * np.exp(-((xx - 4) ** 2 + (yy + 6) ** 2) / 30.0))
    maps = np.empty((coils,) + truth.shape, np.complex128)
    for c in range(coils):
        a = 2 * np.pi * c / coils
        maps[c] = np.exp(-((xx / N - 0.5 * np.cos(a)) ** 2 + (yy / N - 0.5 * np.sin(a)) ** 2) / 0.3) * np.exp(1j * a)
    coords = spiral(interleaves, samples, N / 2)
    times = np.broadcast_to(2e-3 + readout * np.arange(samples) / samples, (interleaves, samples)).copy()
    return truth, hz, maps, coords, times


def exact_matrix(hz, coords, times):
    """(M, n) exact encoding of one coil without its map."""
    yy, xx = np.meshgrid(np.arange(N) - N // 2, np.arange(N) - N // 2, indexing="ij")
    k = coords.reshape(-1, 2)
    t = times.reshape(-1)
    phase = -2j * np.pi * (np.outer(k[:, 0], yy.ravel()) + np.outer(k[:, 1], xx.ravel())) / N
    phase += 2j * np.pi * np.outer(t, hz.ravel())
    return np.exp(phase) / N


def simulate(truth, hz, maps, coords, times):
    E = exact_matrix(hz, coords, times)
    return np.stack([E @ (m * truth).ravel() for m in maps]).reshape((maps.shape[0],) + coords.shape[:-1])


def ifft2c(k):
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def nrmse(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def exact_cg(hz, maps, coords, times, y, iters):
    """CG from x = 0 on the exact normal equations A^H A x = A^H y (Hestenes-Stiefel), in complex128.
    A^H A = (E^H E) * sum_c conj(S_c) S_c^T elementwise, for A = [E diag(S_c)]_c."""
    E = exact_matrix(hz, coords, times)
    s = maps.reshape(maps.shape[0], -1)
    G = (E.conj().T @ E) * (s.conj().T @ s)
    b = np.einsum("ci,mi,cm->i", s.conj(), E.conj(), y.reshape(maps.shape[0], -1))
    x = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    rr = np.vdot(r, r).real
    for _ in range(iters):
        Gp = G @ p
        a = rr / np.vdot(p, Gp).real
        x += a * p
        r -= a * Gp
        rn = np.vdot(r, r).real
        p = r + rn / rr * p
        rr = rn
    return x.reshape(N, N)


def test_cgsense_with_a_field_map_follows_cg_on_the_exact_model():
    truth, hz, maps, coords, times = problem()
    y = simulate(truth, hz, maps, coords, times)
    ref = exact_cg(hz, maps, coords, times, y, 40)
    plain = larmor.cgsense(y, maps, coords=coords, iters=40, tol=1e-12)
    fixed, info = larmor.cgsense(y, maps, coords=coords, iters=40, tol=1e-12, fieldmap=hz, sample_times=times,
                                 return_info=True)
    assert nrmse(fixed, ref) < 0.01, nrmse(fixed, ref)
    assert nrmse(plain, ref) > 0.5, nrmse(plain, ref)  # the blur the correction removes
    assert nrmse(ref, truth) < 0.07  # and the exact model's iterate is close to the object
    assert 2 <= info["segments"] <= 16
    assert info["segmentation_rms_error"] <= 1e-3 and info["segmentation_max_error"] < 2e-2
    # too few segments for this field and readout: measurably worse, and the stated error says so
    coarse, ci = larmor.cgsense(y, maps, coords=coords, iters=40, tol=1e-12, fieldmap=hz, sample_times=times,
                                segments=3, return_info=True)
    assert ci["segmentation_rms_error"] > 10 * info["segmentation_rms_error"]
    assert nrmse(coarse, ref) > 2 * nrmse(fixed, ref)


def test_the_field_map_sign_follows_b0_map():
    """Echoes simulated as I(TE) = I0 exp(i 2 pi f TE): b0_map gives f, and the spiral model with that f and
    sample times matches the data (the opposite sign does not)."""
    truth, hz, maps, coords, times = problem(readout=15e-3, field=120.0)
    echoes = np.stack([maps * truth * np.exp(2j * np.pi * hz * te) for te in (2e-3, 3.5e-3)])
    est = larmor.b0_map(echoes.astype(np.complex64), [2e-3, 3.5e-3], smooth=0)
    inside = np.abs(truth) > 0
    assert np.max(np.abs(est - hz)[inside]) < 1.0
    y = simulate(truth, hz, maps, coords, times)
    ref = exact_cg(hz, maps, coords, times, y, 30)
    right = larmor.cgsense(y, maps, coords=coords, iters=30, fieldmap=np.where(inside, est, hz), sample_times=times)
    wrong = larmor.cgsense(y, maps, coords=coords, iters=30, fieldmap=-hz, sample_times=times)
    assert nrmse(right, ref) < 0.02 and nrmse(wrong, ref) > 0.5, (nrmse(right, ref), nrmse(wrong, ref))


def test_cs_with_a_field_map():
    truth, hz, maps, coords, times = problem(interleaves=12)
    y = simulate(truth, hz, maps, coords, times)
    plain = larmor.cs(y, maps, coords=coords, wavelet=1e-4, iters=80)
    fixed, info = larmor.cs(y, maps, coords=coords, wavelet=1e-4, iters=80, fieldmap=hz, sample_times=times,
                            return_info=True)
    assert nrmse(fixed, truth) < 0.1 and nrmse(plain, truth) > 0.5, (nrmse(fixed, truth), nrmse(plain, truth))
    assert info["segments"] >= 2 and info["segmentation_rms_error"] <= 1e-3


def test_field_map_arguments_are_checked():
    truth, hz, maps, coords, times = problem(interleaves=4, samples=64)
    y = simulate(truth, hz, maps, coords, times)
    with pytest.raises(ValueError, match="go together"):
        larmor.cgsense(y, maps, coords=coords, fieldmap=hz)
    with pytest.raises(ValueError, match="image's shape"):
        larmor.cgsense(y, maps, coords=coords, fieldmap=hz[:-1], sample_times=times)
    with pytest.raises(ValueError, match="coords.shape"):
        larmor.cgsense(y, maps, coords=coords, fieldmap=hz, sample_times=times[:, :-1])
    bad = hz.copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        larmor.cs(y, maps, coords=coords, fieldmap=bad, sample_times=times)
    with pytest.raises(ValueError, match="seconds"):
        larmor.cgsense(y, maps, coords=coords, fieldmap=hz, sample_times=times * 1e3)  # milliseconds by mistake


def test_epi_distortion_removed_with_a_field_map():
    """Cartesian EPI (48^2, 8 coils, in-plane R = 2, echo spacing 0.9 ms, TE 30 ms) simulated with the exact
    model: each line read at its own time, the field shifting the object along y by f x ESP x (lines
    acquired) pixels (up to ~2.6 here). CG-SENSE with the map and larmor.epi_sample_times removes the shift;
    without it the image stays displaced. The times are checked against the EPI timing written out here."""
    n, coils, R = 48, 8, 2
    yy, xx = np.meshgrid(np.arange(n) - n // 2, np.arange(n) - n // 2, indexing="ij")
    truth = ((xx / 17.0) ** 2 + (yy / 20.0) ** 2 < 1).astype(np.complex128)
    truth[(np.abs(xx - 4) < 4) & (np.abs(yy + 6) < 3)] = 0.3
    hz = 120.0 * np.exp(-((xx + 3) ** 2 + (yy - 5) ** 2) / 120.0) - 40.0 * yy / n
    maps = np.stack([np.exp(-((xx / n - 0.6 * np.cos(a)) ** 2 + (yy / n - 0.6 * np.sin(a)) ** 2) / 0.25)
                     * np.exp(1j * a) for a in 2 * np.pi * np.arange(coils) / coils])
    lines = np.zeros(n, bool)
    lines[::R] = True
    t = larmor.epi_sample_times((n, n), echo_spacing=0.9e-3, echo_time=30e-3, lines=lines, dwell=4e-6)
    # the EPI timing written out: acquired line j (in k-space order) at TE + (j - j0) ESP, j0 the line at ky = 0,
    # the readout running forward on even j and backward on odd j
    j = np.arange(n // R)
    j0 = (n // 2) // R
    expected = 30e-3 + (j - j0)[:, None] * 0.9e-3 + 4e-6 * (np.arange(n) - n // 2)[None, :] * np.where(j % 2, -1, 1)[:, None]
    np.testing.assert_allclose(t[::R], expected, atol=1e-12)
    # exact simulation on the acquired lines
    k = np.zeros((coils, n, n), np.complex128)
    ky, kx = np.nonzero(np.broadcast_to(lines[:, None], (n, n)))
    phase = -2j * np.pi * (np.outer(ky - n // 2, yy.ravel()) + np.outer(kx - n // 2, xx.ravel())) / n
    E = np.exp(phase + 2j * np.pi * np.outer(t[ky, kx], hz.ravel())) / n
    for c in range(coils):
        k[c, ky, kx] = E @ (maps[c] * truth).ravel()
    k = k.astype(np.complex64)
    plain = larmor.cgsense(k, maps, iters=40)
    fixed, info = larmor.cgsense(k, maps, iters=40, fieldmap=hz, sample_times=t, return_info=True)
    e_plain, e_fixed = nrmse(plain, truth), nrmse(fixed, truth)
    m_plain = nrmse(np.abs(plain), np.abs(truth))  # the displacement alone, without the phase exp(i 2 pi f TE)
    assert e_fixed < 0.03 and e_plain > 0.3 and m_plain > 0.1, (e_fixed, e_plain, m_plain)  # 0.009, 1.54, 0.134
    assert info["segments"] >= 2 and info["segmentation_rms_error"] <= 1e-3
    # CS the same way
    fixed_cs = larmor.cs(k, maps, wavelet=1e-4, iters=60, fieldmap=hz, sample_times=t)
    assert nrmse(fixed_cs, truth) < 0.05
    with pytest.raises(ValueError, match="image shape"):
        larmor.cgsense(k, maps, fieldmap=hz, sample_times=t[:, :-1])
    with pytest.raises(ValueError, match="echo_spacing"):
        larmor.epi_sample_times((n, n), echo_spacing=0)


def test_field_map_from_a_reversed_phase_encode_pair():
    """Blip-up / blip-down EPI (64 lines, ESP 0.6 ms: 3 pixels per 80 Hz) simulated with the exact model: the
    field from larmor.reversed_pe_fieldmap against the true one, and the image corrected with it."""
    n, coils, esp = 64, 6, 0.6e-3
    yy, xx = np.meshgrid(np.arange(n) - n // 2, np.arange(n) - n // 2, indexing="ij")
    truth = ((xx / 22.0) ** 2 + (yy / 25.0) ** 2 < 1) * (1.0 + 0.5 * np.cos(xx / 5.0) * np.sin(yy / 7.0))
    hz = 70.0 * np.exp(-((xx - 5) ** 2 + (yy + 6) ** 2) / 150.0) + 25.0 * xx / n - 10.0
    maps = np.stack([np.exp(-((xx / n - 0.6 * np.cos(a)) ** 2 + (yy / n - 0.6 * np.sin(a)) ** 2) / 0.3)
                     * np.exp(1j * a) for a in 2 * np.pi * np.arange(coils) / coils])
    t_up = larmor.epi_sample_times((n, n), echo_spacing=esp, echo_time=0.02)
    t_down = 2 * 0.02 - t_up  # k_y read from high to low: the times mirrored about the centre line

    def simulate(t):
        ky, kx = np.meshgrid(np.arange(n) - n // 2, np.arange(n) - n // 2, indexing="ij")
        phase = -2j * np.pi * (np.outer(ky.ravel(), yy.ravel()) + np.outer(kx.ravel(), xx.ravel())) / n
        E = np.exp(phase + 2j * np.pi * np.outer(t.ravel(), hz.ravel())) / n
        return np.stack([(E @ (m * truth).ravel()).reshape(n, n) for m in maps]).astype(np.complex64)

    k_up, k_down = simulate(t_up), simulate(t_down)
    rss = lambda k: np.sqrt((np.abs(ifft2c(k)) ** 2).sum(0))
    est = larmor.reversed_pe_fieldmap(rss(k_up), rss(k_down), echo_spacing=esp)
    inner = ((xx / 19.0) ** 2 + (yy / 22.0) ** 2 < 1)
    err = est[inner] - hz[inner]
    # measured: RMS 1.26 Hz, max 3.0 Hz (field -16 .. +62 Hz); corrected image NRMSE 0.018 vs 0.079
    assert np.sqrt(np.mean(err ** 2)) < 3.0 and np.abs(err).max() < 8.0, (np.sqrt(np.mean(err ** 2)), np.abs(err).max())
    # the opposite sign would be far off: the test tells the directions apart
    assert np.sqrt(np.mean((-est[inner] - hz[inner]) ** 2)) > 30.0
    # correction with the estimated map
    fill = np.where(est != 0, est, 0.0)
    fixed = larmor.cgsense(k_up, maps, iters=40, fieldmap=fill, sample_times=t_up)
    plain = larmor.cgsense(k_up, maps, iters=40)
    e_fixed = nrmse(np.abs(fixed[inner]), truth[inner])
    e_plain = nrmse(np.abs(plain[inner]), truth[inner])
    assert e_fixed < 0.4 * e_plain, (e_fixed, e_plain)
    with pytest.raises(ValueError, match="echo_spacing"):
        larmor.reversed_pe_fieldmap(rss(k_up), rss(k_down), echo_spacing=0.6)  # milliseconds by mistake
    with pytest.raises(ValueError, match="shape"):
        larmor.reversed_pe_fieldmap(rss(k_up), rss(k_down)[:, :-1], echo_spacing=esp)
