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


def cs(kspace, maps, mask=None, coords=None, **kw):
    """Compressed sensing: Cartesian (k-space (coils, [z,] y, x) or (frames, coils, y, x), optional mask;
    help(larmor._larmor.cs)) or, with `coords`, non-Cartesian (samples (coils, ...), coords (..., ndim) in
    cycles per FOV ordered like the image axes; larmor.cs_noncartesian: wavelet, tv, iters, solver, scale,
    eps, toeplitz, seed, return_info)."""
    if coords is not None:
        if mask is not None:
            raise ValueError("cs: give either coords (non-Cartesian) or mask (Cartesian), not both")
        return _core.cs_noncartesian(kspace, maps, coords, **kw)
    return _core.cs(kspace, maps, mask=mask, **kw)
