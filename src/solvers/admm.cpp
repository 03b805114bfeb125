// ADMM (include/larmor/solvers/admm.hpp), compiled once here.
#include "larmor/solvers/admm.hpp"

namespace larmor {

admm_report admm(const linear_operator<cfloat>& A, const cfloat* b, const std::vector<admm_term>& terms,
                        cfloat* x, const admm_options& opt) {
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
