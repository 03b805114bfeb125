// larmor/solvers/admm.hpp — ADMM for  min_x 1/2 ||A x - y||_2^2 + sum_i g_i(F_i x)
// (total variation: F = finite differences, g = l2,1 or l1; any penalty with a proximal map: F = I).
//
// Scaled form, Boyd S et al. Distributed optimization and statistical learning via the alternating
// direction method of multipliers. Found Trends Mach Learn 3:1 (2011), section 3.1.1; for MRI: Afonso MV,
// Bioucas-Dias JM, Figueiredo MAT, IEEE TIP 20:681 (2011). With b = A^H y, from x_0 (passed in),
// z_i = F_i x_0, u_i = 0:
//     x <- argmin 1/2||A x - y||^2 + rho/2 sum_i ||F_i x - z_i + u_i||^2
//          i.e. (A^H A + rho sum_i F_i^H F_i) x = b + rho sum_i F_i^H (z_i - u_i), by cg_iters conjugate-
//          gradient iterations warm-started from the previous x (as BART's pics -m: rho -u 0.5, -C 10)
//     z_i <- prox_{g_i / rho}(F_i x + u_i)
//     u_i <- u_i + F_i x - z_i
// Threads: vector updates under parallel_for; operators and maps bring their own parallelism.
#pragma once

#include <cmath>
#include <functional>
#include <vector>

#include "larmor/ops/linear_operator.hpp"
#include "larmor/prox/proximal_map.hpp"
#include "larmor/solvers/conjugate_gradient.hpp"

namespace larmor {

struct admm_term {
  const linear_operator<cfloat>* F = nullptr;  // nullptr: the identity
  proximal_map<cfloat>* g = nullptr;           // size() == F's output size
};

struct admm_options {
  int iters = 50;
  float rho = 0.5f;
  int cg_iters = 10;
  std::function<void(int, const cfloat*)> callback;  // after every iteration: (k = 1 .., x_k)
};

struct admm_report {
  int iterations = 0;
};

inline admm_report admm(const linear_operator<cfloat>& A, const cfloat* b, const std::vector<admm_term>& terms,
                        cfloat* x, const admm_options& opt = {}) {
  const index_t n = A.input_size();
  LARMOR_CHECK_ARG(!terms.empty(), "admm: no penalty terms");
  LARMOR_CHECK_ARG(opt.iters >= 0 && opt.cg_iters >= 1, "admm: iters >= 0 and cg_iters >= 1 required");
  LARMOR_CHECK_ARG(std::isfinite(opt.rho) && opt.rho > 0, "admm: rho must be > 0, got ", opt.rho);
  const std::size_t nt = terms.size();
  std::vector<index_t> m(nt);
  std::vector<array<cfloat, 1>> z, u, fx;
  for (std::size_t i = 0; i < nt; ++i) {
    LARMOR_CHECK_ARG(terms[i].g != nullptr, "admm: term ", i, " has no proximal map");
    if (terms[i].F) LARMOR_CHECK_ARG(terms[i].F->input_size() == n, "admm: F_", i, " takes a different size");
    m[i] = terms[i].F ? terms[i].F->output_size() : n;
    LARMOR_CHECK_ARG(terms[i].g->size() == m[i], "admm: g_", i, " has ", terms[i].g->size(), " samples, F_", i,
                     " gives ", m[i]);
    z.emplace_back(extents<1>{m[i]});
    u.emplace_back(extents<1>{m[i]});
    fx.emplace_back(extents<1>{m[i]}, uninitialized);
  }
  const float rho = opt.rho;
  auto applyF = [&](std::size_t i, const cfloat* in, cfloat* out) {
    if (terms[i].F)
      terms[i].F->apply(in, out);
    else
      std::copy(in, in + n, out);
  };
  array<cfloat, 1> rhs({n}, uninitialized), r({n}, uninitialized), p({n}, uninitialized), q({n}, uninitialized),
      t({n}, uninitialized);
  // q = (A^H A + rho sum F^H F) v
  auto big_normal = [&](const cfloat* v, cfloat* out) {
    A.normal(v, out);
    for (std::size_t i = 0; i < nt; ++i) {
      if (terms[i].F)
        terms[i].F->normal(v, t.data());
      else
        std::copy(v, v + n, t.data());
      detail::cg_chunks(n, [&](index_t i0, index_t i1) {
        for (index_t j = i0; j < i1; ++j) out[j] += rho * t[j];
      });
    }
  };
  for (std::size_t i = 0; i < nt; ++i) applyF(i, x, z[i].data());
  admm_report rep;
  for (int k = 1; k <= opt.iters; ++k) {
    // rhs = b + rho sum F^H (z - u)
    detail::cg_chunks(n, [&](index_t i0, index_t i1) { std::copy(b + i0, b + i1, rhs.data() + i0); });
    for (std::size_t i = 0; i < nt; ++i) {
      for (index_t j = 0; j < m[i]; ++j) fx[i][j] = z[i][j] - u[i][j];
      if (terms[i].F)
        terms[i].F->adjoint(fx[i].data(), t.data());
      else
        std::copy(fx[i].data(), fx[i].data() + n, t.data());
      detail::cg_chunks(n, [&](index_t i0, index_t i1) {
        for (index_t j = i0; j < i1; ++j) rhs[j] += rho * t[j];
      });
    }
    // CG warm-started from x.
    big_normal(x, q.data());
    detail::cg_chunks(n, [&](index_t i0, index_t i1) {
      for (index_t j = i0; j < i1; ++j) r[j] = rhs[j] - q[j], p[j] = r[j];
    });
    double rr = detail::cg_real_dot(r.data(), r.data(), n);
    for (int c = 0; c < opt.cg_iters && rr > 0; ++c) {
      big_normal(p.data(), q.data());
      const double pq = detail::cg_real_dot(p.data(), q.data(), n);
      if (!(pq > 0)) break;
      const float al = static_cast<float>(rr / pq);
      detail::cg_chunks(n, [&](index_t i0, index_t i1) {
        for (index_t j = i0; j < i1; ++j) x[j] += al * p[j], r[j] -= al * q[j];
      });
      const double rn = detail::cg_real_dot(r.data(), r.data(), n);
      const float be = static_cast<float>(rn / rr);
      rr = rn;
      detail::cg_chunks(n, [&](index_t i0, index_t i1) {
        for (index_t j = i0; j < i1; ++j) p[j] = r[j] + be * p[j];
      });
    }
    for (std::size_t i = 0; i < nt; ++i) {
      applyF(i, x, fx[i].data());
      for (index_t j = 0; j < m[i]; ++j) fx[i][j] += u[i][j];  // F x + u
      terms[i].g->apply(1.f / rho, fx[i].data(), z[i].data());
      for (index_t j = 0; j < m[i]; ++j) u[i][j] = fx[i][j] - z[i][j];  // u + F x - z
    }
    rep.iterations = k;
    if (opt.callback) opt.callback(k, x);
  }
  return rep;
}

}  // namespace larmor
