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
// Off-resonance (field_map_correction): with a field map f(r) (Hz) and each sample's time t_m after excitation,
// the forward model is y_c(m) = N^-1/2 sum_r S_c(r) x(r) exp(i 2 pi f(r) t_m) exp(-2 pi i k_m.r / N), evaluated
// by time segmentation (time_segmentation.hpp): exp(i 2 pi f t) ~ sum_l b_l(t) exp(i 2 pi f tau_l), so
//   apply:   y_c = sum_l b_l(t) . nufft(Phi_l S_c x),                 Phi_l = exp(i 2 pi f tau_l)
//   adjoint: x   = sum_l conj(Phi_l) sum_c conj(S_c) nufft_adjoint(conj(b_l(t)) . y_c)
//   normal:  x  -> sum_c conj(S_c) sum_l conj(Phi_l) sum_l' T_ll' (Phi_l' S_c x),  T_ll' = F^H diag(conj(b_l) b_l') F
// L NUFFTs per coil for apply and adjoint instead of one per sample time. The normal form is Toeplitz per
// segment pair (Fessler et al. IEEE TSP 53:3393, 2005): L(L+1)/2 kernels (T_l'l = T_ll'^H, so its FFT is the
// conjugate), 2L FFTs on the 2N grid per coil; used while the kernels and one coil's two sets of L padded
// grids fit in 1 GiB (coils then go in groups of up to 256 MiB of grids), else normal = adjoint(apply) (2L
// NUFFTs per coil). The error against the exact operator is bounded per pixel and sample by the
// segmentation's stated error (max_error; rms_error on average). Cost: about L times the plain operator.
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
#include "larmor/nufft/time_segmentation.hpp"
#include "larmor/ops/linear_operator.hpp"
#include "larmor/solvers/conjugate_gradient.hpp"

namespace larmor {

// The field map and sample times of an off-resonance-corrected operator (views; copied by the operator).
struct field_map_correction {
  const float* fieldmap_hz = nullptr;   // (N...) like the image, Hz; nullptr: no correction
  const double* sample_times = nullptr; // (M) seconds from excitation, like the coordinates' samples
  time_segmentation_options segmentation;
  bool enabled() const { return fieldmap_hz != nullptr; }
};

template <std::size_t D>
class noncartesian_sense_operator : public linear_operator<cfloat> {
 public:
  // maps (coils, N...); coords (M, D) in cycles/FOV, axes like the image; eps: NUFFT tolerance;
  // toeplitz: use the Toeplitz normal operator (else normal = adjoint(apply)).
  // offres: a field map and sample times (field_map_correction), or none.
  template <class T>
  noncartesian_sense_operator(strided_view<const cfloat, D + 1> maps, const T* coords, index_t M, double eps = 1e-6,
                              bool toeplitz = true, const field_map_correction& offres = {})
      : maps_(to_array(maps)), coils_(maps.shape(0)), plan_(image_extents(maps), eps), toeplitz_(toeplitz) {
    LARMOR_CHECK_ARG(coils_ >= 1, "noncartesian_sense_operator: maps must have at least one coil");
    N_ = image_extents(maps);
    plan_.set_points(coords, M);
    img_ = array<cfloat, 1>(extents<1>{coils_ * plan_.image_size()}, uninitialized);
    if (offres.enabled()) set_field_map(offres, M);
    if (toeplitz_ && corrected()) toeplitz_ = segment_toeplitz_bytes() <= toeplitz_budget_bytes;
    if (toeplitz_) make_toeplitz(coords, M);
  }

  // The segmented normal operator keeps L(L+1)/2 kernels and 2L padded grids; above this it is adjoint(apply).
  static constexpr double toeplitz_budget_bytes = 1024.0 * 1024 * 1024;

  index_t input_size() const override { return plan_.image_size(); }
  index_t output_size() const override { return coils_ * plan_.num_points(); }
  index_t coils() const { return coils_; }
  const nufft_plan<float, D>& plan() const { return plan_; }
  bool corrected() const { return !ts_.segment_times.empty(); }
  const time_segmentation& segmentation() const { return ts_; }  // empty unless corrected()
  bool uses_toeplitz() const { return toeplitz_; }

