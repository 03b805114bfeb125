"""Simultaneous multi-slice separation against references written here from the papers.

Slice-GRAPPA (Setsompop et al., MRM 67:1210, 2012) and split-slice GRAPPA (Cauley et al., MRM 72:93, 2014)
are re-implemented in numpy (complex128, every training position, the normal equations of each paper's least
squares) and larmor's separation must equal them; SMS-SENSE must equal a dense least-squares solve of the
encoding matrix built column by column, and its g-factor the diagonal of that solve's noise covariance. The
data are a numpy-only simulation: slices at different positions inside a cylinder of coils, each slice its
own object, blipped-CAIPI collapse by np.roll of the coil images (the convention the API documents).
"""
import numpy as np
import pytest

import larmor


def fftc(a, axes=(-2, -1)):
    return np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(a, axes=axes), axes=axes, norm="ortho"), axes=axes)


def ifftc(a, axes=(-2, -1)):
    return np.fft.fftshift(np.fft.ifftn(np.fft.ifftshift(a, axes=axes), axes=axes, norm="ortho"), axes=axes)


def coil_maps(coils, slices, ny, nx, slice_gap=0.25):
    """Coils on two rings of a cylinder (radius 1.3 FOV), slices at different z: every slice its own maps."""
    y, x = np.meshgrid(np.linspace(-0.5, 0.5, ny, endpoint=False), np.linspace(-0.5, 0.5, nx, endpoint=False),
                       indexing="ij")
    maps = np.zeros((slices, coils, ny, nx), complex)
    for s in range(slices):
        z = (s - (slices - 1) / 2) * slice_gap
        for c in range(coils):
            ang = 2 * np.pi * (c % (coils // 2)) / (coils // 2) + (0.3 if c >= coils // 2 else 0.0)
            cz = -0.3 if c < coils // 2 else 0.3
            px, py = 1.3 * np.cos(ang) * 0.5, 1.3 * np.sin(ang) * 0.5
            d2 = (x - px) ** 2 + (y - py) ** 2 + (z - cz) ** 2
            maps[s, c] = np.exp(1j * (ang + 2.0 * (x * np.cos(ang) + y * np.sin(ang)))) / d2 ** 0.75
    return maps / np.sqrt((np.abs(maps) ** 2).sum(axis=1, keepdims=True)).max()


def objects(slices, ny, nx, rng):
    y, x = np.meshgrid(np.linspace(-1, 1, ny, endpoint=False), np.linspace(-1, 1, nx, endpoint=False), indexing="ij")
    imgs = np.zeros((slices, ny, nx), complex)
    for s in range(slices):
        a, b = 0.7 - 0.05 * s, 0.85 - 0.04 * s
        body = ((x / a) ** 2 + (y / b) ** 2 <= 1).astype(float)
        for _ in range(4):  # inner structures, different per slice
            cx, cy, r = rng.uniform(-0.4, 0.4), rng.uniform(-0.5, 0.5), rng.uniform(0.08, 0.2)
            body += rng.uniform(-0.5, 0.8) * (((x - cx) ** 2 + (y - cy) ** 2) <= r * r)
        imgs[s] = body * np.exp(1j * (0.4 * x + 0.3 * y * s))
    return imgs


def shift_pixels(s, ny, caipi):
    return s * ny // caipi


def collapse(coil_imgs, caipi):
    """coil_imgs (slices, coils, y, x) -> collapsed k-space (coils, y, x): slice s rolled by s * ny / caipi."""
    ns, _, ny, _ = coil_imgs.shape
    rolled = sum(np.roll(coil_imgs[s], shift_pixels(s, ny, caipi), axis=-2) for s in range(ns))
    return fftc(rolled)


def caipi_phase(s, ny, caipi):
    """k-space phase of rolling by s * ny / caipi pixels (centred transform): exp(-2 pi i (ky - ny//2) s / caipi)."""
    ky = np.arange(ny) - ny // 2
    return np.exp(-2j * np.pi * ky * s / caipi)[:, None]


def scan(slices=3, coils=16, n=48, caipi=3, R=1, noise=0.002, seed=0):
    rng = np.random.default_rng(seed)
    maps = coil_maps(coils, slices, n, n)
    imgs = objects(slices, n, n, rng)
    coil_imgs = maps * imgs[:, None]
    truth_k = fftc(coil_imgs)

    def noisy(shape):
        return noise * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)

    collapsed = collapse(coil_imgs, caipi) + noisy((coils, n, n))
    calibration = truth_k + noisy(truth_k.shape)  # a single-band reference, its own noise
    lines = (np.arange(n) % R) == 0
    collapsed[:, ~lines] = 0
    return dict(maps=maps, imgs=imgs, truth_k=truth_k, collapsed=collapsed.astype(np.complex64),
                calibration=calibration.astype(np.complex64), lines=lines)


# --- numpy slice-GRAPPA / split-slice GRAPPA from the papers ---------------------------------------------------

def reference_sms_grappa(collapsed, calibration, caipi, R=1, kernel=(5, 5), split=True, reg=5e-4):
    """Kernel sources: collapsed k(c, ky + (i - h) R, kx + dx), i < ky, dx in -kx/2..kx/2; target: the shifted
    slice at (ky, kx). Slice-GRAPPA: min ||A W_s - B_s|| on the synthetic collapsed calibration (Setsompop
    2012). Split-slice: min sum_s' ||A_s' W_s - delta B_s'|| (Cauley 2014 eq. 5). Ridge lambda = reg tr(G)/n.
    Applied with the readout taps wrapping around (larmor's documented convention)."""
    ns, nc, cy, cx = calibration.shape
    ny, nx = collapsed.shape[1:]
    kyn, kxn = kernel
    h, hx = (kyn - 1) // 2, kxn // 2
    cal = calibration.astype(complex)
    # A calibration block smaller than the matrix: its line y is line y0 + y of the matrix, with that line's phase.
    y0 = ny // 2 - cy // 2
    shifted = np.stack([cal[s] * caipi_phase(s, ny, caipi)[y0:y0 + cy] for s in range(ns)])
    coll = shifted.sum(axis=0)
    ys = [y for y in range(cy) if all(0 <= y + (i - h) * R < cy for i in range(kyn))]
    xs = range(hx, cx - (kxn - 1) + hx)

    def sources(k, y, x):  # k (coils, y, x) -> row (i, d, c)
        return np.concatenate([k[:, y + (i - h) * R, x + d - hx] for i in range(kyn) for d in range(kxn)])

    def rows(k):
        return np.array([sources(k, y, x) for y in ys for x in xs])

    def targets(k):
        return np.array([k[:, y, x] for y in ys for x in xs])

    nsrc = kyn * kxn * nc
    if split:
        G = np.zeros((nsrc, nsrc), complex)
        AhB = np.zeros((nsrc, ns * nc), complex)
        for s in range(ns):
            A = rows(shifted[s])
            G += A.conj().T @ A
            AhB[:, s * nc:(s + 1) * nc] = A.conj().T @ targets(shifted[s])
    else:
        A = rows(coll)
        G = A.conj().T @ A
        AhB = A.conj().T @ np.concatenate([targets(shifted[s]) for s in range(ns)], axis=1)
    W = np.linalg.solve(G + reg * np.trace(G).real / nsrc * np.eye(nsrc), AhB)

    k = collapsed.astype(complex)
    acquired = np.abs(k).sum(axis=(0, 2)) > 0
    out = np.zeros((ns, nc, ny, nx), complex)
    for y in np.flatnonzero(acquired):
        src = []
        for i in range(kyn):
            yy = y + (i - h) * R
            line = k[:, yy] if 0 <= yy < ny and acquired[yy] else np.zeros((nc, nx))
            for d in range(kxn):
                src.append(np.roll(line, -(d - hx), axis=-1))  # k(c, yy, x + d - hx), wrapping
        S = np.concatenate(src, axis=0).T  # (x, i d c)
        T = S @ W  # (x, slices * coils)
        for s in range(ns):
            out[s, :, y] = T[:, s * nc:(s + 1) * nc].T
    for s in range(ns):
        out[s] *= np.conj(caipi_phase(s, ny, caipi))
    return out


def nrmse(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def combined(k, maps):
    """Coil combination conj(S) / sum |S|^2 of k-space (slices, coils, y, x)."""
    img = ifftc(k)
    w = np.conj(maps) / np.maximum((np.abs(maps) ** 2).sum(axis=1, keepdims=True), 1e-30)
    return (w * img).sum(axis=1)


@pytest.mark.parametrize("slices,caipi,R,split", [(2, 2, 1, True), (3, 3, 1, True), (3, 3, 1, False),
                                                  (3, 3, 2, True), (4, 4, 1, True), (2, 1, 1, False)])
def test_sms_grappa_equals_numpy_reference(slices, caipi, R, split):
    d = scan(slices=slices, coils=12, n=36, caipi=caipi, R=R)
    got = larmor.sms_grappa(d["collapsed"], d["calibration"], caipi, kernel=(5, 5), split=split)
    ref = reference_sms_grappa(d["collapsed"], d["calibration"], caipi, R=R, split=split)
    assert got.shape == (slices, 12, 36, 36)
    # Float32 normal equations vs complex128: measured 2.4e-5 .. 1.2e-4.
    assert nrmse(got, ref) < 5e-4
    # Lines off the in-plane lattice stay empty for in-plane GRAPPA to fill.
    assert np.all(got[:, :, ~d["lines"]] == 0)


@pytest.mark.parametrize("cy,cx,R", [(20, 36, 1), (16, 24, 2), (13, 25, 1)])
def test_sms_grappa_takes_a_central_calibration_block(cy, cx, R):
    """An ACS block (slices, coils, cy, cx) smaller than the matrix sits at its centre (line ny//2 - cy//2 ...):
    the numpy reference trains inside the block with each block line carrying the CAIPI phase of its line in the
    full matrix, and larmor gives the same slices; the block zero-padded into the matrix is not the same (its
    zero margins would be trained on), so the test can tell."""
    d = scan(slices=3, coils=12, n=36, caipi=3, R=R)
    y0, x0 = 36 // 2 - cy // 2, 36 // 2 - cx // 2
    block = np.ascontiguousarray(d["calibration"][:, :, y0:y0 + cy, x0:x0 + cx])
    padded = np.zeros_like(d["calibration"])
    padded[:, :, y0:y0 + cy, x0:x0 + cx] = block
    got = larmor.sms_grappa(d["collapsed"], block, 3)
    ref = reference_sms_grappa(d["collapsed"], block, 3, R=R)
    assert got.shape == (3, 12, 36, 36)
    assert nrmse(got, ref) < 5e-4
    if cx < 36:
        assert nrmse(larmor.sms_grappa(d["collapsed"], padded, 3), ref) > 5e-3
    with pytest.raises(ValueError, match="central block"):
        larmor.sms_grappa(d["collapsed"], np.zeros((3, 12, 40, 36), np.complex64), 3)


@pytest.mark.parametrize("slices,caipi", [(2, 2), (3, 3), (4, 4), (4, 2)])
def test_sms_grappa_separates_the_true_slices(slices, caipi):
    d = scan(slices=slices, coils=16, n=48, caipi=caipi, noise=0.002, seed=slices)
    sep = larmor.sms_grappa(d["collapsed"], d["calibration"], caipi)
    truth = combined(d["truth_k"], d["maps"])
    got = combined(sep, d["maps"])
    errs = [nrmse(got[s], truth[s]) for s in range(slices)]
    # Each slice at its own unshifted position: the collapsed image itself (no separation) is > 0.6 off.
    naive = [nrmse(combined(np.repeat(d["collapsed"][None], slices, 0), d["maps"])[s], truth[s])
             for s in range(slices)]
    assert max(errs) < 0.09, errs  # measured 0.009 .. 0.074
    assert min(naive) > 0.4, naive


@pytest.mark.parametrize("noise,ratio", [(0.0, 0.35), (0.002, 0.6)])
def test_split_slice_leaks_less_than_slice_grappa(noise, ratio):
    d = scan(slices=3, coils=16, n=48, caipi=3, noise=noise, seed=5)
    leak_split = larmor.sms_grappa_leakage(d["calibration"], 3, split=True)
    leak_slice = larmor.sms_grappa_leakage(d["calibration"], 3, split=False)
    assert leak_split.shape == (3, 48, 48)
    # Cauley 2014: split-slice trades a little noise for much less interslice leakage. Measured: 0.23x
    # without noise, 0.52x with calibration noise 0.002 (the other slices' noise leaks too).
    assert leak_split.mean() < ratio * leak_slice.mean(), (leak_split.mean(), leak_slice.mean())


@pytest.mark.parametrize("split", [False, True])
def test_leakage_map_equals_numpy(split):
    """The L-factor map from its definition, with the numpy reference kernel: slice s's kernel applied to each
    other slice's calibration alone (shifted as in the collapsed data), root sum of squares over coils and those
    slices, over the RMS of those slices' own coil-combined energy."""
    d = scan(slices=3, coils=12, n=36, caipi=3, noise=0.002, seed=6)
    cal = d["calibration"].astype(complex)
    got = larmor.sms_grappa_leakage(d["calibration"], 3, split=split)
    leak = np.zeros((3, 36, 36))
    own = np.array([(np.abs(ifftc(cal[s])) ** 2).sum(axis=0).mean() for s in range(3)])
    for sp in range(3):
        alone = (cal[sp] * caipi_phase(sp, 36, 3)).astype(np.complex64)
        sep = reference_sms_grappa(alone, d["calibration"], 3, split=split)
        for s in range(3):
            if s != sp:
                leak[s] += (np.abs(ifftc(sep[s])) ** 2).sum(axis=0)
    ref = np.stack([np.sqrt(leak[s]) / np.sqrt(own[[t for t in range(3) if t != s]].sum()) for s in range(3)])
    assert nrmse(got, ref) < 2e-3, nrmse(got, ref)


def test_sms_grappa_gfactor_matches_numpy_pseudo_replicas():
    d = scan(slices=2, coils=12, n=32, caipi=2, noise=0.002, seed=3)
    g = larmor.sms_grappa_gfactor(d["calibration"], d["maps"].astype(np.complex64), 2, replicas=200)
    rng = np.random.default_rng(11)
    acc = np.zeros((2, 32, 32))
    reps = 60
    for _ in range(reps):
        noise = (rng.standard_normal((12, 32, 32)) + 1j * rng.standard_normal((12, 32, 32))) / np.sqrt(2)
        sep = reference_sms_grappa(noise, d["calibration"], 2)
        acc += np.abs(combined(sep, d["maps"])) ** 2
    ref_sd = 1 / np.sqrt((np.abs(d["maps"]) ** 2).sum(axis=1))
    g_ref = np.sqrt(acc / reps) / ref_sd
    inside = (np.abs(d["imgs"]) > 0) & (g_ref > 0)
    # Two independent Monte Carlo estimates (200 and 60 replicas): the means within 6 %.
    assert abs(g[inside].mean() / g_ref[inside].mean() - 1) < 0.06, (g[inside].mean(), g_ref[inside].mean())
    assert 0.9 < g[inside].mean() < 3


# --- SMS-SENSE against a dense least-squares solve ---------------------------------------------------------------

def roll_model(maps, x, caipi):
    """Collapsed k-space from the roll definition (whole-pixel shifts)."""
    return collapse(maps * x[:, None], caipi)


def phase_model(maps, x, caipi):
    """Collapsed k-space from the k-space form of the shift (the roll's phase, also for fractional pixels)."""
    return sum(caipi_phase(s, maps.shape[2], caipi) * fftc(maps[s] * x[s]) for s in range(maps.shape[0]))


def dense_encoding(maps, caipi, lines, model=roll_model):
    """E: x (slices, y, x) -> acquired collapsed k-space (coils, lines, x), built column by column."""
    ns, nc, ny, nx = maps.shape
    cols = []
    for i in range(ns * ny * nx):
        x = np.zeros(ns * ny * nx, complex)
        x[i] = 1
        cols.append(model(maps, x.reshape(ns, ny, nx), caipi)[:, lines].ravel())
    return np.array(cols).T


@pytest.mark.parametrize("slices,caipi,R,reg", [(2, 2, 1, 0.0), (2, 2, 2, 0.0), (3, 3, 2, 0.0), (3, 1, 1, 1e-3),
                                                (2, 4, 3, 0.01)])
def test_sms_sense_equals_dense_least_squares(slices, caipi, R, reg):
    n, nx, coils = 12, 6, 8
    rng = np.random.default_rng(7)
    maps = coil_maps(coils, slices, n, nx)
    x_true = rng.standard_normal((slices, n, nx)) + 1j * rng.standard_normal((slices, n, nx))
    lines = (np.arange(n) % R) == (1 % R)  # a lattice offset
    E = dense_encoding(maps, caipi, lines)
    k = np.zeros((coils, n, nx), complex)
    data = E @ x_true.ravel() + 0.01 * (rng.standard_normal(E.shape[0]) + 1j * rng.standard_normal(E.shape[0]))
    k[:, lines] = data.reshape(coils, lines.sum(), nx)
    EhE = E.conj().T @ E
    ref = np.linalg.solve(EhE + reg * np.eye(EhE.shape[0]), E.conj().T @ data).reshape(slices, n, nx)
    got = larmor.sms_sense(k.astype(np.complex64), maps.astype(np.complex64), caipi, reg=reg)
    assert nrmse(got, ref) < 2e-5 if reg else nrmse(got, ref) < 1e-4
    # g-factor: noise covariance of the solve against a fully sampled single-band acquisition.
    X = np.linalg.inv(EhE + reg * np.eye(EhE.shape[0]))
    var = np.real(np.diag(X @ EhE @ X)).reshape(slices, n, nx)
    g_ref = np.sqrt(var * (np.abs(maps) ** 2).sum(axis=1) / R)
    g = larmor.sms_sense_gfactor(maps.astype(np.complex64), caipi, R=R, reg=reg)
    assert np.allclose(g, g_ref, rtol=2e-4, atol=1e-6)


@pytest.mark.parametrize("slices,caipi,R", [(2, 5, 1), (3, 4, 2), (2, 2, 2)])
def test_sms_cgsense_equals_dense_least_squares_for_any_shift(slices, caipi, R):
    """12 lines with FOV/5 or FOV/4 at 3 slices: shifts of 2.4 / 3 and 6 pixels -- not all whole pixels; sms_sense
    then runs CG (sms_cgsense) and must still reach the exact minimiser."""
    n, nx, coils, reg = 12, 6, 8, 1e-3
    rng = np.random.default_rng(8)
    maps = coil_maps(coils, slices, n, nx)
    x_true = rng.standard_normal((slices, n, nx)) + 1j * rng.standard_normal((slices, n, nx))
    lines = (np.arange(n) % R) == 0
    E = dense_encoding(maps, caipi, lines, model=phase_model)
    k = np.zeros((coils, n, nx), complex)
    data = E @ x_true.ravel()
    k[:, lines] = data.reshape(coils, lines.sum(), nx)
    EhE = E.conj().T @ E
    ref = np.linalg.solve(EhE + reg * np.eye(EhE.shape[0]), E.conj().T @ data).reshape(slices, n, nx)
    img, res = larmor.sms_cgsense(k.astype(np.complex64), maps.astype(np.complex64), caipi, reg=reg, iters=500,
                                  tol=1e-6, return_residuals=True)
    assert res[-1] <= 1e-6  # measured: 45-93 iterations
    assert nrmse(img, ref) < 2e-4, nrmse(img, ref)  # measured 6e-6 .. 3e-5
    got = larmor.sms_sense(k.astype(np.complex64), maps.astype(np.complex64), caipi, reg=reg)
    assert nrmse(got, ref) < 2e-4


def test_sms_sense_separates_a_phantom():
    # Noiseless: the model is exact, at MB 3 with in-plane R 2 too.
    d = scan(slices=3, coils=16, n=48, caipi=3, R=2, noise=0.0, seed=9)
    got = larmor.sms_sense(d["collapsed"], d["maps"].astype(np.complex64), 3)
    assert max(nrmse(got[s], d["imgs"][s]) for s in range(3)) < 1e-4
    # With noise at MB 3, R 1 (mean g 1.7 on these coils; at R 2 it is 6.5 and the error 0.13-0.25).
    d = scan(slices=3, coils=16, n=48, caipi=3, R=1, noise=0.001, seed=9)
    got = larmor.sms_sense(d["collapsed"], d["maps"].astype(np.complex64), 3)
    errs = [nrmse(got[s], d["imgs"][s]) for s in range(3)]
    assert max(errs) < 0.05, errs  # measured 0.024-0.031


def test_bad_input_is_refused_with_one_clear_error():
    d = scan(slices=2, coils=8, n=24, caipi=2)
    with pytest.raises(ValueError, match="caipi_shift"):
        larmor.sms_grappa(d["collapsed"], d["calibration"], 0)
    with pytest.raises(ValueError, match="does not match"):
        larmor.sms_grappa(d["collapsed"][:4], d["calibration"], 2)
    bad = d["collapsed"].copy()
    bad[0, 3, 3] = np.nan
    with pytest.raises(RuntimeError, match="NaN or Inf"):
        larmor.sms_grappa(bad, d["calibration"], 2)
    with pytest.raises(ValueError, match="whole number"):
        larmor.sms_sense_gfactor(d["maps"].astype(np.complex64), 5)
    with pytest.raises(RuntimeError, match="no position"):  # 3 lines: a 5-line kernel does not fit
        larmor.sms_grappa_leakage(d["calibration"][:, :, :3], 2)
    empty = np.zeros_like(d["collapsed"])
    with pytest.raises(RuntimeError, match="no data"):
        larmor.sms_grappa(empty, d["calibration"], 2)
