// bind_coils.cpp — Python bindings of coil maps and combination (ESPIRiT, Walsh, Inati, Roemer, whitening, compression).
#include <string>
#include <utility>

#include "bind_common.hpp"
#include "larmor/coils/receive_field.hpp"
#include "larmor/larmor.hpp"

namespace larmor_py {
namespace {

void bind_coils(py::module_& m) {
  m.def("espirit_maps", [](const py::object& k, index_t calib, index_t kernel, double threshold, double crop,
                           index_t maps, const py::object& progress) {
    return spatial_2d_or_3d(k, "espirit_maps", [&](auto v) -> py::object {
      larmor::espirit_options o;
      o.calib = calib;
      o.kernel = kernel;
      o.threshold = threshold;
      o.crop = crop;
      o.maps = maps;
      o.progress = python_progress(progress);  // (done, total) after each readout position
      decltype(larmor::espirit_maps(v, o)) out;
      {
        py::gil_scoped_release nogil;
        out = larmor::espirit_maps(v, o);
      }
      return to_numpy(std::move(out));
    });
  }, py::arg("kspace"), py::arg("calib") = 24, py::arg("kernel") = 6, py::arg("threshold") = 0.001,
        py::arg("crop") = 0.8, py::arg("maps") = 1, py::arg("progress") = py::none(),
        "ESPIRiT maps (maps, coils, [z,] y, x) from k-space (coils, [z,] y, x); defaults as BART ecalib. "
        "progress: None, or a callable(done, total) called after each readout position (larmor.espirit_maps "
        "also takes progress=True: a tqdm bar).");
  m.def("receive_field", [](const py::object& k, int degree, float mask_threshold, index_t calib, index_t reference) {
    return spatial_2d_or_3d(k, "receive_field", [&](auto v) -> py::object {
      larmor::receive_field_options o;
      o.degree = degree, o.mask_threshold = mask_threshold, o.calib = calib, o.reference_channel = reference;
      constexpr std::size_t R = decltype(v)::rank;
      larmor::array<float, 3> f;
      {
        py::gil_scoped_release nogil;
        if constexpr (R == 3) {
          const larmor::strided_view<const cfloat, 4> v4(v.data(), {v.shape(0), 1, v.shape(1), v.shape(2)},
                                                         {v.stride(0), 0, v.stride(1), v.stride(2)});
          f = larmor::receive_field(v4, o);
        } else {
          f = larmor::receive_field(v, o);
        }
      }
      if constexpr (R == 3) return to_numpy(std::move(f).reshape(larmor::extents<2>{f.shape(1), f.shape(2)}));
      else return to_numpy(std::move(f));
    });
  }, py::arg("kspace"), py::arg("degree") = 3, py::arg("mask_threshold") = 0.1f, py::arg("calib") = 24,
        py::arg("reference_channel") = -1,
        "Receive field ([z,] y, x) of an array from its k-space (coils, [z,] y, x): exp of a polynomial of `degree` "
        "fitted to the log of the low-resolution root sum of squares over the object, median 1 there. "
        "image / field is the intensity-normalised image. reference_channel: a body-coil channel of kspace: the "
        "field relative to it (the object cancels; the array is the other channels) (docs/snr.md).");
  m.def("walsh_maps", [](const py::object& x, index_t kernel) {
    return spatial_2d_or_3d(x, "walsh_maps", [&](auto v) -> py::object {
      larmor::walsh_options o;
      o.kernel = kernel;
      decltype(larmor::walsh_maps(v, o)) out;
      {
        py::gil_scoped_release nogil;
        out = larmor::walsh_maps(v, o);
      }
      return to_numpy(std::move(out));
    });
  }, py::arg("coil_imgs"), py::arg("kernel") = 7, "Walsh adaptive-combine maps, shape of coil_imgs (unit norm).");
  m.def("inati_maps", [](const py::object& x, index_t kernel, int iters) {
    return spatial_2d_or_3d(x, "inati_maps", [&](auto v) -> py::object {
      larmor::inati_options o;
      o.kernel = kernel;
      o.iters = iters;
      decltype(larmor::inati_maps(v, o)) out;
      {
        py::gil_scoped_release nogil;
        out = larmor::inati_maps(v, o);
      }
      return to_numpy(std::move(out));
    });
  }, py::arg("coil_imgs"), py::arg("kernel") = 5, py::arg("iters") = 5, "Inati fast iterative maps, shape of coil_imgs.");
  m.def("combine", [](const py::object& imgs, const py::object& maps, const py::object& noise_cov) {
    const auto ni = ndim_of(imgs), nm = ndim_of(maps);
    if (ni < 2 || ni > 4 || (nm != ni && nm != ni + 1))
      throw larmor::InvalidArgument("combine: coil_imgs (coils, ...) with maps (coils, ...) or (maps, coils, ...), got " +
                                    std::to_string(ni) + " and " + std::to_string(nm) + " dimensions");
    return by_rank(ni, [&](auto r) -> py::object {
      constexpr std::size_t R = decltype(r)::value;
      if constexpr (R >= 2 && R <= 4) {
        py::object h1, h2, h3;
        const auto iv = complex_view<R>(imgs, h1, "combine: coil_imgs");
        auto run = [&](auto mv) -> py::object {
          using out_t = decltype(larmor::combine(iv, mv));
          out_t out;
          if (noise_cov.is_none()) {
            py::gil_scoped_release nogil;
            out = larmor::combine(iv, mv);
          } else {
            const auto pv = complex_view<2>(noise_cov, h3, "combine: noise_cov");
            py::gil_scoped_release nogil;
            out = larmor::combine(iv, mv, pv);
          }
          return to_numpy(std::move(out));
        };
        if (nm == ni) return run(complex_view<R>(maps, h2, "combine: maps"));
        return run(complex_view<R + 1>(maps, h2, "combine: maps"));
      } else {
        return py::none();
      }
    }, "combine");
  }, py::arg("coil_imgs"), py::arg("maps"), py::arg("noise_cov") = py::none(),
        "Roemer combination sum conj(S) I / sum |S|^2 (S^H Psi^-1 I / S^H Psi^-1 S with noise_cov).");
  m.def("noise_prewhitener", [](const py::object& noise, const std::string& scaling, double acq_dwell,
                                double noise_dwell) {
    py::object hold;
    const auto v = complex_view<2>(noise, hold, "noise_prewhitener");
    larmor::prewhitener_options o;
    if (scaling != "unit" && scaling != "snr")
      throw larmor::InvalidArgument("noise_prewhitener: scaling must be 'unit' or 'snr', got '" + scaling + "'");
    o.scaling = scaling == "snr" ? larmor::noise_scaling::snr_units : larmor::noise_scaling::unit;
    o.acquisition_dwell = acq_dwell;
    o.noise_dwell = noise_dwell;
    return to_numpy(larmor::noise_prewhitener(v, o));
  }, py::arg("noise"), py::arg("scaling") = "unit", py::arg("acquisition_dwell") = 1.0, py::arg("noise_dwell") = 1.0,
        "Whitening matrix W (coils, coils) from noise (coils, samples): unit = BART whiten, snr = Gadgetron.");
  m.def("prewhiten", [](const py::object& x, const py::object& w) {
    return by_rank(ndim_of(x), [&](auto r) -> py::object {
      constexpr std::size_t R = decltype(r)::value;
      py::object h1, h2;
      const auto xv = complex_view<R>(x, h1, "prewhiten: x");
      const auto wv = complex_view<2>(w, h2, "prewhiten: W");
      larmor::array<cfloat, R> out;
      {
        py::gil_scoped_release nogil;
        out = larmor::prewhiten(xv, wv);
      }
      return to_numpy(std::move(out));
    }, "prewhiten");
  }, py::arg("x"), py::arg("W"), "W applied along axis 0 (coils) of x.");
  m.def("coil_compress", [](const py::object& k, index_t ncoils, const std::string& method, index_t calib) {
    const auto meth = larmor::parse_compression_method(method);
    return spatial_2d_or_3d(k, "coil_compress", [&](auto v) -> py::object {
      decltype(larmor::coil_compress(v, ncoils, meth, calib)) out;
      {
        py::gil_scoped_release nogil;
        out = larmor::coil_compress(v, ncoils, meth, calib);
      }
      return to_numpy(std::move(out));
    });
  }, py::arg("kspace"), py::arg("ncoils"), py::arg("method") = "svd", py::arg("calib") = 24,
        "Virtual coils (SVD or GCC, from the calibration region): the first axis shrinks to ncoils.");
}

registrar reg_coils{"coils", bind_coils};

}  // namespace
}  // namespace larmor_py
