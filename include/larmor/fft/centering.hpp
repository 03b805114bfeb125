// larmor/fft/centering.hpp — the fftshift/ifftshift around a DFT, as one fused copy.
//
// A centered transform is fftshift(F(ifftshift(x))). For an even axis length N the shifts are
// modulations:  fftshift(F(ifftshift(x)))[k] = (-1)^(k + N/2) * F(x[n] * (-1)^n)[k],
// and a modulation of the output is a roll of the input, (-1)^k F(z)[k] = F(z[(n + N/2) mod N])[k],
// so both shifts of an even axis fold into ONE pass before the DFT:
//     fftshift(F(ifftshift(x)))[k] = F(w)[k],   w[n] = (-1)^n * x[(n + N/2) mod N]
// (the two (-1)^(N/2) cancel). An out-of-place transform therefore costs one copy pass + the DFT.
// In place, the roll cannot be done by a streaming pass, so the modulation form is used instead:
// one modulation pass before and one after. An odd axis (numpy semantics: ifftshift rolls by
// -floor(N/2), fftshift by +floor(N/2)) is rolled by index arithmetic before and after.
#pragma once

#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/kernels/centering_kernels.hpp"

namespace larmor::detail {

// Per-axis recipe of one pass: dst[i] = factor * src[(i + shift) mod N] * (alternate ? (-1)^i : 1).
struct centering_axis {
  index_t shift = 0;
  bool alternate = false;
};

enum class centering_pass { before_dft, after_dft };

// The recipe of the pass before (ifftshift) or after (fftshift) the DFT, for the axes in mask.
// fold_even: even axes get their whole centering in the before pass (roll by N/2 and alternate;
// needs src != dst); otherwise they alternate in both passes and the after pass carries (-1)^(N/2).
inline std::vector<centering_axis> centering_recipe(const std::vector<index_t>& shape, unsigned mask,
                                                    centering_pass pass, bool fold_even, double& sign) {
  std::vector<centering_axis> r(shape.size());
  sign = 1.0;
  for (std::size_t a = 0; a < shape.size(); ++a) {
    if (!(mask & (1u << a))) continue;
    const index_t n = shape[a];
    if (n % 2 == 0 && fold_even) {
      if (pass == centering_pass::before_dft) r[a] = centering_axis{n / 2, true};
    } else if (n % 2 == 0) {
      r[a].alternate = true;
      if (pass == centering_pass::after_dft && (n / 2) % 2 == 1) sign = -sign;
    } else {
      r[a].shift = pass == centering_pass::before_dft ? n / 2 : n - n / 2;
    }
  }
  return r;
}

inline bool centering_moves_data(const std::vector<centering_axis>& recipe) {
  for (const auto& r : recipe)
    if (r.shift != 0) return true;
  return false;
}

// dst (contiguous, shape of src) <- recipe applied to src (any strides). src and dst must not
// overlap unless every shift is zero and src is dst itself. Parallel over the outermost axes.
template <class T, std::size_t R, class Real>
void centering_copy(strided_view<const T, R> src, T* dst, const std::vector<centering_axis>& recipe, Real factor) {
  const auto& shape = src.shape();
  const index_t nx = shape[R - 1];
  const index_t rows = src.size() / (nx > 0 ? nx : 1);
  if (src.size() == 0) return;
  const centering_axis last = recipe[R - 1];
  const index_t sx = src.stride(R - 1);
  parallel_for(rows, [&](index_t row) {
    // Decompose the row number into the leading indices.
    index_t rem = row, src_off = 0;
    bool negate = false;
    for (std::size_t a = R - 1; a-- > 0;) {
      const index_t i = rem % shape[a];
      rem /= shape[a];
      index_t j = i + recipe[a].shift;
      if (j >= shape[a]) j -= shape[a];
      src_off += j * src.stride(a);
      if (recipe[a].alternate && (i & 1)) negate = !negate;
    }
    const T* s = src.data() + src_off;
    T* d = dst + row * nx;
    const Real f0 = negate ? -factor : factor;
    // Along the row: d[x] = f0 * s[(x + sh) mod nx] * (alternate ? (-1)^x : 1), as two contiguous runs.
    const index_t sh = last.shift;
    if (sx == 1) {  // contiguous rows: the SIMD row kernels (kernels/centering_kernels.hpp)
      if (last.alternate) {
        kernels::scale_copy_alternate(s + sh, d, nx - sh, f0);
        kernels::scale_copy_alternate(s, d + (nx - sh), sh, ((nx - sh) & 1) ? -f0 : f0);
      } else {
        kernels::scale_copy(s + sh, d, nx - sh, f0);
        kernels::scale_copy(s, d + (nx - sh), sh, f0);
      }
    } else if (last.alternate) {
      for (index_t x = 0; x < nx - sh; ++x) d[x] = s[(x + sh) * sx] * ((x & 1) ? -f0 : f0);
      for (index_t x = nx - sh; x < nx; ++x) d[x] = s[(x + sh - nx) * sx] * ((x & 1) ? -f0 : f0);
    } else {
      for (index_t x = 0; x < nx - sh; ++x) d[x] = s[(x + sh) * sx] * f0;
      for (index_t x = nx - sh; x < nx; ++x) d[x] = s[(x + sh - nx) * sx] * f0;
    }
  });
}

}  // namespace larmor::detail
