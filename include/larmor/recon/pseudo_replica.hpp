// larmor/recon/pseudo_replica.hpp — the noise and SNR maps of any reconstruction, linear or iterative, by
// pseudo-replicas (Robson PM, Grant AK, Madhuranthakam AJ, Lattanzi R, Sodickson DK, McKenzie CA. Comprehensive
// quantification of signal-to-noise ratio and g-factor for image-based and k-space-based parallel imaging
// reconstructions. MRM 60:895, 2008).
//
//   for r = 1..R:  k_r = k + L z_r   on the acquired samples,  z_r ~ CN(0, I) (E|z|^2 = 1 per sample)
//                  x_r = recon(k_r)
//   noise_std(p) = std_r x_r(p)  (the unbiased estimate over the R replicas, of the complex values)
//   snr(p)       = |recon(k)(p)| / noise_std(p)
//
// L is the Cholesky factor of the coils' noise covariance Psi = L L^H (identity: data already whitened to
// unit variance, as larmor's chain does with the default noise scaling, so the SNR map is in the units of the
// scan's own noise). Because the noise is added to the data rather than reconstructed alone, the same
// procedure measures non-linear methods (CS, POCS) at the operating point of this scan. g-factor maps follow
// from two runs: g = noise_std_accelerated / (noise_std_full sqrt(R_acc)), with the fully sampled
// reference reconstructed the same way from the same coils.
//
// The standard deviation of the estimate is about noise_std / (2 sqrt(R - 1)) (the complex standard
// deviation pools the real and imaginary parts: 2 (R - 1) degrees of freedom): 100 replicas give ~5 %. Accumulation in double (Welford), the replicas' noise from one seeded
// std::mt19937_64, so a map is reproducible for a seed and independent of the thread count (the recon's own
// threads aside).
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/core/error.hpp"

namespace larmor {

struct pseudo_replica_options {
  index_t replicas = 100;                             // R >= 2
  std::uint64_t seed = 1;
  std::function<void(index_t, index_t)> progress;     // (replicas done, replicas) after each
};

struct pseudo_replica_result {
  array<float, 1> noise_std;   // per element of the recon's output
  array<float, 1> snr;         // |reference| / noise_std (0 where noise_std is 0)
  array<cfloat, 1> reference;  // recon(k) without added noise
};

namespace detail {

// Lower Cholesky factor of a Hermitian positive definite n x n matrix (row-major), in double.
inline std::vector<std::complex<double>> cholesky_factor(const cfloat* psi, index_t n) {
  std::vector<std::complex<double>> L(static_cast<std::size_t>(n * n), 0.0);
  auto at = [&](index_t i, index_t j) -> std::complex<double>& { return L[static_cast<std::size_t>(i * n + j)]; };
  for (index_t j = 0; j < n; ++j) {
    double d = std::real(std::complex<double>(psi[j * n + j]));
    for (index_t k = 0; k < j; ++k) d -= std::norm(at(j, k));
    LARMOR_CHECK_ARG(d > 0 && std::isfinite(d), "pseudo_replica: the noise covariance is not positive definite");
    at(j, j) = std::sqrt(d);
    for (index_t i = j + 1; i < n; ++i) {
      std::complex<double> s(psi[i * n + j]);
      for (index_t k = 0; k < j; ++k) s -= at(i, k) * std::conj(at(j, k));
      at(i, j) = s / at(j, j).real();
    }
  }
  return L;
}

}  // namespace detail

// recon: callable(const cfloat* kspace) -> a contiguous container of cfloat (data(), size()), the same size
// every call. kspace (coils, rest) contiguous, `coils` leading blocks of equal size; acquired: per element of
// `rest` (nullptr: every element); psi: (coils, coils) noise covariance, nullptr for unit white noise.
template <class Recon>
pseudo_replica_result pseudo_replica(Recon&& recon, const cfloat* kspace, index_t coils, index_t size,
                                     const std::uint8_t* acquired, const cfloat* psi,
                                     const pseudo_replica_options& o = {}) {
  LARMOR_CHECK_ARG(coils >= 1 && size >= coils && size % coils == 0,
                   "pseudo_replica: k-space of ", size, " samples is not ", coils, " coils of equal size");
  LARMOR_CHECK_ARG(o.replicas >= 2 && o.replicas <= 100000, "pseudo_replica: replicas must be 2..100000, got ",
                   o.replicas);
  const index_t per_coil = size / coils;
  std::vector<std::complex<double>> L;
  if (psi) L = detail::cholesky_factor(psi, coils);
  pseudo_replica_result r;
  {
    const auto ref = recon(kspace);
    r.reference = array<cfloat, 1>(extents<1>{static_cast<index_t>(ref.size())}, uninitialized);
    std::copy(ref.data(), ref.data() + ref.size(), r.reference.data());
  }
  const index_t n = r.reference.size();
  std::vector<std::complex<double>> mean(static_cast<std::size_t>(n), 0.0);
  std::vector<double> m2(static_cast<std::size_t>(n), 0.0);
  std::vector<cfloat> k(kspace, kspace + size);
  std::vector<std::complex<double>> z(static_cast<std::size_t>(coils));
  std::mt19937_64 gen(o.seed);
  std::normal_distribution<double> normal(0.0, std::sqrt(0.5));  // complex: E|z|^2 = 1
  for (index_t rep = 0; rep < o.replicas; ++rep) {
    for (index_t p = 0; p < per_coil; ++p) {
      for (index_t c = 0; c < coils; ++c) z[static_cast<std::size_t>(c)] = {normal(gen), normal(gen)};
      if (acquired && !acquired[p]) continue;  // the draws are made anyway: the noise of a sample does not
                                               // depend on which others are acquired
      for (index_t c = 0; c < coils; ++c) {
        std::complex<double> v = z[static_cast<std::size_t>(c)];
        if (!L.empty()) {
          v = 0;
          for (index_t j = 0; j <= c; ++j) v += L[static_cast<std::size_t>(c * coils + j)] * z[static_cast<std::size_t>(j)];
        }
        k[static_cast<std::size_t>(c * per_coil + p)] = kspace[c * per_coil + p] + cfloat(v);
      }
    }
    const auto x = recon(static_cast<const cfloat*>(k.data()));
    LARMOR_CHECK_ARG(static_cast<index_t>(x.size()) == n, "pseudo_replica: the reconstruction returned ", x.size(),
                     " values, the first one ", n);
    const double cnt = static_cast<double>(rep + 1);
    for (index_t i = 0; i < n; ++i) {
      const std::complex<double> v(x.data()[i]);
      const std::complex<double> d = v - mean[static_cast<std::size_t>(i)];
      mean[static_cast<std::size_t>(i)] += d / cnt;
      m2[static_cast<std::size_t>(i)] += std::real(std::conj(d) * (v - mean[static_cast<std::size_t>(i)]));
    }
    if (o.progress) o.progress(rep + 1, o.replicas);
  }
  r.noise_std = array<float, 1>(extents<1>{n}, uninitialized);
  r.snr = array<float, 1>(extents<1>{n}, uninitialized);
  for (index_t i = 0; i < n; ++i) {
    const double sd = std::sqrt(m2[static_cast<std::size_t>(i)] / static_cast<double>(o.replicas - 1));
    r.noise_std[i] = static_cast<float>(sd);
    r.snr[i] = sd > 0 ? static_cast<float>(std::abs(r.reference[i]) / sd) : 0.f;
  }
  return r;
}

}  // namespace larmor
