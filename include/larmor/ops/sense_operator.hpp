// larmor/ops/sense_operator.hpp — the Cartesian SENSE encoding operator A = M F S and its adjoint.
//
//   forward:  k_c = M . fftc(S_c x)                          x ([z,] y, x) -> k (coils, [z,] y, x)
//   adjoint:  x   = sum_c conj(S_c) . ifftc(M . k_c)         k -> x
//   normal:   x  -> sum_c conj(S_c) . ifftc(M^2 . fftc(S_c x)) = A^H A x
// S: sensitivity maps (coils, [z,] y, x); M: real sampling weights over ([z,] y, x) (0/1 for a mask);
// fftc/ifftc: the centred unitary FFT over the spatial axes (fft/fft.hpp). The same model as
// `bart pics` with scaling 1 (`-w 1`). Pruessmann KP et al., MRM 46:638 (2001).
//
// Normal operator, two shortcuts:
//  1. ifftc(W . fftc(u)) is a circular convolution, so it commutes with the cyclic shifts of fftc's
//     centring: ifftc(W fftc(u)) = F^-1 diag(ifftshift(W)) F u / N with the plain unnormalised FFTW
//     transforms F, F^-1 (N points). No centring passes.
//  2. Line masks (W depends only on the phase-encode line, (y) or (z, y): every Cartesian pattern that
//     skips whole readouts): F = F_x F_yz and F_x commutes with W, so F_x^-1 W F_x F_yz = W F_yz and
//         A^H A x = sum_c conj(S_c) F_yz^-1 W' F_yz (S_c x) / N_yz
//     — only 1D (2D in 3D) FFTs along the phase-encode axes, no FFT along x at all. The operator then
//     keeps images in an internal x-major layout (x, [z,] y) and the maps as (x, coils, [z,] y), so
//     each readout position x is one cache-resident batch: expand over coils, FFT, weight, inverse FFT,
//     reduce — the coil-expanded data never exists in memory as a whole.
// General point masks (Poisson disc, variable density over (y, x)) use full FFTs over the spatial axes
// on one coil-expanded buffer (coils x image), allocated once and reused by every call.
//
// Threads: parallel over readout positions (line masks; FFTW single-threaded inside) or over coils and
// pixels with multi-threaded FFTs (point masks). An operator object is not safe to use from two threads
// at once (its work buffers are reused); make one per thread.
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "larmor/core/check_finite.hpp"
#include "larmor/core/array.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/core/single_user.hpp"
#include "larmor/fft/fft.hpp"
#include "larmor/kernels/coil_kernels.hpp"
#include "larmor/sampling/lattice.hpp"

