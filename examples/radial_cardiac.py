"""Radial cardiac reconstruction with larmor's NUFFT: the real 12-coil, 25-spoke short-axis scan of
data/scans/gpunufft_radial_cardiac_12ch (gpuNUFFT demo data, MIT).

  1. gridding: radial ramp density compensation + adjoint NUFFT, root-sum-of-squares over coils;
  2. coil maps: Walsh on the gridded coil images of the low-resolution k-space centre;
  3. non-Cartesian CG-SENSE (Toeplitz normal operator);
  4. the raw-data chain (larmor/nufft/noncartesian_recon.hpp, what `larmor recon` runs on radial ISMRMRD):
     readouts (spokes, coils, samples) + per-sample trajectory in the file's own units (normalised here,
     detected), ESPIRiT maps from the gridded centre, CG-SENSE.
Writes radial_cardiac.png (gridding | CG-SENSE) when matplotlib is available.

    PYTHONPATH=build/python python3 examples/radial_cardiac.py [out.png]
"""
import os
import sys
import time

import numpy as np
import scipy.io

import larmor

here = os.path.dirname(os.path.abspath(__file__))
mat = scipy.io.loadmat(os.path.join(here, "..", "data", "scans", "gpunufft_radial_cardiac_12ch",
                                    "radial_cardiac_25_projections.mat"))
raw, k = mat["rawdata"], mat["k"]                 # (256 samples, 25 spokes, 12 coils); kx + i ky in [-0.5, 0.5]
N = 256                                           # 256 samples across the diameter at 1 cycle/FOV
samples = np.ascontiguousarray(raw.transpose(2, 1, 0)).astype(np.complex64)     # (coils, spokes, samples)
coords = np.stack([k.imag.T * N, k.real.T * N], axis=-1)                         # (spokes, samples, 2) (y, x)
coords = np.clip(coords, -N / 2, N / 2 - 1e-6)

t0 = time.perf_counter()
w = larmor.dcf(coords, method="ramp")   # 25 spokes: the outer k-space is far sparser than the kernel; the ramp
                                        # weights it correctly where Pipe-Menon (larmor.dcf(coords, (N, N))) cannot
coil_imgs = larmor.nufft_adjoint(samples * w, coords, (N, N))
grid = larmor.rss(coil_imgs)
t1 = time.perf_counter()

# coil maps from the gridded low-resolution centre (|k| < 24 cycles/FOV), Walsh adaptive combine
r = np.hypot(coords[..., 0], coords[..., 1])
low = larmor.nufft_adjoint(samples * w * np.exp(-(r / 16.0) ** 2), coords, (N, N))
maps = larmor.walsh_maps(low)
norm = np.sqrt(np.sum(np.abs(maps) ** 2, axis=0)) + 1e-12
maps = (maps / norm).astype(np.complex64)
scale = 1.0 / np.abs(samples).max()
t2 = time.perf_counter()
sense = larmor.cgsense_noncartesian(samples * scale, maps, coords, reg=1e-3, iters=15) / scale
t3 = time.perf_counter()
print(f"gridding {1e3 * (t1 - t0):.0f} ms, maps {1e3 * (t2 - t1):.0f} ms, CG-SENSE (15 it) {1e3 * (t3 - t2):.0f} ms")

# 4. the raw-data chain: the trajectory as a scanner file stores it (kx, ky), units left to detection
data = np.ascontiguousarray(raw.transpose(1, 2, 0)).astype(np.complex64)         # (spokes, coils, samples)
traj = np.stack([k.real.T, k.imag.T], axis=-1).astype(np.float32)                 # (spokes, samples, (kx, ky))
t4 = time.perf_counter()
chain, described = larmor.noncartesian_recon(data, traj, (N, N), iters=15)
t5 = time.perf_counter()
print("trajectory:", described)
print(f"raw-data chain (dcf, ESPIRiT maps, CG-SENSE 15 it) {1e3 * (t5 - t4):.0f} ms")
chain = chain[0]
# agreement with step 3 over the heart region (different maps: ESPIRiT vs Walsh): correlation of magnitudes
roi = (slice(64, 192), slice(64, 192))
a, b = np.abs(sense[roi]).ravel(), chain[roi].ravel()
print(f"correlation |CG-SENSE (Walsh maps)| vs chain (ESPIRiT maps) in the central 128^2: {np.corrcoef(a, b)[0, 1]:.3f}")

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out = sys.argv[1] if len(sys.argv) > 1 else "radial_cardiac.png"
    fig, ax = plt.subplots(1, 3, figsize=(12, 4))
    for a, img, title in zip(ax, (grid, np.abs(sense), chain),
                             ("gridding (ramp dcf), RSS", "CG-SENSE, 15 it", "raw-data chain (ESPIRiT, CG-SENSE)")):
        a.imshow(img[64:192, 64:192], cmap="gray", vmax=np.percentile(img, 99.5))
        a.set_title(title)
        a.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print("wrote", out)
except ImportError:
    print("matplotlib not available: no PNG")
