// larmor/ops/wavelet.hpp — the orthogonal separable discrete wavelet transform W (Daubechies db2 / db4)
// of a complex image of 1 to 4 axes, as a linear_operator (W^H = W^-1).
//
// Filters: orthonormal Daubechies low-pass h (db2: 4 taps, db4: 8 taps; sum h = sqrt 2, sum h^2 = 1),
// high-pass g[j] = (-1)^j h[L-1-j]. Daubechies I. Ten lectures on wavelets, SIAM (1992), table 6.1.
// One level along one axis of length m, periodic (circular) boundary on its even part me = m - (m mod 2):
//     a_k = sum_j h[j] x[(2k + j) mod me],   d_k = sum_j g[j] x[(2k + j) mod me],   k = 0 .. me/2 - 1
// Non-power-of-two sizes: any even length is transformed exactly as above (periodic wavelets need no
// power of two); for an odd length the last sample x[m-1] is carried unchanged into the approximation
// band, which then holds ceil(m/2) coefficients (a_0 .. a_{me/2-1}, x[m-1]) followed by the me/2 details.
// Each step is orthogonal (a periodised orthonormal filter bank, plus a permutation), so W is.
// Levels (Mallat's pyramid): at every level each transformed axis whose current approximation length n
// is >= 2 * min_size is split once (the whole approximation block, axis after axis); the levels stop when
// no axis can be split, so the coarsest approximation block is >= min_size per split axis (BART's pics
// uses min_size 16 too). Coefficients are stored in place in Mallat's layout: the coarsest approximation
// block first along every axis. `axes` (bit a = axis a) selects the axes transformed; axes of length 1 are
// never split. Axis order is row-major (axis 0 slowest), the same as the image.
//
// Threads: parallel over panels of lines (parallel_for); no work buffer is shared between calls, so one
// object may serve two threads at once.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/core/error.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/ops/linear_operator.hpp"