namespace larmor {

namespace detail {

// dst[j * ld_dst + i] = src[i * ld_src + j] for an (rows x cols) block, tiled.
inline void transpose_block(const cfloat* src, index_t ld_src, cfloat* dst, index_t ld_dst, index_t rows,
                            index_t cols) {
  constexpr index_t t = 32;
  for (index_t i0 = 0; i0 < rows; i0 += t)
    for (index_t j0 = 0; j0 < cols; j0 += t) {
      const index_t i1 = std::min(rows, i0 + t), j1 = std::min(cols, j0 + t);
      for (index_t i = i0; i < i1; ++i)
        for (index_t j = j0; j < j1; ++j) dst[j * ld_dst + i] = src[i * ld_src + j];
    }
}

// Maps as (coils, ...) whatever the caller passed: (coils, ...) or (1, coils, ...).
template <std::size_t R>
strided_view<const cfloat, R> single_map_set(const char* func, strided_view<const cfloat, R + 1> maps) {
  LARMOR_CHECK_ARG(maps.shape(0) == 1, func, ": maps (maps, coils, ...) must hold one set of maps, got shape ",
                   shape_string(maps.shape()), " (several sets are not supported)");
  return maps.slice(0);
}

// True when any sample is not 0.
template <std::size_t R>
bool any_nonzero(strided_view<const cfloat, R> v) {
  if (v.is_contiguous()) {
    const float* p = reinterpret_cast<const float*>(v.data());
    bool any = false;
    for (index_t i = 0; i < 2 * v.size(); ++i) any |= p[i] != 0.f;
    return any;
  }
  bool any = false;
  for_each_index(v.shape(), [&](const extents<R>& i) { any |= v[i] != cfloat(0.f, 0.f); });
  return any;
}

// The checks every SENSE-type reconstruction makes on k-space (coils, [z,] y, x) and maps.
template <std::size_t R>
void check_sense_inputs(const char* func, strided_view<const cfloat, R> kspace, strided_view<const cfloat, R> maps) {
  static_assert(R == 3 || R == 4, "k-space is (coils, y, x) or (coils, z, y, x)");
  LARMOR_CHECK_ARG(kspace.size() > 0, func, ": kspace is empty, shape ", shape_string(kspace.shape()));
  LARMOR_CHECK_ARG(maps.shape() == kspace.shape(), func, ": maps have shape ", shape_string(maps.shape()),
                   " but kspace (coils, ", R == 4 ? "z, " : "", "y, x) has shape ", shape_string(kspace.shape()),
                   "; expected equal shapes");
  check_finite(func, "kspace", kspace);
  check_finite(func, "maps", maps);
  LARMOR_CHECK_DATA(any_nonzero(kspace), func, ": kspace is all zero (no acquired samples)");
  LARMOR_CHECK_DATA(any_nonzero(maps), func, ": maps are all zero");
}

// ifftshift over every axis of a row-major (n[0], n[1], ...) array: out[i] = in[(i + n/2) mod n] per axis.
template <class T>
std::vector<T> ifftshift_all(const std::vector<T>& in, const std::vector<index_t>& n) {
  std::vector<T> out(in.size());
  const std::size_t d = n.size();
  std::vector<index_t> idx(d, 0);
  for (std::size_t flat = 0; flat < in.size(); ++flat) {
    index_t src = 0;
    for (std::size_t a = 0; a < d; ++a) src = src * n[a] + (idx[a] + n[a] / 2) % n[a];
    out[flat] = in[static_cast<std::size_t>(src)];
    for (std::size_t a = d; a-- > 0;) {
      if (++idx[a] < n[a]) break;
      idx[a] = 0;
    }
  }
  return out;
}

// x = sum_c conj(S_c) ifftc(M k_c) over the spatial axes, for k-space and maps (coils, [z,] y, x) and
// weights M: one per line (z, y) when per_line, else one per pixel, or none (nullptr: M = 1).
// The coil-expanded copy of k is the one big temporary.
template <std::size_t R>
array<cfloat, R - 1> sense_adjoint(strided_view<const cfloat, R> k, strided_view<const cfloat, R> maps,
                                   const float* weights, bool per_line) {
  const index_t nc = k.shape(0), npix = k.size() / std::max<index_t>(nc, 1), nx = k.shape(R - 1);
  array<cfloat, R> tmp = to_array(k);
  if (weights != nullptr)
    parallel_for(nc, [&](index_t c) {
      cfloat* kc = tmp.data() + c * npix;
      for (index_t p = 0; p < npix; ++p) kc[p] *= weights[per_line ? p / nx : p];
    });
  ifftc_inplace(tmp.view(), R == 3 ? axis_list{1, 2} : axis_list{1, 2, 3});
  array<cfloat, R> mc_owned;
  const cfloat* mc = contiguous_data(maps, mc_owned);
  extents<R - 1> sp{};
  for (std::size_t a = 1; a < R; ++a) sp[a - 1] = k.shape(a);
  array<cfloat, R - 1> x(sp, uninitialized);
  constexpr index_t block = 4096;
  parallel_for_blocks(npix, block, [&](index_t p0, index_t n) {
    kernels::cmul_conj(mc + p0, tmp.data() + p0, x.data() + p0, n);
    for (index_t c = 1; c < nc; ++c) kernels::cmac_conj(mc + c * npix + p0, tmp.data() + c * npix + p0, x.data() + p0, n);
  });
  return x;
}

}  // namespace detail

// A = M F S for maps (coils, [z,] y, x) and sampling weights ([z,] y, x). D = 2 or 3 spatial axes.
template <std::size_t D>
class sense_operator {
  static_assert(D == 2 || D == 3, "sense_operator: 2D (coils, y, x) or 3D (coils, z, y, x)");
  static constexpr std::size_t R = D + 1;

