// bind_nufft.cpp — Python bindings of the non-uniform FFT (larmor/nufft/*): nufft, nufft_adjoint, dcf,
// trajectories and non-Cartesian CG-SENSE. Shapes: coil (batch) axes first, samples last; coords (..., ndim)
// ordered like the image axes, in cycles per FOV. complex64 data (other dtypes converted), float64 coords.
#include <memory>
#include <mutex>
#include <tuple>
#include <string>
#include <vector>

#include "bind_common.hpp"
#include "larmor/nufft/density_compensation.hpp"
#include "larmor/nufft/gradient_delay.hpp"
#include "larmor/nufft/noncartesian_cs.hpp"
#include "larmor/recon/noncartesian_recon.hpp"
#include "larmor/nufft/noncartesian_sense.hpp"
#include "larmor/nufft/nufft.hpp"
#include "larmor/nufft/trajectory.hpp"

namespace larmor_py {
namespace {

using coords_array = py::array_t<double, py::array::c_style | py::array::forcecast>;
using cdata_array = py::array_t<cfloat, py::array::c_style | py::array::forcecast>;

struct coords_info {
  coords_array a;
  int dims = 0;
  index_t points = 0;
  std::vector<py::ssize_t> sample_shape;
};

coords_info read_coords(const py::object& obj, const char* func) {
  coords_info c;
  c.a = coords_array::ensure(obj);
  if (!c.a) throw larmor::InvalidArgument(std::string(func) + ": coords must be a real array (..., ndim)");
  if (c.a.ndim() < 1 || c.a.shape(c.a.ndim() - 1) < 1 || c.a.shape(c.a.ndim() - 1) > 3)
    throw larmor::InvalidArgument(std::string(func) + ": coords must be (..., ndim) with ndim 1, 2 or 3");
  c.dims = static_cast<int>(c.a.shape(c.a.ndim() - 1));
  c.points = 1;
  for (py::ssize_t i = 0; i + 1 < c.a.ndim(); ++i) c.sample_shape.push_back(c.a.shape(i)), c.points *= c.a.shape(i);
  return c;
}

template <class F>
void by_dims(int d, F&& f) {
  if (d == 1) f(std::integral_constant<std::size_t, 1>{});
  else if (d == 2) f(std::integral_constant<std::size_t, 2>{});
  else f(std::integral_constant<std::size_t, 3>{});
}

// Makes a float plan for the image shape `img` with the points of c and runs f(plan) (GIL released).
template <class F>
void with_plan(const coords_info& c, const std::vector<index_t>& img, double eps, double upsampling, F&& f) {
  py::gil_scoped_release nogil;
  by_dims(c.dims, [&](auto dc) {
    constexpr std::size_t D = decltype(dc)::value;
    extents<D> N{};
    for (std::size_t d = 0; d < D; ++d) N[d] = img[d];
    larmor::nufft_plan<float, D> plan(N, eps, upsampling);
    plan.set_points(c.a.data(), c.points);
    f(plan);
  });
}

py::array nufft_py(const py::object& x, const py::object& coords, double eps, double upsampling) {
  auto c = read_coords(coords, "nufft");
  cdata_array xa = cdata_array::ensure(x);
  if (!xa) throw larmor::InvalidArgument("nufft: x must be a complex array");
  if (xa.ndim() < c.dims)
    throw larmor::InvalidArgument("nufft: x has " + std::to_string(xa.ndim()) + " axes, coords describe a " +
                                  std::to_string(c.dims) + "D image");
  std::vector<py::ssize_t> out_shape;
  index_t batch = 1;
  for (py::ssize_t i = 0; i < xa.ndim() - c.dims; ++i) out_shape.push_back(xa.shape(i)), batch *= xa.shape(i);
  for (auto s : c.sample_shape) out_shape.push_back(s);
  py::array_t<cfloat> y(out_shape);
  cfloat* yp = y.mutable_data();
  const cfloat* xp = xa.data();
  const py::ssize_t nd = xa.ndim();
  std::vector<index_t> img;
  for (int d = 0; d < c.dims; ++d) img.push_back(xa.shape(nd - c.dims + d));
  with_plan(c, img, eps, upsampling, [&](const auto& plan) { plan.forward(xp, yp, batch); });
  return std::move(y);
}

py::array nufft_adjoint_py(const py::object& y, const py::object& coords, const std::vector<index_t>& shape, double eps,
                           double upsampling) {
  auto c = read_coords(coords, "nufft_adjoint");
  if (static_cast<int>(shape.size()) != c.dims)
    throw larmor::InvalidArgument("nufft_adjoint: shape has " + std::to_string(shape.size()) + " axes, coords " +
                                  std::to_string(c.dims));
  cdata_array ya = cdata_array::ensure(y);
  if (!ya) throw larmor::InvalidArgument("nufft_adjoint: y must be a complex array");
  const py::ssize_t ns = static_cast<py::ssize_t>(c.sample_shape.size());
  if (ya.ndim() < ns) throw larmor::InvalidArgument("nufft_adjoint: y must be (..., " + std::to_string(c.points) + " samples shaped like coords[..., 0])");
  for (py::ssize_t i = 0; i < ns; ++i)
    if (ya.shape(ya.ndim() - ns + i) != c.sample_shape[static_cast<std::size_t>(i)])
      throw larmor::InvalidArgument("nufft_adjoint: the last axes of y must match coords.shape[:-1]");
  std::vector<py::ssize_t> out_shape;
  index_t batch = 1;
  for (py::ssize_t i = 0; i < ya.ndim() - ns; ++i) out_shape.push_back(ya.shape(i)), batch *= ya.shape(i);
  for (auto s : shape) out_shape.push_back(s);
  py::array_t<cfloat> x(out_shape);
  cfloat* xp = x.mutable_data();
  const cfloat* yp = ya.data();
  with_plan(c, shape, eps, upsampling, [&](const auto& plan) { plan.adjoint(yp, xp, batch); });
  return std::move(x);
}

py::array dcf_py(const py::object& coords, const std::vector<index_t>& shape, int iters, const std::string& method) {
  auto c = read_coords(coords, "dcf");
  std::vector<float> w;
  {
    py::gil_scoped_release nogil;
    if (method == "ramp") {
      if (c.dims != 2) throw larmor::InvalidArgument("dcf: method='ramp' needs 2D coords (..., 2)");
      w = larmor::dcf_radial_ramp(c.a.data(), c.points, 2);
    } else if (method == "pipe") {
      if (static_cast<int>(shape.size()) != c.dims)
        throw larmor::InvalidArgument("dcf: shape has " + std::to_string(shape.size()) + " axes, coords " +
                                      std::to_string(c.dims));
      by_dims(c.dims, [&](auto dc) {
        constexpr std::size_t D = decltype(dc)::value;
        extents<D> N{};
        for (std::size_t d = 0; d < D; ++d) N[d] = shape[d];
        w = larmor::dcf_pipe_menon<D>(c.a.data(), c.points, N, iters);
      });
    } else {
      throw larmor::InvalidArgument("dcf: method must be 'pipe' or 'ramp', got '" + method + "'");
    }
  }
  py::array_t<float> out(c.sample_shape);
  std::copy(w.begin(), w.end(), out.mutable_data());
  return std::move(out);
}

py::array as_numpy(const std::vector<double>& k, std::vector<py::ssize_t> shape) {
  py::array_t<double> out(shape);
  std::copy(k.begin(), k.end(), out.mutable_data());
  return std::move(out);
}

// samples (coils, ...) and maps (coils, *image) or (1, coils, *image) of an iterative reconstruction.
struct samples_maps {
  cdata_array samples, maps;
  index_t coils = 0;
  std::vector<py::ssize_t> image;
};
samples_maps read_samples_maps(const py::object& samples, const py::object& maps, const coords_info& c,
                               const std::string& func) {
  samples_maps r;
  r.samples = cdata_array::ensure(samples);
  r.maps = cdata_array::ensure(maps);
  if (!r.samples || !r.maps) throw larmor::InvalidArgument(func + ": samples and maps must be complex arrays");
  const py::ssize_t mnd = r.maps.ndim();
  py::ssize_t first = 0;
  if (mnd == c.dims + 2) {
    if (r.maps.shape(0) != 1) throw larmor::InvalidArgument(func + ": maps (maps, coils, ...) must hold one set of maps");
    first = 1;
  } else if (mnd != c.dims + 1) {
    throw larmor::InvalidArgument(func + ": maps must be (coils, " + std::to_string(c.dims) + " image axes)");
  }
  r.coils = r.maps.shape(first);
  if (r.samples.size() != r.coils * c.points || r.samples.shape(0) != r.coils)
    throw larmor::InvalidArgument(func + ": samples must be (coils=" + std::to_string(r.coils) +
                                  ", ...) with coords.shape[:-1] samples per coil");
  for (int d = 0; d < c.dims; ++d) r.image.push_back(r.maps.shape(first + 1 + d));
  return r;
}

// fieldmap (image shape, Hz) and sample_times (coords.shape[:-1], seconds) for the off-resonance-corrected
// operator; both None: no correction.
struct field_map_arrays {
  py::array_t<float, py::array::c_style | py::array::forcecast> hz;
  py::array_t<double, py::array::c_style | py::array::forcecast> times;
  larmor::field_map_correction correction;
};

field_map_arrays read_field_map(const py::object& fieldmap, const py::object& sample_times, int segments,
                                const coords_info& c, const std::vector<py::ssize_t>& image, const std::string& func) {
  field_map_arrays f;
  if (fieldmap.is_none() && sample_times.is_none()) return f;
  if (fieldmap.is_none() || sample_times.is_none())
    throw larmor::InvalidArgument(func + ": fieldmap and sample_times go together (give both or neither)");
  f.hz = decltype(f.hz)::ensure(fieldmap);
  f.times = decltype(f.times)::ensure(sample_times);
  if (!f.hz || !f.times) throw larmor::InvalidArgument(func + ": fieldmap and sample_times must be real arrays");
  if (std::vector<py::ssize_t>(f.hz.shape(), f.hz.shape() + f.hz.ndim()) != image)
    throw larmor::InvalidArgument(func + ": fieldmap must have the image's shape (the maps' image axes)");
  if (std::vector<py::ssize_t>(f.times.shape(), f.times.shape() + f.times.ndim()) != c.sample_shape)
    throw larmor::InvalidArgument(func + ": sample_times must have the shape coords.shape[:-1]");
  f.correction.fieldmap_hz = f.hz.data();
  f.correction.sample_times = f.times.data();
  f.correction.segmentation.segments = segments;
  return f;
}

void add_segmentation_info(py::dict& info, const larmor::time_segmentation& ts) {
  info["segments"] = ts.segments();
  info["segmentation_rms_error"] = ts.rms_error;
  info["segmentation_max_error"] = ts.max_error;
}

py::object cgsense_nc_py(const py::object& samples, const py::object& maps, const py::object& coords, float reg, int iters,
                         double tol, double eps, bool toeplitz, const py::object& fieldmap, const py::object& sample_times,
                         int segments, bool return_info) {
  auto c = read_coords(coords, "cgsense");
  const auto sm = read_samples_maps(samples, maps, c, "cgsense");
  const auto fm = read_field_map(fieldmap, sample_times, segments, c, sm.image, "cgsense");
  larmor::time_segmentation ts;
  int its = 0;
  const auto &sa = sm.samples, &ma = sm.maps;
  const index_t coils = sm.coils;
  const auto& img = sm.image;
  py::array_t<cfloat> out(img);
  cfloat* op = out.mutable_data();
  {
    py::gil_scoped_release nogil;
    by_dims(c.dims, [&](auto dc) {
      constexpr std::size_t D = decltype(dc)::value;
      extents<D + 1> ms{};
      ms[0] = coils;
      for (std::size_t d = 0; d < D; ++d) ms[d + 1] = img[d];
      larmor::strided_view<const cfloat, D + 1> mv(ma.data(), ms);
      larmor::cgsense_noncartesian_options o;
      o.reg = reg, o.iters = iters, o.tol = tol, o.eps = eps, o.toeplitz = toeplitz;
      o.offresonance = fm.correction;
      auto r = larmor::cgsense_noncartesian<D>(sa.data(), mv, c.a.data(), c.points, o);
      std::copy(r.image.begin(), r.image.end(), op);
      ts = std::move(r.segmentation);
      its = r.report.iterations;
    });
  }
  if (!return_info) return std::move(out);
  py::dict info;
  info["iterations"] = its;
  add_segmentation_info(info, ts);
  return py::make_tuple(std::move(out), info);
}

// Non-Cartesian CS (noncartesian_cs.hpp): samples (coils, ...), maps (coils, *image) or (1, coils, *image).
py::object cs_nc_py(const py::object& samples, const py::object& maps, const py::object& coords, float wavelet, float tv,
                    int iters, const std::string& solver, float scale, double eps, bool toeplitz, std::uint64_t seed,
                    bool return_info, const py::object& progress, const py::object& fieldmap,
                    const py::object& sample_times, int segments) {
  auto c = read_coords(coords, "cs");
  const auto sm = read_samples_maps(samples, maps, c, "cs");
  const auto fm = read_field_map(fieldmap, sample_times, segments, c, sm.image, "cs");
  larmor::time_segmentation ts;
  const auto &sa = sm.samples, &ma = sm.maps;
  const index_t coils = sm.coils;
  larmor::cs_options o;
  o.wavelet = wavelet, o.tv = tv, o.iters = iters, o.scale = scale, o.seed = seed;
  if (auto p = python_progress(progress))  // (iteration, iterations) after every solver iteration
    o.callback = [p, iters](int it, const cfloat*) { p(it, iters); };
  if (solver == "auto") o.solver = larmor::cs_solver::automatic;
  else if (solver == "fista") o.solver = larmor::cs_solver::fista;
  else if (solver == "admm") o.solver = larmor::cs_solver::admm;
  else throw larmor::InvalidArgument("cs: solver must be 'auto', 'fista' or 'admm', got '" + solver + "'");
  const auto& img = sm.image;
  py::array_t<cfloat> out(img);
  cfloat* op = out.mutable_data();
  float used_scale = 0, step = 0;
  int its = 0;
  {
    py::gil_scoped_release nogil;
    by_dims(c.dims, [&](auto dc) {
      constexpr std::size_t D = decltype(dc)::value;
      extents<D + 1> ms{};
      ms[0] = coils;
      for (std::size_t d = 0; d < D; ++d) ms[d + 1] = img[d];
      larmor::strided_view<const cfloat, D + 1> mv(ma.data(), ms);
      auto r = larmor::cs_noncartesian<D>(sa.data(), mv, c.a.data(), c.points, o, eps, toeplitz, fm.correction);
      std::copy(r.image.begin(), r.image.end(), op);
      used_scale = r.scale, step = r.step, its = r.iterations;
      ts = std::move(r.segmentation);
    });
  }
  if (!return_info) return std::move(out);
  py::dict info;
  info["scale"] = used_scale;
  info["step"] = step;
  info["iterations"] = its;
  add_segmentation_info(info, ts);
  return py::make_tuple(std::move(out), info);
}

// RING (nufft/gradient_delay.hpp): data (spokes, coils, samples), coords (spokes, samples, 2) in (y, x), any units.
struct spokes_arrays {
  cdata_array data;
  py::array_t<float, py::array::c_style | py::array::forcecast> coords;
  larmor::radial_spokes spokes;
  index_t n = 0, coils = 0, samples = 0;
};

spokes_arrays read_spokes(const py::object& coords, const py::object* data, const char* func) {
  spokes_arrays s;
  s.coords = decltype(s.coords)::ensure(coords);
  if (!s.coords || s.coords.ndim() != 3 || s.coords.shape(2) != 2)
    throw larmor::InvalidArgument(std::string(func) + ": coords must be (spokes, samples, 2) in (y, x)");
  s.n = s.coords.shape(0), s.samples = s.coords.shape(1);
  if (data) {
    s.data = cdata_array::ensure(*data);
    if (!s.data || s.data.ndim() != 3 || s.data.shape(0) != s.n || s.data.shape(2) != s.samples)
      throw larmor::InvalidArgument(std::string(func) + ": data must be (spokes, coils, samples) matching coords");
    s.coils = s.data.shape(1);
  }
  if (s.n < 1 || s.samples < 2) throw larmor::InvalidArgument(std::string(func) + ": no spokes");
  s.spokes = larmor::find_radial_spokes(s.coords.data(), s.n, s.samples, 2, 1, 0);
  if (!s.spokes.radial) throw larmor::DataError(std::string(func) + ": " + s.spokes.why_not);
  return s;
}

py::dict ring_py(const py::object& data, const py::object& coords, double search, int upsample, const py::object& crop) {
  const auto s = read_spokes(coords, &data, "ring_gradient_delay");
  larmor::ring_options o;
  o.search = search, o.upsample = upsample;
  o.crop = crop.is_none() ? std::min(1.0, 1.2 * s.spokes.spacing[0]) : crop.cast<double>();
  larmor::gradient_delay_estimate e;
  {
    py::gil_scoped_release nogil;
    e = larmor::ring_gradient_delay(s.data.data(), s.n, s.coils, s.samples, s.spokes.directions.data(),
                                    s.spokes.centre.data(), o);
  }
  py::dict d;
  d["sxx"] = e.sxx, d["syy"] = e.syy, d["sxy"] = e.sxy, d["pairs"] = e.pairs, d["residual"] = e.residual_rms;
  return d;
}

py::array correct_delay_py(const py::object& coords, double sxx, double syy, double sxy) {
  auto s = read_spokes(coords, nullptr, "correct_gradient_delay");
  py::array_t<float> out({s.n, s.samples, index_t{2}});
  std::copy(s.coords.data(), s.coords.data() + s.coords.size(), out.mutable_data());
  larmor::gradient_delay_estimate e;
  e.sxx = sxx, e.syy = syy, e.sxy = sxy;
  larmor::correct_radial_trajectory(out.mutable_data(), s.n, s.samples, 2, 1, 0, s.spokes, e);
  return std::move(out);
}

// The non-Cartesian raw-data chain (noncartesian_recon.hpp) on arrays: data (readouts, coils, samples),
// traj (readouts, samples, trajectory_dimensions) in ISMRMRD order (kx, ky[, kz]) and any of its units,
// matrix (x, y[, z]); noise (coils, samples) or None. Returns (magnitude image (z, y, x), trajectory line).
py::tuple noncartesian_recon_py(const py::object& data, const py::object& traj, const std::vector<index_t>& matrix,
                                const py::object& noise, const std::string& units, const std::string& method,
                                const std::string& maps, const std::string& dcf, float reg, int iters, double eps,
                                const std::string& trajectory, const std::string& gradient_delay) {
  cdata_array da = cdata_array::ensure(data);
  py::array_t<float, py::array::c_style | py::array::forcecast> ta =
      py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(traj);
  if (!da || da.ndim() != 3) throw larmor::InvalidArgument("noncartesian_recon: data must be (readouts, coils, samples)");
  if (!ta || ta.ndim() != 3 || ta.shape(0) != da.shape(0) || ta.shape(1) != da.shape(2))
    throw larmor::InvalidArgument("noncartesian_recon: traj must be (readouts, samples, dims) matching data");
  if (matrix.size() < 2 || matrix.size() > 3)
    throw larmor::InvalidArgument("noncartesian_recon: matrix must be (x, y) or (x, y, z)");
  larmor::io::encoding_header h;
  for (std::size_t d = 0; d < matrix.size(); ++d) {
    if (matrix[d] < 1 || matrix[d] > 65535) throw larmor::InvalidArgument("noncartesian_recon: matrix out of range");
    h.encoded_matrix[d] = h.recon_matrix[d] = static_cast<std::uint16_t>(matrix[d]);
  }
  h.trajectory = trajectory;
  larmor::noncartesian_recon_options o;
  o.units = larmor::parse_trajectory_units(units);
  o.method = method, o.maps = maps, o.dcf = dcf, o.reg = reg, o.iters = iters, o.eps = eps;
  o.gradient_delay = gradient_delay;
  larmor::noncartesian_assembler as(h, "arrays", o);
  const index_t R = da.shape(0), nc = da.shape(1), ns = da.shape(2), td = ta.shape(2);
  cdata_array na;  // a default-constructed array is an empty (0,) array, not a null handle: test has_noise
  const bool has_noise = !noise.is_none();
  if (has_noise) {
    na = cdata_array::ensure(noise);
    if (!na || na.ndim() != 2 || na.shape(0) != nc)
      throw larmor::InvalidArgument("noncartesian_recon: noise must be (coils, samples)");
  }
  std::vector<larmor::io::image_record> imgs;
  std::string desc;
  {
    py::gil_scoped_release nogil;
    if (has_noise) {
      larmor::io::acquisition a;
      a.flags = larmor::io::flag_bit(larmor::io::acq_flag::is_noise_measurement);
      a.data = larmor::array<cfloat, 2>(larmor::extents<2>{nc, na.shape(1)}, larmor::uninitialized);
      std::copy(na.data(), na.data() + na.size(), a.data.data());
      as.add(a, nullptr, 0);
    }
    for (index_t r = 0; r < R; ++r) {
      larmor::io::acquisition a;
      a.idx.kspace_encode_step_1 = static_cast<std::uint16_t>(r % 65536);
      a.data = larmor::array<cfloat, 2>(larmor::extents<2>{nc, ns}, larmor::uninitialized);
      std::copy(da.data() + r * nc * ns, da.data() + (r + 1) * nc * ns, a.data.data());
      as.add(a, ta.data() + r * ns * td, td);
    }
    desc = as.describe();
    imgs = as.finish();
    if (!as.gradient_delay_note().empty()) desc += "; " + as.gradient_delay_note();
  }
  const auto& m = imgs.at(0).magnitude;
  py::array_t<float> out({m.shape(0), m.shape(1), m.shape(2)});
  std::copy(m.begin(), m.end(), out.mutable_data());
  return py::make_tuple(std::move(out), desc);
}

// A plan made once for a trajectory and used for many forward/adjoint calls (iterative reconstructions).
// Calls on one plan from several Python threads are serialised (the plan keeps a work buffer).
class py_nufft_plan {
 public:
  py_nufft_plan(const std::vector<index_t>& shape, const py::object& coords, double eps) {
    auto c = read_coords(coords, "NufftPlan");
    if (static_cast<int>(shape.size()) != c.dims)
      throw larmor::InvalidArgument("NufftPlan: shape has " + std::to_string(shape.size()) + " axes, coords " +
                                    std::to_string(c.dims));
    dims_ = c.dims, shape_ = shape, samples_ = c.sample_shape, points_ = c.points;
    const double* kp = c.a.data();
    py::gil_scoped_release nogil;
    by_dims(dims_, [&](auto dc) {
      constexpr std::size_t D = decltype(dc)::value;
      extents<D> N{};
      for (std::size_t d = 0; d < D; ++d) N[d] = shape[d];
      auto p = std::make_shared<larmor::nufft_plan<float, D>>(N, eps);
      p->set_points(kp, points_);
      std::get<D - 1>(plans_) = p;
    });
  }

