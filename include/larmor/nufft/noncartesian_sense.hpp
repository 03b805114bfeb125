// larmor/nufft/noncartesian_sense.hpp — the non-Cartesian SENSE encoding operator and CG-SENSE.
//
//   apply:    y_c = nufft(S_c x)                      x ([z,] y, x) -> y (coils, M)
//   adjoint:  x   = sum_c conj(S_c) nufft_adjoint(y_c)
//   normal:   x  -> sum_c conj(S_c) T(S_c x),  T = A_1^H A_1 of the single-coil NUFFT
// S: sensitivity maps (coils, [z,] y, x); nufft: plan.hpp (k in cycles/FOV, axes like the image).
// Pruessmann KP, Weiger M, Boernert P, Boesiger P. Advances in sensitivity encoding with arbitrary k-space
// trajectories. MRM 46:638 (2001). The model is the one of `bart pics -t traj` with no density weighting
// (-w 1 for the scaling).
//
// Toeplitz normal operator (Wajer FTA, Pruessmann KP, ISMRM 2001; Fessler JA et al. IEEE TSP 53:3393, 2005):
// (A_1^H A_1 x)(r) = sum_r' h(r - r') x(r'), h(d) = N^-1 sum_k exp(2 pi i k.d / N) for |d_j| < N_j, is a
// convolution, evaluated exactly as a circular one on a 2N grid: T x = crop(IFFT(FFT(pad x) . FFT(h)) / |2N|).
// h is one type-1 NUFFT onto a 2N image at coordinates 2k (made once, in double). Each normal application is
// then one FFT pair on the 2x grid per coil, without spreading or interpolation.
//
// cgsense_noncartesian: conjugate gradient (solvers/conjugate_gradient.hpp) on (A^H A + reg I) x = A^H y from
// x0 = 0, as `bart pics -t traj -l2 reg -i iters` does (BART also rescales the data; see docs/nufft.md).
// Threads: parallel over coils and pixels; FFTs use num_threads(). Not safe from two threads at once.
#pragma once

#include <memory>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/fft/fft.hpp"
#include "larmor/nufft/plan.hpp"
#include "larmor/ops/linear_operator.hpp"
#include "larmor/solvers/conjugate_gradient.hpp"

namespace larmor {

template <std::size_t D>
class noncartesian_sense_operator : public linear_operator<cfloat> {
 public:
  // maps (coils, N...); coords (M, D) in cycles/FOV, axes like the image; eps: NUFFT tolerance;
  // toeplitz: use the Toeplitz normal operator (else normal = adjoint(apply)).
  template <class T>
  noncartesian_sense_operator(strided_view<const cfloat, D + 1> maps, const T* coords, index_t M, double eps = 1e-6,
                              bool toeplitz = true)
      : maps_(to_array(maps)), coils_(maps.shape(0)), plan_(image_extents(maps), eps), toeplitz_(toeplitz) {
    LARMOR_CHECK_ARG(coils_ >= 1, "noncartesian_sense_operator: maps must have at least one coil");
    N_ = image_extents(maps);
    plan_.set_points(coords, M);
    img_ = array<cfloat, 1>(extents<1>{coils_ * plan_.image_size()}, uninitialized);
    if (toeplitz_) make_toeplitz(coords, M);
  }

  index_t input_size() const override { return plan_.image_size(); }
  index_t output_size() const override { return coils_ * plan_.num_points(); }
  index_t coils() const { return coils_; }
  const nufft_plan<float, D>& plan() const { return plan_; }

  void apply(const cfloat* x, cfloat* y) const override {
    const single_user_scope one(user_, "noncartesian_sense_operator");
    const index_t n = plan_.image_size();
    cfloat* img = img_.data();
    const cfloat* s = maps_.data();
    parallel_for_blocks(coils_ * n, index_t{1} << 14, [&](index_t f, index_t c) {
      for (index_t i = f; i < f + c; ++i) img[i] = s[i] * x[i % n];
    });
    plan_.forward(img, y, coils_);
  }

