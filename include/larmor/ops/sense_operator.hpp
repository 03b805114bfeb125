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
//     keeps images in an internal x-major layout (x, [z,] y). Maps up to 256 MiB are copied once,
//     transposed to (x, coils, lines), and each readout position x is one cache-resident batch: expand
//     over coils, FFT, weight, inverse FFT, reduce. Larger maps (3D volumes at many coils) are not
//     duplicated: the caller's (coils, [z,] y, x) maps are read 8 readout positions at a time (one 64-byte
//     cache line per map line) into a per-thread panel. The coil-expanded data never exists whole.
// General point masks (Poisson disc, variable density over (y, x)) use the fused per-coil normal operator
// of ops/sense_point_normal.hpp (two images per coil group).
// The adjoint runs coil by coil through one image-sized buffer. Memory beyond the caller's maps and the
// output: at most 256 MiB of transposed maps, else threads x (8 + 1) x coils x lines, at most a quarter of the
// maps (line mode), or two
// images per coil group (point mode) — never a copy of 3D-sized coil data (docs/scale.md, "Memory of the iterative methods").
//
// Threads: parallel over blocks of readout positions (line masks; FFTW single-threaded inside) or over
// coil groups (point masks); every sum runs in a fixed order, so results do not depend on the thread
// count. An operator object is not safe to use from two threads at once (its work buffers are reused;
// checked: core/single_user.hpp); make one per thread.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "larmor/core/check_finite.hpp"
#include "larmor/core/array.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/core/single_user.hpp"
#include "larmor/fft/fft.hpp"
#include "larmor/kernels/coil_kernels.hpp"
#include "larmor/ops/sense_point_normal.hpp"
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

// x = sum_c conj(S_c) ifftc(M k_c) over the spatial axes, for k-space (coils, [z,] y, x), contiguous maps
// s (coils, [z,] y, x) and weights M: one per line (z, y) when per_line, else one per pixel, or none
// (nullptr: M = 1). Coil by coil through ONE image-sized buffer (copy and weight, centred inverse FFT on
// all threads, multiply-accumulate in coil order), so no coil-expanded copy of k exists and the sum is
// the same on any thread count.
template <std::size_t R>
array<cfloat, R - 1> sense_adjoint_of(strided_view<const cfloat, R> k, const cfloat* s, const float* weights,
                                      bool per_line) {
  const index_t nc = k.shape(0), nx = k.shape(R - 1);
  extents<R - 1> sp{};
  for (std::size_t a = 1; a < R; ++a) sp[a - 1] = k.shape(a);
  const index_t npix = checked_size(sp);
  array<cfloat, R - 1> x(sp, uninitialized), buf(sp, uninitialized);
  axis_list all;
  for (std::size_t a = 0; a + 1 < R; ++a) all.push_back(static_cast<int>(a));
  constexpr index_t block = 4096;
  for (index_t c = 0; c < nc; ++c) {
    copy(k.slice(c), buf.view());
    if (weights != nullptr)
      parallel_for_blocks(npix, block, [&](index_t p0, index_t n) {
        cfloat* b = buf.data();
        for (index_t p = p0; p < p0 + n; ++p) b[p] *= weights[per_line ? p / nx : p];
      });
    ifftc_inplace(buf.view(), all);
    parallel_for_blocks(npix, block, [&](index_t p0, index_t n) {
      if (c == 0)
        kernels::cmul_conj(s + p0, buf.data() + p0, x.data() + p0, n);
      else
        kernels::cmac_conj(s + c * npix + p0, buf.data() + p0, x.data() + p0, n);
    });
  }
  return x;
}

template <std::size_t R>
array<cfloat, R - 1> sense_adjoint(strided_view<const cfloat, R> k, strided_view<const cfloat, R> maps,
                                   const float* weights, bool per_line) {
  array<cfloat, R> owned;
  return sense_adjoint_of(k, contiguous_data(maps, owned), weights, per_line);
}

}  // namespace detail

