// ESPIRiT (include/larmor/coils/espirit.hpp) instantiated once for 2D and 3D k-space; the header declares
// these instances extern.
#include "larmor/coils/espirit.hpp"
#include "larmor/kernels/packed_gram.hpp"

namespace larmor {

template espirit_calibration<3> espirit_calibrate<3>(strided_view<const cfloat, 3>, const espirit_options&);
template espirit_calibration<4> espirit_calibrate<4>(strided_view<const cfloat, 4>, const espirit_options&);
template espirit_result<3> espirit<3>(espirit_calibration<3>&&, const espirit_options&);
template espirit_result<4> espirit<4>(espirit_calibration<4>&&, const espirit_options&);

}  // namespace larmor

namespace larmor {
namespace detail {

std::vector<cfloat> espirit_taps(const array<cfloat, 4>& cal, const extents<3>& kern, double threshold,
                                        index_t exact_limit, index_t& kept) {
  const index_t nc = cal.shape(0), cz = cal.shape(1), cy = cal.shape(2), cx = cal.shape(3);
  const index_t kz = kern[0], ky = kern[1], kx = kern[2], kv = kz * ky * kx;
  const index_t pz = cz - kz + 1, py = cy - ky + 1, px = cx - kx + 1;
  const index_t n = nc * kv, npatch = pz * py * px;
  std::vector<cfloat> A(static_cast<std::size_t>(npatch * n));  // row = one patch, column (c, dz, dy, dx)
  parallel_for(npatch, [&](index_t col) {
    const index_t z = col / (py * px), y = (col / px) % py, x = col % px;
    cfloat* row = A.data() + col * n;
    for (index_t c = 0; c < nc; ++c)
      for (index_t dz = 0; dz < kz; ++dz)
        for (index_t dy = 0; dy < ky; ++dy)
          for (index_t dx = 0; dx < kx; ++dx) *row++ = cal(c, z + dz, y + dy, x + dx);
  });
  // The k-space patches x (columns of A^T) span range(A^T) = conj(range(A^H)): with u_i the right singular
  // vectors of A the signal basis is b_i = conj(u_i), and Uc holds row i = conj(b_i) = u_i.
  std::vector<cfloat> Uc;
  {
    const index_t m = std::min(n, npatch);
    std::vector<cfloat> gram(static_cast<std::size_t>(m * m));
    std::vector<float> lam(static_cast<std::size_t>(m));
    if (n <= npatch)
      kernels::packed_normal_equations(npatch, n, 0, A.data(), n, nullptr, 0, gram.data(), n, nullptr, 0);  // A^H A
    else
      kernels::gram_rows_lower(npatch, n, A.data(), n, gram.data(), npatch);  // A A^H
    if (m <= exact_limit || !detail::top_eigenpairs(m, gram, lam, threshold))
      LARMOR_CHECK_DATA(kernels::hermitian_eig(m, gram.data(), lam.data()),
                        "espirit_maps: the eigendecomposition of the calibration matrix failed (", m, " x ", m, ")");
    const double l0 = lam[static_cast<std::size_t>(m - 1)];
    LARMOR_CHECK_DATA(l0 > 0 && std::isfinite(l0), "espirit_maps: the calibration region is all zero");
    kept = 0;
    while (kept < m && lam[static_cast<std::size_t>(m - 1 - kept)] / l0 > threshold) ++kept;
    Uc.resize(static_cast<std::size_t>(kept * n));
    if (n <= npatch) {
      for (index_t i = 0; i < kept; ++i) {
        const cfloat* v = gram.data() + (m - 1 - i) * m;
        std::copy(v, v + n, Uc.begin() + i * n);
      }
    } else {
      // u_i = A^H v_i / sqrt(lambda_i): conj(u_i)^T = conj(v_i)^T A / sqrt(lambda_i).
      std::vector<cfloat> V(static_cast<std::size_t>(kept * npatch));
      for (index_t i = 0; i < kept; ++i) {
        const cfloat* v = gram.data() + (m - 1 - i) * m;
        const float sc = 1.f / std::sqrt(lam[static_cast<std::size_t>(m - 1 - i)]);
        for (index_t j = 0; j < npatch; ++j) V[static_cast<std::size_t>(i * npatch + j)] = std::conj(v[j]) * sc;
      }
      kernels::cgemm(false, kept, n, npatch, V.data(), npatch, A.data(), n, 0.f, Uc.data(), n);
      for (auto& e : Uc) e = std::conj(e);
    }
  }
  A = std::vector<cfloat>();
  const index_t gz = 2 * kz - 1, gy = 2 * ky - 1, gx = 2 * kx - 1, n2 = nc * nc;
  std::vector<cfloat> g(static_cast<std::size_t>(gz * gy * gx * n2));
  const double inv_vol = 1.0 / static_cast<double>(kv);
  std::vector<cfloat> Pc(static_cast<std::size_t>(kv * n));
  for (index_t c = 0; c < nc; ++c) {
    // Pc[a, b] = P[(c, a), b] = sum_i b_i[(c, a)] conj(b_i[b]) = (Uc^H Uc)[(c, a), b]
    kernels::cgemm(true, kv, n, kept, Uc.data() + c * kv, n, Uc.data(), n, 0.f, Pc.data(), n);
    parallel_for(gz * gy * gx, [&](index_t di) {
      const index_t dz = di / (gy * gx) - (kz - 1), dy = (di / gx) % gy - (ky - 1), dx = di % gx - (kx - 1);
      cfloat* gd = g.data() + di * n2 + c * nc;
      for (index_t d = 0; d < nc; ++d) {
        std::complex<double> acc = 0;
        for (index_t z = std::max<index_t>(0, -dz); z < std::min(kz, kz - dz); ++z)
          for (index_t y = std::max<index_t>(0, -dy); y < std::min(ky, ky - dy); ++y) {
            const cfloat* prow = Pc.data() + ((z * ky + y) * kx) * n + d * kv + ((z + dz) * ky + y + dy) * kx + dx;
            for (index_t x = std::max<index_t>(0, -dx); x < std::min(kx, kx - dx); ++x)
              acc += std::complex<double>(prow[x * n + x]);
          }
        gd[d] = cfloat(acc * inv_vol);
      }
    });
  }
  return g;
}

}  // namespace detail
}  // namespace larmor
