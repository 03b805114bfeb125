// larmor/ops/finite_difference.hpp — forward finite differences along chosen axes, the operator of total
// variation (2D, 3D, and along time for dynamic data: time is one more axis of the shape).
//
//   (D x)_a[i] = x[i + e_a] - x[i]   for i_a < n_a - 1,   0 at i_a = n_a - 1   (non-periodic, Neumann)
//   (D^H y)[i] = sum_a ( y_a[i - e_a] [i_a >= 1] - y_a[i] [i_a < n_a - 1] )
// Input: a row-major array of `shape` (1 to 4 axes); output: (k, shape...) stacked, one block per selected
// axis in increasing axis order (k = number of selected axes of length > 1). ||D||^2 <= 4 k.
// Threads: parallel over rows; stateless (safe from two threads at once).
#pragma once

#include <algorithm>
#include <vector>

#include "larmor/core/error.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/ops/linear_operator.hpp"

namespace larmor {

class finite_difference_operator : public linear_operator<cfloat> {
 public:
  // axes: bit a = differences along axis a (default: all axes longer than 1).
  explicit finite_difference_operator(std::vector<index_t> shape, unsigned axes = ~0u) : shape_(std::move(shape)) {
    LARMOR_CHECK_ARG(!shape_.empty() && shape_.size() <= 4, "finite_difference_operator: 1 to 4 axes, got ",
                     shape_.size());
    n_ = 1;
    for (index_t s : shape_) {
      LARMOR_CHECK_ARG(s >= 1, "finite_difference_operator: axis lengths must be >= 1");
      n_ *= s;
    }
    stride_.assign(shape_.size(), 1);
    for (std::size_t a = shape_.size() - 1; a-- > 0;) stride_[a] = stride_[a + 1] * shape_[a + 1];
    for (std::size_t a = 0; a < shape_.size(); ++a)
      if (((axes >> a) & 1u) && shape_[a] > 1) axes_.push_back(static_cast<int>(a));
    LARMOR_CHECK_ARG(!axes_.empty(), "finite_difference_operator: no axis of length > 1 selected");
  }

  index_t input_size() const override { return n_; }
  index_t output_size() const override { return n_ * static_cast<index_t>(axes_.size()); }
  int directions() const { return static_cast<int>(axes_.size()); }
  const std::vector<index_t>& shape() const { return shape_; }

  void apply(const cfloat* x, cfloat* y) const override {
    const index_t nx = shape_.back(), rows = n_ / nx;
    for (std::size_t k = 0; k < axes_.size(); ++k) {
      const int a = axes_[k];
      const index_t st = stride_[a], na = shape_[a];
      cfloat* yk = y + static_cast<index_t>(k) * n_;
      parallel_for_blocks(rows, 16, [&](index_t r0, index_t cnt) {
        for (index_t r = r0; r < r0 + cnt; ++r) {
          const index_t base = r * nx;
          if (a == static_cast<int>(shape_.size()) - 1) {
            for (index_t i = 0; i + 1 < nx; ++i) yk[base + i] = x[base + i + 1] - x[base + i];
            yk[base + nx - 1] = 0;
          } else {
            const bool edge = (base / st) % na == na - 1;
            for (index_t i = 0; i < nx; ++i) yk[base + i] = edge ? cfloat(0) : x[base + st + i] - x[base + i];
          }
        }
      });
    }
  }

  void adjoint(const cfloat* y, cfloat* x) const override {
    const index_t nx = shape_.back(), rows = n_ / nx;
    parallel_for_blocks(rows, 16, [&](index_t r0, index_t cnt) {
      for (index_t r = r0; r < r0 + cnt; ++r) {
        const index_t base = r * nx;
        std::fill(x + base, x + base + nx, cfloat(0));
        for (std::size_t k = 0; k < axes_.size(); ++k) {
          const int a = axes_[k];
          const cfloat* yk = y + static_cast<index_t>(k) * n_;
          if (a == static_cast<int>(shape_.size()) - 1) {
            x[base] -= yk[base];
            for (index_t i = 1; i + 1 < nx; ++i) x[base + i] += yk[base + i - 1] - yk[base + i];
            if (nx > 1) x[base + nx - 1] += yk[base + nx - 2];
          } else {
            const index_t st = stride_[a], na = shape_[a], ia = (base / st) % na;
            if (ia >= 1)
              for (index_t i = 0; i < nx; ++i) x[base + i] += yk[base - st + i];
            if (ia < na - 1)
              for (index_t i = 0; i < nx; ++i) x[base + i] -= yk[base + i];
          }
        }
      }
    });
  }

 private:
  std::vector<index_t> shape_, stride_;
  std::vector<int> axes_;
  index_t n_ = 0;
};

}  // namespace larmor