  py::array forward(const py::object& x) {
    cdata_array xa = cdata_array::ensure(x);
    if (!xa || xa.ndim() < dims_) throw larmor::InvalidArgument("NufftPlan.forward: x must be (..., *shape)");
    std::vector<py::ssize_t> out;
    index_t batch = 1;
    for (py::ssize_t i = 0; i < xa.ndim() - dims_; ++i) out.push_back(xa.shape(i)), batch *= xa.shape(i);
    for (int d = 0; d < dims_; ++d)
      if (xa.shape(xa.ndim() - dims_ + d) != shape_[static_cast<std::size_t>(d)])
        throw larmor::InvalidArgument("NufftPlan.forward: the last axes of x must equal the plan's shape");
    for (auto s : samples_) out.push_back(s);
    py::array_t<cfloat> y(out);
    run([&](auto& p) { p.forward(xa.data(), y.mutable_data(), batch); });
    return std::move(y);
  }

  py::array adjoint(const py::object& y) {
    cdata_array ya = cdata_array::ensure(y);
    const py::ssize_t ns = static_cast<py::ssize_t>(samples_.size());
    if (!ya || ya.ndim() < ns) throw larmor::InvalidArgument("NufftPlan.adjoint: y must be (..., *coords.shape[:-1])");
    for (py::ssize_t i = 0; i < ns; ++i)
      if (ya.shape(ya.ndim() - ns + i) != samples_[static_cast<std::size_t>(i)])
        throw larmor::InvalidArgument("NufftPlan.adjoint: the last axes of y must match coords.shape[:-1]");
    std::vector<py::ssize_t> out;
    index_t batch = 1;
    for (py::ssize_t i = 0; i < ya.ndim() - ns; ++i) out.push_back(ya.shape(i)), batch *= ya.shape(i);
    for (auto s : shape_) out.push_back(s);
    py::array_t<cfloat> x(out);
    run([&](auto& p) { p.adjoint(ya.data(), x.mutable_data(), batch); });
    return std::move(x);
  }

