// larmor/prox/group_l1.hpp — lambda sum_i ||(v_1[i], .., v_k[i])||_2, the mixed l2,1 norm over k stacked
// blocks of n samples (the penalty of isotropic total variation on D x, ops/finite_difference.hpp), and
// its proximal map, the joint (group) soft threshold:
//     out_j[i] = v_j[i] max(0, 1 - t / r_i),   r_i = sqrt(sum_j |v_j[i]|^2),   t = alpha lambda.
// With k = 1 it is the complex soft threshold (prox/soft_threshold.hpp), i.e. anisotropic TV when every
// difference direction is its own group. Rudin LI, Osher S, Fatemi E. Physica D 60:259 (1992);
// Goldstein T, Osher S. SIAM J Imaging Sci 2:323 (2009) (isotropic shrinkage).
#pragma once

#include <cmath>
#include <complex>

#include "larmor/core/parallel.hpp"
#include "larmor/prox/proximal_map.hpp"

namespace larmor {

class group_l1_prox : public proximal_map<cfloat> {
 public:
  // n samples per block, k blocks; lambda >= 0.
  group_l1_prox(index_t n, int k, float lambda) : n_(n), k_(k), lambda_(lambda) {
    LARMOR_CHECK_ARG(n >= 0 && k >= 1 && std::isfinite(lambda) && lambda >= 0,
                     "group_l1_prox: need n >= 0, k >= 1, lambda >= 0");
  }
  index_t size() const override { return n_ * k_; }
  void apply(float alpha, const cfloat* in, cfloat* out) override {
    const float t = alpha * lambda_;
    parallel_for_blocks(n_, index_t{1} << 13, [&](index_t p0, index_t cnt) {
      for (index_t i = p0; i < p0 + cnt; ++i) {
        float r2 = 0;
        for (int j = 0; j < k_; ++j) r2 += std::norm(in[j * n_ + i]);
        const float r = std::sqrt(r2), s = r > t ? (r - t) / r : 0.f;
        for (int j = 0; j < k_; ++j) out[j * n_ + i] = in[j * n_ + i] * s;
      }
    });
  }
  double value(const cfloat* x) override {
    double s = 0;
    for (index_t i = 0; i < n_; ++i) {
      double r2 = 0;
      for (int j = 0; j < k_; ++j) r2 += std::norm(std::complex<double>(x[j * n_ + i]));
      s += std::sqrt(r2);
    }
    return lambda_ * s;
  }

 private:
  index_t n_;
  int k_;
  float lambda_;
};

}  // namespace larmor