 public:
  // weights: ([z,] y, x), real, >= 0; 0/1 for a sampling mask. Maps are copied.
  sense_operator(strided_view<const cfloat, R> maps, strided_view<const float, D> weights) {
    extents<D> sp{};
    for (std::size_t a = 0; a < D; ++a) sp[a] = maps.shape(a + 1);
    LARMOR_CHECK_ARG(weights.shape() == sp, "sense_operator: mask has shape ", shape_string(weights.shape()),
                     " but the maps' image shape is ", shape_string(sp));
    init(maps, to_array(weights));
  }
  // A line mask (nz, ny) from acquired_lines: 1 on acquired lines, every readout sample.
  sense_operator(strided_view<const cfloat, R> maps, const line_mask& lines) {
    const index_t nz = D == 3 ? maps.shape(1) : 1, ny = maps.shape(R - 2), nx = maps.shape(R - 1);
    LARMOR_CHECK_ARG(lines.nz == nz && lines.ny == ny, "sense_operator: line mask is (", lines.nz, ", ", lines.ny,
                     ") lines (z, y) but the maps have (", nz, ", ", ny, ")");
    extents<D> sp{};
    for (std::size_t a = 0; a < D; ++a) sp[a] = maps.shape(a + 1);
    array<float, D> w(sp, uninitialized);
    for (index_t l = 0; l < nz * ny; ++l)
      std::fill(w.data() + l * nx, w.data() + (l + 1) * nx, lines.acquired[static_cast<std::size_t>(l)] ? 1.f : 0.f);
    init(maps, std::move(w));
  }

  index_t coils() const { return nc_; }
  const extents<D>& image_shape() const { return shape_; }
  index_t image_size() const { return npix_; }
  // True when the mask depends only on the phase-encode line (the normal operator skips the x FFT).
  bool line_mode() const { return line_mode_; }

  // k (coils, [z,] y, x) = M fftc(S x).
  array<cfloat, R> forward(strided_view<const cfloat, D> x) const {
    const single_user_scope one(user_, "sense_operator");
    check_image("forward", x);
    const auto xc = to_array(x);
    std_maps_cache();
    array<cfloat, R> k(coil_shape(), uninitialized);
    parallel_for(nc_, [&](index_t c) { kernels::cmul(maps_std(c), xc.data(), k.data() + c * npix_, npix_); });
    fftc_inplace(k.view(), spatial_axes());
    apply_weights(k.data(), weights_.data());
    return k;
  }

  // x ([z,] y, x) = sum_c conj(S_c) ifftc(M k_c).
  array<cfloat, D> adjoint(strided_view<const cfloat, R> k) const {
    LARMOR_CHECK_ARG(k.shape() == coil_shape(), "sense_operator::adjoint: k has shape ", shape_string(k.shape()),
                     ", expected ", shape_string(coil_shape()));
    const single_user_scope one(user_, "sense_operator");
    std_maps_cache();
    array<cfloat, R> tmp = to_array(k);
    apply_weights(tmp.data(), weights_.data());
    ifftc_inplace(tmp.view(), spatial_axes());
    array<cfloat, D> x(shape_, uninitialized);
    reduce_coils(tmp.data(), x.data());
    return x;
  }

  // x -> A^H A x (standard layout).
  array<cfloat, D> normal(strided_view<const cfloat, D> x) const {
    check_image("normal", x);
    array<cfloat, 1> in({npix_}, uninitialized), out({npix_}, uninitialized);
    to_internal(x, in.data());
    normal_internal(in.data(), out.data());
    array<cfloat, D> y(shape_, uninitialized);
    from_internal(out.data(), y.view());
    return y;
  }

