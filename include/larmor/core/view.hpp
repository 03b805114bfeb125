// larmor/core/view.hpp — strided_view<T, R>: a non-owning, rank-R strided window onto memory.
//
// Layout convention (docs/design.md): row-major, coil axis first — k-space and coil images are
// (coils, y, x) in 2D and (coils, z, y, x) in 3D; x (readout) is the last, fastest axis.
// Strides are in elements, not bytes, and may be zero or negative (numpy produces both), which is
// why this is not std::mdspan. T may be const-qualified: strided_view<const cfloat, 3> is read-only.
// A view is two small arrays and a pointer; pass it by value.
#pragma once

#include <array>
#include <complex>
#include <cstddef>
#include <string>
#include <type_traits>

#include "larmor/core/error.hpp"

namespace larmor {

using index_t = std::ptrdiff_t;
using cfloat = std::complex<float>;
using cdouble = std::complex<double>;

template <std::size_t R>
using extents = std::array<index_t, R>;

// "(32, 256, 256)"
template <class Container>
std::string shape_string(const Container& shape) {
  std::string s = "(";
  bool first = true;
  for (auto n : shape) {
    if (!first) s += ", ";
    s += std::to_string(n);
    first = false;
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

// Product of the extents; throws if negative or if the product overflows index_t.
template <std::size_t R>
index_t checked_size(const extents<R>& shape) {
  index_t n = 1;
  for (std::size_t i = 0; i < R; ++i) {
    LARMOR_CHECK_ARG(shape[i] >= 0, "shape ", shape_string(shape), " has a negative extent on axis ", i);
    if (shape[i] != 0 && n > PTRDIFF_MAX / shape[i])
      throw InvalidArgument(detail::concat("shape ", shape_string(shape), " has too many elements"));
    n *= shape[i];
  }
  return n;
}

// Row-major (C order) element strides of a shape.
template <std::size_t R>
extents<R> contiguous_strides(const extents<R>& shape) {
  extents<R> st{};
  index_t s = 1;
  for (std::size_t i = R; i-- > 0;) {
    st[i] = s;
    s *= shape[i] > 0 ? shape[i] : 1;
  }
  return st;
}

template <class T, std::size_t R>
class strided_view {
  static_assert(R >= 1, "strided_view needs rank >= 1");

 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  static constexpr std::size_t rank = R;

  strided_view() = default;
  strided_view(T* data, const extents<R>& shape)
      : data_(data), shape_(shape), strides_(contiguous_strides(shape)) {
    checked_size(shape);
  }
  strided_view(T* data, const extents<R>& shape, const extents<R>& strides)
      : data_(data), shape_(shape), strides_(strides) {
    checked_size(shape);
  }
  // A mutable view converts to a read-only one.
  template <class U, class = std::enable_if_t<std::is_same_v<const U, T> && !std::is_same_v<U, T>>>
  strided_view(const strided_view<U, R>& other)  // NOLINT(google-explicit-constructor)
      : data_(other.data()), shape_(other.shape()), strides_(other.strides()) {}

  T* data() const { return data_; }
  const extents<R>& shape() const { return shape_; }
  const extents<R>& strides() const { return strides_; }
  index_t shape(std::size_t axis) const { return shape_[axis]; }
  index_t stride(std::size_t axis) const { return strides_[axis]; }
  index_t size() const {
    index_t n = 1;
    for (auto e : shape_) n *= e;
    return n;
  }
  bool empty() const { return size() == 0; }
  // True when the elements are dense in C order (size-1 axes may have any stride).
  bool is_contiguous() const {
    index_t expect = 1;
    for (std::size_t i = R; i-- > 0;) {
      if (shape_[i] == 1) continue;
      if (strides_[i] != expect) return false;
      expect *= shape_[i];
    }
    return true;
  }

  template <class... I>
  T& operator()(I... idx) const {
    static_assert(sizeof...(I) == R, "strided_view: wrong number of indices");
    const index_t ii[R] = {static_cast<index_t>(idx)...};
    index_t off = 0;
    for (std::size_t k = 0; k < R; ++k) off += ii[k] * strides_[k];
    return data_[off];
  }
  T& operator[](const extents<R>& idx) const {
    index_t off = 0;
    for (std::size_t k = 0; k < R; ++k) off += idx[k] * strides_[k];
    return data_[off];
  }

  // The (R-1)-dimensional view at index i of axis 0 (e.g. one coil of a (coils, y, x) view).
  template <std::size_t R2 = R, class = std::enable_if_t<(R2 > 1)>>
  strided_view<T, R - 1> slice(index_t i) const {
    extents<R - 1> sh{}, st{};
    for (std::size_t k = 1; k < R; ++k) {
      sh[k - 1] = shape_[k];
      st[k - 1] = strides_[k];
    }
    return strided_view<T, R - 1>(data_ + i * strides_[0], sh, st);
  }

 private:
  T* data_ = nullptr;
  extents<R> shape_{};
  extents<R> strides_{};
};

template <class T, std::size_t R>
using const_view = strided_view<const T, R>;

// Calls f(idx) for every multi-index of shape in row-major order (last axis fastest).
template <std::size_t R, class F>
void for_each_index(const extents<R>& shape, F&& f) {
  for (auto n : shape)
    if (n == 0) return;
  extents<R> idx{};
  for (;;) {
    f(static_cast<const extents<R>&>(idx));
    std::size_t k = R;
    while (k-- > 0) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
      if (k == 0) return;
    }
  }
}

// Throws InvalidArgument unless a and b have equal shapes; names both in the message.
template <class A, class B>
void check_same_shape(const char* func, const char* name_a, const A& a, const char* name_b, const B& b) {
  LARMOR_CHECK_ARG(a.shape() == b.shape(), func, ": ", name_a, " has shape ", shape_string(a.shape()),
                   " but ", name_b, " has shape ", shape_string(b.shape()));
}

// Normalises a possibly negative axis (numpy style) for rank `rank`; throws if out of range.
inline int normalize_axis(const char* func, int axis, std::size_t rank) {
  const int r = static_cast<int>(rank);
  LARMOR_CHECK_ARG(axis >= -r && axis < r, func, ": axis ", axis, " is out of range for rank ", r);
  return axis < 0 ? axis + r : axis;
}

}  // namespace larmor
