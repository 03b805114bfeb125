// larmor/nufft/noncartesian_cs.hpp — non-Cartesian compressed sensing: cs_solve (cs/cs.hpp) on the
// non-Cartesian SENSE operator (noncartesian_sense.hpp).
//
//   x = argmin_x 1/2 ||A x - y||_2^2 + wavelet ||W x||_1 + tv TV(x),   A x = (nufft(S_c x))_c
//
// the model of `bart pics -t traj -l1 -r wavelet` (no density weighting). Penalties, solvers and lambdas as
// in cs/cs.hpp (lambda relative to an image of typical intensity ~1). Data scale s (unless options.scale
// fixes it): the 90th percentile of |gridded image|, the gridded image being sum_c conj(S_c)
// nufft_adjoint(w . y_c) with the Pipe-Menon density compensation w (k-space area per sample, so the
// gridded image has the scale of the image; its maximum when the 90th percentile is 0). The step is
// 0.95 / lambda_max(A^H A) (power iteration on the Toeplitz normal operator). With a field map
// (field_map_correction) A is the off-resonance-corrected operator of noncartesian_sense.hpp.
#pragma once

#include <algorithm>
#include <vector>

#include "larmor/cs/cs.hpp"
#include "larmor/nufft/density_compensation.hpp"
#include "larmor/nufft/noncartesian_sense.hpp"

namespace larmor {

template <std::size_t D>
struct cs_noncartesian_result : cs_result<D> {
  time_segmentation segmentation;  // the off-resonance model used (empty without a field map)
};

// samples (coils, M) contiguous; maps (coils, N...); coords (M, D) in cycles per FOV, axes like the image;
// eps: NUFFT tolerance; offres: a field map and the sample times, or none. Returns the image (N...), the scale
// and step used, and the time segmentation.
template <std::size_t D, class T>
cs_noncartesian_result<D> cs_noncartesian(const cfloat* samples, strided_view<const cfloat, D + 1> maps, const T* coords,
                                          index_t M, const cs_options& o, double eps = 1e-4, bool toeplitz = true,
                                          const field_map_correction& offres = {}) {
  LARMOR_CHECK_ARG(eps > 0 && eps < 1, "cs_noncartesian: eps must be in (0, 1), got ", eps);
  noncartesian_sense_operator<D> op(maps, coords, M, eps, toeplitz, offres);
  const index_t n = op.input_size(), nc = op.coils();
  array<cfloat, 1> b(extents<1>{n}, uninitialized);
  op.adjoint(samples, b.data());
  float s = o.scale;
  if (!(s > 0)) {
    extents<D> shape{};
    for (std::size_t d = 0; d < D; ++d) shape[d] = maps.shape(d + 1);
    const auto w = dcf_pipe_menon<D>(coords, M, shape, 20);
    array<cfloat, 1> yw(extents<1>{nc * M}, uninitialized);
    parallel_for_blocks(nc * M, index_t{1} << 14, [&](index_t f, index_t c) {
      for (index_t i = f; i < f + c; ++i) yw[i] = samples[i] * w[static_cast<std::size_t>(i % M)];
    });
    array<cfloat, 1> g(extents<1>{n}, uninitialized);
    op.adjoint(yw.data(), g.data());
    std::vector<float> mag(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) mag[static_cast<std::size_t>(i)] = std::abs(g[i]);
    auto p90 = mag.begin() + static_cast<std::ptrdiff_t>(static_cast<double>(n - 1) * 0.9);
    std::nth_element(mag.begin(), p90, mag.end());
    s = *p90 > 0 ? *p90 : *std::max_element(mag.begin(), mag.end());
    if (!(s > 0)) s = 1;  // all-zero data: any scale
  }
  cs_noncartesian_result<D> res;
  res.segmentation = op.segmentation();
  extents<D> shape{};
  std::vector<index_t> sh;
  for (std::size_t d = 0; d < D; ++d) shape[d] = maps.shape(d + 1), sh.push_back(shape[d]);
  res.image = array<cfloat, D>(shape);
  const auto rep = cs_solve(op, b.data(), sh, o, s, res.image.data());
  res.scale = s;
  res.step = rep.step;
  res.iterations = rep.iterations;
  return res;
}

}  // namespace larmor
