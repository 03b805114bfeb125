// larmor/ops/sense_linear_operator.hpp — the Cartesian SENSE operator (ops/sense_operator.hpp) as a
// linear_operator<cfloat>, for the solvers of the operator / proximal / solver layer.
//
//   input:  the image as a flat vector in the operator's INTERNAL layout: (x, [z,] y) when the mask
//           depends only on the phase-encode line (line mode: the normal operator then needs no FFT
//           along x and no transposes), ([z,] y, x) otherwise. internal_shape() gives that shape, so a
//           penalty that treats every axis alike (wavelet, TV) runs on it directly; to_internal /
//           from_internal convert.
//   output: k-space (coils, [z,] y, x), M fftc(S x) (apply); adjoint and normal as sense_operator.
// The wrapped sense_operator is referenced, not copied: it must outlive this object. Results are those
// of sense_operator (normal() is its normal_internal, bit for bit).
// Threads: as sense_operator (not for two threads at once).
#pragma once

#include <memory>
#include <vector>

#include "larmor/ops/linear_operator.hpp"
#include "larmor/ops/sense_operator.hpp"

namespace larmor {

template <std::size_t D>
class sense_linear_operator : public linear_operator<cfloat> {
 public:
  explicit sense_linear_operator(const sense_operator<D>& op) : op_(op) {}

  index_t input_size() const override { return op_.image_size(); }
  index_t output_size() const override { return op_.image_size() * op_.coils(); }
  const sense_operator<D>& sense() const { return op_; }

  // The shape the flat image vector stands for (row-major).
  std::vector<index_t> internal_shape() const {
    const auto& s = op_.image_shape();
    std::vector<index_t> v(s.begin(), s.end());
    if (op_.line_mode()) {
      v.pop_back();
      v.insert(v.begin(), s[D - 1]);
    }
    return v;
  }

  void apply(const cfloat* x, cfloat* y) const override {
    array<cfloat, D> img(op_.image_shape(), uninitialized);
    op_.from_internal(x, img.view());
    const auto k = op_.forward(img.cview());
    std::copy(k.begin(), k.end(), y);
  }
  void adjoint(const cfloat* y, cfloat* x) const override {
    extents<D + 1> ks{};
    ks[0] = op_.coils();
    for (std::size_t a = 0; a < D; ++a) ks[a + 1] = op_.image_shape()[a];
    const auto img = op_.adjoint(strided_view<const cfloat, D + 1>(y, ks));
    op_.to_internal(img.cview(), x);
  }
  void normal(const cfloat* x, cfloat* out) const override {
    op_.normal_internal(x, out);
  }

 private:
  const sense_operator<D>& op_;
};

}  // namespace larmor