namespace larmor {

enum class wavelet_kind { db2, db4 };

namespace detail {

// Orthonormal Daubechies low-pass filters (extremal phase), Daubechies (1992) table 6.1.
inline std::vector<float> daubechies_lowpass(wavelet_kind k) {
  if (k == wavelet_kind::db2) {
    const double s3 = std::sqrt(3.0), d = 4.0 * std::sqrt(2.0);
    return {float((1 + s3) / d), float((3 + s3) / d), float((3 - s3) / d), float((1 - s3) / d)};
  }
  return {0.23037781330889650f, 0.71484657055291540f, 0.63088076792985890f, -0.02798376941685985f,
          -0.18703481171909310f, 0.03084138183556076f, 0.03288301166688520f, -0.01059740178506903f};
}

// One analysis (Fwd) or synthesis step along the rows of a panel: rows r = 0 .. m-1 at base + r * rs, each
// row w complex samples contiguous. tmp holds m * w complex samples.
template <bool Fwd>
void wavelet_panel(cfloat* base, index_t m, index_t rs, index_t w, const float* h, const float* g, int L,
                   cfloat* tmp) {
  const index_t me = m - (m & 1), half = me / 2, na = (m + 1) / 2, w2 = 2 * w;
  for (index_t r = 0; r < m; ++r) std::copy(base + r * rs, base + r * rs + w, tmp + r * w);
  float* t = reinterpret_cast<float*>(tmp);
  if (Fwd) {
    for (index_t k = 0; k < half; ++k) {
      float* a = reinterpret_cast<float*>(base + k * rs);
      float* d = reinterpret_cast<float*>(base + (na + k) * rs);
      std::fill(a, a + w2, 0.f);
      std::fill(d, d + w2, 0.f);
      for (int j = 0; j < L; ++j) {
        const float* s = t + ((2 * k + j) % me) * w2;
        const float hj = h[j], gj = g[j];
        for (index_t i = 0; i < w2; ++i) a[i] += hj * s[i], d[i] += gj * s[i];
      }
    }
    if (m & 1) std::copy(tmp + (m - 1) * w, tmp + m * w, base + half * rs);
  } else {
    for (index_t r = 0; r < me; ++r) std::fill(base + r * rs, base + r * rs + w, cfloat(0.f, 0.f));
    for (index_t k = 0; k < half; ++k) {
      const float* a = t + k * w2;
      const float* d = t + (na + k) * w2;
      for (int j = 0; j < L; ++j) {
        float* o = reinterpret_cast<float*>(base + ((2 * k + j) % me) * rs);
        const float hj = h[j], gj = g[j];
        for (index_t i = 0; i < w2; ++i) o[i] += hj * a[i] + gj * d[i];
      }
    }
    if (m & 1) std::copy(tmp + half * w, tmp + (half + 1) * w, base + (m - 1) * rs);
  }
}

}  // namespace detail

class wavelet_operator : public linear_operator<cfloat> {
 public:
  // shape: the image's axes (1 to 4, row-major); axes: bit mask of the axes to transform (default all);
  // min_size: the smallest approximation length a split may leave (>= 1).
  wavelet_operator(std::vector<index_t> shape, wavelet_kind kind = wavelet_kind::db2, index_t min_size = 16,
                   unsigned axes = ~0u)
      : shape_(std::move(shape)), h_(detail::daubechies_lowpass(kind)) {
    LARMOR_CHECK_ARG(!shape_.empty() && shape_.size() <= 4, "wavelet_operator: 1 to 4 axes, got ", shape_.size());
    LARMOR_CHECK_ARG(min_size >= 1, "wavelet_operator: min_size must be >= 1, got ", min_size);
    n_ = 1;
    for (index_t s : shape_) {
      LARMOR_CHECK_ARG(s >= 1, "wavelet_operator: axis lengths must be >= 1");
      n_ *= s;
    }
    const int L = static_cast<int>(h_.size());
    g_.resize(h_.size());
    for (int j = 0; j < L; ++j) g_[j] = (j % 2 ? -1.f : 1.f) * h_[L - 1 - j];
    std::vector<index_t> len = shape_;
    for (;;) {
      level lv;
      lv.region = len;
      for (std::size_t a = 0; a < shape_.size(); ++a)
        if (((axes >> a) & 1u) && shape_[a] > 1 && len[a] >= 2 * min_size) lv.axes.push_back(static_cast<int>(a));
      if (lv.axes.empty()) break;
      for (int a : lv.axes) len[a] = (len[a] + 1) / 2;
      levels_.push_back(std::move(lv));
    }
    coarse_ = len;
  }

  index_t input_size() const override { return n_; }
  index_t output_size() const override { return n_; }
  const std::vector<index_t>& shape() const { return shape_; }
  int levels() const { return static_cast<int>(levels_.size()); }
  // The coarsest approximation block's lengths (coefficients [0, coarse[a]) along every axis).
  const std::vector<index_t>& coarse_shape() const { return coarse_; }

  void apply(const cfloat* x, cfloat* y) const override {
    std::copy(x, x + n_, y);
    forward_inplace(y);
  }
  void adjoint(const cfloat* y, cfloat* x) const override {
    std::copy(y, y + n_, x);
    inverse_inplace(x);
  }
  void normal(const cfloat* x, cfloat* out) const override { std::copy(x, x + n_, out); }

  void forward_inplace(cfloat* v) const {
    for (const auto& lv : levels_)
      for (int a : lv.axes) transform_axis<true>(v, lv.region, a);
  }
  void inverse_inplace(cfloat* v) const {
    for (auto l = levels_.rbegin(); l != levels_.rend(); ++l)
      for (auto a = l->axes.rbegin(); a != l->axes.rend(); ++a) transform_axis<false>(v, l->region, *a);
  }

  // True for coefficients of the coarsest approximation block (the ones a wavelet l1 penalty leaves out),
  // given the flat index of a coefficient.
  bool is_coarse(index_t flat) const {
    for (std::size_t a = shape_.size(); a-- > 0;) {
      if (flat % shape_[a] >= coarse_[a]) return false;
      flat /= shape_[a];
    }
    return true;
  }

