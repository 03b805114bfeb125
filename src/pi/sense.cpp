// SENSE unfolding (include/larmor/pi/sense.hpp), compiled once here.
#include "larmor/pi/sense.hpp"

namespace larmor {
namespace detail {

void sense_unfold(const cfloat* maps, index_t nc, index_t nl, index_t nx, const sense_alias_groups& ag,
                         double reg, const cfloat* b, cfloat* image, float* gfactor) {
  const index_t r = ag.r, npix = nl * nx;
  const index_t pairs = r * (r + 1) / 2;
  parallel_for_dynamic(ag.groups(), [&](index_t grp) {
    const index_t* g = ag.lines.data() + grp * r;
    // Coil sums per pair (k <= l) and readout position: sum_c conj(S_c[g_k]) S_c[g_l].
    std::vector<double> gre(static_cast<std::size_t>(pairs * nx), 0.0), gim(static_cast<std::size_t>(pairs * nx), 0.0);
    for (index_t c = 0; c < nc; ++c) {
      index_t pr = 0;
      for (index_t k = 0; k < r; ++k)
        for (index_t l = k; l < r; ++l, ++pr) {
          const float* sk = reinterpret_cast<const float*>(maps + c * npix + g[k] * nx);
          const float* sl = reinterpret_cast<const float*>(maps + c * npix + g[l] * nx);
          double* ore = gre.data() + pr * nx;
          double* oim = gim.data() + pr * nx;
          for (index_t x = 0; x < nx; ++x) {
            const double ar = sk[2 * x], ai = sk[2 * x + 1], br = sl[2 * x], bi = sl[2 * x + 1];
            ore[x] += ar * br + ai * bi;
            oim[x] += ar * bi - ai * br;
          }
        }
    }
    std::vector<index_t> act;
    std::vector<std::complex<double>> a, h, rhs, inv;
    std::vector<double> diag(static_cast<std::size_t>(r)), var;
    auto pair_index = [&](index_t k, index_t l) { return k * r - k * (k - 1) / 2 + (l - k); };  // k <= l
    for (index_t x = 0; x < nx; ++x) {
      act.clear();
      for (index_t k = 0; k < r; ++k) {
        diag[static_cast<std::size_t>(k)] = gre[static_cast<std::size_t>(pair_index(k, k) * nx + x)];
        if (diag[static_cast<std::size_t>(k)] > 0) act.push_back(k);
      }
      for (index_t k = 0; k < r; ++k) {
        if (image) image[g[k] * nx + x] = cfloat(0.f, 0.f);
        if (gfactor) gfactor[g[k] * nx + x] = 0.f;
      }
      const index_t m = static_cast<index_t>(act.size());
      if (m == 0) continue;
      h.assign(static_cast<std::size_t>(m * m), 0.0);
      for (index_t i = 0; i < m; ++i)
        for (index_t j = 0; j < m; ++j) {
          const index_t k = act[static_cast<std::size_t>(i)], l = act[static_cast<std::size_t>(j)];
          const index_t pi = pair_index(std::min(k, l), std::max(k, l));
          std::complex<double> s(gre[static_cast<std::size_t>(pi * nx + x)], gim[static_cast<std::size_t>(pi * nx + x)]);
          if (k > l) s = std::conj(s);
          h[static_cast<std::size_t>(i * m + j)] = ag.phi[static_cast<std::size_t>(k * r + l)] * s;
        }
      if (!ridge_cholesky(h.data(), m, reg, a)) continue;  // cannot happen for a positive ridge; leave zeros
      if (image) {
        rhs.resize(static_cast<std::size_t>(m));
        for (index_t i = 0; i < m; ++i) rhs[static_cast<std::size_t>(i)] = std::complex<double>(b[g[act[static_cast<std::size_t>(i)]] * nx + x]);
        cholesky_solve(a.data(), m, rhs.data());
        for (index_t i = 0; i < m; ++i)
          image[g[act[static_cast<std::size_t>(i)]] * nx + x] = cfloat(rhs[static_cast<std::size_t>(i)]);
      }
      if (gfactor) {
        // Noise variance of x_k (whitened, unitary FFT); fully sampled it is 1 / (S^H S)_kk, so
        // g_k^2 = var_k (S^H S)_kk / R.
        var.resize(static_cast<std::size_t>(m));
        solve_noise_variances(a.data(), h.data(), m, inv, var.data());
        for (index_t i = 0; i < m; ++i) {
          const double ss = diag[static_cast<std::size_t>(act[static_cast<std::size_t>(i)])];
          gfactor[g[act[static_cast<std::size_t>(i)]] * nx + x] =
              static_cast<float>(std::sqrt(var[static_cast<std::size_t>(i)] * ss / static_cast<double>(r)));
        }
      }
    }
  });
}

}  // namespace detail
}  // namespace larmor
