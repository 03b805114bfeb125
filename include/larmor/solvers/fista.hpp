// larmor/solvers/fista.hpp — FISTA for  min_x 1/2 ||A x - y||_2^2 + g(x).
//
// Beck A, Teboulle M. A fast iterative shrinkage-thresholding algorithm for linear inverse problems.
// SIAM J Imaging Sci 2:183 (2009). With b = A^H y and step tau:
//     x_{k+1} = prox_{tau g}( z_k - tau (A^H A z_k - b) )
//     t_{k+1} = (p + sqrt(q + r t_k^2)) / 2
//     z_{k+1} = x_{k+1} + (t_k - 1) / t_{k+1} (x_{k+1} - x_k)
// from z_0 = x_0 (the x passed in) and t_0 = 1. p = 1, q = 1, r = 4 (the default) is Beck and
// Teboulle's t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2, the momentum of BART's pics (v0.8 `ravine` step);
// other (p, q, r) are the "FISTA-Mod" family of Liang J, Luo T, Schoenlieb CB, SIAM J Optim 32:1760 (2022)
// (BART >= 0.9 --fista_pqr). Step: tau = step when given, else 0.95 / lambda_max(A^H A) from power
// iteration (solvers/power_iteration.hpp) — BART's pics -e uses the same 0.95 / lambda_max.
// The solver sees only the operator's normal() and the proximal map (never MRI types).
// Threads: the vector updates run under parallel_for; A and g bring their own parallelism.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>

#include "larmor/ops/linear_operator.hpp"
#include "larmor/prox/proximal_map.hpp"
#include "larmor/solvers/conjugate_gradient.hpp"
#include "larmor/solvers/power_iteration.hpp"

namespace larmor {

namespace detail {

// The checks and the step shared by the proximal-gradient solvers (fista, pogm): g acts on A's input,
// iters >= 0, step finite and >= 0; returns step, or 0.95 / lambda_max(A^H A) (power iteration) when it is 0.
inline float proximal_gradient_step(const char* who, const linear_operator<cfloat>& A, const proximal_map<cfloat>& g,
                                    int iters, float step, int power_iters) {
  LARMOR_CHECK_ARG(g.size() == A.input_size(), who, ": the proximal map has ", g.size(), " samples, the operator ",
                   A.input_size());
  LARMOR_CHECK_ARG(iters >= 0, who, ": iters must be >= 0, got ", iters);
  LARMOR_CHECK_ARG(std::isfinite(step) && step >= 0, who, ": step must be >= 0, got ", step);
  if (step > 0) return step;
  const float L = max_eigenvalue(A, power_iters);
  LARMOR_CHECK_DATA(L > 0 && std::isfinite(L), who, ": the normal operator is zero or not finite (lambda_max ", L, ")");
  return 0.95f / L;
}

}  // namespace detail

struct fista_options {
  int iters = 100;
  float step = 0;          // tau; 0: 0.95 / lambda_max(A^H A) by power iteration
  int power_iters = 30;    // power iterations for lambda_max
  float p = 1, q = 1, r = 4;  // momentum t_{k+1} = (p + sqrt(q + r t_k^2)) / 2
  // Return the mean of the last `average` iterates x_k instead of x_iters (0 or 1: x_iters). With a
  // randomly shifted prox (cycle spinning) the iterates do not settle on one point but keep moving with
  // the shift drawn; their tail average is the translation-invariant estimate (Coifman RR, Donoho DL,
  // Translation-invariant de-noising, Lecture Notes in Statistics 103:125 (1995); iterate averaging:
  // Polyak BT, Juditsky AB, SIAM J Control Optim 30:838 (1992)). One vector sum per averaged iterate.
  int average = 0;
  // Called after every iteration with (k = 1 .. iters, x_k); for tests and progress.
  std::function<void(int, const cfloat*)> callback;
};

struct fista_report {
  int iterations = 0;
  float step = 0;  // the tau used
};

// Runs opt.iters iterations from the x passed in (x_0; zero it for the usual cold start).
// b = A^H y (A.input_size() samples); g.size() must equal A.input_size().
inline fista_report fista(const linear_operator<cfloat>& A, const cfloat* b, proximal_map<cfloat>& g, cfloat* x,
                          const fista_options& opt = {}) {
  const index_t n = A.input_size();
  LARMOR_CHECK_ARG(opt.p > 0 && opt.q > 0 && opt.r > 0, "fista: p, q, r must be > 0");
  LARMOR_CHECK_ARG(opt.average >= 0, "fista: average must be >= 0, got ", opt.average);
  fista_report rep;
  rep.step = detail::proximal_gradient_step("fista", A, g, opt.iters, opt.step, opt.power_iters);
  const float tau = rep.step;
  array<cfloat, 1> z({n}, uninitialized), grad({n}, uninitialized), xold({n}, uninitialized);
  detail::cg_chunks(n, [&](index_t i0, index_t i1) { std::copy(x + i0, x + i1, z.data() + i0); });
  double t = 1;
  const int navg = std::min(std::max(opt.average, 1), std::max(opt.iters, 1));
  array<cfloat, 1> acc({navg > 1 ? n : 0});
  for (int k = 1; k <= opt.iters; ++k) {
    A.normal(z.data(), grad.data());
    // grad <- z - tau (A^H A z - b); x_old <- x
    detail::cg_chunks(n, [&](index_t i0, index_t i1) {
      for (index_t i = i0; i < i1; ++i) {
        grad[i] = z[i] - tau * (grad[i] - b[i]);
        xold[i] = x[i];
      }
    });
    g.apply(tau, grad.data(), x);
    const double tn = (opt.p + std::sqrt(opt.q + opt.r * t * t)) / 2;
    const float mom = static_cast<float>((t - 1) / tn);
    t = tn;
    detail::cg_chunks(n, [&](index_t i0, index_t i1) {
      for (index_t i = i0; i < i1; ++i) z[i] = x[i] + mom * (x[i] - xold[i]);
    });
    rep.iterations = k;
    if (opt.callback) opt.callback(k, x);
    if (navg > 1 && k > opt.iters - navg)
      detail::cg_chunks(n, [&](index_t i0, index_t i1) {
        for (index_t i = i0; i < i1; ++i) acc[i] += x[i];
      });
  }
  if (navg > 1)
    detail::cg_chunks(n, [&](index_t i0, index_t i1) {
      for (index_t i = i0; i < i1; ++i) x[i] = acc[i] / float(navg);
    });
  return rep;
}

}  // namespace larmor
