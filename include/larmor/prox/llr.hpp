// larmor/prox/llr.hpp — the locally low rank (LLR) penalty for dynamic (or multi-map) images:
//
//   g(x) = lambda sum_blocks ||C_b(P_s x)||_*
// x: frames-first row-major array (T, [z,] y, x); the spatial axes are cut into blocks of `block` samples
// per axis (the last block along an axis is shorter when the length is not a multiple); C_b is the block's
// Casorati matrix (pixels of the block x T frames); ||.||_* the nuclear norm (sum of singular values);
// P_s a circular shift of the spatial axes. Trzasko J, Manduca A. Local versus global low-rank promotion in
// dynamic MRI series reconstruction. ISMRM 2011, p. 4371; Zhang T, Pauly JM, Levesque IR. MRM 73:655 (2015).
// The blocks partition the pixels, so the prox is exact, block by block: singular-value soft thresholding
//   prox_{alpha g}(v): C_b <- U max(Sigma - alpha lambda, 0) V^H
// computed through the T x T Gram matrix G = C^H C = V Sigma^2 V^H (kernels::singular_value_threshold: Eigen's
// self-adjoint eigensolver, in double): C <- C V diag(max(0, 1 - t / sigma_j)) V^H.
// Random shifts (BART's pics -R L default): every call draws s_a in [0, block) per spatial axis from
// std::mt19937_64(seed), so the block grid moves and no block edge is fixed; `shift = false` keeps s = 0.
// Threads: parallel over blocks; one object is not for two threads at once (random state).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <random>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/kernels/dense_decompositions.hpp"
#include "larmor/prox/proximal_map.hpp"

namespace larmor {

class llr_prox : public proximal_map<cfloat> {
 public:
  // shape: (T, [z,] y, x) — frames first, then 1 to 3 spatial axes.
  llr_prox(std::vector<index_t> shape, float lambda, index_t block = 8, bool shift = true, std::uint64_t seed = 0)
      : shape_(std::move(shape)), lambda_(lambda), block_(block), shift_on_(shift), rng_(seed) {
    LARMOR_CHECK_ARG(shape_.size() >= 2 && shape_.size() <= 4, "llr_prox: shape is (frames, [z,] y, x), got ",
                     shape_.size(), " axes");
    LARMOR_CHECK_ARG(std::isfinite(lambda) && lambda >= 0, "llr_prox: lambda must be finite and >= 0, got ", lambda);
    LARMOR_CHECK_ARG(block >= 1, "llr_prox: block must be >= 1, got ", block);
    n_ = 1;
    for (index_t s : shape_) {
      LARMOR_CHECK_ARG(s >= 1, "llr_prox: axis lengths must be >= 1");
      n_ *= s;
    }
    frames_ = shape_[0];
    npix_ = n_ / frames_;
    shift_.assign(shape_.size() - 1, 0);
  }

  index_t size() const override { return n_; }
  const std::vector<index_t>& last_shift() const { return shift_; }

  void apply(float alpha, const cfloat* in, cfloat* out) override {
    const std::size_t ns = shape_.size() - 1;
    for (std::size_t a = 0; a < ns; ++a)
      shift_[a] = shift_on_ ? static_cast<index_t>(rng_() % static_cast<std::uint64_t>(std::min(block_, shape_[a + 1])))
                            : 0;
    const double t = static_cast<double>(alpha) * lambda_;
    for_blocks([&](const std::vector<index_t>& pix) {
      std::vector<std::complex<double>> C;
      gather(in, pix, C);
      kernels::singular_value_threshold(static_cast<index_t>(pix.size()), frames_, C.data(), t);
      scatter(C, pix, out);
    });
  }

  // lambda sum_b ||C_b(P_s x)||_* at the shift of the last call (0 before the first).
  double value(const cfloat* x) override {
    std::mutex m;
    double s = 0;
    for_blocks([&](const std::vector<index_t>& pix) {
      std::vector<std::complex<double>> C;
      gather(x, pix, C);
      const double v = kernels::nuclear_norm(static_cast<index_t>(pix.size()), frames_, C.data());
      std::lock_guard<std::mutex> lock(m);
      s += v;
    });
    return lambda_ * s;
  }

 private:
  // The block's Casorati matrix C (pixels x frames, row-major) in double, and back.
  void gather(const cfloat* v, const std::vector<index_t>& pix, std::vector<std::complex<double>>& C) const {
    C.resize(pix.size() * static_cast<std::size_t>(frames_));
    for (index_t f = 0; f < frames_; ++f)
      for (std::size_t p = 0; p < pix.size(); ++p)
        C[p * static_cast<std::size_t>(frames_) + static_cast<std::size_t>(f)] = std::complex<double>(v[f * npix_ + pix[p]]);
  }
  void scatter(const std::vector<std::complex<double>>& C, const std::vector<index_t>& pix, cfloat* v) const {
    for (index_t f = 0; f < frames_; ++f)
      for (std::size_t p = 0; p < pix.size(); ++p)
        v[f * npix_ + pix[p]] = cfloat(C[p * static_cast<std::size_t>(frames_) + static_cast<std::size_t>(f)]);
  }
  // body(pixel flat indices of one block) for every block of the shifted grid, in parallel.
  template <class F>
  void for_blocks(F&& body) const {
    const std::size_t ns = shape_.size() - 1;
    std::vector<index_t> nb(ns);
    index_t total = 1;
    for (std::size_t a = 0; a < ns; ++a) total *= (nb[a] = (shape_[a + 1] + block_ - 1) / block_);
    parallel_for_dynamic(total, [&](index_t b) {
      std::vector<index_t> b0(ns), len(ns);
      index_t q = b;
      for (std::size_t a = ns; a-- > 0;) {
        b0[a] = (q % nb[a]) * block_;
        q /= nb[a];
        len[a] = std::min(block_, shape_[a + 1] - b0[a]);
      }
      index_t np = 1;
      for (index_t l : len) np *= l;
      std::vector<index_t> pix(static_cast<std::size_t>(np));
      std::vector<index_t> i(ns, 0);
      for (index_t p = 0; p < np; ++p) {
        index_t flat = 0;
        for (std::size_t a = 0; a < ns; ++a) flat = flat * shape_[a + 1] + (b0[a] + i[a] + shift_[a]) % shape_[a + 1];
        pix[static_cast<std::size_t>(p)] = flat;
        for (std::size_t a = ns; a-- > 0;) {
          if (++i[a] < len[a]) break;
          i[a] = 0;
        }
      }
      body(pix);
    });
  }

  std::vector<index_t> shape_;
  float lambda_;
  index_t block_;
  bool shift_on_;
  std::mt19937_64 rng_;
  index_t n_ = 0, frames_ = 1, npix_ = 1;
  std::vector<index_t> shift_;
};

}  // namespace larmor
