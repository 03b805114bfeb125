// larmor/solvers/tv_prox.hpp — total variation and its proximal map by ADMM splitting. It lives with the
// solvers, not in prox/, because computing it takes one (prox/ holds the closed-form maps ADMM and FISTA call).
//
//   TV(x) = sum_i ||(D x)[i]||_2 (isotropic) or sum_i sum_a |(D_a x)[i]| (anisotropic),
// D the forward differences of ops/finite_difference.hpp (non-periodic) along the chosen axes (2D, 3D,
// and time for dynamic data). prox_{alpha lambda TV}(v) = argmin_x 1/2||x - v||^2 + alpha lambda TV(x)
// has no closed form; it is solved by ADMM (solvers/admm.hpp) with A = I, F = D, g = l2,1 or l1 norm:
// `iters` ADMM iterations with `cg_iters` CG steps on (I + rho D^H D), warm-started from v.
// Rudin LI, Osher S, Fatemi E. Physica D 60:259 (1992); Goldstein T, Osher S. The split Bregman method
// for L1 regularized problems. SIAM J Imaging Sci 2:323 (2009) (the same iteration).
#pragma once

#include <algorithm>
#include <vector>

#include "larmor/ops/compose.hpp"
#include "larmor/ops/finite_difference.hpp"
#include "larmor/prox/group_l1.hpp"
#include "larmor/solvers/admm.hpp"

namespace larmor {

class tv_prox : public proximal_map<cfloat> {
 public:
  tv_prox(std::vector<index_t> shape, float lambda, bool isotropic = true, unsigned axes = ~0u, int iters = 50,
          float rho = 1.f, int cg_iters = 5)
      : D_(std::move(shape), axes), lambda_(lambda), iso_(isotropic), iters_(iters), rho_(rho), cg_(cg_iters) {
    LARMOR_CHECK_ARG(std::isfinite(lambda) && lambda >= 0, "tv_prox: lambda must be >= 0, got ", lambda);
  }
  index_t size() const override { return D_.input_size(); }
  const finite_difference_operator& differences() const { return D_; }

  void apply(float alpha, const cfloat* in, cfloat* out) override {
    const index_t n = size();
    std::vector<cfloat> v(in, in + n);
    std::copy(in, in + n, out);
    if (alpha * lambda_ == 0) return;
    identity_operator I(n);
    group_l1_prox g(iso_ ? n : n * D_.directions(), iso_ ? D_.directions() : 1, alpha * lambda_);
    admm_options o;
    o.iters = iters_;
    o.rho = rho_;
    o.cg_iters = cg_;
    admm(I, v.data(), {{&D_, &g}}, out, o);
  }
  double value(const cfloat* x) override {
    const index_t n = size();
    std::vector<cfloat> d(static_cast<std::size_t>(D_.output_size()));
    D_.apply(x, d.data());
    group_l1_prox g(iso_ ? n : n * D_.directions(), iso_ ? D_.directions() : 1, lambda_);
    return g.value(d.data());
  }

 private:
  finite_difference_operator D_;
  float lambda_;
  bool iso_;
  int iters_;
  float rho_;
  int cg_;
};

}  // namespace larmor
