// GRAPPA unmixing weights (include/larmor/pi/grappa.hpp), compiled once here.
#include "larmor/pi/grappa.hpp"

namespace larmor {
namespace detail {

void unmixing_weights(const grappa_kernel& kernel, const cfloat* s, cfloat* u, index_t nz, index_t ny,
                             index_t nx, const progress_fn& progress) {
  const index_t nc = kernel.coils, kx = kernel.kernel_x, n2 = nc * nc, n = nz * ny * nx;

  // Distinct offsets t - v along z and y, and the tap matrices T(dz, dy, dx) (row c, column o).
  std::vector<index_t> offz, offy;
  for (const auto& t : kernel.targets)
    for (const auto& v : kernel.sources) offz.push_back(t[0] - v[0]), offy.push_back(t[1] - v[1]);
  auto unique_sorted = [](std::vector<index_t>& a) {
    std::sort(a.begin(), a.end());
    a.erase(std::unique(a.begin(), a.end()), a.end());
  };
  unique_sorted(offz);
  unique_sorted(offy);
  const index_t ndz = static_cast<index_t>(offz.size()), ndy = static_cast<index_t>(offy.size());
  const index_t nv = static_cast<index_t>(kernel.sources.size());
  std::vector<cfloat> taps(static_cast<std::size_t>(std::max<index_t>(ndz * ndy, 1) * kx * n2), cfloat(0.f, 0.f));
  const detail::grappa_cmap W(kernel.weights.data(), kernel.n_sources(), kernel.n_targets());
  auto pos = [](const std::vector<index_t>& a, index_t v) {
    return static_cast<index_t>(std::lower_bound(a.begin(), a.end(), v) - a.begin());
  };
  for (std::size_t ti = 0; ti < kernel.targets.size(); ++ti)
    for (index_t v = 0; v < nv; ++v) {
      const auto& t = kernel.targets[ti];
      const auto& sv = kernel.sources[static_cast<std::size_t>(v)];
      const index_t zy = pos(offz, t[0] - sv[0]) * ndy + pos(offy, t[1] - sv[1]);
      for (index_t d = 0; d < kx; ++d) {
        cfloat* T = taps.data() + (zy * kx + d) * n2;
        for (index_t c = 0; c < nc; ++c)
          for (index_t o = 0; o < nc; ++o)
            T[c * nc + o] += W((v * kx + d) * nc + c, static_cast<index_t>(ti) * nc + o);
      }
    }
  auto plane_wave = [](index_t delta, index_t i, index_t len) {
    const double a = 2.0 * 3.14159265358979323846 * static_cast<double>(delta) *
                     static_cast<double>(i - len / 2) / static_cast<double>(len);
    return cfloat(static_cast<float>(std::cos(a)), static_cast<float>(std::sin(a)));
  };
  std::vector<cfloat> ez(static_cast<std::size_t>(ndz * nz)), ey(static_cast<std::size_t>(ndy * ny));
  for (index_t a = 0; a < ndz; ++a)
    for (index_t z = 0; z < nz; ++z) ez[static_cast<std::size_t>(a * nz + z)] = plane_wave(offz[a], z, nz);
  for (index_t a = 0; a < ndy; ++a)
    for (index_t y = 0; y < ny; ++y) ey[static_cast<std::size_t>(a * ny + y)] = plane_wave(offy[a], y, ny);

  // Blocks of xb readout positions: the maps are read and u written in whole cache lines.
  const index_t xb = 8, nblocks = (nx + xb - 1) / xb, ntaps = ndz * ndy;
  detail::progress_counter prog(progress, nblocks);
  std::vector<cfloat> Tx(static_cast<std::size_t>(xb * std::max<index_t>(ntaps, 1) * n2));
  for (index_t bi = 0; bi < nblocks; ++bi) {
    const index_t x0 = bi * xb, nb = std::min(xb, nx - x0);
    // T_x(dz, dy) = sum_dx e_x(dx, x) T(dz, dy, dx), dx = d - kx/2 at k-space offset -dx.
    parallel_for(nb * ntaps, [&](index_t jt) {
      const index_t j = jt / ntaps, zy = jt % ntaps;
      cfloat* dst = Tx.data() + jt * n2;
      std::fill(dst, dst + n2, cfloat(0.f, 0.f));
      for (index_t d = 0; d < kx; ++d) {
        const cfloat ph = detail::readout_phase(d, kx, x0 + j, nx);
        const cfloat* T = taps.data() + (zy * kx + d) * n2;
        for (index_t i = 0; i < n2; ++i) dst[i] += ph * T[i];
      }
    });
    // Tasks: a partition z and a run of the block's columns (all of them for volumes; one each for 2D,
    // which has a single partition, so that both threads work).
    const index_t per_task = nz >= 2 * static_cast<index_t>(num_threads()) ? nb : 1;
    const index_t runs = (nb + per_task - 1) / per_task;
    parallel_for(nz * runs, [&](index_t task) {
      const index_t z = task / runs, j0 = task % runs * per_task, m = std::min(per_task, nb - j0);
      // Per column j of the run: w (nc x ny), H (ndy nc x nc), P = H w (ndy nc x ny).
      std::vector<cfloat> w(static_cast<std::size_t>(m * nc * ny)), H(static_cast<std::size_t>(ndy * n2)),
          P(static_cast<std::size_t>(ndy * nc * ny));
      std::vector<float> wp(kernels::packed_matrix_floats(nc, ny));  // w of one column, packed
      std::vector<float> den(static_cast<std::size_t>(ny * m), 0.f);
      for (index_t o = 0; o < nc; ++o)
        for (index_t y = 0; y < ny; ++y) {
          const cfloat* row = s + o * n + (z * ny + y) * nx + x0 + j0;
          for (index_t j = 0; j < m; ++j) den[static_cast<std::size_t>(y * m + j)] += std::norm(row[j]);
        }
      for (index_t o = 0; o < nc; ++o)
        for (index_t y = 0; y < ny; ++y) {
          const cfloat* row = s + o * n + (z * ny + y) * nx + x0 + j0;
          for (index_t j = 0; j < m; ++j) {
            const float dd = den[static_cast<std::size_t>(y * m + j)];
            w[static_cast<std::size_t>((j * nc + o) * ny + y)] = dd > 0 ? std::conj(row[j]) / dd : cfloat(0.f, 0.f);
          }
        }
      for (index_t j = 0; j < m; ++j) {
        std::fill(H.begin(), H.end(), cfloat(0.f, 0.f));
        for (index_t a = 0; a < ndz; ++a) {
          const cfloat e = ez[static_cast<std::size_t>(a * nz + z)];
          for (index_t b = 0; b < ndy; ++b) {
            const cfloat* T = Tx.data() + (((j0 + j) * ntaps) + a * ndy + b) * n2;
            cfloat* h = H.data() + b * n2;
            for (index_t i = 0; i < n2; ++i) h[i] += e * T[i];
          }
        }
        const cfloat* wj = w.data() + j * nc * ny;
        kernels::pack_matrix(wj, nc, ny, ny, wp.data());
        kernels::packed_product(ndy * nc, ny, nc, H.data(), nc, wp.data(), P.data(), ny);
        for (index_t c = 0; c < nc; ++c) {
          cfloat* out = u + c * n + z * ny * nx + x0 + j0 + j;
          for (index_t y = 0; y < ny; ++y) {
            cfloat acc = wj[c * ny + y];
            for (index_t b = 0; b < ndy; ++b)
              acc += ey[static_cast<std::size_t>(b * ny + y)] * P[static_cast<std::size_t>((b * nc + c) * ny + y)];
            out[y * nx] = acc;
          }
        }
      }
    });
    prog.step();
  }
}

}  // namespace detail
}  // namespace larmor
