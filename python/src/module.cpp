// _larmor: the pybind11 module behind `import larmor`. Thin: it checks arguments, wraps numpy buffers as
// larmor::strided_view (no copy for complex64 input of any strides), releases the GIL around the C++
// call, and hands results to numpy without a copy (the array's buffer is owned by a capsule).
// Areas with bindings of their own live in bind_<area>.cpp and register themselves (bind_common.hpp).
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "larmor/io/ismrmrd.hpp"
#include "larmor/io/ismrmrd_kspace.hpp"
#include "larmor/larmor.hpp"
#include "larmor/pi/gfactor.hpp"
#include "larmor/recon/recon.hpp"
#include "larmor/recon/recon_file.hpp"
#include "bind_common.hpp"

using namespace larmor_py;  // NOLINT: the module's shared helpers

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

py::dict header_dict(const larmor::io::encoding_header& h) {
  py::dict d;
  d["encoded_matrix"] = h.encoded_matrix;
  d["recon_matrix"] = h.recon_matrix;
  d["encoded_fov_mm"] = h.encoded_fov_mm;
  d["recon_fov_mm"] = h.recon_fov_mm;
  d["acceleration"] = std::array<int, 2>{h.accel_e1, h.accel_e2};
  d["calibration_mode"] = h.calibration_mode;
  d["trajectory"] = h.trajectory;
  d["receiver_channels"] = h.receiver_channels;
  d["field_strength_T"] = h.system_field_strength_T;
  d["protocol_name"] = h.protocol_name;
  if (h.e1) d["e1_limits"] = std::array<int, 3>{h.e1->minimum, h.e1->maximum, h.e1->center};
  if (h.e2) d["e2_limits"] = std::array<int, 3>{h.e2->minimum, h.e2->maximum, h.e2->center};
  return d;
}

// Maps as (coils, ...) for k-space of rank R: given as (coils, ...) or (maps, coils, ...) with ONE set. Several
// sets are refused with the C++ message (detail::single_map_set), never silently reduced to the first.
template <std::size_t R>
larmor::strided_view<const cfloat, R> one_map_set(const py::object& maps, py::object& holder, const char* func) {
  const auto nm = ndim_of(maps);
  const std::string name = std::string(func) + ": maps";
  if (nm == static_cast<py::ssize_t>(R)) return complex_view<R>(maps, holder, name.c_str());
  if (nm == static_cast<py::ssize_t>(R) + 1)
    return larmor::detail::single_map_set<R>(func, complex_view<R + 1>(maps, holder, name.c_str()));
  throw larmor::InvalidArgument(name + ": expected (coils, ...) or (maps, coils, ...) with " + std::to_string(R) +
                                " or " + std::to_string(R + 1) + " dimensions, got " + std::to_string(nm));
}

larmor::grappa_options grappa_opts(const std::vector<index_t>& kernel, float reg, index_t kernel_z) {
  if (kernel.size() != 2)
    throw larmor::InvalidArgument("grappa: kernel must be (ky, kx), got " + std::to_string(kernel.size()) + " values");
  larmor::grappa_options o;
  o.kernel_y = kernel[0];
  o.kernel_x = kernel[1];
  o.kernel_z = kernel_z;
  o.reg = reg;
  return o;
}

