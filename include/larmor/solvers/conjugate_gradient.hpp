// larmor/solvers/conjugate_gradient.hpp — conjugate gradient on the regularised normal equations
//
//   (A^H A + reg I) x = A^H y = b
//
// Hestenes MR, Stiefel E. Methods of conjugate gradients for solving linear systems. J Res NBS 49:409
// (1952); for SENSE: Pruessmann KP, Weiger M, Boernert P, Boesiger P. Advances in sensitivity encoding
// with arbitrary k-space trajectories. MRM 46:638 (2001).
//
// The operator is any callable normal(in, out) that writes out = A^H A in for contiguous vectors of n
// complex samples (it must not alias in and out); the solver adds reg * in itself. Start x0 = 0 (the
// same as `bart pics` without a warm start), so iteration k of this solver and of BART's conjgrad give
// the same iterate up to float round-off. Stops after `iters` iterations or as soon as the relative
// residual ||b - (A^H A + reg I) x|| / ||b|| (the recursively updated one) is <= tol.
// Dot products and norms accumulate in double; vectors stay in the data precision.
// Threads: the vector updates run under parallel_for; `normal` brings its own parallelism.
#pragma once

#include <cmath>
#include <complex>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/core/renamed_option.hpp"

namespace larmor {

struct cg_options {
  int iters = 30;     // at most this many iterations
  double tol = 1e-6;  // on ||r_k|| / ||b||; 0 runs exactly `iters` iterations
  double reg = 0;     // Tikhonov lambda added to the operator: A^H A + reg I
  renamed_option<int> max_iter;  // 0.1's name of `iters` (deprecated; honoured when assigned)
};

struct cg_report {
  int iterations = 0;             // iterations run (each is one application of the normal operator)
  std::vector<float> residuals;   // ||r_k|| / ||b|| for k = 0 .. iterations (residuals[0] = 1)
};

namespace detail {

// Splits [0, n) into chunks for the vector updates of CG (few, large, deterministic).
template <class F>
void cg_chunks(index_t n, F&& f) {
  constexpr index_t chunk = index_t{1} << 15;
  parallel_for((n + chunk - 1) / chunk, [&](index_t b) { f(b * chunk, std::min(n, (b + 1) * chunk)); });
}

// Re <a, b> = sum Re(conj(a) b), in double, summed over fixed chunks so the result does not depend on
// the thread count.
template <class Real>
double cg_real_dot(const std::complex<Real>* a, const std::complex<Real>* b, index_t n) {
  constexpr index_t chunk = index_t{1} << 15;
  const index_t nb = (n + chunk - 1) / chunk;
  std::vector<double> part(static_cast<std::size_t>(nb), 0.0);
  parallel_for(nb, [&](index_t k) {
    double s = 0;
    const Real* x = reinterpret_cast<const Real*>(a + k * chunk);
    const Real* y = reinterpret_cast<const Real*>(b + k * chunk);
    const index_t m = 2 * (std::min(n, (k + 1) * chunk) - k * chunk);
    for (index_t i = 0; i < m; ++i) s += static_cast<double>(x[i]) * static_cast<double>(y[i]);
    part[static_cast<std::size_t>(k)] = s;
  });
  double s = 0;
  for (double v : part) s += v;
  return s;
}

}  // namespace detail

// Solves (A^H A + reg I) x = b for x (n samples, contiguous). x is overwritten (start 0).
// b all zero returns x = 0 after 0 iterations.
template <class Real, class Normal>
cg_report conjugate_gradient(Normal&& normal, const std::complex<Real>* b, std::complex<Real>* x, index_t n,
                             const cg_options& opt) {
  using C = std::complex<Real>;
  const int iters = opt.max_iter.or_value(opt.iters);
  LARMOR_CHECK_ARG(iters >= 0, "conjugate_gradient: iters must be >= 0, got ", iters);
  LARMOR_CHECK_ARG(opt.tol >= 0, "conjugate_gradient: tol must be >= 0, got ", opt.tol);
  LARMOR_CHECK_ARG(opt.reg >= 0, "conjugate_gradient: reg must be >= 0, got ", opt.reg);
  cg_report rep;
  array<C, 1> r({n}, uninitialized), p({n}, uninitialized), q({n}, uninitialized);
  detail::cg_chunks(n, [&](index_t i0, index_t i1) {
    for (index_t i = i0; i < i1; ++i) x[i] = C(0), r[i] = b[i], p[i] = b[i];
  });
  const double bb = detail::cg_real_dot(b, b, n);
  double rr = bb;
  rep.residuals.push_back(1.f);
  if (bb == 0) {
    rep.residuals.back() = 0.f;
    return rep;
  }
  const Real reg = static_cast<Real>(opt.reg);
  for (int k = 0; k < iters; ++k) {
    if (std::sqrt(rr / bb) <= opt.tol) break;
    normal(static_cast<const C*>(p.data()), q.data());
    if (reg != 0)
      detail::cg_chunks(n, [&](index_t i0, index_t i1) {
        for (index_t i = i0; i < i1; ++i) q[i] += reg * p[i];
      });
    const double pq = detail::cg_real_dot(p.data(), q.data(), n);
    if (!(pq > 0)) break;  // p is in the null space of a singular operator: nothing left to gain
    const Real alpha = static_cast<Real>(rr / pq);
    detail::cg_chunks(n, [&](index_t i0, index_t i1) {
      for (index_t i = i0; i < i1; ++i) x[i] += alpha * p[i], r[i] -= alpha * q[i];
    });
    const double rr_new = detail::cg_real_dot(r.data(), r.data(), n);
    const Real beta = static_cast<Real>(rr_new / rr);
    detail::cg_chunks(n, [&](index_t i0, index_t i1) {
      for (index_t i = i0; i < i1; ++i) p[i] = r[i] + beta * p[i];
    });
    rr = rr_new;
    ++rep.iterations;
    rep.residuals.push_back(static_cast<float>(std::sqrt(rr / bb)));
  }
  return rep;
}

}  // namespace larmor
