"""The multi-coil test acquisition the Python tests share: an elliptical object with a brighter centre,
nc smooth coil sensitivities on a ring around it (with phase), its centred k-space plus complex noise."""
import numpy as np

import larmor


def phantom(nc=8, n=64, noise=1e-3, seed=1):
    y, x = np.mgrid[-1:1:n * 1j, -1:1:n * 1j]
    obj = ((x / 0.7) ** 2 + (y / 0.9) ** 2 <= 1).astype(np.float32) * (1 + 0.5 * (x ** 2 + y ** 2 < 0.1))
    ang = 2 * np.pi * np.arange(nc) / nc
    maps = np.stack([np.exp(-((x - 1.4 * np.cos(a)) ** 2 + (y - 1.4 * np.sin(a)) ** 2) / 1.6) *
                     np.exp(1j * (0.5 * x * np.cos(a) + 0.3 * y + a)) for a in ang]).astype(np.complex64)
    k = larmor.fftc(maps * obj)
    r = np.random.default_rng(seed)
    k = k + (noise * (r.standard_normal(k.shape) + 1j * r.standard_normal(k.shape))).astype(np.complex64)
    return obj, maps, k.astype(np.complex64)
