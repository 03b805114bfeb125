// bind_common.hpp — what every binding file of the _larmor module shares: numpy <-> larmor views
// without copies, results handed to numpy without copies, dispatch over array rank, and the registry
// through which each bind_*.cpp adds its functions to the module (one file per area, so areas do not
// edit one another's files).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/core/error.hpp"

namespace larmor_py {

namespace py = pybind11;
using larmor::cfloat;
using larmor::extents;
using larmor::index_t;

// Each bind_*.cpp registers one function that adds its definitions: static registrar{"name", fn};
// module.cpp calls them all (in name order) when the module is imported.
using binder = std::function<void(py::module_&)>;
inline std::vector<std::pair<std::string, binder>>& binders() {
  static std::vector<std::pair<std::string, binder>> b;
  return b;
}
struct registrar {
  registrar(std::string name, binder f) { binders().emplace_back(std::move(name), std::move(f)); }
};



// A complex64 view of any numpy array: complex64 input is used in place (any strides); other numeric
// dtypes are converted into a new C-contiguous complex64 array, kept alive in `holder`.
template <std::size_t R>
larmor::strided_view<const cfloat, R> complex_view(const py::handle& obj, py::object& holder, const char* name) {
  py::array a = py::array::ensure(obj);
  if (!a) throw larmor::InvalidArgument(std::string(name) + ": expected a numpy array");
  if (!a.dtype().is(py::dtype::of<cfloat>()) || a.itemsize() != 8) {
    a = py::array_t<cfloat, py::array::c_style | py::array::forcecast>::ensure(a);
    if (!a) throw larmor::InvalidArgument(std::string(name) + ": cannot convert to complex64");
  }
  if (static_cast<std::size_t>(a.ndim()) != R)
    throw larmor::InvalidArgument(std::string(name) + ": expected " + std::to_string(R) + " dimensions, got " +
                                  std::to_string(a.ndim()));
  extents<R> shape{}, strides{};
  for (std::size_t i = 0; i < R; ++i) {
    shape[i] = a.shape(static_cast<py::ssize_t>(i));
    if (a.strides(static_cast<py::ssize_t>(i)) % 8 != 0) {  // misaligned view: copy
      a = py::array_t<cfloat, py::array::c_style | py::array::forcecast>::ensure(a);
      return complex_view<R>(a, holder, name);
    }
    strides[i] = a.strides(static_cast<py::ssize_t>(i)) / 8;
  }
  holder = a;
  return larmor::strided_view<const cfloat, R>(static_cast<const cfloat*>(a.data()), shape, strides);
}

// Hands an owned larmor::array to numpy without copying.
template <class T, std::size_t R>
py::array to_numpy(larmor::array<T, R>&& a) {
  std::vector<py::ssize_t> shape(R);
  for (std::size_t i = 0; i < R; ++i) shape[i] = a.shape(i);
  T* p = a.release();
  py::capsule owner(p, [](void* q) { larmor::aligned_free(q); });
  return py::array_t<T>(shape, p, owner);
}

// A C-contiguous view of `src` converted to element type E (a copy only where the dtype or layout
// differs), kept alive in `holder`; used for masks and weights.
template <class E, std::size_t N>
larmor::strided_view<const E, N> c_contiguous_as(const py::array& src, const extents<N>& shape, py::object& holder) {
  auto a = py::array_t<E, py::array::c_style | py::array::forcecast>::ensure(src);
  if (!a) throw larmor::InvalidArgument("cannot convert the mask to numbers");
  holder = a;
  return larmor::strided_view<const E, N>(a.data(), shape);
}

// Calls f(std::integral_constant<size_t, R>) for R = ndim (1..6).
template <class F>
py::object by_rank(py::ssize_t ndim, F&& f, const char* name) {
  switch (ndim) {
    case 1: return f(std::integral_constant<std::size_t, 1>{});
    case 2: return f(std::integral_constant<std::size_t, 2>{});
    case 3: return f(std::integral_constant<std::size_t, 3>{});
    case 4: return f(std::integral_constant<std::size_t, 4>{});
    case 5: return f(std::integral_constant<std::size_t, 5>{});
    case 6: return f(std::integral_constant<std::size_t, 6>{});
    default: throw larmor::InvalidArgument(std::string(name) + ": arrays of 1 to 6 dimensions, got " + std::to_string(ndim));
  }
}

// A C++ progress hook for a Python callable progress(done, total): called with the GIL taken, one call at a
// time, while the work itself runs with the GIL released; an exception it raises is dropped (the work goes
// on). Empty for None.
inline std::function<void(index_t, index_t)> python_progress(const py::object& progress) {
  if (progress.is_none()) return {};
  return [progress](index_t done, index_t total) {
    py::gil_scoped_acquire gil;
    try {
      progress(done, total);
    } catch (py::error_already_set&) {
    }
  };
}

inline py::ssize_t ndim_of(const py::handle& x) { return py::array::ensure(x) ? py::array::ensure(x).ndim() : -1; }

// Calls f(view) with x as a (coils, y, x) or (coils, z, y, x) complex64 view; other ranks are refused.
template <class F>
py::object spatial_2d_or_3d(const py::object& x, const char* name, F&& f) {
  const auto nd = ndim_of(x);
  if (nd != 3 && nd != 4)
    throw larmor::InvalidArgument(std::string(name) + ": expected (coils, y, x) or (coils, z, y, x), got " +
                                  std::to_string(nd) + " dimensions");
  return by_rank(nd, [&](auto r) -> py::object {
    constexpr std::size_t R = decltype(r)::value;
    if constexpr (R == 3 || R == 4) {
      py::object hold;
      return f(complex_view<R>(x, hold, name));
    } else {
      return py::none();
    }
  }, name);
}

}  // namespace larmor_py
