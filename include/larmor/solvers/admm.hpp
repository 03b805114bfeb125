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

admm_report admm(const linear_operator<cfloat>& A, const cfloat* b, const std::vector<admm_term>& terms,
                        cfloat* x, const admm_options& opt = {});

}  // namespace larmor
