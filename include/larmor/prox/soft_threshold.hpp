// larmor/prox/soft_threshold.hpp — complex soft thresholding, the proximal map of lambda ||x||_1.
//
//   S_t(z) = z max(0, 1 - t / |z|)  (= 0 for |z| <= t),   |z| the complex modulus,
// i.e. prox_{alpha lambda |.|_1} with t = alpha lambda. Donoho DL. De-noising by soft-thresholding. IEEE
// Trans Inf Theory 41:613 (1995). The complex form shrinks the modulus and keeps the phase (as BART's
// and SigPy's soft_thresh). Threads: parallel over blocks of samples.
#pragma once

#include <cmath>

#include "larmor/core/array.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/prox/proximal_map.hpp"

namespace larmor {

// out[i] = S_t(in[i]), i < n; out may equal in.
inline void soft_threshold(float t, const cfloat* in, cfloat* out, index_t n) {
  parallel_for_blocks(n, index_t{1} << 14, [&](index_t p0, index_t cnt) {
    for (index_t i = p0; i < p0 + cnt; ++i) {
      const float re = in[i].real(), im = in[i].imag();
      const float a = std::sqrt(re * re + im * im);
      const float s = a > t ? (a - t) / a : 0.f;
      out[i] = cfloat(re * s, im * s);
    }
  });
}

// lambda ||x||_1 (complex modulus) as a proximal map.
class l1_prox : public proximal_map<cfloat> {
 public:
  l1_prox(index_t n, float lambda) : n_(n), lambda_(lambda) {
    LARMOR_CHECK_ARG(n >= 0 && std::isfinite(lambda) && lambda >= 0, "l1_prox: need n >= 0 and lambda >= 0, got ",
                     n, ", ", lambda);
  }
  index_t size() const override { return n_; }
  void apply(float alpha, const cfloat* in, cfloat* out) override { soft_threshold(alpha * lambda_, in, out, n_); }
  double value(const cfloat* x) override {
    double s = 0;
    for (index_t i = 0; i < n_; ++i) s += std::abs(std::complex<double>(x[i]));
    return lambda_ * s;
  }

 private:
  index_t n_;
  float lambda_;
};

}  // namespace larmor