  void apply(const cfloat* x, cfloat* y) const override {
    const single_user_scope one(user_, "noncartesian_sense_operator");
    const index_t n = plan_.image_size(), M = plan_.num_points();
    cfloat* img = img_.data();
    const cfloat* s = maps_.data();
    if (!corrected()) {
      parallel_for_blocks(coils_ * n, index_t{1} << 14, [&](index_t f, index_t c) {
        for (index_t i = f; i < f + c; ++i) img[i] = s[i] * x[i % n];
      });
      plan_.forward(img, y, coils_);
      return;
    }
    cfloat* yl = samples_buffer();
    for (index_t l = 0; l < ts_.segments(); ++l) {
      const cfloat* phi = phase_.data() + l * n;
      parallel_for_blocks(coils_ * n, index_t{1} << 14, [&](index_t f, index_t c) {
        for (index_t i = f; i < f + c; ++i) img[i] = s[i] * (phi[i % n] * x[i % n]);
      });
      plan_.forward(img, yl, coils_);
      parallel_for_blocks(coils_ * M, index_t{1} << 14, [&](index_t f, index_t c) {
        for (index_t i = f; i < f + c; ++i) {
          const cfloat v = ts_.coefficient(l, i % M) * yl[i];
          y[i] = l == 0 ? v : y[i] + v;
        }
      });
    }
  }

  void adjoint(const cfloat* y, cfloat* x) const override {
    const single_user_scope one(user_, "noncartesian_sense_operator");
    if (!corrected()) {
      plan_.adjoint(y, img_.data(), coils_);
      combine(img_.data(), x, nullptr, false);
      return;
    }
    const index_t M = plan_.num_points();
    cfloat* z = samples_buffer();
    for (index_t l = 0; l < ts_.segments(); ++l) {
      parallel_for_blocks(coils_ * M, index_t{1} << 14, [&](index_t f, index_t c) {
        for (index_t i = f; i < f + c; ++i) z[i] = std::conj(ts_.coefficient(l, i % M)) * y[i];
      });
      plan_.adjoint(z, img_.data(), coils_);
      combine(img_.data(), x, phase_.data() + l * plan_.image_size(), l > 0);
    }
  }

