// bind_snr.cpp — Python binding of pseudo-replica noise and SNR maps (include/larmor/recon/pseudo_replica.hpp)
// for any reconstruction given as a Python callable.
#include <cstdint>
#include <string>
#include <vector>

#include "bind_common.hpp"
#include "larmor/recon/pseudo_replica.hpp"

namespace larmor_py {
namespace {

using cdata = py::array_t<cfloat, py::array::c_style | py::array::forcecast>;

py::tuple pseudo_replica_py(const py::object& recon, const py::object& kspace, index_t replicas,
                            const py::object& noise_cov, const py::object& mask, std::uint64_t seed,
                            const py::object& progress) {
  cdata k = cdata::ensure(kspace);
  if (!k || k.ndim() < 2 || k.shape(0) < 1 || k.size() == 0)
    throw larmor::InvalidArgument("pseudo_replica: kspace must be a non-empty complex array (coils, ...)");
  const index_t coils = k.shape(0), size = k.size(), per_coil = size / coils;
  std::vector<std::uint8_t> acquired(static_cast<std::size_t>(per_coil), 0);
  if (mask.is_none()) {  // acquired where any coil holds a non-zero sample
    for (index_t c = 0; c < coils; ++c)
      for (index_t p = 0; p < per_coil; ++p)
        if (k.data()[c * per_coil + p] != cfloat(0)) acquired[static_cast<std::size_t>(p)] = 1;
  } else {
    auto m = py::array_t<bool, py::array::c_style | py::array::forcecast>::ensure(mask);
    if (!m || std::vector<py::ssize_t>(m.shape(), m.shape() + m.ndim()) !=
                  std::vector<py::ssize_t>(k.shape() + 1, k.shape() + k.ndim()))
      throw larmor::InvalidArgument("pseudo_replica: mask must have the shape kspace.shape[1:]");
    for (index_t p = 0; p < per_coil; ++p) acquired[static_cast<std::size_t>(p)] = m.data()[p] ? 1 : 0;
  }
  cdata psi;  // default-constructed: an empty (0,) array, not a null handle; has_psi says whether one was given
  const bool has_psi = !noise_cov.is_none();
  if (has_psi) {
    psi = cdata::ensure(noise_cov);
    if (!psi || psi.ndim() != 2 || psi.shape(0) != coils || psi.shape(1) != coils)
      throw larmor::InvalidArgument("pseudo_replica: noise_cov must be (coils, coils)");
  }
  std::vector<py::ssize_t> shape(k.shape(), k.shape() + k.ndim());
  std::vector<py::ssize_t> out_shape;
  // The callable sees each replica as a fresh numpy array of kspace's shape; its result is flattened.
  auto call = [&](const cfloat* data) {
    py::array_t<cfloat> a(shape);
    std::copy(data, data + size, a.mutable_data());
    cdata x = cdata::ensure(recon(a));
    if (!x) throw larmor::InvalidArgument("pseudo_replica: recon must return a numeric array");
    if (out_shape.empty()) out_shape.assign(x.shape(), x.shape() + x.ndim());
    return std::vector<cfloat>(x.data(), x.data() + x.size());
  };
  larmor::pseudo_replica_options o;
  o.replicas = replicas, o.seed = seed;
  o.progress = python_progress(progress);  // the GIL is held throughout: recon is Python
  auto r = larmor::pseudo_replica(call, k.data(), coils, size, acquired.data(), has_psi ? psi.data() : nullptr, o);
  py::array_t<float> sd(out_shape), snr(out_shape);
  std::copy(r.noise_std.begin(), r.noise_std.end(), sd.mutable_data());
  std::copy(r.snr.begin(), r.snr.end(), snr.mutable_data());
  return py::make_tuple(snr, sd);
}

void bind_snr(py::module_& m) {
  m.def("pseudo_replica", &pseudo_replica_py, py::arg("recon"), py::arg("kspace"), py::arg("replicas") = 100,
        py::arg("noise_cov") = py::none(), py::arg("mask") = py::none(), py::arg("seed") = 1,
        py::arg("progress") = py::none(),
        "Pseudo-replica SNR (Robson 2008) of any reconstruction: recon is a callable kspace -> image, called once "
        "on kspace (coils, ...) and `replicas` times on kspace + noise (complex Gaussian, E|n|^2 = 1 per sample, "
        "or coloured by noise_cov (coils, coils)) on the acquired samples (mask of shape kspace.shape[1:]; default: "
        "where any coil is non-zero). Returns (snr, noise_std) with the image's shape: noise_std the standard "
        "deviation over the replicas, snr = |recon(kspace)| / noise_std. g-factor: noise_std of the accelerated "
        "recon / (that of the fully sampled one x sqrt(R)). progress: None or callable(done, replicas). "
        "docs/snr.md.");
}

registrar reg_snr{"snr", bind_snr};

}  // namespace
}  // namespace larmor_py
