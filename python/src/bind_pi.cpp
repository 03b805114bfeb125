// bind_pi.cpp — Python bindings of Cartesian parallel imaging: GRAPPA, SENSE, CG-SENSE and their g-factors.
#include <string>
#include <utility>
#include <vector>

#include "bind_common.hpp"
#include "larmor/larmor.hpp"
#include "larmor/pi/gfactor.hpp"

namespace larmor_py {
namespace {

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

void bind_pi(py::module_& m) {
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

registrar reg_pi{"pi", bind_pi};

}  // namespace
}  // namespace larmor_py
