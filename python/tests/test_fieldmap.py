"""larmor.b0_map against a known field: multi-echo GRE coil images simulated in numpy from
I_ec = m s_c exp(i 2 pi f TE_e), with a field that wraps at the echo spacing."""
import numpy as np
import pytest

import larmor


def simulate(shape, coils, te, sigma, seed=0):
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.linspace(-1, 1, n, endpoint=False) for n in shape], indexing="ij")
    x, y = grids[-1], grids[-2]
    z = grids[0] if len(shape) == 3 else 0 * x
    field = 280 * np.exp(-((x - 0.25) ** 2 + (y + 0.15) ** 2 + z ** 2) / 0.08) + 120 * x - 60 * y - 20
    obj = (x ** 2 / 0.72 + y ** 2 / 0.56 + z ** 2 / 0.8) < 1
    ang = 2 * np.pi * np.arange(coils) / coils
    sens = np.stack([np.exp(-((x - 0.8 * np.cos(a)) ** 2 + (y - 0.8 * np.sin(a)) ** 2) / 1.5)
                     * np.exp(1j * (1.3 * a + 2 * x * np.sin(a) - 1.5 * y * np.cos(a))) for a in ang])
    echoes = np.stack([obj * sens * np.exp(2j * np.pi * field * t) for t in te])
    echoes = echoes + sigma * (rng.standard_normal(echoes.shape) + 1j * rng.standard_normal(echoes.shape))
    return echoes.astype(np.complex64), field, obj


def inner(obj, margin=2):
    """The object without its border pixels."""
    from numpy.lib.stride_tricks import sliding_window_view
    ax = tuple(range(obj.ndim - 2, obj.ndim))
    pad = np.pad(obj, [(0, 0)] * (obj.ndim - 2) + [(margin, margin)] * 2)
    win = sliding_window_view(pad, (2 * margin + 1,) * 2, axis=ax)
    return win.all(axis=(-2, -1))


def test_two_echoes_with_wraps_match_the_known_field():
    te = [2.0e-3, 4.46e-3]  # |f| < 203 Hz unambiguous; the field reaches ~330 Hz
    echoes, field, obj = simulate((64, 72), 8, te, 0.005)
    hz, mask = larmor.b0_map(echoes, te, smooth=0, return_mask=True)
    assert hz.shape == (64, 72) and hz.dtype == np.float32 and mask.dtype == bool
    sel = inner(obj)
    err = hz[sel] - field[sel]
    assert np.sqrt(np.mean(err ** 2)) < 1.0 and np.abs(err).max() < 5.0
    assert not mask[~obj].any() and mask[obj].mean() > 0.95
    assert (hz[~mask] == 0).all()


def test_combined_3d_and_three_echoes():
    te = [1.8e-3, 4.2e-3, 7.3e-3]
    echoes, field, obj = simulate((10, 40, 44), 4, te, 0.01, seed=1)
    hz = larmor.b0_map(echoes, te, smooth=0)  # (echoes, coils, z, y, x)
    sel = inner(obj)
    assert np.sqrt(np.mean((hz[sel] - field[sel]) ** 2)) < 2.0
    # Combined images (coil-combined with a phase of their own), 3D: 4 axes are read as 2D coil images
    # unless combined=True.
    comb = np.sum(echoes * np.exp(-0.4j), axis=1)
    assert larmor.b0_map(comb, te).shape == (40, 44)
    with pytest.raises(ValueError, match="combined=True was given"):
        larmor.b0_map(echoes, te, combined=True)
    hzc = larmor.b0_map(comb, te, combined=True, smooth=0)
    assert np.sqrt(np.mean((hzc[sel] - field[sel]) ** 2)) < 3.0


def test_bad_input():
    te = [2.0e-3, 4.46e-3]
    echoes, _, _ = simulate((16, 16), 2, te, 0.0)
    with pytest.raises(ValueError, match="increase"):
        larmor.b0_map(echoes, [4e-3, 2e-3])
    with pytest.raises(ValueError, match="seconds"):
        larmor.b0_map(echoes, [2.0, 4.46])
    with pytest.raises(ValueError, match="echo times"):
        larmor.b0_map(echoes, [2e-3])
    bad = echoes.copy()
    bad[1, 0, 3, 3] = np.nan
    with pytest.raises(RuntimeError):
        larmor.b0_map(bad, te)