// A = M F S for maps (coils, [z,] y, x) and sampling weights ([z,] y, x). D = 2 or 3 spatial axes.
// The maps are REFERENCED, not copied (a contiguous copy is made only when the view passed has gaps):
// they must outlive the operator. Line mode keeps a transposed copy of maps up to copy_max_bytes
// (default 256 MiB; 0: never) for speed. No method holds a coil-expanded copy of anything beyond its
// own output (forward's k-space).
template <std::size_t D>
class sense_operator {
  static_assert(D == 2 || D == 3, "sense_operator: 2D (coils, y, x) or 3D (coils, z, y, x)");
  static constexpr std::size_t R = D + 1;

 public:
  // Line mode keeps a transposed copy of maps of at most this many bytes (see normal_lines).
  static constexpr double default_copy_max_bytes = 256.0 * (1 << 20);

  // weights: ([z,] y, x), real, >= 0; 0/1 for a sampling mask.
  sense_operator(strided_view<const cfloat, R> maps, strided_view<const float, D> weights,
                 double copy_max_bytes = default_copy_max_bytes)
      : copy_max_bytes_(copy_max_bytes) {
    extents<D> sp{};
    for (std::size_t a = 0; a < D; ++a) sp[a] = maps.shape(a + 1);
    LARMOR_CHECK_ARG(weights.shape() == sp, "sense_operator: mask has shape ", shape_string(weights.shape()),
                     " but the maps' image shape is ", shape_string(sp));
    init(maps, to_array(weights));
  }
  // A line mask (nz, ny) from acquired_lines: 1 on acquired lines, every readout sample.
  sense_operator(strided_view<const cfloat, R> maps, const line_mask& lines,
                 double copy_max_bytes = default_copy_max_bytes)
      : copy_max_bytes_(copy_max_bytes) {
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
  // True when line mode keeps its own transposed copy of the maps.
  bool copies_maps() const { return maps_x_.size() > 0; }

  // k (coils, [z,] y, x) = M fftc(S x).
  array<cfloat, R> forward(strided_view<const cfloat, D> x) const {
    const single_user_scope one(user_, "sense_operator");
    check_image("forward", x);
    const auto xc = to_array(x);
    array<cfloat, R> k(coil_shape(), uninitialized);
    parallel_for(nc_, [&](index_t c) { kernels::cmul(maps_ + c * npix_, xc.data(), k.data() + c * npix_, npix_); });
    fftc_inplace(k.view(), spatial_axes());
    parallel_for(nc_, [&](index_t c) {
      cfloat* kc = k.data() + c * npix_;
      for (index_t p = 0; p < npix_; ++p) kc[p] *= weights_[p];
    });
    return k;
  }

  // x ([z,] y, x) = sum_c conj(S_c) ifftc(M k_c), coil by coil (detail::sense_adjoint_of).
  array<cfloat, D> adjoint(strided_view<const cfloat, R> k) const {
    LARMOR_CHECK_ARG(k.shape() == coil_shape(), "sense_operator::adjoint: k has shape ", shape_string(k.shape()),
                     ", expected ", shape_string(coil_shape()));
    const single_user_scope one(user_, "sense_operator");
    return detail::sense_adjoint_of(k, maps_, weights_.data(), false);
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
      points_->apply(in, out);
  }

 private:
  // Readout positions per line-mode batch: 8 complex floats are one 64-byte cache line of the maps, so
  // reading the standard-layout maps (coils, lines, x) 8 positions at a time reads each line once.
  static constexpr index_t line_block = 8;

  void init(strided_view<const cfloat, R> maps, array<float, D> w) {
    nc_ = maps.shape(0);
    for (std::size_t a = 0; a < D; ++a) shape_[a] = maps.shape(a + 1);
    npix_ = checked_size(shape_);
    nx_ = shape_[D - 1];
    LARMOR_CHECK_ARG(nc_ >= 1 && npix_ > 0, "sense_operator: maps have shape ", shape_string(maps.shape()),
                     ", need at least one coil and one pixel");
    for (float v : w) LARMOR_CHECK_ARG(std::isfinite(v) && v >= 0.f, "sense_operator: mask weights must be finite and >= 0, got ", v);
    weights_ = std::move(w);
    maps_ = contiguous_data(maps, maps_owned_);
    // Line mode: every line constant along x.
    line_mode_ = true;
    const index_t nl = npix_ / nx_;
    for (index_t l = 0; l < nl && line_mode_; ++l)
      for (index_t x = 1; x < nx_; ++x)
        if (weights_[l * nx_ + x] != weights_[l * nx_]) {
          line_mode_ = false;
          break;
        }
    if (!line_mode_) {
      points_ = std::make_unique<sense_point_normal>(maps_, nc_, std::vector<index_t>(shape_.begin(), shape_.end()),
                                                     weights_.data());
      return;
    }
    // W' = ifftshift(M^2) / N_yz over the lines.
    std::vector<float> w2(static_cast<std::size_t>(nl));
    for (index_t l = 0; l < nl; ++l) w2[static_cast<std::size_t>(l)] = weights_[l * nx_] * weights_[l * nx_];
    std::vector<index_t> ln(shape_.begin(), shape_.end() - 1);
    line_weights_ = detail::ifftshift_all(w2, ln);
    for (auto& v : line_weights_) v /= static_cast<float>(nl);
    // Maps of at most copy_max_bytes_ are kept once more, transposed to (x, coils, lines),
    // so that every position's maps are one contiguous run (~25 % faster than gathering them); larger
    // maps (3D volumes at many coils) are gathered per block instead of being duplicated.
    if (static_cast<double>(nc_) * static_cast<double>(npix_) * sizeof(cfloat) <= copy_max_bytes_) {
      maps_x_ = array<cfloat, 1>({nc_ * npix_}, uninitialized);
      parallel_for(nc_, [&](index_t c) {
        for (index_t l0 = 0; l0 < nl; l0 += 64)
          detail::transpose_block(maps_ + c * npix_ + l0 * nx_, nx_, maps_x_.data() + c * nl + l0, nc_ * nl,
                                  std::min<index_t>(64, nl - l0), nx_);
      });
    }
    // Per-thread work: a (coils, lines) batch and, without the copy, the block's map panel. Without the
    // copy the workers are also capped so that their panels and batches stay within a quarter of the maps
    // or 256 MiB, whichever is more (many-core machines), and never outnumber the blocks.
    int nt = std::max(1, num_threads());
    if (maps_x_.size() == 0) {
      const double per_worker = static_cast<double>(line_block * panel_stride() + nc_ * nl) * sizeof(cfloat);
      const double budget = std::max(0.25 * static_cast<double>(nc_) * static_cast<double>(npix_) * sizeof(cfloat),
                                     default_copy_max_bytes);
      const index_t nblocks = (nx_ + line_block - 1) / line_block;
      nt = static_cast<int>(std::clamp<double>(std::floor(budget / per_worker), 1.0, std::min<double>(nt, nblocks)));
    }
    for (int t = 0; t < nt; ++t) {
      batch_.emplace_back(extents<1>{nc_ * nl}, uninitialized);
      if (maps_x_.size() == 0) panel_.emplace_back(extents<1>{line_block * panel_stride()}, uninitialized);
    }
    std::vector<index_t> bshape{nc_};
    for (std::size_t a = 0; a + 1 < D; ++a) bshape.push_back(shape_[a]);
    const unsigned mask = D == 2 ? 2u : 6u;
    plan_fwd_ = fftw_plan_cache<float>::instance().plan(bshape, mask, FFTW_FORWARD, batch_[0].data(),
                                                         batch_[0].data(), 1);
    plan_bwd_ = fftw_plan_cache<float>::instance().plan(bshape, mask, FFTW_BACKWARD, batch_[0].data(),
                                                         batch_[0].data(), 1);
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

  // Line mode, one readout position x (internal layout (x, lines)) on one (coils, lines) batch, with
  // s = that position's maps as (coils, lines):
  //   batch[c, :] = s[c, :] . img;  F_yz, weight by W', F_yz^-1 (one FFTW call each);
  //   o = sum_c conj(s[c, :]) . batch[c, :]   (coil order: thread-count independent)
  void normal_position(const cfloat* s, const cfloat* img, cfloat* buf, cfloat* o) const {
    const index_t nl = npix_ / nx_;
    for (index_t c = 0; c < nc_; ++c) kernels::cmul(s + c * nl, img, buf + c * nl, nl);
    plan_fwd_->execute(buf, buf);
    const float* w = line_weights_.data();
    for (index_t c = 0; c < nc_; ++c) {
      cfloat* row = buf + c * nl;
      for (index_t l = 0; l < nl; ++l) row[l] *= w[l];
    }
    plan_bwd_->execute(buf, buf);
    kernels::cmul_conj(s, buf, o, nl);
    for (index_t c = 1; c < nc_; ++c) kernels::cmac_conj(s + c * nl, buf + c * nl, o, nl);
  }

  // With the transposed copy (x, coils, lines): position after position, split over the threads.
  // Without it, line_block positions at a time: the block's maps are gathered from the caller's
  // (coils, lines, x) into a per-thread panel (position, coils, lines) -- each map line's 8 samples are
  // one 64-byte cache line, sent to the 8 positions' rows (a padded row stride keeps those on different
  // cache sets; samples moved as 8-byte words by memcpy; map lines lie nx samples apart, which the hardware
  // prefetchers do not follow, so they are prefetched 16 ahead).
  void normal_lines(const cfloat* in, cfloat* out) const {
    const index_t nl = npix_ / nx_;
    const int nt = static_cast<int>(batch_.size());
    if (maps_x_.size() > 0) {
      parallel_for(nt, [&](index_t t) {
        cfloat* buf = batch_[static_cast<std::size_t>(t)].data();
        for (index_t x = nx_ * t / nt; x < nx_ * (t + 1) / nt; ++x)
          normal_position(maps_x_.data() + x * nc_ * nl, in + x * nl, buf, out + x * nl);
      });
      return;
    }
    const index_t nblocks = (nx_ + line_block - 1) / line_block, ldp = panel_stride();
    parallel_for(nt, [&](index_t t) {
      cfloat* buf = batch_[static_cast<std::size_t>(t)].data();
      cfloat* panel = panel_[static_cast<std::size_t>(t)].data();
      for (index_t b = nblocks * t / nt; b < nblocks * (t + 1) / nt; ++b) {
        const index_t x0 = b * line_block, m = std::min(line_block, nx_ - x0);
        for (index_t c = 0; c < nc_; ++c) {
          const cfloat* src = maps_ + c * npix_ + x0;
          cfloat* dst = panel + c * nl;
          for (index_t l = 0; l < nl; ++l) {
            if (l + 16 < nl) __builtin_prefetch(src + (l + 16) * nx_);
            for (index_t j = 0; j < m; ++j) std::memcpy(dst + j * ldp + l, src + l * nx_ + j, sizeof(cfloat));
          }
        }
        for (index_t j = 0; j < m; ++j)
          normal_position(panel + j * ldp, in + (x0 + j) * nl, buf, out + (x0 + j) * nl);
      }
    });
  }
  // Samples between two positions of the gathered panel: coils x lines, padded by 24 samples (192 bytes)
  // so that the 8 positions do not fall on one cache set when coils x lines x 8 bytes is a multiple of 4 KiB.
  index_t panel_stride() const { return nc_ * (npix_ / nx_) + 24; }

  index_t nc_ = 0, npix_ = 0, nx_ = 0;
  extents<D> shape_{};
  array<float, D> weights_;             // M, standard layout
  bool line_mode_ = false;
  const cfloat* maps_ = nullptr;         // (coils, [z,] y, x): the caller's, or maps_owned_
  array<cfloat, R> maps_owned_;          // a contiguous copy, only when the caller's view has gaps
  std::vector<float> line_weights_;     // ifftshift(M^2) / N_yz per line (line mode)
  mutable std::vector<array<cfloat, 1>> batch_;  // per thread: (coils, lines) (line mode)
  mutable std::vector<array<cfloat, 1>> panel_;  // per thread, without maps_x_: (line_block, coils, lines)
  double copy_max_bytes_ = default_copy_max_bytes;
  array<cfloat, 1> maps_x_;              // line mode, maps <= copy_max_bytes_: (x, coils, lines)
  std::unique_ptr<sense_point_normal> points_;   // the normal operator for point masks
  single_user_flag user_;               // one thread at a time (the buffers above)
  std::shared_ptr<const fftw_plan_handle<float>> plan_fwd_;
  std::shared_ptr<const fftw_plan_handle<float>> plan_bwd_;
};

}  // namespace larmor
