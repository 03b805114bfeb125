// larmor/nufft/nufft.hpp — one-call NUFFT on views: nufft (type 2, image -> samples) and nufft_adjoint
// (type 1, samples -> image), batched over a leading axis (coils). For repeated use on the same trajectory
// make a nufft_plan (plan.hpp) once and call forward/adjoint on it.
//
//   nufft(x (batch, N...), coords (M, D), eps)              -> y (batch, M)
//   nufft_adjoint(y (batch, M), coords (M, D), N, eps)      -> x (batch, N...)
// Convention and units: plan.hpp (docs/design.md "Non-uniform FFT convention"): y(k) = N^-1/2 sum_r x(r)
// exp(-2 pi i k.r/N), r = j - N//2, k in cycles per FOV, coordinate axes ordered like the image axes.
#pragma once

#include "larmor/nufft/plan.hpp"

namespace larmor {

template <class Real, std::size_t R, class T>
array<std::complex<Real>, 2> nufft(strided_view<const std::complex<Real>, R> x, strided_view<const T, 2> coords,
                                   double eps = 1e-6) {
  static_assert(R >= 2 && R <= 4, "nufft: x is (batch, N...) with 1 to 3 image axes");
  constexpr std::size_t D = R - 1;
  LARMOR_CHECK_ARG(coords.shape(1) == index_t(D), "nufft: coords must be (M, ", D, ") for a ", D,
                   "D image, got last axis ", coords.shape(1));
  extents<D> N{};
  for (std::size_t d = 0; d < D; ++d) N[d] = x.shape(d + 1);
  nufft_plan<Real, D> plan(N, eps);
  plan.set_points(coords);
  const auto xc = to_array(x);
  array<std::complex<Real>, 2> y({x.shape(0), coords.shape(0)}, uninitialized);
  plan.forward(xc.data(), y.data(), x.shape(0));
  return y;
}

template <class Real, std::size_t D, class T>
array<std::complex<Real>, D + 1> nufft_adjoint(strided_view<const std::complex<Real>, 2> y,
                                               strided_view<const T, 2> coords, const extents<D>& shape,
                                               double eps = 1e-6) {
  LARMOR_CHECK_ARG(coords.shape(1) == index_t(D), "nufft_adjoint: coords must be (M, ", D, "), got last axis ",
                   coords.shape(1));
  LARMOR_CHECK_ARG(y.shape(1) == coords.shape(0), "nufft_adjoint: y has ", y.shape(1), " samples, coords ",
                   coords.shape(0));
  nufft_plan<Real, D> plan(shape, eps);
  plan.set_points(coords);
  const auto yc = to_array(y);
  extents<D + 1> out_shape{};
  out_shape[0] = y.shape(0);
  for (std::size_t d = 0; d < D; ++d) out_shape[d + 1] = shape[d];
  array<std::complex<Real>, D + 1> x(out_shape, uninitialized);
  plan.adjoint(yc.data(), x.data(), y.shape(0));
  return x;
}

}  // namespace larmor
