// larmor/core/check_finite.hpp — refuse NaN and Inf in input data with one clear error (every algorithm that takes
// k-space or images checks its input with it before it starts).
#pragma once

#include <algorithm>
#include <cmath>
#include <complex>
#include <vector>

#include "larmor/core/error.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/core/view.hpp"

namespace larmor {

inline constexpr index_t finite_block = index_t{1} << 18;  // floats per block of check_finite

// Throws DataError naming `func` when any sample is NaN or infinite.
template <class T, std::size_t R>
void check_finite(const char* func, const char* what, strided_view<const std::complex<T>, R> x) {
  bool ok = true;
  if (x.is_contiguous()) {
    // v - v is 0 for a finite v and NaN for Inf or NaN, and NaN == 0 is false: a subtraction and a compare
    // the compiler vectorizes (std::isfinite is not), in blocks over the threads (a 64-coil 512^2 k-space:
    // 65 -> 4 ms).
    const T* p = reinterpret_cast<const T*>(x.data());
    std::vector<unsigned char> block_ok(static_cast<std::size_t>((2 * x.size() + finite_block - 1) / finite_block));
    parallel_for_blocks(2 * x.size(), finite_block, [&](index_t i0, index_t len) {
      int bad = 0;  // an int, not a bool: GCC 12 vectorizes the |= reduction only on integers
      for (index_t i = i0; i < i0 + len; ++i) bad |= !(p[i] - p[i] == T(0));
      block_ok[static_cast<std::size_t>(i0 / finite_block)] = bad == 0;
    });
    ok = std::all_of(block_ok.begin(), block_ok.end(), [](unsigned char b) { return b != 0; });
  } else {
    for_each_index(x.shape(), [&](const extents<R>& i) { ok &= std::isfinite(x[i].real()) && std::isfinite(x[i].imag()); });
  }
  LARMOR_CHECK_DATA(ok, func, ": ", what, " contains NaN or Inf");
}

}  // namespace larmor
