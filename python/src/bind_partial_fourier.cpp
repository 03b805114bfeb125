// bind_partial_fourier.cpp — Python binding of larmor/pf/partial_fourier.hpp:
//   larmor.partial_fourier(kspace, method="pocs", axis=-2, iters=10, acquired=None, tol=1e-3, transition=0)
// k-space (coils, y, x) or (coils, z, y, x) (a 2D (y, x) array is taken as one coil), complex64 (other dtypes
// converted), any strides; returns a new complex64 array of the same shape. The GIL is released while it runs.
#include <string>
#include <vector>

#include "bind_common.hpp"
#include "larmor/pf/partial_fourier.hpp"

namespace larmor_py {
namespace {

// axis: an int or a sequence of ints.
larmor::axis_list read_axes(const py::object& axis) {
  if (py::isinstance<py::int_>(axis)) return {axis.cast<int>()};
  try {
    auto v = axis.cast<std::vector<int>>();
    return v;
  } catch (const py::cast_error&) {
    throw larmor::InvalidArgument("partial_fourier: axis must be an int or a tuple of ints");
  }
}

// acquired: None, a (begin, end) pair, or a sequence of pairs (one per axis).
std::vector<larmor::acquired_range> read_acquired(const py::object& acquired) {
  std::vector<larmor::acquired_range> r;
  if (acquired.is_none()) return r;
  std::vector<std::vector<index_t>> pairs;
  try {
    pairs = acquired.cast<std::vector<std::vector<index_t>>>();
  } catch (const py::cast_error&) {
    try {
      pairs = {acquired.cast<std::vector<index_t>>()};
    } catch (const py::cast_error&) {
      throw larmor::InvalidArgument("partial_fourier: acquired must be None, (begin, end) or a sequence of them");
    }
  }
  for (const auto& p : pairs) {
    if (p.size() != 2)
      throw larmor::InvalidArgument("partial_fourier: each acquired range must be (begin, end), got " +
                                    std::to_string(p.size()) + " numbers");
    r.push_back({p[0], p[1]});
  }
  return r;
}

py::object partial_fourier_py(const py::object& kspace, const std::string& method, const py::object& axis, int iters,
                              const py::object& acquired, double tol, index_t transition) {
  larmor::partial_fourier_options o;
  o.method = larmor::parse_partial_fourier_method(method);
  o.iters = iters;
  o.tol = tol;
  o.transition = transition;
  const auto axes = read_axes(axis);
  const auto ranges = read_acquired(acquired);
  const py::ssize_t nd = ndim_of(kspace);
  if (nd == 2) {  // (y, x): one coil
    py::object hold;
    const auto v2 = complex_view<2>(kspace, hold, "partial_fourier");
    const larmor::strided_view<const cfloat, 3> v(v2.data(), extents<3>{1, v2.shape(0), v2.shape(1)},
                                                  extents<3>{0, v2.stride(0), v2.stride(1)});
    larmor::array<cfloat, 3> out;
    {
      py::gil_scoped_release nogil;
      out = larmor::partial_fourier(v, axes, o, ranges);
    }
    return to_numpy(std::move(out).reshape(extents<2>{v2.shape(0), v2.shape(1)}));
  }
  if (nd != 3 && nd != 4)
    throw larmor::InvalidArgument("partial_fourier: kspace must be (coils, y, x), (coils, z, y, x) or (y, x), got " +
                                  std::to_string(nd) + " dimensions");
  return by_rank(nd, [&](auto r) -> py::object {
    constexpr std::size_t R = decltype(r)::value;
    if constexpr (R == 3 || R == 4) {
      py::object hold;
      const auto v = complex_view<R>(kspace, hold, "partial_fourier");
      larmor::array<cfloat, R> out;
      {
        py::gil_scoped_release nogil;
        out = larmor::partial_fourier(v, axes, o, ranges);
      }
      return to_numpy(std::move(out));
    }
    return py::none();
  }, "partial_fourier");
}

void bind_partial_fourier(py::module_& m) {
  m.def("partial_fourier", &partial_fourier_py, py::arg("kspace"), py::arg("method") = "pocs", py::arg("axis") = -2,
        py::arg("iters") = 10, py::arg("acquired") = py::none(), py::arg("tol") = 1e-3, py::arg("transition") = 0,
        R"doc(Partial Fourier reconstruction: k-space with zeros where nothing was acquired -> filled k-space.

kspace: (coils, y, x) or (coils, z, y, x) centred k-space (index N//2 is k = 0, as fftc), or (y, x) for one
    coil; complex64 (other dtypes are converted). Returns a new complex64 array of the same shape.
method: "pocs" (Haacke 1991: phase from the symmetric centre, iterate magnitude x phase -> k-space -> keep the
    acquired samples; acquired samples are returned unchanged when transition=0), "homodyne" (Noll 1991: ramp
    weights as `bart homodyne`; the result's inverse FFT is the real homodyne image times the low-resolution
    phase, so |ifftc(result)| is the homodyne magnitude and coil combination works), or "zero" (input unchanged).
axis: the partial-Fourier axis, or a tuple of them (-2 = y, -3 = z, -1 = readout for an asymmetric echo).
iters, tol: POCS stops after `iters` passes or when the relative change of the estimated samples is < tol.
acquired: None (detected: the extent of the non-zero samples along each axis), or (begin, end) / one
    (begin, end) per axis. Axes acquired fully or symmetrically about N//2 are left alone.
transition: POCS only: blend measured and estimated samples over this many samples at the acquired edge.
Raises ValueError for bad arguments (axis, ranges covering less than half an axis, rank), RuntimeError for
NaN/Inf or all-zero k-space.)doc");
}

registrar reg_partial_fourier{"partial_fourier", bind_partial_fourier};

}  // namespace
}  // namespace larmor_py
