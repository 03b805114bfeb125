// bind_core.cpp — Python bindings of the basics: thread count, centred FFT, root-sum-of-squares, BART .cfl files.
#include <string>
#include <utility>
#include <vector>

#include "bind_common.hpp"
#include "larmor/larmor.hpp"

namespace larmor_py {
namespace {

larmor::axis_list to_axes(const std::vector<int>& axes) { return larmor::axis_list(axes.begin(), axes.end()); }

py::object fft_impl(const py::object& x, const std::vector<int>& axes, bool inverse) {
  return by_rank(ndim_of(x), [&](auto r) -> py::object {
    constexpr std::size_t R = decltype(r)::value;
    py::object hold;
    const auto v = complex_view<R>(x, hold, inverse ? "ifftc" : "fftc");
    const auto ax = to_axes(axes);
    larmor::array<cfloat, R> out;
    {
      py::gil_scoped_release nogil;
      out = inverse ? larmor::ifftc(v, ax) : larmor::fftc(v, ax);
    }
    return to_numpy(std::move(out));
  }, inverse ? "ifftc" : "fftc");
}

void bind_core(py::module_& m) {
  m.def("set_num_threads", &larmor::set_num_threads, py::arg("n"),
        "Worker threads for all larmor calls, a process-wide larmor setting read by every thread (0: OpenMP's default, "
        "OMP_NUM_THREADS or all cores). OpenMP's own setting (omp_set_num_threads) is not changed. See docs/api.md.");
  m.def("num_threads", &larmor::num_threads, "Worker threads larmor uses.");

  m.def("fftc", [](const py::object& x, const std::vector<int>& axes) { return fft_impl(x, axes, false); },
        py::arg("x"), py::arg("axes") = std::vector<int>{-2, -1},
        "Centered unitary FFT fftshift(fft(ifftshift(x)))/sqrt(N) over `axes`; complex64 in and out, any shape.");
  m.def("ifftc", [](const py::object& x, const std::vector<int>& axes) { return fft_impl(x, axes, true); },
        py::arg("x"), py::arg("axes") = std::vector<int>{-2, -1}, "Inverse of fftc.");

  m.def("rss", [](const py::object& x, int axis, const py::object& out) {
    return by_rank(ndim_of(x), [&](auto r) -> py::object {
      constexpr std::size_t R = decltype(r)::value;
      if constexpr (R >= 2) {
        py::object hold;
        const auto v = complex_view<R>(x, hold, "rss");
        if (out.is_none()) {
          larmor::array<float, R - 1> result;
          {
            py::gil_scoped_release nogil;
            result = larmor::rss(v, axis);
          }
          return to_numpy(std::move(result));
        }
        // out=: a writeable float32 array of the combined shape, any strides (numpy's out= convention).
        auto o = py::array::ensure(out);
        if (!o || !o.dtype().is(py::dtype::of<float>()) || !o.writeable())
          throw larmor::InvalidArgument("rss: out must be a writeable numpy float32 array");
        if (static_cast<std::size_t>(o.ndim()) != R - 1)
          throw larmor::InvalidArgument("rss: out must have " + std::to_string(R - 1) + " dimensions, got " +
                                        std::to_string(o.ndim()));
        extents<R - 1> shape{}, strides{};
        for (std::size_t i = 0; i + 1 < R; ++i) {
          const auto ai = static_cast<py::ssize_t>(i);
          if (o.strides(ai) % static_cast<py::ssize_t>(sizeof(float)) != 0)
            throw larmor::InvalidArgument("rss: out has strides that are not a multiple of 4 bytes");
          shape[i] = o.shape(ai);
          strides[i] = o.strides(ai) / static_cast<py::ssize_t>(sizeof(float));
        }
        const larmor::strided_view<float, R - 1> ov(static_cast<float*>(o.mutable_data()), shape, strides);
        {
          py::gil_scoped_release nogil;
          larmor::rss(v, ov, axis);
        }
        return std::move(o);
      } else {
        throw larmor::InvalidArgument("rss: need a coil axis and at least one pixel axis");
      }
    }, "rss");
  }, py::arg("x"), py::arg("axis") = 0, py::arg("out") = py::none(),
     "Root-sum-of-squares over `axis` (the coil axis): float32, that axis removed.\n"
     "out: optional writeable float32 array of that shape (any strides) to write into and return, so a loop\n"
     "over slices/repetitions reuses one buffer.");

  m.def("read_cfl", [](const std::string& base) {
    auto d = larmor::read_cfl(base);
    std::vector<index_t> shape(d.bart_dims.rbegin(), d.bart_dims.rend());
    while (shape.size() > 1 && shape.front() == 1) shape.erase(shape.begin());  // trailing BART singleton dims
    std::vector<py::ssize_t> s(shape.begin(), shape.end());
    py::array_t<cfloat> out(s);
    std::copy(d.samples.begin(), d.samples.end(), out.mutable_data());
    return out;
  }, py::arg("base"), "Reads BART base.cfl/.hdr; numpy shape = BART dims reversed (trailing singleton dims dropped).");
  m.def("write_cfl", [](const std::string& base, const py::object& x) {
    by_rank(ndim_of(x), [&](auto r) -> py::object {
      constexpr std::size_t R = decltype(r)::value;
      py::object hold;
      larmor::write_cfl(base, complex_view<R>(x, hold, "write_cfl"));
      return py::none();
    }, "write_cfl");
  }, py::arg("base"), py::arg("x"), "Writes x as BART base.cfl/.hdr (BART dims = numpy shape reversed).");
}

registrar reg_core{"core", bind_core};

}  // namespace
}  // namespace larmor_py