  std::vector<index_t> shape() const { return shape_; }
  int kernel_width() const {
    int w = 0;
    const_cast<py_nufft_plan*>(this)->visit([&](auto& p) { w = p.kernel_width(); });
    return w;
  }

 private:
  template <class F>
  void visit(F&& f) {
    if (dims_ == 1) f(*std::get<0>(plans_));
    else if (dims_ == 2) f(*std::get<1>(plans_));
    else f(*std::get<2>(plans_));
  }
  template <class F>
  void run(F&& f) {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mutex_);
    visit(f);
  }

  int dims_ = 0;
  index_t points_ = 0;
  std::vector<index_t> shape_;
  std::vector<py::ssize_t> samples_;
  std::tuple<std::shared_ptr<larmor::nufft_plan<float, 1>>, std::shared_ptr<larmor::nufft_plan<float, 2>>,
             std::shared_ptr<larmor::nufft_plan<float, 3>>>
      plans_;
  std::mutex mutex_;
};

void bind_nufft(py::module_& m) {
  py::class_<py_nufft_plan>(m, "NufftPlan",
                            "NUFFT plan for one trajectory: NufftPlan(shape, coords, eps=1e-6); .forward(x) (type 2, "
                            "= nufft) and .adjoint(y) (type 1, = nufft_adjoint) on any number of leading (coil) axes.")
      .def(py::init<const std::vector<index_t>&, const py::object&, double>(), py::arg("shape"), py::arg("coords"),
           py::arg("eps") = 1e-6)
      .def("forward", &py_nufft_plan::forward, py::arg("x"))
      .def("adjoint", &py_nufft_plan::adjoint, py::arg("y"))
      .def_property_readonly("shape", &py_nufft_plan::shape)
      .def_property_readonly("kernel_width", &py_nufft_plan::kernel_width);
  m.def("nufft", &nufft_py, py::arg("x"), py::arg("coords"), py::arg("eps") = 1e-6, py::arg("upsampling") = 2.0,
        "Type-2 NUFFT: x (..., *image) -> samples (..., *coords.shape[:-1]); y(k) = N^-1/2 sum_r x(r) "
        "exp(-2 pi i k.r/N), r = j - N//2, k in cycles/FOV ordered like the image axes. Equals fftc on integer k.");
  m.def("nufft_adjoint", &nufft_adjoint_py, py::arg("y"), py::arg("coords"), py::arg("shape"), py::arg("eps") = 1e-6,
        py::arg("upsampling") = 2.0,
        "Type-1 NUFFT, the adjoint of nufft: y (..., *coords.shape[:-1]) -> (..., *shape).");
  m.def("dcf", &dcf_py, py::arg("coords"), py::arg("shape") = std::vector<index_t>{}, py::arg("iters") = 20,
        py::arg("method") = "pipe",
        "Density compensation weights (k-space area per sample, (cycles/FOV)^ndim): Pipe & Menon iterative "
        "(method='pipe', needs shape) or the radial ramp |k| (method='ramp'). Shape coords.shape[:-1], float32.");
  m.def("radial_trajectory",
        [](index_t spokes, index_t samples, double n, const std::string& kind) {
          if (n <= 0) n = static_cast<double>(samples) / 2;
          return as_numpy(larmor::radial_trajectory(spokes, samples, n, larmor::parse_radial_ordering(kind)),
                          {spokes, samples, 2});
        },
        py::arg("spokes"), py::arg("samples"), py::arg("n") = 0.0, py::arg("kind") = "uniform",
        "Radial spokes (spokes, samples, 2) in (y, x), cycles/FOV for an image of n pixels (default samples/2, "
        "a 2x oversampled readout); kind 'uniform', 'golden' (111.25 deg) or 'tiny_golden' (23.63 deg).");
  m.def("stack_of_stars_trajectory",
        [](index_t partitions, index_t spokes, index_t samples, double n, const std::string& kind) {
          if (n <= 0) n = static_cast<double>(samples) / 2;
          return as_numpy(larmor::stack_of_stars_trajectory(partitions, spokes, samples, n,
                                                            larmor::parse_radial_ordering(kind)),
                          {partitions, spokes, samples, 3});
        },
        py::arg("partitions"), py::arg("spokes"), py::arg("samples"), py::arg("n") = 0.0, py::arg("kind") = "golden",
        "Stack of stars (partitions, spokes, samples, 3) in (z, y, x).");
  m.def("kooshball_trajectory",
        [](index_t spokes, index_t samples, double n) {
          if (n <= 0) n = static_cast<double>(samples) / 2;
          return as_numpy(larmor::kooshball_trajectory(spokes, samples, n), {spokes, samples, 3});
        },
        py::arg("spokes"), py::arg("samples"), py::arg("n") = 0.0, "3D radial (spokes, samples, 3) in (z, y, x).");
  m.def("spiral_trajectory",
        [](index_t interleaves, index_t samples, double n, double turns, double alpha) {
          return as_numpy(larmor::spiral_trajectory(interleaves, samples, n, turns, alpha), {interleaves, samples, 2});
        },
        py::arg("interleaves"), py::arg("samples"), py::arg("n"), py::arg("turns") = 16.0, py::arg("alpha") = 1.5,
        "Variable-density spiral (interleaves, samples, 2) in (y, x), k_max = n/2.");
  m.def("cs_noncartesian", &cs_nc_py, py::arg("samples"), py::arg("maps"), py::arg("coords"), py::arg("wavelet") = 0.f,
        py::arg("tv") = 0.f, py::arg("iters") = 100, py::arg("solver") = "auto", py::arg("scale") = 0.f,
        py::arg("eps") = 1e-4, py::arg("toeplitz") = true, py::arg("seed") = 0, py::arg("return_info") = false,
        py::arg("progress") = py::none(), py::arg("fieldmap") = py::none(), py::arg("sample_times") = py::none(),
        py::arg("segments") = 0,
        "Non-Cartesian l1-wavelet / TV compressed sensing (bart pics -t traj -l1 -r wavelet): samples (coils, ...), "
        "maps (coils, *image), coords (..., ndim) in cycles/FOV like the image axes. Lambdas and data scale as "
        "larmor.cs (docs/compressed_sensing.md); progress: None or a callable(iteration, iters). fieldmap (Hz, the "
        "image's shape) with sample_times (s from excitation, coords.shape[:-1]): off-resonance correction by time "
        "segmentation (segments: 0 = as few as give an RMS phasor error <= 1e-3; docs/offresonance.md); "
        "return_info adds segments and segmentation_rms_error / _max_error.");
  m.def("ring_gradient_delay", &ring_py, py::arg("data"), py::arg("coords"), py::arg("search") = 4.0,
        py::arg("upsample") = 32, py::arg("crop") = py::none(),
        "Radial gradient delays by RING (Rosenzweig 2019): data (spokes, coils, samples), coords (spokes, samples, 2) "
        "in (y, x), cycles per FOV -> {sxx, syy, sxy (samples; x = the last coords axis), pairs, residual}. The spokes "
        "sample k = (u n + S n) dk; crop defaults to 1.2 x the sample spacing in cycles/FOV (0.6 for 2x readout "
        "oversampling).");
  m.def("correct_gradient_delay", &correct_delay_py, py::arg("coords"), py::arg("sxx"), py::arg("syy"),
        py::arg("sxy") = 0.0,
        "Radial coords (spokes, samples, 2) in (y, x) shifted by dk S n per spoke: the trajectory the delays "
        "(ring_gradient_delay's sxx, syy, sxy in samples) actually sampled.");
  m.def("noncartesian_recon", &noncartesian_recon_py, py::arg("data"), py::arg("traj"), py::arg("matrix"),
        py::arg("noise") = py::none(), py::arg("units") = "auto", py::arg("method") = "cgsense",
        py::arg("maps") = "espirit", py::arg("dcf") = "auto", py::arg("reg") = 0.f, py::arg("iters") = 30,
        py::arg("eps") = 1e-4, py::arg("trajectory") = "radial", py::arg("gradient_delay") = "auto",
        "Non-Cartesian raw data -> magnitude image (z, y, x) and the trajectory line (units detected unless "
        "stated): data (readouts, coils, samples), traj (readouts, samples, dims) in ISMRMRD order (kx, ky[, kz]), "
        "matrix (x, y[, z]); the chain of larmor/recon/noncartesian_recon.hpp. gradient_delay: auto (RING on radial "
        "spokes, the estimate appended to the line), ring (required) or off.");
  m.def("cgsense_noncartesian", &cgsense_nc_py, py::arg("samples"), py::arg("maps"), py::arg("coords"),
        py::arg("reg") = 0.0f, py::arg("iters") = 30, py::arg("tol") = 1e-6, py::arg("eps") = 1e-6,
        py::arg("toeplitz") = true, py::arg("fieldmap") = py::none(), py::arg("sample_times") = py::none(),
        py::arg("segments") = 0, py::arg("return_info") = false,
        "Non-Cartesian CG-SENSE: samples (coils, *coords.shape[:-1]), maps (coils, *image) -> image. fieldmap (Hz, "
        "the image's shape) with sample_times (s from excitation, coords.shape[:-1]): off-resonance correction by "
        "time segmentation (segments: 0 = as few as give an RMS phasor error <= 1e-3; docs/offresonance.md). "
        "return_info: (image, {iterations, segments, segmentation_rms_error, segmentation_max_error}).");
}

registrar reg_nufft{"nufft", bind_nufft};

}  // namespace
}  // namespace larmor_py
