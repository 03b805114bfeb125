// bind_cs.cpp — Python bindings of compressed sensing (include/larmor/cs/cs.hpp).
#include "bind_common.hpp"
#include "larmor/cs/cs.hpp"
#include "larmor/sampling/poisson_mask.hpp"

namespace larmor_py {
namespace {

template <std::size_t R>
larmor::strided_view<const cfloat, R> cs_maps(const py::object& maps, py::object& holder) {
  const auto nm = ndim_of(maps);
  if (nm == static_cast<py::ssize_t>(R)) return complex_view<R>(maps, holder, "cs: maps");
  if (nm == static_cast<py::ssize_t>(R) + 1) {
    py::array a = py::array::ensure(maps);
    if (a.shape(0) < 1) throw larmor::InvalidArgument("cs: maps hold no set of maps");
    py::object first = a.attr("__getitem__")(0);
    return complex_view<R>(first, holder, "cs: maps");
  }
  throw larmor::InvalidArgument("cs: maps must be (coils, ...) or (maps, coils, ...) like kspace");
}

// run(w) with the mask `ma` (shape sh) as 0/1 bytes (boolean or integer: non-zero = sampled) or as float
// weights, with the GIL released; holder keeps a converted copy alive.
template <std::size_t D, class Run>
auto with_mask(const py::array& ma, const extents<D>& sh, py::object& holder, Run&& run) {
  const char kind = ma.dtype().kind();
  if (kind == 'b' || kind == 'u' || kind == 'i') {
    const auto w = c_contiguous_as<unsigned char>(kind == 'b' ? ma : py::array(ma.attr("__ne__")(0)), sh, holder);
    py::gil_scoped_release nogil;
    return run(w);
  }
  const auto w = c_contiguous_as<float>(ma, sh, holder);
  py::gil_scoped_release nogil;
  return run(w);
}

void bind_cs(py::module_& m) {
  m.def(
      "cs",
      [](const py::object& k, const py::object& maps, const py::object& mask, float wavelet, float tv, float llr,
         float tv_time, index_t llr_block, int iters, const std::string& solver, const std::string& wavelet_name, bool cycle_spin, std::uint64_t seed,
         bool tv_isotropic, float step, float scale, float rho, int cg_iters, bool return_info, int average,
         bool wavelet_coarse, const py::object& progress) -> py::object {
        larmor::cs_options o;
        o.wavelet = wavelet;
        o.tv = tv;
        o.llr = llr;
        o.tv_time = tv_time;
        o.llr_block = llr_block;
        o.iters = iters;
        if (solver == "auto")
          o.solver = larmor::cs_solver::automatic;
        else if (solver == "fista")
          o.solver = larmor::cs_solver::fista;
        else if (solver == "admm")
          o.solver = larmor::cs_solver::admm;
        else if (solver == "pogm")
          o.solver = larmor::cs_solver::pogm;
        else
          throw larmor::InvalidArgument("cs: solver must be 'auto', 'fista', 'pogm' or 'admm', got '" + solver + "'");
        if (wavelet_name == "db2")
          o.kind = larmor::wavelet_kind::db2;
        else if (wavelet_name == "db4")
          o.kind = larmor::wavelet_kind::db4;
        else
          throw larmor::InvalidArgument("cs: wavelet_kind must be 'db2' or 'db4'");
        o.cycle_spin = cycle_spin;
        o.seed = seed;
        o.tv_isotropic = tv_isotropic;
        o.step = step;
        o.scale = scale;
        o.rho = rho;
        o.cg_iters = cg_iters;
        o.average = average;
        o.wavelet_coarse = wavelet_coarse;
        if (auto p = python_progress(progress))  // (iteration, iterations) after every solver iteration
          o.callback = [p, iters](int it, const cfloat*) { p(it, iters); };
        const auto nd = ndim_of(k);
        auto finish = [&](auto&& res) -> py::object {
          const float s = res.scale, st = res.step;
          const int it = res.iterations;
          py::object img = to_numpy(std::move(res.image));
          if (!return_info) return img;
          py::dict info;
          info["scale"] = s;
          info["step"] = st;
          info["iterations"] = it;
          return py::make_tuple(img, info);
        };
        // Dynamic data: kspace (frames, coils, y, x) with maps (coils, y, x) — one axis more than the maps.
        if (nd == 4 && ndim_of(maps) == 3) {
          py::object kh, mh, wh;
          const auto kv = complex_view<4>(k, kh, "cs: kspace");
          const auto mv = complex_view<3>(maps, mh, "cs: maps");
          larmor::cs_result<3> res;
          if (mask.is_none()) {
            py::gil_scoped_release nogil;
            res = larmor::cs_dynamic(kv, mv, o);
          } else {
            py::array ma = py::array::ensure(mask);
            if (!ma || ma.ndim() != 3)
              throw larmor::InvalidArgument("cs: the mask of dynamic data must be (frames, y, x)");
            const extents<3> sh{ma.shape(0), ma.shape(1), ma.shape(2)};
            res = with_mask(ma, sh, wh, [&](const auto& w) { return larmor::cs_dynamic(kv, mv, w, o); });
          }
          return finish(res);
        }
        if (nd != 3 && nd != 4)
          throw larmor::InvalidArgument(
              "cs: kspace must be (coils, y, x), (coils, z, y, x), or dynamic (frames, coils, y, x) with maps "
              "(coils, y, x)");
        auto run = [&](auto rc) -> py::object {
          constexpr std::size_t R = decltype(rc)::value;
          py::object kh, mh, wh;
          const auto kv = complex_view<R>(k, kh, "cs: kspace");
          const auto mv = cs_maps<R>(maps, mh);
          larmor::cs_result<R - 1> res;
          if (mask.is_none()) {
            py::gil_scoped_release nogil;
            res = larmor::cs(kv, mv, o);
          } else {
            py::array ma = py::array::ensure(mask);
            if (!ma || ma.ndim() != static_cast<py::ssize_t>(R - 1))
              throw larmor::InvalidArgument("cs: mask must be a ([z,] y, x) array with " + std::to_string(R - 1) +
                                            " dimensions");
            extents<R - 1> sh{};
            for (std::size_t i = 0; i + 1 < R; ++i) sh[i] = ma.shape(static_cast<py::ssize_t>(i));
            res = with_mask(ma, sh, wh, [&](const auto& w) { return larmor::cs(kv, mv, w, o); });
          }
          return finish(res);
        };
        return nd == 3 ? run(std::integral_constant<std::size_t, 3>{}) : run(std::integral_constant<std::size_t, 4>{});
      },
      py::arg("kspace"), py::arg("maps"), py::arg("mask") = py::none(), py::arg("wavelet") = 0.f, py::arg("tv") = 0.f,
      py::arg("llr") = 0.f, py::arg("tv_time") = 0.f, py::arg("llr_block") = 8, py::arg("iters") = 100, py::arg("solver") = "auto", py::arg("wavelet_kind") = "db2",
      py::arg("cycle_spin") = true, py::arg("seed") = 0, py::arg("tv_isotropic") = true, py::arg("step") = 0.f,
      py::arg("scale") = 0.f, py::arg("rho") = 0.5f, py::arg("cg_iters") = 10, py::arg("return_info") = false,
      py::arg("average") = -1, py::arg("wavelet_coarse") = true, py::arg("progress") = py::none(),
      "Compressed-sensing SENSE: minimises 1/2||M (fftc(S x) - k)||^2 + wavelet ||W x||_1 + tv TV(x) (BART's pics "
      "model; lambda = BART's -r with the same data scaling, see docs/compressed_sensing.md). kspace (coils, [z,] y, "
      "x); maps (coils, ...) or (maps, coils, ...) (first set); mask: boolean/0-1 or float weights over ([z,] y, x), "
      "None = read from the data. Dynamic data: kspace (frames, coils, y, x) with maps (coils, y, x), mask (frames, y, "
      "x), image (frames, y, x); llr (locally low rank, blocks llr_block^2 x frames, random shifts) and tv_time "
      "(l1 of time differences) need it. solver 'auto': FISTA for the wavelet or llr alone, ADMM when tv/tv_time > 0 "
      "or penalties are summed; 'pogm' (Kim & Fessler) where FISTA applies. wavelet_kind db2|db4; "
      "cycle_spin: random wavelet shifts per iteration (seeded); step 0: 0.95/lambda_max; scale 0: BART-like data "
      "scale (1: none); average: FISTA returns the mean of its last `average` iterates (-1: iters/5 with "
      "cycle_spin, else none); wavelet_coarse: threshold the coarsest wavelet band too (BART's pics does); progress: None "
      "or a callable(iteration, iters) called after every iteration (larmor.cs also takes progress=True: a tqdm "
      "bar). Returns the image ([z,] y, x), or (image, {scale, step, iterations}) with return_info.");
}

void bind_sampling(py::module_& m) {
  m.def(
      "poisson_mask",
      [](const std::vector<index_t>& shape, double accel, index_t calib, std::uint64_t seed) -> py::object {
        if (shape.size() == 2) {
          larmor::array<unsigned char, 2> a;
          {
            py::gil_scoped_release nogil;
            a = larmor::poisson_mask(shape[0], shape[1], accel, calib, seed);
          }
          return py::array(to_numpy(std::move(a)).attr("astype")("bool"));
        }
        if (shape.size() == 1) {
          const auto l = larmor::variable_density_lines(shape[0], accel, calib, seed);
          py::array_t<bool> out(static_cast<py::ssize_t>(l.size()));
          auto* o = out.mutable_data();
          for (std::size_t i = 0; i < l.size(); ++i) o[i] = l[i] != 0;
          return out;
        }
        throw larmor::InvalidArgument("poisson_mask: shape must be (ny, nx) (Poisson disc) or (ny,) (1D lines)");
      },
      py::arg("shape"), py::arg("accel"), py::arg("calib"), py::arg("seed") = 0,
      "Undersampling mask, deterministic from seed: shape (ny, nx) -> variable-density Poisson disc over a 2D "
      "phase-encode plane with a fully sampled calib x calib centre, ny*nx/accel samples (within 1 %); shape (ny,) "
      "-> 1D variable-density lines with calib central lines, ny/accel lines. Returns a boolean array.");
}

registrar reg_cs{"cs", bind_cs};
registrar reg_sampling{"sampling", bind_sampling};

}  // namespace
}  // namespace larmor_py
