// larmor/solvers/power_iteration.hpp — the largest eigenvalue of the normal operator A^H A by power
// iteration, for the step size of the proximal-gradient solvers (1 / L, L the Lipschitz constant of the
// gradient of 1/2 ||A x - y||^2).
//
//   v_0 random (complex Gaussian from std::mt19937_64(seed)),  v_{k+1} = A^H A v_k / ||A^H A v_k||,
//   estimate: ||A^H A v_k|| (-> lambda_max from below for a Hermitian positive semi-definite A^H A).
// Golub GH, Van Loan CF. Matrix computations, 4th ed., section 8.2.1. BART's pics -e does the same
// (30 iterations). The estimate of the last iteration is returned; it never exceeds lambda_max by more
// than round-off.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>

#include "larmor/ops/linear_operator.hpp"
#include "larmor/solvers/conjugate_gradient.hpp"

namespace larmor {

inline float max_eigenvalue(const linear_operator<cfloat>& A, int iters = 30, std::uint64_t seed = 0) {
  LARMOR_CHECK_ARG(iters >= 1, "max_eigenvalue: iters must be >= 1, got ", iters);
  const index_t n = A.input_size();
  array<cfloat, 1> v({n}, uninitialized), w({n}, uninitialized);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.f, 1.f);
  for (index_t i = 0; i < n; ++i) v[i] = cfloat(g(rng), g(rng));
  double nv = std::sqrt(detail::cg_real_dot(v.data(), v.data(), n));
  double est = 0;
  for (int k = 0; k < iters; ++k) {
    const float s = static_cast<float>(1.0 / nv);
    detail::cg_chunks(n, [&](index_t i0, index_t i1) {
      for (index_t i = i0; i < i1; ++i) v[i] *= s;
    });
    A.normal(v.data(), w.data());
    nv = std::sqrt(detail::cg_real_dot(w.data(), w.data(), n));
    est = nv;
    if (nv == 0) break;
    std::swap(v, w);
  }
  return static_cast<float>(est);
}

}  // namespace larmor
