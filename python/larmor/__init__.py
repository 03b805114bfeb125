"""larmor: fast multi-coil MRI reconstruction (Python bindings).

Arrays are numpy complex64, coil axis first: k-space and coil images (coils, y, x) or (coils, z, y, x),
sensitivity maps (maps, coils, [z,] y, x). complex128 (and other numeric dtypes) are accepted and
converted to complex64 (a copy); C-contiguous complex64 input is used in place, without a copy, and
results are handed to numpy without a copy. Heavy work runs with the GIL released.
Bad arguments raise ValueError, bad data RuntimeError, with the message of the C++ check.
"""
from ._larmor import *  # noqa: F401,F403
from ._larmor import __version__  # noqa: F401
from . import _larmor as _core


def _cartesian_samples(kspace, mask, sample_times, func):
    """Cartesian k-space (coils, [z,] y, x) as the non-Cartesian operator's samples: (samples (coils, M), coords
    (M, ndim) in cycles per FOV on the integer grid, where the NUFFT equals fftc, and the acquired samples'
    times). Acquired: mask (the k-space's image axes), else where any coil is non-zero."""
    import numpy as np
    k = np.asarray(kspace)
    shape = k.shape[1:]
    acquired = np.any(k != 0, axis=0) if mask is None else np.broadcast_to(np.asarray(mask, bool), shape)
    t = np.asarray(sample_times, np.float64)
    if t.shape != shape:
        raise ValueError(f"{func}: sample_times must have the k-space's image shape {shape} for Cartesian data, "
                         f"got {t.shape}")
    idx = np.nonzero(acquired)
    coords = np.stack([i - n // 2 for i, n in zip(idx, shape)], axis=-1).astype(np.float64)
    return np.ascontiguousarray(k[(slice(None),) + idx]), coords, np.ascontiguousarray(t[idx])


def cgsense(kspace, maps, mask=None, reg=0.0, iters=30, tol=1e-6, return_residuals=False, coords=None, **nufft):
    """CG-SENSE: Cartesian (k-space (coils, [z,] y, x), optional mask) or, with `coords`, non-Cartesian
    (samples (coils, M), coords (M, ndim) in cycles per FOV ordered like the image axes; extra keywords such
    as eps, toeplitz go to cgsense_noncartesian). Minimises ||A x - k||^2 + reg ||x||^2 from x = 0.
    Off-resonance: fieldmap (Hz, the image's shape) with sample_times (s; coords.shape[:-1], or for Cartesian
    data the k-space's image shape, e.g. larmor.epi_sample_times) — Cartesian data then run through the same
    time-segmented operator on the integer grid (docs/offresonance.md).
    See help(larmor._larmor.cgsense) and help(larmor.cgsense_noncartesian) for the details of each."""
    for key in ("fieldmap", "sample_times"):  # None spelled out: the same as not given
        if key in nufft and nufft[key] is None:
            del nufft[key]
    if coords is None and nufft.get("fieldmap") is not None:
        if return_residuals:
            raise ValueError("cgsense: return_residuals is not available with a field map")
        samples, coords, nufft["sample_times"] = _cartesian_samples(kspace, mask, nufft.get("sample_times"), "cgsense")
        return _core.cgsense_noncartesian(samples, maps, coords, reg=reg, iters=iters, tol=tol, **nufft)
    if coords is not None:
        if mask is not None:
            raise ValueError("cgsense: give either coords (non-Cartesian) or mask (Cartesian), not both")
        if return_residuals:
            raise ValueError("cgsense: return_residuals is for Cartesian data")
        return _core.cgsense_noncartesian(kspace, maps, coords, reg=reg, iters=iters, tol=tol, **nufft)
    if nufft:
        raise ValueError(f"cgsense: unexpected arguments {sorted(nufft)} for Cartesian data (no coords)")
    return _core.cgsense(kspace, maps, mask=mask, reg=reg, iters=iters, tol=tol, return_residuals=return_residuals)


def cs(kspace, maps, mask=None, coords=None, progress=None, **kw):
    """Compressed sensing: Cartesian (k-space (coils, [z,] y, x) or (frames, coils, y, x), optional mask;
    help(larmor._larmor.cs)) or, with `coords`, non-Cartesian (samples (coils, ...), coords (..., ndim) in
    cycles per FOV ordered like the image axes; larmor.cs_noncartesian: wavelet, tv, iters, solver, scale,
    eps, toeplitz, seed, return_info, fieldmap, sample_times, segments). Cartesian data with a fieldmap
    ((coils, [z,] y, x), no frames) run through the non-Cartesian operator on the integer grid, as in
    larmor.cgsense, with cs_noncartesian's options and data scale (the Cartesian-only ones, e.g. llr, do not
    apply). progress: None, True (a tqdm
    bar over the iterations) or a callable(iteration, iters)."""
    if coords is not None and mask is not None:
        raise ValueError("cs: give either coords (non-Cartesian) or mask (Cartesian), not both")
    update, close = _progress_bar(progress, "larmor.cs", "it", total=kw.get("iters", 100))
    hook = None if progress is None or progress is False else update
    for key in ("fieldmap", "sample_times"):
        if key in kw and kw[key] is None:
            del kw[key]
    try:
        if coords is None and kw.get("fieldmap") is not None:
            kspace, coords, kw["sample_times"] = _cartesian_samples(kspace, mask, kw.get("sample_times"), "cs")
        if coords is not None:
            return _core.cs_noncartesian(kspace, maps, coords, progress=hook, **kw)
        return _core.cs(kspace, maps, mask=mask, progress=hook, **kw)
    finally:
        close()


def epi_sample_times(shape, echo_spacing, echo_time=0.0, dwell=0.0, lines=None, alternating=True):
    """Acquisition time (s) of every sample of a Cartesian EPI k-space (ny, nx) (lines in k-space order, the
    reversed ones already flipped), for larmor.cgsense / larmor.cs with a fieldmap. Acquired lines (`lines`: a
    boolean (ny,) or their indices; default all) follow each other at `echo_spacing` in k-space order (the
    blip direction: line y after line y - R); the line nearest ky = 0 (index ny // 2) is read at `echo_time`.
    With `dwell` > 0 the time along each line is added, readout directions alternating from the first
    acquired line (forward: x increasing); 0 neglects it (the readout is ~1/100 of the echo train)."""
    import numpy as np
    ny, nx = shape
    if lines is None:
        acquired = np.arange(ny)
    else:
        lines = np.asarray(lines)
        acquired = np.nonzero(lines)[0] if lines.dtype == bool else np.sort(lines.astype(int))
    if acquired.size == 0 or acquired.min() < 0 or acquired.max() >= ny:
        raise ValueError("epi_sample_times: lines must name acquired lines in 0..ny-1")
    if not echo_spacing > 0:
        raise ValueError("epi_sample_times: echo_spacing must be positive (seconds)")
    rank = np.full(ny, -1)
    rank[acquired] = np.arange(acquired.size)
    centre = rank[acquired[np.argmin(np.abs(acquired - ny // 2))]]
    t = np.zeros((ny, nx))
    x = np.arange(nx) - nx // 2
    for y in acquired:
        forward = (rank[y] % 2 == 0) or not alternating
        t[y] = echo_time + (rank[y] - centre) * echo_spacing + dwell * (x if forward else -x)
    return t


def recon_stream(source, method="auto", output="magnitude", partial_fourier="pocs", noise_scaling="unit",
                 slices=None, lam=0.0, compress="auto", dataset="dataset"):
    """Streaming reconstruction: yields (image, meta) as each image completes, while the rest of the data is
    still being read (a C++ thread reads and reconstructs with the GIL released).

    source: a raw-data file (ISMRMRD .h5 or Siemens twix .dat), or a pair (header_xml, readouts) where readouts
    is an iterable of dicts with 'data' ((channels, samples) complex) and ISMRMRD header fields (see
    ReconSession.push). meta: image_index, slice, contrast, phase, repetition, set, geometry, image_type.
    The images and their order are those of larmor.recon on the same file. Closing the generator early
    cancels the work."""
    if isinstance(source, tuple):
        header, readouts = source
        session = ReconSession(header, method=method, output=output, partial_fourier=partial_fourier,
                               noise_scaling=noise_scaling, slices=slices, lam=lam, compress=compress)
        for r in readouts:
            r = dict(r)
            yield from session.push(r.pop("data"), **r)
        yield from session.finish()
        return
    import os
    stream = _core._FileStream(os.fspath(source), method=method, output=output, partial_fourier=partial_fourier,
                               noise_scaling=noise_scaling, slices=slices, lam=lam, compress=compress,
                               dataset=dataset)
    yield from _items(stream)


def _items(stream):
    """The (image, meta) pairs of a _FileStream as they complete; the stream is closed (its C++ worker
    cancelled and joined) when the iteration ends or is abandoned."""
    try:
        while True:
            item = stream.next()
            if item is None:
                return
            yield item
    finally:
        stream.close()


# ---- progress for long calls (3D ESPIRiT, a big recon): silent by default, a tqdm bar with progress=True ----

def _progress_bar(progress, desc, unit, total=None):
    """(update(n_done), close()) for progress = None/False (nothing), True (a tqdm bar: Debian's
    python3-tqdm; in a notebook tqdm.auto draws a widget when ipywidgets is there) or a callable(done[,
    total]) the caller supplies."""
    if progress is None or progress is False:
        return (lambda done, total=None: None), (lambda: None)
    if progress is True:
        from tqdm.auto import tqdm
        bar = tqdm(desc=desc, unit=unit, total=total)

        def update(done, total=None):
            if total is not None and bar.total != total:
                bar.total = total
            bar.update(done - bar.n)
        return update, bar.close
    if not callable(progress):
        raise ValueError(f"progress must be None, True or a callable, got {type(progress).__name__}")
    return progress, (lambda: None)


def espirit_maps(kspace, calib=24, kernel=6, threshold=0.001, crop=0.8, maps=1, progress=None):
    """ESPIRiT maps (maps, coils, [z,] y, x) from k-space (coils, [z,] y, x); defaults as BART ecalib.
    progress: None, True (a tqdm bar over the readout positions) or a callable(done, total).
    See help(larmor._larmor.espirit_maps)."""
    update, close = _progress_bar(progress, "ESPIRiT maps", "x")
    try:
        return _core.espirit_maps(kspace, calib=calib, kernel=kernel, threshold=threshold, crop=crop, maps=maps,
                                  progress=None if progress is None or progress is False else update)
    finally:
        close()


def pseudo_replica(recon, kspace, replicas=100, noise_cov=None, mask=None, seed=1, progress=None):
    """Pseudo-replica SNR and noise maps (Robson 2008) of any reconstruction `recon(kspace) -> image`:
    returns (snr, noise_std) with the image's shape. progress: None, True (a tqdm bar over the replicas) or a
    callable(done, replicas). See help(larmor._larmor.pseudo_replica) and docs/snr.md."""
    update, close = _progress_bar(progress, "pseudo-replicas", "replica", total=replicas)
    try:
        return _core.pseudo_replica(recon, kspace, replicas=replicas, noise_cov=noise_cov, mask=mask, seed=seed,
                                    progress=None if progress is None or progress is False else update)
    finally:
        close()


def recon(path, method="auto", output="magnitude", partial_fourier="pocs", noise_scaling="unit", slices=None,
          lam=0.0, compress="auto", dataset="dataset", progress=None, gfactor=False, b0_map=False, normalize="off"):
    """Reconstructs a raw-data file (ISMRMRD .h5 or Siemens twix .dat) as `larmor recon` does: (images,
    metadata dicts, method). progress: None (silent), True (a tqdm bar counting the images as they complete)
    or a callable(images_done). gfactor=True / b0_map=True add a fourth element, a dict of the derived maps
    ('gfactor': grappa/sense/cgsense; 'b0_map': Hz from a multi-echo scan) as (map, meta) pairs (no progress
    bar then); normalize="auto"/"coils"/"body" (receive-field normalisation) adds the unnormalised images
    there as 'unnormalized'. See help(larmor._larmor.recon) for the others."""
    import os
    if gfactor or b0_map or normalize != "off" or progress is None or progress is False:
        return _core.recon(os.fspath(path), method=method, output=output, partial_fourier=partial_fourier,
                           noise_scaling=noise_scaling, slices=slices, lam=lam, compress=compress, dataset=dataset,
                           gfactor=gfactor, b0_map=b0_map, normalize=normalize)
    update, close = _progress_bar(progress, f"larmor.recon {os.path.basename(os.fspath(path))}", "image")
    stream = _core._FileStream(os.fspath(path), method=method, output=output, partial_fourier=partial_fourier,
                               noise_scaling=noise_scaling, slices=slices, lam=lam, compress=compress,
                               dataset=dataset)
    images, meta = [], []
    try:
        for image, m in _items(stream):
            images.append(image)
            meta.append(m)
            update(len(images))
        return images, meta, stream.method
    finally:
        close()