  // ---- the solver interface: images as flat vectors in the operator's internal layout
  // (x, [z,] y) in line mode, ([z,] y, x) otherwise.
  void to_internal(strided_view<const cfloat, D> x, cfloat* out) const {
    const auto xc = to_array(x);
    if (!line_mode_) {
      std::copy(xc.begin(), xc.end(), out);
      return;
    }
    const index_t nl = npix_ / nx_;
    parallel_for((nl + 63) / 64, [&](index_t b) {
      const index_t l0 = b * 64, n = std::min<index_t>(64, nl - l0);
      detail::transpose_block(xc.data() + l0 * nx_, nx_, out + l0, nl, n, nx_);
    });
  }
  void from_internal(const cfloat* in, strided_view<cfloat, D> x) const {
    array<cfloat, D> tmp(shape_, uninitialized);
    if (!line_mode_) {
      std::copy(in, in + npix_, tmp.data());
    } else {
      const index_t nl = npix_ / nx_;
      parallel_for((nx_ + 63) / 64, [&](index_t b) {
        const index_t x0 = b * 64, n = std::min<index_t>(64, nx_ - x0);
        detail::transpose_block(in + x0 * nl, nl, tmp.data() + x0, nx_, n, nl);
      });
    }
    copy(tmp.cview(), x);
  }
  // out = A^H A in, both npix samples in the internal layout (must not alias).
  void normal_internal(const cfloat* in, cfloat* out) const {
    const single_user_scope one(user_, "sense_operator");
    if (line_mode_)
      normal_lines(in, out);
    else
      normal_points(in, out);
  }

 private:
  void init(strided_view<const cfloat, R> maps, array<float, D> w) {
    nc_ = maps.shape(0);
    for (std::size_t a = 0; a < D; ++a) shape_[a] = maps.shape(a + 1);
    npix_ = checked_size(shape_);
    nx_ = shape_[D - 1];
    LARMOR_CHECK_ARG(nc_ >= 1 && npix_ > 0, "sense_operator: maps have shape ", shape_string(maps.shape()),
                     ", need at least one coil and one pixel");
    for (float v : w) LARMOR_CHECK_ARG(std::isfinite(v) && v >= 0.f, "sense_operator: mask weights must be finite and >= 0, got ", v);
    weights_ = std::move(w);
    // Line mode: every line constant along x.
    line_mode_ = true;
    const index_t nl = npix_ / nx_;
    for (index_t l = 0; l < nl && line_mode_; ++l)
      for (index_t x = 1; x < nx_; ++x)
        if (weights_[l * nx_ + x] != weights_[l * nx_]) {
          line_mode_ = false;
          break;
        }
    if (line_mode_) {
      array<cfloat, R> owned;
      const cfloat* mc = contiguous_data(maps, owned);
      // W' = ifftshift(M^2) / N_yz over the lines; maps (x, coils, lines).
      std::vector<float> w2(static_cast<std::size_t>(nl));
      for (index_t l = 0; l < nl; ++l) w2[static_cast<std::size_t>(l)] = weights_[l * nx_] * weights_[l * nx_];
      std::vector<index_t> ln(shape_.begin(), shape_.end() - 1);
      line_weights_ = detail::ifftshift_all(w2, ln);
      for (auto& v : line_weights_) v /= static_cast<float>(nl);
      maps_ = array<cfloat, 1>({nc_ * npix_}, uninitialized);
      parallel_for(nc_, [&](index_t c) {
        for (index_t l0 = 0; l0 < nl; l0 += 64)
          detail::transpose_block(mc + c * npix_ + l0 * nx_, nx_, maps_.data() + c * nl + l0, nc_ * nl,
                                  std::min<index_t>(64, nl - l0), nx_);
      });
      // Per-thread batches: (coils, lines) for one readout position.
      const int nt = std::max(1, num_threads());
      for (int t = 0; t < nt; ++t) batch_.emplace_back(extents<1>{nc_ * nl}, uninitialized);
      std::vector<index_t> bshape{nc_};
      for (std::size_t a = 0; a + 1 < D; ++a) bshape.push_back(shape_[a]);
      const unsigned mask = D == 2 ? 2u : 6u;
      plan_fwd_ = fftw_plan_cache<float>::instance().plan(bshape, mask, FFTW_FORWARD, batch_[0].data(),
                                                           batch_[0].data(), 1);
      plan_bwd_ = fftw_plan_cache<float>::instance().plan(bshape, mask, FFTW_BACKWARD, batch_[0].data(),
                                                           batch_[0].data(), 1);
    } else {
      std::vector<float> w2(static_cast<std::size_t>(npix_));
      for (index_t p = 0; p < npix_; ++p) w2[static_cast<std::size_t>(p)] = weights_[p] * weights_[p];
      std::vector<index_t> sn(shape_.begin(), shape_.end());
      point_weights_ = detail::ifftshift_all(w2, sn);
      for (auto& v : point_weights_) v /= static_cast<float>(npix_);
      maps_ = to_array(maps).reshape(extents<1>{nc_ * npix_});
      expanded_ = array<cfloat, 1>({nc_ * npix_}, uninitialized);
      std::vector<index_t> bshape{nc_};
      for (std::size_t a = 0; a < D; ++a) bshape.push_back(shape_[a]);
      const unsigned mask = D == 2 ? 6u : 14u;
      const int threads = npix_ * nc_ < (index_t{1} << 16) ? 1 : num_threads();
      plan_fwd_ = fftw_plan_cache<float>::instance().plan(bshape, mask, FFTW_FORWARD, expanded_.data(),
                                                           expanded_.data(), threads);
      plan_bwd_ = fftw_plan_cache<float>::instance().plan(bshape, mask, FFTW_BACKWARD, expanded_.data(),
                                                           expanded_.data(), threads);
    }
  }

