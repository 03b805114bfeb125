// larmor/core/array.hpp — array<T, R>: an owning, 64-byte aligned, row-major N-d array.
//
// Algorithms take strided_view and return array. An array converts implicitly to a mutable or
// read-only view of itself. New arrays are zero-filled unless constructed with `uninitialized`
// (for outputs that are fully overwritten: skips a pass over memory). Copies are deep; moves are cheap.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "larmor/core/view.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace larmor {

inline constexpr std::size_t array_alignment = 64;

// Tag: allocate without zero-filling; every element must be written before it is read.
struct uninitialized_t {
  explicit uninitialized_t() = default;
};
inline constexpr uninitialized_t uninitialized{};

// Every buffer starts 64 bytes after a header that says how it was obtained (so aligned_free can undo
// it and the zero-filling constructor can skip what is already zero).
//
// Buffers of at least `mapped_allocation_bytes` come straight from the kernel (anonymous mmap): their
// pages read as zero and are only backed when first written. A zero-filled array of which little is
// ever written -- the full-size calibration buffer of a 3D scan whose ACS block is 24 x 24 of 192 x 96
// lines -- then costs neither a memset of its whole size nor memory for pages it never touches (1.7 GB
// at 64 coils, where the memset's page faults took seconds). Large buffers also ask for transparent
// huge pages (MADV_HUGEPAGE): at 32-64 coils an array is 10-500 MB, and first-touch faults on 4 KiB
// pages otherwise cost more system time than the FFT itself. Without THP support the advice is ignored.
inline constexpr std::size_t mapped_allocation_bytes = std::size_t{64} << 20;

namespace detail {
struct allocation_header {
  std::size_t mapped_bytes;  // length of the mapping starting at the header; 0: from operator new
};
inline constexpr std::size_t allocation_prefix = array_alignment;  // header + padding, keeps 64-byte alignment
inline allocation_header* header_of(const void* p) {
  return reinterpret_cast<allocation_header*>(static_cast<char*>(const_cast<void*>(p)) - allocation_prefix);
}
}  // namespace detail

inline void* aligned_allocate(std::size_t bytes) {
  if (bytes > SIZE_MAX - 2 * mapped_allocation_bytes) throw std::bad_alloc();
#if defined(__linux__)
  if (bytes >= mapped_allocation_bytes) {
    const std::size_t page = 4096, len = (bytes + detail::allocation_prefix + page - 1) / page * page;
    void* base = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
#if defined(MADV_HUGEPAGE)
    constexpr std::uintptr_t huge = std::uintptr_t{1} << 21;
    const auto begin = (reinterpret_cast<std::uintptr_t>(base) + huge - 1) & ~(huge - 1);
    const auto end = (reinterpret_cast<std::uintptr_t>(base) + len) & ~(huge - 1);
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#endif
    static_cast<detail::allocation_header*>(base)->mapped_bytes = len;
    return static_cast<char*>(base) + detail::allocation_prefix;
  }
#endif
  void* base = ::operator new(bytes + detail::allocation_prefix, std::align_val_t(array_alignment));
  static_cast<detail::allocation_header*>(base)->mapped_bytes = 0;
  return static_cast<char*>(base) + detail::allocation_prefix;
}
inline void aligned_free(void* p) noexcept {
  if (p == nullptr) return;
  void* base = static_cast<char*>(p) - detail::allocation_prefix;
#if defined(__linux__)
  if (const std::size_t len = detail::header_of(p)->mapped_bytes; len > 0) {
    ::munmap(base, len);
    return;
  }
#endif
  ::operator delete(base, std::align_val_t(array_alignment));
}
// True when the buffer's pages came zero from the kernel and were not yet written by anyone else.
inline bool allocation_is_zero(const void* p) noexcept { return detail::header_of(p)->mapped_bytes > 0; }

template <class T, std::size_t R>
class array {
  static_assert(std::is_trivially_copyable_v<T>, "larmor::array holds trivially copyable numbers");

 public:
  using value_type = T;
  static constexpr std::size_t rank = R;