 private:
  struct level {
    std::vector<index_t> region;  // the approximation block transformed at this level
    std::vector<int> axes;        // axes split at this level, in order
  };

  template <bool Fwd>
  void transform_axis(cfloat* v, const std::vector<index_t>& region, int axis) const {
    const int nd = static_cast<int>(shape_.size()), last = nd - 1, L = static_cast<int>(h_.size());
    std::vector<index_t> stride(nd, 1);
    for (int a = nd - 2; a >= 0; --a) stride[a] = stride[a + 1] * shape_[a + 1];
    const index_t m = region[axis];
    // Panels: rows along `axis`, width along the last axis (chunks of 64), one per combination of the
    // other axes. For axis == last, a panel is one line (width 1).
    const index_t chunk = axis == last ? 1 : 64;
    const index_t wlen = axis == last ? 1 : region[last];
    const index_t nchunk = axis == last ? 1 : (wlen + chunk - 1) / chunk;
    index_t nouter = 1;
    for (int a = 0; a < nd; ++a)
      if (a != axis && (a != last || axis == last)) nouter *= region[a];
    if (axis == last) {
      nouter = 1;
      for (int a = 0; a < last; ++a) nouter *= region[a];
    }
    const index_t rs = stride[axis];
    if (axis == last) {
      // Lines along the contiguous axis: a block of B lines is transposed into an (m x B) panel, filtered
      // there with the vectorisable panel loop and transposed back.
      constexpr index_t B = 16;
      const index_t nrow = nouter;
      parallel_for_blocks((nrow + B - 1) / B, std::max<index_t>(1, 64 / std::max<index_t>(1, m / 16)),
                          [&](index_t first, index_t count) {
        std::vector<cfloat> panel(static_cast<std::size_t>(m * B)), tmp(static_cast<std::size_t>(m * B));
        for (index_t b = first; b < first + count; ++b) {
          const index_t r0 = b * B, nb = std::min(B, nrow - r0);
          // row r of the (region) lines -> offset of its first sample
          auto row_off = [&](index_t r) {
            index_t o = r, off = 0;
            for (int a = last - 1; a >= 0; --a) {
              off += (o % region[a]) * stride[a];
              o /= region[a];
            }
            return off;
          };
          for (index_t i = 0; i < nb; ++i) {
            const cfloat* src = v + row_off(r0 + i);
            for (index_t j = 0; j < m; ++j) panel[static_cast<std::size_t>(j * nb + i)] = src[j];
          }
          detail::wavelet_panel<Fwd>(panel.data(), m, nb, nb, h_.data(), g_.data(), L, tmp.data());
          for (index_t i = 0; i < nb; ++i) {
            cfloat* dst = v + row_off(r0 + i);
            for (index_t j = 0; j < m; ++j) dst[j] = panel[static_cast<std::size_t>(j * nb + i)];
          }
        }
      });
      return;
    }
    parallel_for_blocks(nouter * nchunk, std::max<index_t>(1, 256 / std::max<index_t>(1, m / 8)),
                        [&](index_t first, index_t count) {
      std::vector<cfloat> tmp(static_cast<std::size_t>(m * std::min(chunk, wlen)));
      for (index_t p = first; p < first + count; ++p) {
        index_t o = p / nchunk;
        const index_t c = p % nchunk;
        index_t off = c * chunk;  // along the last axis (axis != last)
        for (int a = nd - 1; a >= 0; --a) {
          if (a == axis || (a == last && axis != last)) continue;
          off += (o % region[a]) * stride[a];
          o /= region[a];
        }
        const index_t w = std::min(chunk, wlen - c * chunk);
        detail::wavelet_panel<Fwd>(v + off, m, rs, w, h_.data(), g_.data(), L, tmp.data());
      }
    });
  }

  std::vector<index_t> shape_, coarse_;
  index_t n_ = 0;
  std::vector<float> h_, g_;
  std::vector<level> levels_;
};

}  // namespace larmor