  extents<R> coil_shape() const {
    extents<R> s{};
    s[0] = nc_;
    for (std::size_t a = 0; a < D; ++a) s[a + 1] = shape_[a];
    return s;
  }
  static axis_list spatial_axes() { return D == 2 ? axis_list{1, 2} : axis_list{1, 2, 3}; }
  void check_image(const char* what, strided_view<const cfloat, D> x) const {
    LARMOR_CHECK_ARG(x.shape() == shape_, "sense_operator::", what, ": image has shape ", shape_string(x.shape()),
                     ", expected ", shape_string(shape_));
  }
  // Coil c of the maps in the standard layout ([z,] y, x); in line mode after std_maps_cache().
  const cfloat* maps_std(index_t c) const {
    return (line_mode_ ? std_maps_.data() : maps_.data()) + c * npix_;
  }
  // Line mode keeps the maps transposed; forward/adjoint make a standard-layout copy on first use.
  void std_maps_cache() const {
    if (!line_mode_ || std_maps_.size() > 0) return;
    const index_t nl = npix_ / nx_;
    std_maps_ = array<cfloat, 1>({nc_ * npix_}, uninitialized);
    parallel_for(nc_, [&](index_t c) {
      detail::transpose_block(maps_.data() + c * nl, nc_ * nl, std_maps_.data() + c * npix_, nx_, nx_, nl);
    });
  }
  // k[c, p] *= w[p] for coil-expanded standard-layout data.
  void apply_weights(cfloat* k, const float* w) const {
    parallel_for(nc_, [&](index_t c) {
      cfloat* kc = k + c * npix_;
      for (index_t p = 0; p < npix_; ++p) kc[p] *= w[p];
    });
  }
  // out[p] = sum_c conj(S_c[p]) img[c, p] (standard layout).
  void reduce_coils(const cfloat* img, cfloat* out) const {
    constexpr index_t block = 4096;
    parallel_for_blocks(npix_, block, [&](index_t p0, index_t n) {
      kernels::cmul_conj(maps_std(0) + p0, img + p0, out + p0, n);
      for (index_t c = 1; c < nc_; ++c) kernels::cmac_conj(maps_std(c) + p0, img + c * npix_ + p0, out + p0, n);
    });
  }

