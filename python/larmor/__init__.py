"""larmor: fast multi-coil MRI reconstruction (Python bindings).

Arrays are numpy complex64, coil axis first: k-space and coil images (coils, y, x) or (coils, z, y, x),
sensitivity maps (maps, coils, [z,] y, x). complex128 (and other numeric dtypes) are accepted and
converted to complex64 (a copy); C-contiguous complex64 input is used in place, without a copy, and
results are handed to numpy without a copy. Heavy work runs with the GIL released.
Bad arguments raise ValueError, bad data RuntimeError, with the message of the C++ check.
"""
from ._larmor import *  # noqa: F401,F403
from ._larmor import __version__  # noqa: F401
