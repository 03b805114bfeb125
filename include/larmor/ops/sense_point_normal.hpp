// larmor/ops/sense_point_normal.hpp — the Cartesian SENSE normal operator A^H A for point masks (Poisson
// disc, variable density over every spatial axis), fused per coil.
//
//   A^H A x = sum_c conj(S_c) . F^-1 diag(W') F (S_c . x),   W' = ifftshift(M^2) / N
// with the plain unnormalised FFTW transforms F, F^-1 over all D spatial axes (N points): the centring
// shifts of fftc/ifftc cancel around a diagonal, as in ops/sense_operator.hpp. The same values as
// sense_operator::normal_internal in point mode, computed differently: the coils are split over the
// threads, and each thread runs coil after coil through ONE image-sized buffer (expand with the map, FFT
// in place with a single-threaded plan reused for every call, weight, inverse FFT, multiply-accumulate
// into its own sum), so the working set per thread is two images (cache resident at 256^2) instead of
// the coil-expanded array streamed through memory five times; the per-thread sums are added at the end.
// Memory: the maps (one copy), 2 images per thread.
// Images are ([z,] y, x) row-major flat vectors, maps (coils, [z,] y, x). Threads: parallel over coils;
// not for two threads at once (work buffers).
#pragma once

#include <algorithm>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/fft/fft.hpp"
#include "larmor/kernels/coil_kernels.hpp"

namespace larmor {

class sense_point_normal {
 public:
  // maps: nc * prod(shape) samples (coils, [z,] y, x), copied; weights: nsets * prod(shape) real weights M
  // (standard layout, not shifted): one mask per set (e.g. per frame of dynamic data; apply's `set`).
  sense_point_normal(const cfloat* maps, index_t nc, const std::vector<index_t>& shape, const float* weights,
                     index_t nsets = 1)
      : nc_(nc), nsets_(nsets), shape_(shape) {
    LARMOR_CHECK_ARG(nc >= 1 && nsets >= 1 && !shape.empty() && shape.size() <= 3,
                     "sense_point_normal: need >= 1 coil, >= 1 mask and 1 to 3 axes");
    npix_ = 1;
    for (index_t s : shape) npix_ *= s;
    maps_ = array<cfloat, 1>({nc * npix_}, uninitialized);
    std::copy(maps, maps + nc * npix_, maps_.data());
    // W' = ifftshift(M^2) / N
    w_.resize(static_cast<std::size_t>(nsets * npix_));
    const std::size_t d = shape.size();
    for (index_t set = 0; set < nsets; ++set) {
      std::vector<index_t> idx(d, 0);
      const float* ws = weights + set * npix_;
      for (index_t flat = 0; flat < npix_; ++flat) {
        index_t src = 0;
        for (std::size_t a = 0; a < d; ++a) src = src * shape[a] + (idx[a] + shape[a] / 2) % shape[a];
        w_[static_cast<std::size_t>(set * npix_ + flat)] = ws[src] * ws[src] / static_cast<float>(npix_);
        for (std::size_t a = d; a-- > 0;) {
          if (++idx[a] < shape[a]) break;
          idx[a] = 0;
        }
      }
    }
    nt_ = static_cast<int>(std::min<index_t>(std::max(1, num_threads()), nc));
    for (int t = 0; t < 2 * nt_; ++t) work_.emplace_back(extents<1>{npix_}, uninitialized);
    const unsigned mask = (1u << d) - 1u;
    fwd_ = &fftw_plan_cache<float>::instance().plan(shape_, mask, FFTW_FORWARD, work_[0].data(), work_[0].data(), 1);
    bwd_ = &fftw_plan_cache<float>::instance().plan(shape_, mask, FFTW_BACKWARD, work_[0].data(), work_[0].data(), 1);
  }

  index_t coils() const { return nc_; }
  index_t image_size() const { return npix_; }

  index_t sets() const { return nsets_; }

  // out = A^H A in (npix samples each, must not alias), with the mask of `set`.
  void apply(const cfloat* in, cfloat* out, index_t set = 0) const {
    LARMOR_CHECK_ARG(set >= 0 && set < nsets_, "sense_point_normal: mask set ", set, " of ", nsets_);
    parallel_for(nt_, [&](index_t t) {
      const index_t c0 = nc_ * t / nt_, c1 = nc_ * (t + 1) / nt_;
      cfloat* buf = work_[static_cast<std::size_t>(2 * t)].data();
      cfloat* acc = t == 0 ? out : work_[static_cast<std::size_t>(2 * t + 1)].data();
      const float* w = w_.data() + set * npix_;
      for (index_t c = c0; c < c1; ++c) {
        const cfloat* s = maps_.data() + c * npix_;
        kernels::cmul(s, in, buf, npix_);
        fwd_->execute(buf, buf);
        for (index_t p = 0; p < npix_; ++p) buf[p] *= w[p];
        bwd_->execute(buf, buf);
        if (c == c0)
          kernels::cmul_conj(s, buf, acc, npix_);
        else
          kernels::cmac_conj(s, buf, acc, npix_);
      }
      if (c1 == c0) std::fill(acc, acc + npix_, cfloat(0.f, 0.f));
    });
    if (nt_ > 1)
      parallel_for_blocks(npix_, 4096, [&](index_t p0, index_t n) {
        for (int t = 1; t < nt_; ++t) {
          const cfloat* a = work_[static_cast<std::size_t>(2 * t + 1)].data();
          for (index_t p = p0; p < p0 + n; ++p) out[p] += a[p];
        }
      });
  }

 private:
  index_t nc_ = 0, nsets_ = 1, npix_ = 0;
  std::vector<index_t> shape_;
  array<cfloat, 1> maps_;
  std::vector<float> w_;
  int nt_ = 1;
  mutable std::vector<array<cfloat, 1>> work_;  // per thread: buffer, partial sum
  const fftw_plan_handle<float>* fwd_ = nullptr;
  const fftw_plan_handle<float>* bwd_ = nullptr;
};

}  // namespace larmor
