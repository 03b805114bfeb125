// larmor/prox/wavelet_l1.hpp — lambda ||W x||_1 over the detail coefficients of the orthogonal wavelet
// transform W (ops/wavelet.hpp), with random cycle spinning.
//
// W is orthogonal, so prox_{alpha lambda ||W . ||_1}(v) = W^H S_{alpha lambda}(W v) exactly (S: complex soft
// threshold, prox/soft_threshold.hpp). penalise_coarse: whether the coarsest approximation block is
// thresholded too. BART 0.8's pics does (wavthresh: one soft threshold over all coefficients), and on real
// brains that is better (it zeroes the low-resolution background); false leaves the block (the image's low
// frequencies) unpenalised, as SigPy does.
// Cycle spinning (Figueiredo MAT, Nowak RD, IEEE TIP 12:906 (2003); Guerquin-Kern M et al., IEEE TMI
// 30:1649 (2011); BART's pics default, its -n switches it off): every call draws one circular shift s_a in
// [0, n_a) per transformed axis and applies the prox of the shifted penalty lambda ||W P_s x||_1, i.e.
// P_s^H W^H S(W P_s v) — still an exact proximal map (of a different orthogonal transform each time), which
// removes the blocky artefacts of a fixed wavelet grid. The shifts come from std::mt19937_64(seed), one
// draw per call and axis, so a run is reproducible from its seed.
// Threads: the transform and the threshold run in parallel; one object is not for two threads at once.
#pragma once

#include <algorithm>
#include <complex>
#include <cstdint>
#include <random>
#include <vector>

#include "larmor/ops/wavelet.hpp"
#include "larmor/prox/proximal_map.hpp"
#include "larmor/prox/soft_threshold.hpp"

namespace larmor {

namespace detail {

// out[(i + s) mod n] = in[i] along every axis of a row-major array (1 to 4 axes); out must not alias in.
inline void circshift(const cfloat* in, cfloat* out, const std::vector<index_t>& shape, const std::vector<index_t>& s) {
  const std::size_t nd = shape.size();
  const index_t nx = shape[nd - 1];
  index_t rows = 1;
  for (std::size_t a = 0; a + 1 < nd; ++a) rows *= shape[a];
  const index_t sx = ((s[nd - 1] % nx) + nx) % nx;
  parallel_for_blocks(rows, 64, [&](index_t r0, index_t cnt) {
    for (index_t r = r0; r < r0 + cnt; ++r) {
      index_t q = r, dst = 0, mul = 1;
      for (std::size_t a = nd - 1; a-- > 0;) {
        const index_t i = q % shape[a];
        q /= shape[a];
        dst += ((i + s[a]) % shape[a] + shape[a]) % shape[a] * mul;
        mul *= shape[a];
      }
      const cfloat* src = in + r * nx;
      cfloat* d = out + dst * nx;
      std::copy(src, src + (nx - sx), d + sx);
      std::copy(src + (nx - sx), src + nx, d);
    }
  });
}

}  // namespace detail

class wavelet_l1_prox : public proximal_map<cfloat> {
 public:
  // shape/kind/min_size/axes: as wavelet_operator. cycle_spin: draw random shifts per call.
  // penalise_coarse: threshold the coarsest approximation block too (see above).
  wavelet_l1_prox(std::vector<index_t> shape, float lambda, wavelet_kind kind = wavelet_kind::db2,
                  index_t min_size = 16, bool cycle_spin = true, std::uint64_t seed = 0, unsigned axes = ~0u,
                  bool penalise_coarse = false)
      : W_(std::move(shape), kind, min_size, axes), lambda_(lambda), spin_(cycle_spin), rng_(seed), axes_(axes) {
    LARMOR_CHECK_ARG(std::isfinite(lambda) && lambda >= 0, "wavelet_l1_prox: lambda must be finite and >= 0, got ",
                     lambda);
    const auto& sh = W_.shape();
    const auto& cs = W_.coarse_shape();
    std::vector<index_t> i(sh.size(), 0);
    const index_t nc = [&] { index_t p = 1; for (index_t c : cs) p *= c; return p; }();
    for (index_t k = 0; k < nc; ++k) {
      index_t q = k, flat = 0, mul = 1;
      for (std::size_t a = sh.size(); a-- > 0;) {
        flat += (q % cs[a]) * mul;
        q /= cs[a];
        mul *= sh[a];
      }
      coarse_.push_back(flat);
    }
    if (penalise_coarse) coarse_.clear();
    work_.resize(static_cast<std::size_t>(W_.input_size()));
  }

  index_t size() const override { return W_.input_size(); }
  const wavelet_operator& transform() const { return W_; }
  // The shifts of the last call (for tests).
  const std::vector<index_t>& last_shift() const { return shift_; }

  void apply(float alpha, const cfloat* in, cfloat* out) override {
    const auto& sh = W_.shape();
    shift_.assign(sh.size(), 0);
    if (spin_)
      for (std::size_t a = 0; a < sh.size(); ++a)
        if (((axes_ >> a) & 1u) && sh[a] > 1) shift_[a] = static_cast<index_t>(rng_() % static_cast<std::uint64_t>(sh[a]));
    cfloat* w = work_.data();
    const index_t n = size();
    bool shifted = false;
    for (index_t s : shift_) shifted |= s != 0;
    if (shifted)
      detail::circshift(in, w, sh, shift_);
    else
      std::copy(in, in + n, w);
    W_.forward_inplace(w);
    keep_.resize(coarse_.size());
    for (std::size_t k = 0; k < coarse_.size(); ++k) keep_[k] = w[coarse_[k]];
    soft_threshold(alpha * lambda_, w, w, n);
    for (std::size_t k = 0; k < coarse_.size(); ++k) w[coarse_[k]] = keep_[k];
    W_.inverse_inplace(w);
    if (shifted) {
      std::vector<index_t> back(shift_);
      for (auto& s : back) s = -s;
      detail::circshift(w, out, sh, back);
    } else {
      std::copy(w, w + n, out);
    }
  }

  double value(const cfloat* x) override {
    std::vector<cfloat> c(x, x + size());
    W_.forward_inplace(c.data());
    for (index_t k : coarse_) c[static_cast<std::size_t>(k)] = 0;
    double s = 0;
    for (const auto& v : c) s += std::abs(std::complex<double>(v));
    return lambda_ * s;
  }

 private:
  wavelet_operator W_;
  float lambda_;
  bool spin_;
  std::mt19937_64 rng_;
  unsigned axes_;
  std::vector<index_t> coarse_, shift_;
  std::vector<cfloat> work_, keep_;
};

}  // namespace larmor