  void normal(const cfloat* x, cfloat* out) const override {
    const single_user_scope one(user_, "noncartesian_sense_operator");
    if (!toeplitz_) {
      linear_operator<cfloat>::normal(x, out);
      return;
    }
    if (corrected()) {
      segmented_normal(x, out);
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
  void fft_pad(int sign) const { fft_grids(pad_.data(), coils_, sign); }
  // in-place FFT of `count` padded (2N) grids
  void fft_grids(cfloat* grids, index_t count, int sign) const {
    std::vector<index_t> shape{count};
    unsigned mask = 0;
    for (std::size_t d = 0; d < D; ++d) shape.push_back(2 * N_[d]), mask |= 1u << (d + 1);
    detail::execute_dft_inplace<float>(shape, mask, sign, grids, in_parallel_region() ? 1 : num_threads());
  }
  // x = [x +] conj(phi) sum_c conj(S_c) img_c  (phi: a phase map, or nullptr for 1)
  void combine(const cfloat* img, cfloat* x, const cfloat* phi, bool accumulate) const {
    const index_t n = plan_.image_size();
    const cfloat* s = maps_.data();
    parallel_for_blocks(n, index_t{1} << 12, [&](index_t f, index_t cnt) {
      for (index_t i = f; i < f + cnt; ++i) {
        cfloat acc(0);
        for (index_t c = 0; c < coils_; ++c) acc += std::conj(s[c * n + i]) * img[c * n + i];
        if (phi) acc *= std::conj(phi[i]);
        x[i] = accumulate ? x[i] + acc : acc;
      }
    });
  }
  cfloat* samples_buffer() const {
    if (samples_.size() != coils_ * plan_.num_points())
      samples_ = array<cfloat, 1>(extents<1>{coils_ * plan_.num_points()}, uninitialized);
    return samples_.data();
  }
  void set_field_map(const field_map_correction& o, index_t M) {
    const index_t n = plan_.image_size();
    LARMOR_CHECK_ARG(o.sample_times != nullptr, "noncartesian_sense_operator: a field map needs the sample times");
    ts_ = make_time_segmentation(o.fieldmap_hz, n, o.sample_times, M, o.segmentation);
    const index_t L = ts_.segments();
    phase_ = array<cfloat, 1>(extents<1>{L * n}, uninitialized);
    constexpr double two_pi = 6.283185307179586476925286766559;
    parallel_for_blocks(L * n, index_t{1} << 12, [&](index_t f, index_t c) {
      for (index_t i = f; i < f + c; ++i)
        phase_[i] = cfloat(std::polar(1.0, two_pi * static_cast<double>(o.fieldmap_hz[i % n]) *
                                               ts_.segment_times[static_cast<std::size_t>(i / n)]));
    });
  }
  double segment_toeplitz_bytes() const {  // the kernels and one coil's two sets of L grids
    const double L = static_cast<double>(ts_.segments());
    return (L * (L + 1) / 2 + 2 * L) * static_cast<double>(pad_size()) * sizeof(cfloat);
  }
  // Kernel of the segment pair (l, l'), l <= l': hhat_ holds the pairs row by row (l = 0: l' = 0..L-1, ...).
  index_t pair_index(index_t l, index_t lp) const {
    const index_t L = ts_.segments();
    return l * L - l * (l - 1) / 2 + (lp - l);
  }
  // normal of the corrected operator, G coils at a time (G x L padded grids in and out, <= 256 MiB, so each
  // kernel is streamed from memory once per group): U_gl' = FFT(pad(Phi_l' S_g x)), V_gl = sum_l' H_ll' U_gl',
  // out += conj(S_g) sum_l conj(Phi_l) crop(IFFT(V_gl)).
  void segmented_normal(const cfloat* x, cfloat* out) const {
    const index_t n = plan_.image_size(), n2 = pad_size(), L = ts_.segments(), row = N_[D - 1], rows = n / row;
    const double grid_bytes = static_cast<double>(n2) * sizeof(cfloat);
    const index_t G = std::clamp<index_t>(static_cast<index_t>(256.0 * 1024 * 1024 / (2 * L * grid_bytes)), 1, coils_);
    if (pad_.size() != 2 * G * L * n2) pad_ = array<cfloat, 1>(extents<1>{2 * G * L * n2}, uninitialized);
    cfloat *U = pad_.data(), *V = U + G * L * n2;
    const cfloat *s = maps_.data(), *phi = phase_.data();
    std::fill(out, out + n, cfloat(0));
    for (index_t c0 = 0; c0 < coils_; c0 += G) {
      const index_t g = std::min(G, coils_ - c0), grids = g * L;
      parallel_for_blocks(grids * n2, index_t{1} << 16, [&](index_t f, index_t k) { std::fill(U + f, U + f + k, cfloat(0)); });
      parallel_for(grids * rows, [&](index_t q) {
        const index_t gl = q / rows, r = q % rows, src = r * row, l = gl % L;
        const cfloat* sc = s + (c0 + gl / L) * n;
        cfloat* dst = U + gl * n2 + padded_row_offset(r);
        for (index_t j = 0; j < row; ++j) dst[j] = phi[l * n + src + j] * (sc[src + j] * x[src + j]);
      });
      fft_grids(U, grids, FFTW_FORWARD);
      parallel_for_blocks(n2, index_t{1} << 10, [&](index_t f, index_t k) { mix_segments(U, V, g, f, k); });
      fft_grids(V, grids, FFTW_BACKWARD);
      parallel_for(rows, [&](index_t r) {
        const index_t src = r * row, po = padded_row_offset(r);
        for (index_t j = 0; j < row; ++j) {
          cfloat acc(0);
          for (index_t gi = 0; gi < g; ++gi) {
            cfloat a(0);
            for (index_t l = 0; l < L; ++l) a += std::conj(phi[l * n + src + j]) * V[(gi * L + l) * n2 + po + j];
            acc += std::conj(s[(c0 + gi) * n + src + j]) * a;
          }
          out[src + j] += acc;
        }
      });
    }
  }
  // V_gl[i] = sum_l' H_ll'[i] U_gl'[i] for i in [f, f + k), H_ll' = conj(H_l'l) below the diagonal. Real and
  // imaginary parts written out so that the loop vectorises (std::complex products do not, without
  // -fcx-limited-range).
  void mix_segments(const cfloat* U, cfloat* V, index_t g, index_t f, index_t k) const {
    const index_t n2 = pad_size(), L = ts_.segments();
    for (index_t gi = 0; gi < g; ++gi)
      for (index_t l = 0; l < L; ++l) {
        float* v = reinterpret_cast<float*>(V + (gi * L + l) * n2 + f);
        std::fill(v, v + 2 * k, 0.f);
        for (index_t lp = 0; lp < L; ++lp) {
          const bool below = lp < l;
          const float* h =
              reinterpret_cast<const float*>(hhat_.data() + (below ? pair_index(lp, l) : pair_index(l, lp)) * n2 + f);
          const float* u = reinterpret_cast<const float*>(U + (gi * L + lp) * n2 + f);
          const float sgn = below ? -1.f : 1.f;  // conj(h): h_im -> -h_im
          for (index_t i = 0; i < k; ++i) {
            const float hr = h[2 * i], hi = sgn * h[2 * i + 1], ur = u[2 * i], ui = u[2 * i + 1];
            v[2 * i] += hr * ur - hi * ui;
            v[2 * i + 1] += hr * ui + hi * ur;
          }
        }
      }
  }

  // The FFT of the Toeplitz kernel h(d) = N^-1 sum_m w_m exp(2 pi i k_m.d / N) on the 2N grid, w_m = 1 (plain)
  // or conj(b_l(t_m)) b_l'(t_m) for each segment pair l <= l' (corrected); one type-1 NUFFT in double each.
  template <class T>
  void make_toeplitz(const T* coords, index_t M) {
    extents<D> N2{};
    index_t n = 1, n2 = 1;
    for (std::size_t d = 0; d < D; ++d) N2[d] = 2 * N_[d], n *= N_[d], n2 *= N2[d];
    nufft_plan<double, D> p2(N2, std::min(1e-7, plan_.tolerance()));
    std::vector<double> k2(static_cast<std::size_t>(M * index_t(D)));
    for (std::size_t i = 0; i < k2.size(); ++i) k2[i] = 2.0 * static_cast<double>(coords[i]);
    p2.set_points(k2.data(), M);
    const index_t L = corrected() ? ts_.segments() : 1, pairs = corrected() ? L * (L + 1) / 2 : 1;
    hhat_ = array<cfloat, 1>(extents<1>{pairs * n2}, uninitialized);
    std::vector<cdouble> w(static_cast<std::size_t>(M), cdouble(1)), h(static_cast<std::size_t>(n2));
    array<cdouble, 1> hc(extents<1>{n2}, uninitialized);
    for (index_t l = 0; l < L; ++l)
      for (index_t lp = l; lp < L; ++lp) {
        if (corrected())
          for (index_t m = 0; m < M; ++m)
            w[static_cast<std::size_t>(m)] = std::conj(cdouble(ts_.coefficient(l, m))) * cdouble(ts_.coefficient(lp, m));
        p2.adjoint(w.data(), h.data(), 1);
        // h (centred: index j <-> d = j - N) -> circular index (d mod 2N), scaled by sqrt(|2N|)/|N| and 1/|2N|
        // (the unnormalised FFT pair), then FFT.
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
        cfloat* dst = hhat_.data() + (corrected() ? pair_index(l, lp) : 0) * n2;
        for (index_t i = 0; i < n2; ++i) dst[i] = cfloat(hc[i]);
      }
  }

  array<cfloat, D + 1> maps_;
  index_t coils_;
  nufft_plan<float, D> plan_;
  bool toeplitz_;
  extents<D> N_{};
  array<cfloat, 1> hhat_;     // Toeplitz kernels' FFTs: 1, or L(L+1)/2 segment pairs
  time_segmentation ts_;       // off-resonance: empty unless corrected()
  array<cfloat, 1> phase_;     // (L, N...) Phi_l = exp(i 2 pi f tau_l)
  mutable array<cfloat, 1> img_, pad_, samples_;
  single_user_flag user_;  // one thread at a time (img_, pad_, samples_)
};

struct cgsense_noncartesian_options {
  float reg = 0;       // Tikhonov lambda (bart pics -l2 lambda)
  int iters = 30;
  double tol = 1e-6;
  double eps = 1e-6;   // NUFFT tolerance
  bool toeplitz = true;
  field_map_correction offresonance;  // field map and sample times, or none
};

template <std::size_t D>
struct cgsense_noncartesian_result {
  array<cfloat, D> image;
  cg_report report;
  time_segmentation segmentation;  // the off-resonance model used (empty without a field map)
};

// samples (coils, M) contiguous; maps (coils, N...); coords (M, D). Returns the image (N...).
template <std::size_t D, class T>
cgsense_noncartesian_result<D> cgsense_noncartesian(const cfloat* samples, strided_view<const cfloat, D + 1> maps,
                                                   const T* coords, index_t M,
                                                   const cgsense_noncartesian_options& o = {}) {
  noncartesian_sense_operator<D> op(maps, coords, M, o.eps, o.toeplitz, o.offresonance);
  const index_t n = op.input_size();
  array<cfloat, 1> b(extents<1>{n}, uninitialized);
  op.adjoint(samples, b.data());
  extents<D> shape{};
  for (std::size_t d = 0; d < D; ++d) shape[d] = maps.shape(d + 1);
  cgsense_noncartesian_result<D> res{array<cfloat, D>(shape), {}, op.segmentation()};
  cg_options co;
  co.iters = o.iters;
  co.tol = o.tol;
  co.reg = o.reg;
  res.report = conjugate_gradient<float>([&](const cfloat* in, cfloat* out) { op.normal(in, out); }, b.data(),
                                         res.image.data(), n, co);
  return res;
}

}  // namespace larmor
