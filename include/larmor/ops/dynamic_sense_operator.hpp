// larmor/ops/dynamic_sense_operator.hpp — the Cartesian SENSE operator of dynamic data: one image per
// frame, the same coil maps for every frame, one sampling mask per frame.
//
//   forward:  k_{t,c} = M_t . fftc(S_c x_t)           x (T, [z,] y, x) -> k (T, coils, [z,] y, x)
//   adjoint:  x_t = sum_c conj(S_c) . ifftc(M_t . k_{t,c})
//   normal:   x_t -> sum_c conj(S_c) ifftc(M_t^2 fftc(S_c x_t))   (frame by frame, ops/sense_point_normal.hpp)
// fftc/ifftc: the centred unitary FFT over the spatial axes (fft/fft.hpp). Images and k-space are flat
// row-major vectors of the shapes above. Threads: as sense_point_normal (over coils, per frame); not for
// two threads at once.
#pragma once

#include <cmath>
#include <memory>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/fft/fft.hpp"
#include "larmor/kernels/coil_kernels.hpp"
#include "larmor/ops/linear_operator.hpp"
#include "larmor/ops/sense_point_normal.hpp"

namespace larmor {

template <std::size_t D>
class dynamic_sense_operator : public linear_operator<cfloat> {
  static_assert(D == 2 || D == 3, "dynamic_sense_operator: 2D or 3D frames");

 public:
  // maps (coils, [z,] y, x); weights (T, [z,] y, x), real >= 0.
  dynamic_sense_operator(strided_view<const cfloat, D + 1> maps, strided_view<const float, D + 1> weights) {
    nc_ = maps.shape(0);
    frames_ = weights.shape(0);
    for (std::size_t a = 0; a < D; ++a) {
      LARMOR_CHECK_ARG(weights.shape(a + 1) == maps.shape(a + 1), "dynamic_sense_operator: masks have shape ",
                       shape_string(weights.shape()), " but the maps ", shape_string(maps.shape()));
      shape_[a] = maps.shape(a + 1);
    }
    npix_ = checked_size(shape_);
    maps_ = to_array(maps);
    weights_ = to_array(weights);
    for (float v : weights_)
      LARMOR_CHECK_ARG(std::isfinite(v) && v >= 0.f, "dynamic_sense_operator: mask weights must be finite and >= 0");
    normal_ = std::make_unique<sense_point_normal>(maps_.data(), nc_, std::vector<index_t>(shape_.begin(), shape_.end()),
                                                   weights_.data(), frames_);
  }

  index_t frames() const { return frames_; }
  index_t coils() const { return nc_; }
  index_t input_size() const override { return frames_ * npix_; }
  index_t output_size() const override { return frames_ * nc_ * npix_; }
  std::vector<index_t> image_shape() const {
    std::vector<index_t> v{frames_};
    v.insert(v.end(), shape_.begin(), shape_.end());
    return v;
  }

  void apply(const cfloat* x, cfloat* y) const override {
    for (index_t t = 0; t < frames_; ++t) {
      cfloat* kt = y + t * nc_ * npix_;
      parallel_for(nc_, [&](index_t c) { kernels::cmul(maps_.data() + c * npix_, x + t * npix_, kt + c * npix_, npix_); });
      fftc_inplace(coil_view(kt), spatial_axes());
      weigh(kt, t);
    }
  }
  void adjoint(const cfloat* y, cfloat* x) const override {
    array<cfloat, D + 1> tmp(coil_shape(), uninitialized);
    for (index_t t = 0; t < frames_; ++t) {
      std::copy(y + t * nc_ * npix_, y + (t + 1) * nc_ * npix_, tmp.data());
      weigh(tmp.data(), t);
      ifftc_inplace(tmp.view(), spatial_axes());
      cfloat* xt = x + t * npix_;
      parallel_for_blocks(npix_, 4096, [&](index_t p0, index_t n) {
        kernels::cmul_conj(maps_.data() + p0, tmp.data() + p0, xt + p0, n);
        for (index_t c = 1; c < nc_; ++c)
          kernels::cmac_conj(maps_.data() + c * npix_ + p0, tmp.data() + c * npix_ + p0, xt + p0, n);
      });
    }
  }
  void normal(const cfloat* x, cfloat* out) const override {
    for (index_t t = 0; t < frames_; ++t) normal_->apply(x + t * npix_, out + t * npix_, t);
  }

 private:
  extents<D + 1> coil_shape() const {
    extents<D + 1> s{};
    s[0] = nc_;
    for (std::size_t a = 0; a < D; ++a) s[a + 1] = shape_[a];
    return s;
  }
  strided_view<cfloat, D + 1> coil_view(cfloat* p) const { return strided_view<cfloat, D + 1>(p, coil_shape()); }
  static axis_list spatial_axes() { return D == 2 ? axis_list{1, 2} : axis_list{1, 2, 3}; }
  void weigh(cfloat* k, index_t t) const {
    const float* w = weights_.data() + t * npix_;
    parallel_for(nc_, [&](index_t c) {
      cfloat* kc = k + c * npix_;
      for (index_t p = 0; p < npix_; ++p) kc[p] *= w[p];
    });
  }

  index_t nc_ = 0, frames_ = 0, npix_ = 0;
  extents<D> shape_{};
  array<cfloat, D + 1> maps_;
  array<float, D + 1> weights_;
  std::unique_ptr<sense_point_normal> normal_;
};

}  // namespace larmor