  array() = default;
  explicit array(const extents<R>& shape) : array(shape, uninitialized) {
    const index_t n = checked_size(shape);
    if (n > 0 && !allocation_is_zero(data_.get()))
      std::memset(static_cast<void*>(data_.get()), 0, static_cast<std::size_t>(n) * sizeof(T));
  }
  array(const extents<R>& shape, uninitialized_t) : shape_(shape) {
    const index_t n = checked_size(shape);
    LARMOR_CHECK_ARG(static_cast<std::size_t>(n) <= SIZE_MAX / sizeof(T), "array: shape ", shape_string(shape),
                     " is too large");
    data_.reset(static_cast<T*>(aligned_allocate(static_cast<std::size_t>(n) * sizeof(T))));
  }
  array(const array& o) : array(o.shape_) { std::copy(o.begin(), o.end(), begin()); }
  array& operator=(const array& o) {
    if (this != &o) *this = array(o);
    return *this;
  }
  array(array&&) noexcept = default;
  array& operator=(array&&) noexcept = default;

  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  const extents<R>& shape() const { return shape_; }
  index_t shape(std::size_t axis) const { return shape_[axis]; }
  extents<R> strides() const { return contiguous_strides(shape_); }
  index_t size() const {
    index_t n = 1;
    for (auto e : shape_) n *= e;
    return data_ ? n : 0;
  }
  bool empty() const { return size() == 0; }
  T* begin() { return data(); }
  T* end() { return data() + size(); }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size(); }

  strided_view<T, R> view() { return strided_view<T, R>(data(), shape_); }
  strided_view<const T, R> view() const { return strided_view<const T, R>(data(), shape_); }
  strided_view<const T, R> cview() const { return view(); }
  operator strided_view<T, R>() { return view(); }              // NOLINT(google-explicit-constructor)
  operator strided_view<const T, R>() const { return view(); }  // NOLINT(google-explicit-constructor)

  // Element access in C order: offset = ((i0 n1 + i1) n2 + i2) ... (Horner), no view built per element.
  template <class... I>
  T& operator()(I... idx) {
    return data_.get()[offset(idx...)];
  }
  template <class... I>
  const T& operator()(I... idx) const {
    return data_.get()[offset(idx...)];
  }
  T& operator[](index_t flat) { return data_.get()[flat]; }
  const T& operator[](index_t flat) const { return data_.get()[flat]; }

  // Same elements, new shape of equal size (no copy); the array is consumed.
  template <std::size_t R2>
  array<T, R2> reshape(const extents<R2>& shape) && {
    LARMOR_CHECK_ARG(checked_size(shape) == size(), "reshape: cannot reshape ", shape_string(shape_), " to ",
                     shape_string(shape));
    array<T, R2> out;
    out.adopt(data_.release(), shape);
    return out;
  }

  // Hands the buffer to the caller, who frees it with larmor::aligned_free (used by the Python module).
  T* release() {
    shape_ = extents<R>{};
    return data_.release();
  }

  // Takes ownership of a buffer from aligned_allocate (internal; used by reshape).
  void adopt(T* p, const extents<R>& shape) {
    data_.reset(p);
    shape_ = shape;
  }

 private:
  template <class... I>
  index_t offset(I... idx) const {
    static_assert(sizeof...(I) == R, "array: wrong number of indices");
    const index_t ii[R] = {static_cast<index_t>(idx)...};
    index_t off = ii[0];
    for (std::size_t k = 1; k < R; ++k) off = off * shape_[k] + ii[k];
    return off;
  }
  struct deleter {
    void operator()(T* p) const noexcept { aligned_free(p); }
  };
  std::unique_ptr<T, deleter> data_;
  extents<R> shape_{};
};

// Copies any view (any strides) into a new contiguous array.
template <class T, std::size_t R>
array<std::remove_const_t<T>, R> to_array(strided_view<T, R> v) {
  array<std::remove_const_t<T>, R> out(v.shape(), uninitialized);  // every element is written below
  if (v.is_contiguous()) {
    std::copy(v.data(), v.data() + v.size(), out.data());
  } else {
    auto* dst = out.data();
    for_each_index(v.shape(), [&](const extents<R>& i) { *dst++ = v[i]; });
  }
  return out;
}

// The data of v, or of a contiguous copy kept in `owned` when v is strided (no copy in the common case).
template <class T, std::size_t R>
const T* contiguous_data(strided_view<const T, R> v, array<T, R>& owned) {
  if (v.is_contiguous()) return v.data();
  owned = to_array(v);
  return owned.data();
}

// Copies src into dst element by element (any strides, equal shapes).
template <class T, class U, std::size_t R>
void copy(strided_view<T, R> src, strided_view<U, R> dst) {
  check_same_shape("copy", "src", src, "dst", dst);
  if (src.is_contiguous() && dst.is_contiguous()) {
    std::copy(src.data(), src.data() + src.size(), dst.data());
    return;
  }
  for_each_index(src.shape(), [&](const extents<R>& i) { dst[i] = src[i]; });
}

}  // namespace larmor