  void normal_lines(const cfloat* in, cfloat* out) const {
    const index_t nl = npix_ / nx_;
    const int nt = static_cast<int>(batch_.size());
    parallel_for(nt, [&](index_t t) {
      const index_t x0 = nx_ * t / nt, x1 = nx_ * (t + 1) / nt;
      cfloat* buf = batch_[static_cast<std::size_t>(t)].data();
      for (index_t x = x0; x < x1; ++x) {
        const cfloat* s = maps_.data() + x * nc_ * nl;
        const cfloat* img = in + x * nl;
        for (index_t c = 0; c < nc_; ++c) kernels::cmul(s + c * nl, img, buf + c * nl, nl);
        plan_fwd_->execute(buf, buf);
        const float* w = line_weights_.data();
        for (index_t c = 0; c < nc_; ++c) {
          cfloat* b = buf + c * nl;
          for (index_t l = 0; l < nl; ++l) b[l] *= w[l];
        }
        plan_bwd_->execute(buf, buf);
        cfloat* o = out + x * nl;
        kernels::cmul_conj(s, buf, o, nl);
        for (index_t c = 1; c < nc_; ++c) kernels::cmac_conj(s + c * nl, buf + c * nl, o, nl);
      }
    });
  }

  void normal_points(const cfloat* in, cfloat* out) const {
    constexpr index_t block = 4096;
    const index_t nb = (npix_ + block - 1) / block;
    cfloat* e = expanded_.data();
    parallel_for(nc_ * nb, [&](index_t i) {
      const index_t c = i / nb, p0 = (i % nb) * block, n = std::min(block, npix_ - p0);
      kernels::cmul(maps_.data() + c * npix_ + p0, in + p0, e + c * npix_ + p0, n);
    });
    plan_fwd_->execute(e, e);
    const float* w = point_weights_.data();
    parallel_for(nc_ * nb, [&](index_t i) {
      const index_t c = i / nb, p0 = (i % nb) * block, n = std::min(block, npix_ - p0);
      cfloat* ec = e + c * npix_ + p0;
      for (index_t p = 0; p < n; ++p) ec[p] *= w[p0 + p];
    });
    plan_bwd_->execute(e, e);
    parallel_for_blocks(npix_, block, [&](index_t p0, index_t n) {
      kernels::cmul_conj(maps_.data() + p0, e + p0, out + p0, n);
      for (index_t c = 1; c < nc_; ++c) kernels::cmac_conj(maps_.data() + c * npix_ + p0, e + c * npix_ + p0, out + p0, n);
    });
  }

  index_t nc_ = 0, npix_ = 0, nx_ = 0;
  extents<D> shape_{};
  array<float, D> weights_;             // M, standard layout
  bool line_mode_ = false;
  std::vector<float> line_weights_;     // ifftshift(M^2) / N_yz per line (line mode)
  std::vector<float> point_weights_;    // ifftshift(M^2) / N per pixel (point mode)
  array<cfloat, 1> maps_;               // (x, coils, lines) in line mode, (coils, pixels) otherwise
  mutable array<cfloat, 1> std_maps_;   // (coils, pixels) copy for forward/adjoint in line mode, on demand
  mutable std::vector<array<cfloat, 1>> batch_;  // per-thread (coils, lines) work buffers (line mode)
  mutable array<cfloat, 1> expanded_;
  single_user_flag user_;               // one thread at a time (the buffers above)   // (coils, pixels) work buffer (point mode)
  std::shared_ptr<const fftw_plan_handle<float>> plan_fwd_;
  std::shared_ptr<const fftw_plan_handle<float>> plan_bwd_;
};

}  // namespace larmor
