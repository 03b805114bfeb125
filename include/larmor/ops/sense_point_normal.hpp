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
// the coil-expanded array streamed through memory five times; the partial sums are added at the end.
// The coils are split into a fixed number of groups (coil_groups: from the coil count and the image size
// only, never from the thread count), each summed in coil order and the group sums added in group order,
// so the result is the same bit for bit on 1 or N threads (iterative solvers would otherwise carry the
// round-off of one split into every later iterate).
// One group (images over 128 MiB, or one coil) runs each coil on all threads instead.
// Memory: the caller's maps (referenced, not copied), 2 images per coil group (at most 8 groups, at most 256 MiB of work buffers).
// Images are ([z,] y, x) row-major flat vectors, maps (coils, [z,] y, x). Threads: parallel over coil
// groups; one object for one thread at a time (work buffers; checked: core/single_user.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/core/single_user.hpp"
#include "larmor/fft/fft.hpp"
#include "larmor/kernels/coil_kernels.hpp"

namespace larmor {

class sense_point_normal {
 public:
  // maps: nc * prod(shape) samples (coils, [z,] y, x), referenced (they must outlive this object); weights: nsets * prod(shape) real weights M
  // (standard layout, not shifted): one mask per set (e.g. per frame of dynamic data; apply's `set`).
  sense_point_normal(const cfloat* maps, index_t nc, const std::vector<index_t>& shape, const float* weights,
                     index_t nsets = 1)
      : nc_(nc), nsets_(nsets), shape_(shape) {
    LARMOR_CHECK_ARG(nc >= 1 && nsets >= 1 && !shape.empty() && shape.size() <= 3,
                     "sense_point_normal: need >= 1 coil, >= 1 mask and 1 to 3 axes");
    npix_ = 1;
    for (index_t s : shape) npix_ *= s;
    maps_ = maps;
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
    ng_ = coil_groups(nc, npix_);
    for (index_t t = 0; t < 2 * ng_; ++t) work_.emplace_back(extents<1>{npix_}, uninitialized);
    const unsigned mask = (1u << d) - 1u;
    // One group (images over 128 MiB, or one coil): the threads work inside each coil instead -- FFTs on
    // all threads, the loops split over pixels (apply).
    const int threads = ng_ == 1 && npix_ >= (index_t{1} << 16) ? num_threads() : 1;
    fwd_ = fftw_plan_cache<float>::instance().plan(shape_, mask, FFTW_FORWARD, work_[0].data(), work_[0].data(), threads);
    bwd_ = fftw_plan_cache<float>::instance().plan(shape_, mask, FFTW_BACKWARD, work_[0].data(), work_[0].data(), threads);
  }

  index_t coils() const { return nc_; }
  index_t image_size() const { return npix_; }

  index_t sets() const { return nsets_; }

  // The coil groups: up to 8 (enough to keep 8 cores busy), fewer when 2 images per group would pass
  // 256 MiB (3D volumes), never more than the coils. Depends on nothing else.
  static index_t coil_groups(index_t nc, index_t npix) {
    const double image_bytes = static_cast<double>(npix) * sizeof(cfloat);
    const auto fit = static_cast<index_t>(std::max(1.0, std::floor(256.0 * (1 << 20) / (2.0 * image_bytes))));
    return std::max<index_t>(1, std::min<index_t>({nc, index_t{8}, fit}));
  }

  // out = A^H A in (npix samples each, must not alias), with the mask of `set`.
  void apply(const cfloat* in, cfloat* out, index_t set = 0) const {
    LARMOR_CHECK_ARG(set >= 0 && set < nsets_, "sense_point_normal: mask set ", set, " of ", nsets_);
    const single_user_scope one(user_, "sense_point_normal");
    // Group t sums its coils, coil after coil through one buffer. The pixel loops are split into blocks
    // that run on all threads when there is one group (images over 128 MiB, or one coil), and serially
    // inside a group's thread otherwise (parallel_for_blocks within a parallel region).
    const float* w = w_.data() + set * npix_;
    auto group = [&](index_t t) {
      const index_t c0 = nc_ * t / ng_, c1 = nc_ * (t + 1) / ng_;
      cfloat* buf = work_[static_cast<std::size_t>(2 * t)].data();
      cfloat* acc = t == 0 ? out : work_[static_cast<std::size_t>(2 * t + 1)].data();
      constexpr index_t block = 4096;
      for (index_t c = c0; c < c1; ++c) {
        const cfloat* s = maps_ + c * npix_;
        parallel_for_blocks(npix_, block, [&](index_t p0, index_t n) { kernels::cmul(s + p0, in + p0, buf + p0, n); });
        fwd_->execute(buf, buf);
        parallel_for_blocks(npix_, block, [&](index_t p0, index_t n) {
          for (index_t p = p0; p < p0 + n; ++p) buf[p] *= w[p];
        });
        bwd_->execute(buf, buf);
        parallel_for_blocks(npix_, block, [&](index_t p0, index_t n) {
          if (c == c0)
            kernels::cmul_conj(s + p0, buf + p0, acc + p0, n);
          else
            kernels::cmac_conj(s + p0, buf + p0, acc + p0, n);
        });
      }
      if (c1 == c0) std::fill(acc, acc + npix_, cfloat(0.f, 0.f));
    };
    if (ng_ == 1)
      group(0);
    else
      parallel_for_dynamic(ng_, group);
    if (ng_ > 1)
      parallel_for_blocks(npix_, 4096, [&](index_t p0, index_t n) {
        for (index_t t = 1; t < ng_; ++t) {
          const cfloat* a = work_[static_cast<std::size_t>(2 * t + 1)].data();
          for (index_t p = p0; p < p0 + n; ++p) out[p] += a[p];
        }
      });
  }

 private:
  index_t nc_ = 0, nsets_ = 1, npix_ = 0;
  std::vector<index_t> shape_;
  const cfloat* maps_ = nullptr;  // the caller's (coils, pixels)
  std::vector<float> w_;
  index_t ng_ = 1;                              // coil groups (coil_groups)
  mutable std::vector<array<cfloat, 1>> work_;  // per coil group: buffer, partial sum
  single_user_flag user_;
  std::shared_ptr<const fftw_plan_handle<float>> fwd_;
  std::shared_ptr<const fftw_plan_handle<float>> bwd_;
};

}  // namespace larmor