// Kernel and lattice for k-space v, calibrated on `acs` (None: the fully sampled centre of v).
template <std::size_t R>
std::pair<larmor::grappa_kernel, larmor::sampling_lattice> grappa_setup(larmor::strided_view<const cfloat, R> v,
                                                                        const py::object& acs,
                                                                        const larmor::grappa_options& o) {
  py::object hold;
  const auto av = acs.is_none() ? v : complex_view<R>(acs, hold, "grappa: acs");
  if (av.shape(0) != v.shape(0))
    throw larmor::InvalidArgument("grappa: acs has " + std::to_string(av.shape(0)) + " coils, k-space has " +
                                  std::to_string(v.shape(0)));
  py::gil_scoped_release nogil;
  const auto L = larmor::detail::grappa_lattice("grappa", larmor::acquired_lines(v));
  const auto block = larmor::grappa_acs(av);
  return {larmor::grappa_calibrate(block.cview(), L, o), L};
}

}  // namespace

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

  m.def("espirit_maps", [](const py::object& k, index_t calib, index_t kernel, double threshold, double crop,
                           index_t maps, const py::object& progress) {
    return spatial_2d_or_3d(k, "espirit_maps", [&](auto v) -> py::object {
      larmor::espirit_options o;
      o.calib = calib;
      o.kernel = kernel;
      o.threshold = threshold;
      o.crop = crop;
      o.maps = maps;
      // progress(done, total) after each readout position: called with the GIL taken, one call at a time;
      // an exception it raises is dropped (the maps are still made).
      if (!progress.is_none())
        o.progress = [&progress](index_t done, index_t total) {
          py::gil_scoped_acquire gil;
          try {
            progress(done, total);
          } catch (py::error_already_set&) {
          }
        };
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

  const auto read_kspace = [](const std::string& path, const std::string& group) {
    larmor::io::ismrmrd_kspace r;
    {
      py::gil_scoped_release nogil;
      r = larmor::io::read_ismrmrd_kspace(path, group);  // io/ismrmrd_kspace.hpp: the same call in C++
    }
    auto& k = r.kspace;
    py::dict d;
    d["header"] = header_dict(r.header);
    py::list buffers, keys;
    for (auto& b : k.imaging) {
      py::dict key;
      key["slice"] = b.key.slice;
      key["contrast"] = b.key.contrast;
      key["phase"] = b.key.phase;
      key["repetition"] = b.key.repetition;
      key["set"] = b.key.set;
      keys.append(key);
      buffers.append(to_numpy(std::move(b.kspace)));
    }
    d["kspace"] = buffers;
    d["indices"] = keys;
    d["noise"] = k.noise.size() > 0 ? py::object(to_numpy(std::move(k.noise))) : py::none();
    py::list cal;
    for (auto& [key, c] : k.calibration) cal.append(to_numpy(std::move(c)));
    d["calibration"] = cal;
    return d;
  };
  const char* read_doc =
      "Reads an ISMRMRD file into assembled k-space (C++: larmor::io::read_ismrmrd_kspace): dict with 'header', "
      "'kspace' (list of (coils, z, y, x), one per slice/contrast/phase/repetition/set, averages divided out, "
      "oversampling removed), 'indices' (the keys of 'kspace', same order), 'noise' (coils, samples) or None, "
      "'calibration' (separate calibration buffers). Readouts are assembled as they are read (the raw list "
      "never exists). DataError (RuntimeError) for unreadable or non-Cartesian files.";
  m.def("read_ismrmrd", read_kspace, py::arg("path"), py::arg("dataset") = "dataset", read_doc);
  m.def("read_ismrmrd_kspace", read_kspace, py::arg("path"), py::arg("dataset") = "dataset", read_doc);
  // recon, recon_stream, ReconSession: bind_session.cpp

  // --- parallel imaging -------------------------------------------------------------------------
  m.def("grappa", [](const py::object& k, const py::object& acs, const std::vector<index_t>& kernel, float reg,
                     index_t kernel_z) {
    const auto o = grappa_opts(kernel, reg, kernel_z);
    return spatial_2d_or_3d(k, "grappa", [&](auto v) -> py::object {
      auto [kern, L] = grappa_setup(v, acs, o);
      (void)L;
      decltype(larmor::grappa_apply(v, kern)) out;
      {
        py::gil_scoped_release nogil;
        out = larmor::grappa_apply(v, kern);
      }
      return to_numpy(std::move(out));
    });
  }, py::arg("kspace"), py::arg("acs") = py::none(), py::arg("kernel") = std::vector<index_t>{4, 5},
        py::arg("reg") = 5e-4f, py::arg("kernel_z") = 3,
        "GRAPPA (Griswold 2002): k-space (coils, [z,] y, x) with zeros where nothing was acquired -> the same "
        "shape with every missing line filled; acquired lines are returned exactly. The sampling lattice (R along y, "
        "Ry x Rz with a CAIPIRINHA shift in 3D) is read from the data. acs: separate calibration data (the ACS "
        "block or zero-filled full size); None uses the fully sampled centre. kernel = (ky source lines, kx readout "
        "points), kernel_z source rows along z in 3D; reg: RELATIVE Tikhonov weight of the kernel fit, "
        "lambda = reg * tr(A^H A) / n_sources (the mean eigenvalue of the calibration normal matrix; Gadgetron's "
        "scale) - not the absolute lambda of sense/cgsense; see docs/api.md.");
  m.def("grappa_unmixing", [](const py::object& k, const py::object& maps, const py::object& acs,
                              const std::vector<index_t>& kernel, float reg, index_t kernel_z) {
    const auto o = grappa_opts(kernel, reg, kernel_z);
    return spatial_2d_or_3d(k, "grappa_unmixing", [&](auto v) -> py::object {
      constexpr std::size_t R = decltype(v)::rank;
      py::object hold;
      const auto mv = one_map_set<R>(maps, hold, "grappa_unmixing");
      auto [kern, L] = grappa_setup(v, acs, o);
      (void)L;
      decltype(larmor::grappa_unmixing(kern, mv)) out;
      {
        py::gil_scoped_release nogil;
        out = larmor::grappa_unmixing(kern, mv);
      }
      return to_numpy(std::move(out));
    });
  }, py::arg("kspace"), py::arg("maps"), py::arg("acs") = py::none(), py::arg("kernel") = std::vector<index_t>{4, 5},
        py::arg("reg") = 5e-4f, py::arg("kernel_z") = 3,
        "Image-domain GRAPPA unmixing weights u (coils, [z,] y, x): calibrate on the ACS of `kspace` (or `acs`) and "
        "fold the combination with `maps` (coils, ...) or (maps, coils, ...) (one set; several sets raise "
        "ValueError) in, so that "
        "image = sum_c u_c ifftc(lattice lines of k)_c. Compute once, apply with grappa_unmix to every "
        "repetition/slice with the same sampling.");
  m.def("grappa_unmix", [](const py::object& k, const py::object& unmixing) {
    return spatial_2d_or_3d(k, "grappa_unmix", [&](auto v) -> py::object {
      constexpr std::size_t R = decltype(v)::rank;
      py::object hold;
      const auto uv = complex_view<R>(unmixing, hold, "grappa_unmix: unmixing");
      larmor::array<cfloat, R - 1> out;
      {
        py::gil_scoped_release nogil;
        const auto L = larmor::detail::grappa_lattice("grappa_unmix", larmor::acquired_lines(v));
        out = larmor::grappa_unmix(v, uv, L);
      }
      return to_numpy(std::move(out));
    });
  }, py::arg("kspace"), py::arg("unmixing"),
        "Combined image ([z,] y, x) from accelerated k-space (coils, [z,] y, x) and grappa_unmixing weights; lines "
        "off the sampling lattice (ACS) are ignored.");
  m.def("grappa_gfactor", [](const py::object& k, const py::object& maps, const py::object& acs,
                             const std::vector<index_t>& kernel, float reg, index_t kernel_z) {
    const auto o = grappa_opts(kernel, reg, kernel_z);
    return spatial_2d_or_3d(k, "grappa_gfactor", [&](auto v) -> py::object {
      constexpr std::size_t R = decltype(v)::rank;
      py::object hold;
      const auto mv = one_map_set<R>(maps, hold, "grappa_gfactor");
      py::object ahold;
      const auto av = acs.is_none() ? v : complex_view<R>(acs, ahold, "grappa_gfactor: acs");
      larmor::array<float, R - 1> out;
      {
        py::gil_scoped_release nogil;
        out = larmor::grappa_gfactor(v, mv, av, o);  // pi/gfactor.hpp: the same call as in C++
      }
      return to_numpy(std::move(out));
    });
  }, py::arg("kspace"), py::arg("maps"), py::arg("acs") = py::none(), py::arg("kernel") = std::vector<index_t>{4, 5},
        py::arg("reg") = 5e-4f, py::arg("kernel_z") = 3,
        "GRAPPA g-factor map ([z,] y, x), float32: g = sqrt(sum |u_c|^2) / (R sqrt(sum |w_c|^2)) from the unmixing "
        "weights u and the Roemer weights w = conj(S)/sum|S|^2 (Gadgetron's sqrt(sum|unmix|^2)/R for unit-norm maps); "
        "white unit noise per coil (prewhitened data); 0 outside the maps. The kernel is calibrated on the fully sampled "
        "centre of `acs` (None: of kspace); kernel/reg/kernel_z as in grappa (reg relative). The same call as C++ "
        "larmor::grappa_gfactor(kspace, maps, acs, grappa_options) (pi/gfactor.hpp).");
  m.def("sense", [](const py::object& k, const py::object& maps, float reg) {
    return spatial_2d_or_3d(k, "sense", [&](auto v) -> py::object {
      constexpr std::size_t R = decltype(v)::rank;
      py::object hold;
      const auto mv = one_map_set<R>(maps, hold, "sense");
      larmor::sense_options o;
      o.reg = reg;
      larmor::array<cfloat, R - 1> out;
      {
        py::gil_scoped_release nogil;
        out = larmor::sense(v, mv, o);
      }
      return to_numpy(std::move(out));
    });
  }, py::arg("kspace"), py::arg("maps"), py::arg("reg") = 0.f,
        "Cartesian SENSE (Pruessmann 1999): regularly undersampled k-space (coils, [z,] y, x) and maps (coils, ...) "
        "or (maps, coils, ...) with one set (several ESPIRiT sets raise ValueError, as in C++) -> image ([z,] y, x), "
        "scaled so that k = fftc(S x) on the acquired lines. "
        "The lattice (R along y, Ry x Rz with CAIPI shift) is read from the data, ACS lines off it are ignored; R must "
        "divide the matrix. reg: absolute Tikhonov lambda on ||x||^2 (the lambda of (A^H A + reg I) x = A^H k, "
        "= cgsense's reg and BART pics -l2 -r with -w 1; see docs/api.md).");
  m.def("sense_gfactor", [](const py::object& maps, index_t R, index_t rz, index_t shift, float reg) {
    larmor::sense_gfactor_options go;
    go.ry = R;
    go.rz = rz;
    go.shift = shift;
    go.reg = reg;
    const auto nd = ndim_of(maps);
    py::object hold;
    if (nd == 3) {
      const auto mv = complex_view<3>(maps, hold, "sense_gfactor: maps");
      larmor::array<float, 2> out;
      {
        py::gil_scoped_release nogil;
        out = larmor::sense_gfactor(mv, go);
      }
      return py::object(to_numpy(std::move(out)));
    }
    if (nd == 4 || nd == 5) {
      return by_rank(nd, [&](auto r) -> py::object {
        constexpr std::size_t RM = decltype(r)::value;
        if constexpr (RM == 4 || RM == 5) {
          const auto mv = complex_view<RM>(maps, hold, "sense_gfactor: maps");
          larmor::array<float, RM - 2> out;
          {
            py::gil_scoped_release nogil;
            out = larmor::sense_gfactor(mv, go);
          }
          return to_numpy(std::move(out));
        } else {
          return py::none();
        }
      }, "sense_gfactor");
    }
    throw larmor::InvalidArgument("sense_gfactor: maps are (coils, y, x), (maps, coils, y, x) or (maps, coils, z, y, x), "
                                  "got " + std::to_string(nd) + " dimensions");
  }, py::arg("maps"), py::arg("R"), py::arg("rz") = 1, py::arg("shift") = 0, py::arg("reg") = 0.f,
        "SENSE g-factor map (Pruessmann: g = sqrt([(S^H S)^-1]_pp [S^H S]_pp)) for acceleration R along y (rz along z, "
        "CAIPI shift), float32 ([z,] y, x); maps (coils, y, x) or (maps, coils, [z,] y, x) — 3D maps need the sets axis.");
  m.def("cgsense", [](const py::object& k, const py::object& maps, const py::object& mask, float reg, int iters,
                      float tol, bool return_residuals) {
    return spatial_2d_or_3d(k, "cgsense", [&](auto v) -> py::object {
      constexpr std::size_t R = decltype(v)::rank;
      py::object hold, mhold;
      const auto mv = one_map_set<R>(maps, hold, "cgsense");
      larmor::cgsense_options o;
      o.reg = reg;
      o.iters = iters;
      o.tol = tol;
      larmor::cgsense_result<R - 1> res;
      if (mask.is_none()) {
        py::gil_scoped_release nogil;
        res = larmor::cgsense(v, mv, o);
      } else {
        py::array ma = py::array::ensure(mask);
        if (!ma || ma.ndim() != static_cast<py::ssize_t>(R - 1))
          throw larmor::InvalidArgument("cgsense: mask must be a ([z,] y, x) array with " + std::to_string(R - 1) +
                                        " dimensions");
        extents<R - 1> sh{};
        for (std::size_t i = 0; i + 1 < R; ++i) sh[i] = ma.shape(static_cast<py::ssize_t>(i));
        // Boolean/integer masks become bytes (sampled or not), anything else float weights.
        const char kind = ma.dtype().kind();
        if (kind == 'b' || kind == 'u' || kind == 'i') {
          const auto w = c_contiguous_as<unsigned char>(kind == 'b' ? ma : py::array(ma.attr("__ne__")(0)), sh, mhold);
          py::gil_scoped_release nogil;
          res = larmor::cgsense(v, mv, w, o);
        } else {
          const auto w = c_contiguous_as<float>(ma, sh, mhold);
          py::gil_scoped_release nogil;
          res = larmor::cgsense(v, mv, w, o);
        }
      }
      py::object img = to_numpy(std::move(res.image));
      if (!return_residuals) return img;
      return py::make_tuple(img, res.residuals);
    });
  }, py::arg("kspace"), py::arg("maps"), py::arg("mask") = py::none(), py::arg("reg") = 0.f, py::arg("iters") = 30,
        py::arg("tol") = 1e-6f, py::arg("return_residuals") = false,
        "CG-SENSE for any Cartesian mask: minimises ||M fftc(S x) - k||^2 + reg ||x||^2 by conjugate gradients from "
        "x = 0 (same iterates as bart pics -l2 -r reg -i iters -w 1). k-space (coils, [z,] y, x); maps (coils, ...) or "
        "(maps, coils, ...) with one set (several sets raise ValueError, as in C++); mask: boolean/0-1 or float "
        "weights over ([z,] y, x), None = read from the "
        "data. Stops after `iters` or when ||r|| / ||A^H k|| <= tol. Returns the image ([z,] y, x), or "
        "(image, relative residuals per iteration) with return_residuals=True.");
}