  void adjoint(const cfloat* y, cfloat* x) const override {
    const single_user_scope one(user_, "noncartesian_sense_operator");
    plan_.adjoint(y, img_.data(), coils_);
    combine(img_.data(), x);
  }

  void normal(const cfloat* x, cfloat* out) const override {
    const single_user_scope one(user_, "noncartesian_sense_operator");
    if (!toeplitz_) {
      linear_operator<cfloat>::normal(x, out);
      return;
    }
    const index_t n = plan_.image_size(), n2 = pad_size();
    if (pad_.size() != coils_ * n2) pad_ = array<cfloat, 1>(extents<1>{coils_ * n2}, uninitialized);
    cfloat* p = pad_.data();
    const cfloat* s = maps_.data();
    parallel_for_blocks(coils_ * n2, index_t{1} << 16, [&](index_t f, index_t c) { std::fill(p + f, p + f + c, cfloat(0)); });
    // pad: image pixel j -> padded index j (the image sits in the first N of each axis; circular convolution
    // with h indexed by (d mod 2N) gives the same crop)
    parallel_for(coils_ * (n / N_[D - 1]), [&](index_t q) {
      const index_t rows = n / N_[D - 1], c = q / rows, row = q % rows;
      const index_t src = row * N_[D - 1];
      cfloat* dst = p + c * n2 + padded_row_offset(row);
      for (index_t j = 0; j < N_[D - 1]; ++j) dst[j] = s[c * n + src + j] * x[src + j];
    });
    fft_pad(FFTW_FORWARD);
    const cfloat* h = hhat_.data();
    parallel_for_blocks(coils_ * n2, index_t{1} << 14, [&](index_t f, index_t c) {
      for (index_t i = f; i < f + c; ++i) p[i] *= h[i % n2];
    });
    fft_pad(FFTW_BACKWARD);
    parallel_for(n / N_[D - 1], [&](index_t row) {
      const index_t src = row * N_[D - 1], po = padded_row_offset(row);
      for (index_t j = 0; j < N_[D - 1]; ++j) {
        cfloat acc(0);
        for (index_t c = 0; c < coils_; ++c) acc += std::conj(s[c * n + src + j]) * p[c * n2 + po + j];
        out[src + j] = acc;
      }
    });
  }

