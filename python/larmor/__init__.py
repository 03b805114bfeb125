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


def cgsense(kspace, maps, mask=None, reg=0.0, iters=30, tol=1e-6, return_residuals=False, coords=None, **nufft):
    """CG-SENSE: Cartesian (k-space (coils, [z,] y, x), optional mask) or, with `coords`, non-Cartesian
    (samples (coils, M), coords (M, ndim) in cycles per FOV ordered like the image axes; extra keywords such
    as eps, toeplitz go to cgsense_noncartesian). Minimises ||A x - k||^2 + reg ||x||^2 from x = 0.
    See help(larmor._larmor.cgsense) and help(larmor.cgsense_noncartesian) for the details of each."""
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
    eps, toeplitz, seed, return_info). progress: None, True (a tqdm bar over the iterations) or a
    callable(iteration, iters)."""
    if coords is not None and mask is not None:
        raise ValueError("cs: give either coords (non-Cartesian) or mask (Cartesian), not both")
    update, close = _progress_bar(progress, "larmor.cs", "it", total=kw.get("iters", 100))
    hook = None if progress is None or progress is False else update
    try:
        if coords is not None:
            return _core.cs_noncartesian(kspace, maps, coords, progress=hook, **kw)
        return _core.cs(kspace, maps, mask=mask, progress=hook, **kw)
    finally:
        close()


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
          lam=0.0, compress="auto", dataset="dataset", progress=None):
    """Reconstructs a raw-data file (ISMRMRD .h5 or Siemens twix .dat) as `larmor recon` does: (images,
    metadata dicts, method). progress: None (silent), True (a tqdm bar counting the images as they complete)
    or a callable(images_done). See help(larmor._larmor.recon) for the other arguments."""
    if progress is None or progress is False:
        return _core.recon(path, method=method, output=output, partial_fourier=partial_fourier,
                           noise_scaling=noise_scaling, slices=slices, lam=lam, compress=compress, dataset=dataset)
    import os
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
