// _larmor: the pybind11 module behind `import larmor`. Thin: it checks arguments, wraps numpy buffers as
// larmor::strided_view (no copy for complex64 input of any strides), releases the GIL around the C++
// call, and hands results to numpy without a copy (the array's buffer is owned by a capsule).
// This file holds __version__, the exception translator and the call of every area's binder; the
// functions live in bind_<area>.cpp (core, coils, io, pi, cs, nufft, session, ...), each registering
// itself (bind_common.hpp).
#include <algorithm>
#include <exception>

#include "bind_common.hpp"
#include "larmor/larmor.hpp"

using namespace larmor_py;  // NOLINT: the module's shared helpers

PYBIND11_MODULE(_larmor, m) {
  m.attr("__version__") = larmor::version;
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const larmor::InvalidArgument& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const larmor::Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });

  // The areas that bind themselves (bind_*.cpp), in a fixed order.
  auto& areas = binders();
  std::sort(areas.begin(), areas.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [name, bind] : areas) bind(m);
}
