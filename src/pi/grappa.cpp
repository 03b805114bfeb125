// GRAPPA unmixing weights (include/larmor/pi/grappa.hpp), compiled once here.
#include "larmor/pi/grappa.hpp"

#include "larmor/coils/small_hermitian.hpp"

namespace larmor {
namespace detail {

// See the declaration in grappa.hpp for the formulas. Layout: the hybrid ACS block as (x, z, y, coil), so
// that the rows of one readout position's matrix are gathered coil-contiguous; per readout position x:
//   St (P x (ms + mt)): row p = stencil position, columns (line, coil) for the source lines then the
//                       target lines; Sc (ms x P) = conj(St[:, :ms])^T;
//   M_x = Sc St[:, :ms] (lower triangle: one task per 32-column block, its rows from the block down),
//   N_x = Sc St[:, ms:]   (one task per 32-column block), both on kernels::packed_product;
// each task folds its block into the lag sums at once (the block is still in cache):
//   Glag[delta] += lambda_delta(x) M_x,  Nlag[d] += conj(rho_d(x)) N_x.
// Every entry is owned by one task and sums x in increasing order: the result does not depend on the
// thread count.
void hybrid_normal_equations(const grappa_kernel& k, strided_view<const cfloat, 4> acs, grappa_matrix& G,
                             grappa_matrix& AhB) {
  const index_t nc = k.coils, Z = acs.shape(1), Y = acs.shape(2), X = acs.shape(3);
  const index_t kx = k.kernel_x, hx = kx / 2, nlag = 2 * kx - 1;
  const auto b = stencil_extent(k);
  const index_t pz = Z - (b.z1 - b.z0), py = Y - (b.y1 - b.y0), P = pz * py;
  const index_t nv = static_cast<index_t>(k.sources.size()), ntl = static_cast<index_t>(k.targets.size());
  const index_t ms = nv * nc, mt = ntl * nc, ns = k.n_sources(), nt = k.n_targets();

  // The hybrid block h(x, z, y, c) = ifftc_x acs(c, z, y, x) (unitary, so sums keep their k-space values).
  array<cfloat, 4> h;
  {
    array<cfloat, 4> t = to_array(acs);
    ifftc_inplace(t, {3});
    h = array<cfloat, 4>({X, Z, Y, nc}, uninitialized);
    parallel_for(Z * Y, [&](index_t zy) {
      const index_t z = zy / Y, y = zy % Y;
      for (index_t c = 0; c < nc; ++c)
        for (index_t x = 0; x < X; ++x) h(x, z, y, c) = t(c, z, y, x);
    });
  }

  // The lines of the stencil: sources, then targets, as (z, y) offsets from the reference point.
  std::vector<std::array<index_t, 2>> lines(k.sources);
  lines.insert(lines.end(), k.targets.begin(), k.targets.end());
  const index_t mw = ms + mt, pb = kernels::packed_block;
  const index_t sblocks = (ms + pb - 1) / pb, tblocks = (mt + pb - 1) / pb, pstride = P * 4 * pb;
  std::vector<cfloat> St(static_cast<std::size_t>(P * mw)), Sc(static_cast<std::size_t>(ms * P));
  std::vector<float> packedS(kernels::packed_matrix_floats(P, ms)), packedT(kernels::packed_matrix_floats(P, mt));
  std::vector<cfloat> Glag(static_cast<std::size_t>(nlag * ms * ms), cfloat(0.f, 0.f));
  std::vector<cfloat> Nlag(static_cast<std::size_t>(kx * ms * mt), cfloat(0.f, 0.f));
  std::vector<std::vector<cfloat>> scratch(static_cast<std::size_t>(sblocks + tblocks));
  std::vector<cfloat> lam(static_cast<std::size_t>(nlag)), rho(static_cast<std::size_t>(kx));

  for (index_t x = 0; x < X; ++x) {
    for (index_t dl = 0; dl < nlag; ++dl) lam[static_cast<std::size_t>(dl)] = readout_phase(dl, nlag, x, X);
    for (index_t d = 0; d < kx; ++d) rho[static_cast<std::size_t>(d)] = std::conj(readout_phase(d, kx, x, X));
    parallel_for(P, [&](index_t p) {
      const index_t z = p / py - b.z0, y = p % py - b.y0;
      cfloat* row = St.data() + p * mw;
      for (std::size_t l = 0; l < lines.size(); ++l)
        std::copy_n(&h(x, z + lines[l][0], y + lines[l][1], 0), nc, row + static_cast<index_t>(l) * nc);
    });
    parallel_for(sblocks + tblocks + (ms + 63) / 64, [&](index_t t) {
      if (t < sblocks) {
        const index_t c0 = t * pb;
        kernels::pack_matrix(St.data() + c0, P, std::min(pb, ms - c0), mw, packedS.data() + t * pstride);
      } else if (t < sblocks + tblocks) {
        const index_t c0 = (t - sblocks) * pb;
        kernels::pack_matrix(St.data() + ms + c0, P, std::min(pb, mt - c0), mw, packedT.data() + (t - sblocks) * pstride);
      } else {
        const index_t i0 = (t - sblocks - tblocks) * 64;
        for (index_t p = 0; p < P; ++p)
          for (index_t i = i0; i < std::min(ms, i0 + 64); ++i) Sc[static_cast<std::size_t>(i * P + p)] = std::conj(St[static_cast<std::size_t>(p * mw + i)]);
      }
    });
    parallel_for_dynamic(sblocks + tblocks, [&](index_t t) {
      auto& C = scratch[static_cast<std::size_t>(t)];
      if (t < sblocks) {  // rows c0.. of the column block c0 of M_x, folded into every lag
        const index_t c0 = t * pb, w = std::min(pb, ms - c0), m = ms - c0;
        C.resize(static_cast<std::size_t>(m * w));
        kernels::packed_product(m, w, P, Sc.data() + c0 * P, P, packedS.data() + t * pstride, C.data(), w, false);
        for (index_t dl = 0; dl < nlag; ++dl)
          for (index_t r = 0; r < m; ++r)
            caxpy(lam[static_cast<std::size_t>(dl)], C.data() + r * w, Glag.data() + (dl * ms + c0 + r) * ms + c0, w);
      } else {  // the column block c0 of N_x, folded into every readout tap
        const index_t c0 = (t - sblocks) * pb, w = std::min(pb, mt - c0);
        C.resize(static_cast<std::size_t>(ms * w));
        kernels::packed_product(ms, w, P, Sc.data(), P, packedT.data() + (t - sblocks) * pstride, C.data(), w, false);
        for (index_t d = 0; d < kx; ++d)
          for (index_t r = 0; r < ms; ++r)
            caxpy(rho[static_cast<std::size_t>(d)], C.data() + r * w, Nlag.data() + (d * ms + r) * mt + c0, w);
      }
    });
  }

  // Assemble: G[(v1,d1,c1), (v2,d2,c2)] = Glag[d2 - d1][i1][i2] (i = v nc + c) for i1 >= i2, and
  // conj(Glag[d1 - d2][i2][i1]) otherwise (M_x is Hermitian); AhB[(v,d,c), t] = Nlag[d][v nc + c][t].
  parallel_for(ns, [&](index_t s1) {
    const index_t i1 = (s1 / (kx * nc)) * nc + s1 % nc, d1 = (s1 / nc) % kx;
    for (index_t s2 = 0; s2 <= s1; ++s2) {
      const index_t i2 = (s2 / (kx * nc)) * nc + s2 % nc, d2 = (s2 / nc) % kx;
      G(s1, s2) = i1 >= i2 ? Glag[static_cast<std::size_t>(((d2 - d1 + kx - 1) * ms + i1) * ms + i2)]
                           : std::conj(Glag[static_cast<std::size_t>(((d1 - d2 + kx - 1) * ms + i2) * ms + i1)]);
    }
    for (index_t t = 0; t < nt; ++t) AhB(s1, t) = Nlag[static_cast<std::size_t>((d1 * ms + i1) * mt + t)];
  });

  // The hybrid sums are circular along the readout: take away the rows whose stencil wraps around the
  // block's edge (x < hx or x + kx - 1 - hx >= X), built in k-space exactly as they were counted.
  std::vector<index_t> wrap_x;
  for (index_t x = 0; x < X; ++x)
    if (x < hx || x + (kx - 1 - hx) >= X) wrap_x.push_back(x);
  const index_t rows = static_cast<index_t>(wrap_x.size()) * P;
  if (rows == 0) return;
  grappa_matrix A(rows, ns), B(rows, nt);
  const index_t nw = static_cast<index_t>(wrap_x.size());
  parallel_for(rows, [&](index_t r) {
    const index_t p = r / nw;
    calibration_row(k, acs, p / py - b.z0, p % py - b.y0, wrap_x[static_cast<std::size_t>(r % nw)], &A(r, 0), &B(r, 0));
  });
  normal_equations(A, B, G, AhB, -1.f);
}

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
        caxpy(detail::readout_phase(d, kx, x0 + j, nx), taps.data() + (zy * kx + d) * n2, dst, n2);
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
      // 64-byte aligned: kernels::cmac computes an unaligned head in scalar code, so a heap vector's
      // alignment would decide which samples round with FMA -- and results would depend on the run.
      array<cfloat, 1> acc({ny}, uninitialized);
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
          for (index_t b = 0; b < ndy; ++b)
            caxpy(e, Tx.data() + (((j0 + j) * ntaps) + a * ndy + b) * n2, H.data() + b * n2, n2);
        }
        const cfloat* wj = w.data() + j * nc * ny;
        kernels::pack_matrix(wj, nc, ny, ny, wp.data());
        kernels::packed_product(ndy * nc, ny, nc, H.data(), nc, wp.data(), P.data(), ny);
        // u_c(y) = w_c(y) + sum_b e_y(b, y) P(b, c, y): the sums along y on the SIMD kernel, then scattered.
        for (index_t c = 0; c < nc; ++c) {
          std::copy_n(wj + c * ny, ny, acc.data());
          for (index_t b = 0; b < ndy; ++b) kernels::cmac(ey.data() + b * ny, P.data() + (b * nc + c) * ny, acc.data(), ny);
          cfloat* out = u + c * n + z * ny * nx + x0 + j0 + j;
          for (index_t y = 0; y < ny; ++y) out[y * nx] = acc[y];
        }
      }
    });
    prog.step();
  }
}

}  // namespace detail
}  // namespace larmor