 private:
  static extents<D> image_extents(strided_view<const cfloat, D + 1> maps) {
    extents<D> e{};
    for (std::size_t d = 0; d < D; ++d) e[d] = maps.shape(d + 1);
    return e;
  }
  index_t pad_size() const {
    index_t s = 1;
    for (auto v : N_) s *= 2 * v;
    return s;
  }
  index_t padded_row_offset(index_t row) const {
    index_t off = 0, rem = row, mul = 2 * N_[D - 1];
    for (std::size_t d = D - 1; d-- > 0;) {
      off += (rem % N_[d]) * mul;
      rem /= N_[d];
      mul *= 2 * N_[d];
    }
    return off;
  }
  void fft_pad(int sign) const {
    std::vector<index_t> shape{coils_};
    unsigned mask = 0;
    for (std::size_t d = 0; d < D; ++d) shape.push_back(2 * N_[d]), mask |= 1u << (d + 1);
    detail::execute_dft_inplace<float>(shape, mask, sign, pad_.data(), in_parallel_region() ? 1 : num_threads());
  }
  void combine(const cfloat* img, cfloat* x) const {
    const index_t n = plan_.image_size();
    const cfloat* s = maps_.data();
    parallel_for_blocks(n, index_t{1} << 12, [&](index_t f, index_t cnt) {
      for (index_t i = f; i < f + cnt; ++i) {
        cfloat acc(0);
        for (index_t c = 0; c < coils_; ++c) acc += std::conj(s[c * n + i]) * img[c * n + i];
        x[i] = acc;
      }
    });
  }
  template <class T>
  void make_toeplitz(const T* coords, index_t M) {
    extents<D> N2{};
    index_t n = 1, n2 = 1;
    for (std::size_t d = 0; d < D; ++d) N2[d] = 2 * N_[d], n *= N_[d], n2 *= N2[d];
    nufft_plan<double, D> p2(N2, std::min(1e-7, plan_.tolerance()));
    std::vector<double> k2(static_cast<std::size_t>(M * index_t(D)));
    for (std::size_t i = 0; i < k2.size(); ++i) k2[i] = 2.0 * static_cast<double>(coords[i]);
    p2.set_points(k2.data(), M);
    std::vector<cdouble> ones(static_cast<std::size_t>(M), cdouble(1)), h(static_cast<std::size_t>(n2));
    p2.adjoint(ones.data(), h.data(), 1);
    // h (centred: index j <-> d = j - N) -> circular index (d mod 2N), scaled by sqrt(|2N|)/|N| and 1/|2N|
    // (the unnormalised FFT pair), then FFT.
    array<cdouble, 1> hc(extents<1>{n2}, uninitialized);
    const double scale = std::sqrt(static_cast<double>(n2)) / static_cast<double>(n) / static_cast<double>(n2);
    for (index_t j = 0; j < n2; ++j) {
      index_t rem = j, dst = 0, mul = 1;
      for (std::size_t d = D; d-- > 0;) {
        const index_t jd = rem % N2[d];
        rem /= N2[d];
        dst += ((jd - N_[d] + N2[d]) % N2[d]) * mul;
        mul *= N2[d];
      }
      hc[dst] = h[static_cast<std::size_t>(j)] * scale;
    }
    std::vector<index_t> shape(N2.begin(), N2.end());
    unsigned mask = 0;
    for (std::size_t d = 0; d < D; ++d) mask |= 1u << d;
    detail::execute_dft_inplace<double>(shape, mask, FFTW_FORWARD, hc.data(), num_threads());
    hhat_ = array<cfloat, 1>(extents<1>{n2}, uninitialized);
    for (index_t i = 0; i < n2; ++i) hhat_[i] = cfloat(hc[i]);
  }

  array<cfloat, D + 1> maps_;
  index_t coils_;
  nufft_plan<float, D> plan_;
  bool toeplitz_;
  extents<D> N_{};
  array<cfloat, 1> hhat_;
  mutable array<cfloat, 1> img_, pad_;
  single_user_flag user_;  // one thread at a time (img_, pad_)
};

struct cgsense_noncartesian_options {
  float reg = 0;       // Tikhonov lambda (bart pics -l2 lambda)
  int iters = 30;
  double tol = 1e-6;
  double eps = 1e-6;   // NUFFT tolerance
  bool toeplitz = true;
};

template <std::size_t D>
struct cgsense_noncartesian_result {
  array<cfloat, D> image;
  cg_report report;
};

// samples (coils, M) contiguous; maps (coils, N...); coords (M, D). Returns the image (N...).
template <std::size_t D, class T>
cgsense_noncartesian_result<D> cgsense_noncartesian(const cfloat* samples, strided_view<const cfloat, D + 1> maps,
                                                   const T* coords, index_t M,
                                                   const cgsense_noncartesian_options& o = {}) {
  noncartesian_sense_operator<D> op(maps, coords, M, o.eps, o.toeplitz);
  const index_t n = op.input_size();
  array<cfloat, 1> b(extents<1>{n}, uninitialized);
  op.adjoint(samples, b.data());
  extents<D> shape{};
  for (std::size_t d = 0; d < D; ++d) shape[d] = maps.shape(d + 1);
  cgsense_noncartesian_result<D> res{array<cfloat, D>(shape), {}};
  cg_options co;
  co.iters = o.iters;
  co.tol = o.tol;
  co.reg = o.reg;
  res.report = conjugate_gradient<float>([&](const cfloat* in, cfloat* out) { op.normal(in, out); }, b.data(),
                                         res.image.data(), n, co);
  return res;
}

}  // namespace larmor
