// larmor/pi/grappa.hpp — GRAPPA: calibrate a k-space interpolation kernel on ACS data, fill the
// missing lines (k-space path) or turn the kernel into image-domain unmixing weights (image path).
//
// Griswold et al., "Generalized autocalibrating partially parallel acquisitions (GRAPPA)",
// MRM 47:1202 (2002); 2D/CAIPIRINHA lattices after Breuer et al., MRM 55:549 (2006).
//
// Geometry. The acquired lines form a lattice L (include/larmor/sampling/lattice.hpp) with generators
// (y, z) = (Ry, 0) and (shift, Rz). Every missing line is p = l0 + t with l0 on the lattice and t one
// of the R - 1 non-zero offsets of the elementary cell {0 <= ty < Ry, 0 <= tz < Rz}. Its sources are
// the lattice lines l0 + v, v = i (Ry, 0) + j (shift, Rz) for kernel_y values of i centred on the
// cell (4 -> i = -1, 0, 1, 2: Gadgetron's offsets -R, 0, R, 2R), kernel_z values of j in 3D, and
// kernel_x readout neighbours (5 -> dx = -2..2):
//     k_o(l0 + t, kx) = sum_{c, v, dx} W[(v, dx, c), (t, o)] k_c(l0 + v, kx + dx).
// One solve gives the weights of all R - 1 targets (and all output coils) at once.
//
// Calibration solves the ridge regression min ||A W - B||^2 + lambda ||W||^2 over every position of the
// fully sampled ACS block where the whole stencil fits: A = sources (rows x n_src), B = targets.
// lambda = reg * tr(A^H A) / n_src with reg = 5e-4 (Gadgetron's scale, solved by Cholesky as there:
// A^H A and A^H B on the threads by kernels::packed_product, LAPACK cpotrf/cpotrs):
// relative to the mean source power, so the same reg works for any data scaling and coil count;
// pygrappa's 0.01 * ||A^H A||_F / n is a heavier, norm-based variant of the same idea.
//
// Application (memory stays bounded, also for 3D at 64 coils): after a 1D inverse FFT along x the
// readout taps become one matrix per readout position, W_x = sum_dx W(dx) exp(-2 pi i dx (x - Nx/2)/Nx),
// and each x column is filled by one small matrix product (W_x times the sources of every lattice
// point; kernels::packed_product on every thread) — no source matrix of the whole volume is ever built.
// Acquired lines, ACS lines included, are returned exactly as acquired.
//
// Image path: on zero-filled lattice data the kernel is one circular convolution, so in image space
// it is a per-pixel coil mixing, unfolded_o = sum_c K_oc(r) alias_c(r), K = sqrt(N) ifftc(kernel).
// Folding in the combination weights w_o = conj(S_o) / sum |S|^2 gives unmixing weights
//     u_c(r) = sum_o w_o(r) K_oc(r),     image = sum_c u_c alias_c      (one multiply-add per coil),
// computed once and reused for every slice/repetition with the same sampling. The g-factor follows from
// them (white noise of unit variance per coil, i.e. prewhitened data):
//     g(r) = sqrt(sum_c |u_c|^2) / (R sqrt(sum_o |w_o|^2)),
// Gadgetron's sqrt(sum |unmix|^2) / R for maps normalised to sum |S|^2 = 1.
#pragma once

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <vector>

#include "larmor/calib/calibration_region.hpp"
#include "larmor/core/array.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/fft/fft.hpp"
#include "larmor/kernels/coil_kernels.hpp"
#include "larmor/kernels/dense_decompositions.hpp"
#include "larmor/kernels/matrix_products.hpp"
#include "larmor/kernels/packed_gram.hpp"
#include "larmor/kernels/packed_product.hpp"
#include "larmor/sampling/lattice.hpp"

namespace larmor {

struct grappa_options {
  index_t kernel_y = 4;   // source lines along y, in lattice steps (Ry apart)
  index_t kernel_x = 5;   // readout neighbours
  index_t kernel_z = 3;   // source rows along z, in lattice steps (3D with Rz > 1 only)
  float reg = 5e-4f;      // Tikhonov lambda = reg * tr(A^H A) / n_sources
  // 0 (the default): every stencil position of the ACS block is a calibration row, the normal equations
  // formed in hybrid space (detail::hybrid_normal_equations: the kernel_x readout taps share one Gram
  // matrix per readout position, so even a 3D 64-coil block's ~70,000 positions cost less than 23,000
  // rows of the explicit source matrix did). N > 0: at most N rows per unknown source weight from the
  // explicit source matrix, the positions with the most signal kept (select_calibration_rows) -- the
  // earlier default (48 in 2D, 6 in 3D), kept for comparison.
  // Measured on ismrmrd_generate_cartesian_shepp_logan (16 coils, 192^2, R = 3, noise 0.02), NRMSE of
  // the GRAPPA image against the phantom with the central 96 lines as calibration: all 17,296 positions
  // (54 per source) 0.133, the 48 per source with most signal 0.133, 24: 0.140, 6: 0.151.
  index_t max_rows_per_source = 0;
};

// A calibrated GRAPPA kernel (see the top of this file for the index conventions).
struct grappa_kernel {
  sampling_lattice lattice;
  index_t coils = 0, kernel_x = 0;
  std::vector<std::array<index_t, 2>> sources;  // lattice offsets v as (z, y)
  std::vector<std::array<index_t, 2>> targets;  // cell offsets t as (z, y), (0, 0) excluded
  // weights(s, t) with s = (v * kernel_x + d) * coils + c (dx = d - kernel_x / 2), t = target * coils + o.
  array<cfloat, 2> weights;

  index_t n_sources() const { return static_cast<index_t>(sources.size()) * kernel_x * coils; }
  index_t n_targets() const { return static_cast<index_t>(targets.size()) * coils; }
};

namespace detail {

using grappa_matrix = Eigen::Matrix<cfloat, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using grappa_map = Eigen::Map<grappa_matrix>;
using grappa_cmap = Eigen::Map<const grappa_matrix>;

// View a (coils, y, x) k-space as (coils, 1, y, x).
inline strided_view<const cfloat, 4> as_volume(strided_view<const cfloat, 3> k) {
  return {k.data(), {k.shape(0), 1, k.shape(1), k.shape(2)}, {k.stride(0), 0, k.stride(1), k.stride(2)}};
}
inline strided_view<const cfloat, 4> as_volume(strided_view<const cfloat, 4> k) { return k; }

inline grappa_kernel grappa_geometry(const sampling_lattice& L, index_t coils, const grappa_options& o) {
  LARMOR_CHECK_ARG(o.kernel_y >= 1 && o.kernel_x >= 1 && o.kernel_z >= 1, "grappa: kernel sizes must be >= 1, got (",
                   o.kernel_y, ", ", o.kernel_x, ", ", o.kernel_z, ")");
  LARMOR_CHECK_ARG(o.reg >= 0 && std::isfinite(o.reg), "grappa: reg must be finite and >= 0, got ", o.reg);
  grappa_kernel k;
  k.lattice = L;
  k.coils = coils;
  k.kernel_x = o.kernel_x;
  const index_t ky = o.kernel_y, kz = L.rz > 1 ? o.kernel_z : 1;
  for (index_t j = -((kz - 1) / 2); j < kz - (kz - 1) / 2; ++j)
    for (index_t i = -((ky - 1) / 2); i < ky - (ky - 1) / 2; ++i) k.sources.push_back({j * L.rz, i * L.ry + j * L.shift});
  for (index_t tz = 0; tz < L.rz; ++tz)
    for (index_t ty = 0; ty < L.ry; ++ty)
      if (tz != 0 || ty != 0) k.targets.push_back({tz, ty});
  return k;
}

// Bounding box (z, y) of the stencil relative to l0: sources and targets.
struct stencil_box {
  index_t z0 = 0, z1 = 0, y0 = 0, y1 = 0;  // inclusive
};
inline stencil_box stencil_extent(const grappa_kernel& k) {
  stencil_box b;
  auto grow = [&](const std::array<index_t, 2>& p) {
    b.z0 = std::min(b.z0, p[0]), b.z1 = std::max(b.z1, p[0]);
    b.y0 = std::min(b.y0, p[1]), b.y1 = std::max(b.y1, p[1]);
  };
  for (const auto& v : k.sources) grow(v);
  for (const auto& t : k.targets) grow(t);
  return b;
}

// The normal equations of min ||A W - B||: G += A^H A (lower triangle, and the upper half of the diagonal
// blocks) and AhB += A^H B, on the packed product shared over the threads (kernels/packed_gram.hpp): the
// serial BLAS left one core idle for most of a calibration (64 coils 512^2: 52 GFlop of products, 40 of
// them the Gram matrix; 0.45 s on one core with OpenBLAS's AVX-512 kernels, 0.7 s with its AVX2 ones).
// sign = -1 takes the rows away instead (G -= A^H A, AhB -= A^H B).
inline void normal_equations(const grappa_matrix& A, const grappa_matrix& B, grappa_matrix& G, grappa_matrix& AhB,
                             float sign = 1.f) {
  kernels::packed_normal_equations(A.rows(), A.cols(), B.cols(), A.data(), A.cols(), B.data(), B.cols(), G.data(),
                                   G.cols(), AhB.data(), AhB.cols(), sign);
}

// The calibration rows: of the n stencil positions of an ACS block, at most `cap`, in increasing index
// order. When all fit, all of them; otherwise the `cap` positions with the most signal, measured as the
// power over the coils at the stencil's middle sample (`middle(p)` = its (z, y, x) in the block), ties
// broken by index so that the choice does not depend on the thread count.
// Why by signal: positions far from the k-space centre hold mostly noise, and a least-squares fit whose
// sources are mostly noise shrinks the weights (errors in the variables). The earlier rule -- every
// `step`-th readout position over the whole block -- filled the rows with such positions as the block
// grew: on a 16-coil 192^2 R = 3 phantom the image got worse with more calibration (NRMSE 0.15 with the
// central 24 lines, 0.33 with 96) where a fit on all positions keeps improving (0.149 -> 0.133).
template <class Middle>
std::vector<index_t> select_calibration_rows(strided_view<const cfloat, 4> acs, index_t n, index_t cap, Middle middle) {
  std::vector<index_t> keep(static_cast<std::size_t>(n));
  for (index_t p = 0; p < n; ++p) keep[static_cast<std::size_t>(p)] = p;
  if (n <= cap) return keep;
  std::vector<float> power(static_cast<std::size_t>(n));
  parallel_for(n, [&](index_t p) {
    const auto m = middle(p);
    float e = 0;
    for (index_t c = 0; c < acs.shape(0); ++c) e += std::norm(acs(c, m[0], m[1], m[2]));
    power[static_cast<std::size_t>(p)] = e;
  });
  const auto stronger = [&](index_t a, index_t b) {
    const float pa = power[static_cast<std::size_t>(a)], pb = power[static_cast<std::size_t>(b)];
    return pa > pb || (pa == pb && a < b);
  };
  std::nth_element(keep.begin(), keep.begin() + cap, keep.end(), stronger);
  keep.resize(static_cast<std::size_t>(cap));
  std::sort(keep.begin(), keep.end());
  return keep;
}

// One calibration row of reference point l = (z, y) inside the ACS block at readout position x: the
// sources a[(v, d, c)] = acs(c, l + v, x + d - kx/2) and the targets b[(t, o)] = acs(o, l + t, x). The
// readout index is circular, which only the wrapped rows that hybrid_normal_equations takes away reach.
inline void calibration_row(const grappa_kernel& k, strided_view<const cfloat, 4> acs, index_t z, index_t y,
                            index_t x, cfloat* a, cfloat* b) {
  const index_t nc = k.coils, kx = k.kernel_x, hx = kx / 2, X = acs.shape(3);
  for (const auto& v : k.sources)
    for (index_t d = 0; d < kx; ++d) {
      const index_t xs = ((x + d - hx) % X + X) % X;
      for (index_t c = 0; c < nc; ++c) *a++ = acs(c, z + v[0], y + v[1], xs);
    }
  for (const auto& t : k.targets)
    for (index_t c = 0; c < nc; ++c) *b++ = acs(c, z + t[0], y + t[1], x);
}

// The normal equations over every stencil position of the ACS block (coils, z, y, x), formed in hybrid
// space (src/pi/grappa.cpp). A source column is a line v of coil c shifted by d - hx along the readout;
// after the unitary centred inverse DFT along x (h = ifftc_x) a circular shift by s is the phase
// rho_s(x) = exp(-2 pi i s (x - X/2) / X) (readout_phase), so by Parseval, with
// M_x[(v1,c1), (v2,c2)] = sum_{z,y} conj(h_{c1}(l + v1, x)) h_{c2}(l + v2, x) over the reference points l,
//     G[(v1,d1,c1), (v2,d2,c2)] = sum_x M_x[(v1,c1), (v2,c2)] exp(-2 pi i (d2 - d1) (x - X/2) / X),
//     AhB[(v,d,c), (t,o)]       = sum_x N_x[(v,c), (t,o)] conj(rho_{d - hx}(x)),
// the circular sums over every readout position; the kx - 1 positions per line whose stencil wraps
// around the block are then taken away exactly (normal_equations with sign -1), leaving the plain
// least-squares system over all positions. Cost: X * P * (n_lines * coils)^2 / 2 multiply-adds (P
// reference points per readout position) instead of X * P * (kernel_x * n_lines * coils)^2 / 2 for the
// source matrix -- a kernel_x^2 = 25-fold saving on the Gram matrix, without dropping any position.
void hybrid_normal_equations(const grappa_kernel& k, strided_view<const cfloat, 4> acs, grappa_matrix& G,
                             grappa_matrix& AhB);

// Calibration on a fully sampled block (coils, z, y, x).
inline void grappa_fit(grappa_kernel& k, strided_view<const cfloat, 4> acs, const grappa_options& o) {
  const index_t Z = acs.shape(1), Y = acs.shape(2), X = acs.shape(3);
  const index_t kx = k.kernel_x, hx = kx / 2;
  const auto b = stencil_extent(k);
  const index_t pz = Z - (b.z1 - b.z0), py = Y - (b.y1 - b.y0), px = X - (kx - 1);
  LARMOR_CHECK_DATA(py >= 1, "grappa: the calibration data has ", Y, " lines along y; a kernel of ", o.kernel_y,
                    " lines at Ry = ", k.lattice.ry, " (CAIPI shift ", k.lattice.shift, ") needs at least ",
                    b.y1 - b.y0 + 1);
  LARMOR_CHECK_DATA(pz >= 1, "grappa: the calibration data has ", Z, " partitions along z; a kernel of ",
                    o.kernel_z, " rows at Rz = ", k.lattice.rz, " needs at least ", b.z1 - b.z0 + 1);
  LARMOR_CHECK_DATA(px >= 1, "grappa: the calibration data has ", X, " readout samples; the kernel needs ", kx);
  const index_t ns = k.n_sources(), nt = k.n_targets();
  grappa_matrix G = grappa_matrix::Zero(ns, ns), AhB = grappa_matrix::Zero(ns, nt);
  if (o.max_rows_per_source <= 0) {
    hybrid_normal_equations(k, acs, G, AhB);  // every position
  } else {
    const auto positions = select_calibration_rows(acs, pz * py * px, ns * o.max_rows_per_source, [&](index_t p) {
      const index_t zy = p / px, x = p % px + hx;
      return std::array<index_t, 3>{zy / py - b.z0 + (b.z0 + b.z1) / 2, zy % py - b.y0 + (b.y0 + b.y1) / 2, x};
    });
    const index_t rows = static_cast<index_t>(positions.size());
    grappa_matrix A(rows, ns), B(rows, nt);
    parallel_for(rows, [&](index_t r) {
      const index_t p = positions[static_cast<std::size_t>(r)], zy = p / px;
      // the reference point l0 inside the block
      calibration_row(k, acs, zy / py - b.z0, zy % py - b.y0, p % px + hx, &A(r, 0), &B(r, 0));
    });
    normal_equations(A, B, G, AhB);
  }
  const float trace = G.diagonal().real().sum();
  LARMOR_CHECK_DATA(trace > 0 && std::isfinite(trace), "grappa: the calibration data is all zero");
  G.diagonal().array() += o.reg * trace / static_cast<float>(ns);
  k.weights = array<cfloat, 2>({ns, nt}, uninitialized);
  {  // Cholesky on LAPACK (cpotrf/cpotrs); G is kept for the fallback below.
    grappa_matrix F = G;
    grappa_map(k.weights.data(), ns, nt) = AhB;
    if (kernels::cholesky_solve(ns, nt, F.data(), k.weights.data())) return;
  }
  // Round-off made a (nearly) singular Gram matrix indefinite (tiny reg on noiseless data): pivoted LDL^T.
  LARMOR_CHECK_DATA(kernels::ldlt_solve(ns, nt, G.data(), AhB.data(), k.weights.data()),
                    "grappa: the calibration system is singular (use reg > 0)");
}

// Readout weights of tap d at hybrid-space column x: exp(-2 pi i dx (x - Nx/2) / Nx), dx = d - kx/2.
inline cfloat readout_phase(index_t d, index_t kx, index_t x, index_t nx) {
  const double a = -2.0 * 3.14159265358979323846 * static_cast<double>(d - kx / 2) *
                   static_cast<double>(x - nx / 2) / static_cast<double>(nx);
  return {static_cast<float>(std::cos(a)), static_cast<float>(std::sin(a))};
}

// The reference lattice points l0 = (z, y) whose cell reaches into a (nz, ny) matrix.
inline std::vector<std::array<index_t, 2>> lattice_points(const sampling_lattice& L, index_t nz, index_t ny) {
  std::vector<std::array<index_t, 2>> pts;
  const index_t jmin = -((L.offset_z + L.rz - 1) / L.rz) - 1;
  for (index_t j = jmin;; ++j) {
    const index_t z = L.offset_z + j * L.rz;
    if (z >= nz) break;
    if (z + L.rz - 1 < 0) continue;
    const index_t y_start = L.offset_y + j * L.shift;
    // first i with y + ry - 1 >= 0
    index_t i = -((y_start + L.ry - 1) / L.ry) - 1;
    for (;; ++i) {
      const index_t y = y_start + i * L.ry;
      if (y >= ny) break;
      if (y + L.ry - 1 >= 0) pts.push_back({z, y});
    }
  }
  return pts;
}

// Fills, in hybrid space (coils, z, y, x) with x already inverse-Fourier transformed, every line that
// `acquired` marks as missing. Source lines outside the matrix count as zero.
inline void grappa_fill_hybrid(const grappa_kernel& k, strided_view<cfloat, 4> h, const line_mask& acquired) {
  const index_t nc = k.coils, nz = h.shape(1), ny = h.shape(2), nx = h.shape(3), kx = k.kernel_x;
  const index_t nv = static_cast<index_t>(k.sources.size()), ntc = static_cast<index_t>(k.targets.size());
  // Lattice points with at least one missing target.
  std::vector<std::array<index_t, 2>> pts;
  for (const auto& l : detail::lattice_points(k.lattice, nz, ny))
    for (const auto& t : k.targets) {
      const index_t z = l[0] + t[0], y = l[1] + t[1];
      if (z >= 0 && z < nz && y >= 0 && y < ny && !acquired(z, y)) {
        pts.push_back(l);
        break;
      }
    }
  const index_t np = static_cast<index_t>(pts.size());
  if (np == 0) return;
  // The kernel of tap d as a (sources x targets) matrix W_d, rows v * nc + c, packed for
  // kernels::packed_product. At column x the kernel is W_x = sum_d e_d(x) W_d with the readout phase e_d;
  // in packed form P(e B) = Re(e) P(B) + Im(e) P(i B), and P(i B) is P(B) with its two halves swapped and
  // one negated (kernels/packed_product.hpp), so W_x is formed packed without complex arithmetic.
  const index_t nsrc = nv * nc, ntg = k.n_targets(), half = 2 * kernels::packed_block;  // floats of B per row
  const index_t pf = static_cast<index_t>(kernels::packed_matrix_floats(nsrc, ntg)), prows = pf / (2 * half);
  std::vector<float> taps(static_cast<std::size_t>(kx * pf));
  {
    grappa_matrix Wd(nsrc, ntg);
    for (index_t d = 0; d < kx; ++d) {
      for (index_t v = 0; v < nv; ++v)
        for (index_t c = 0; c < nc; ++c)
          std::copy_n(k.weights.data() + ((v * kx + d) * nc + c) * ntg, ntg, Wd.data() + (v * nc + c) * ntg);
      kernels::pack_matrix(Wd.data(), nsrc, ntg, ntg, taps.data() + d * pf);
    }
  }
  // Columns go in blocks of xb neighbours so that gathering sources and scattering targets reads and
  // writes whole cache lines along x; lattice points go in chunks to bound the buffers. Blocks run in
  // parallel, products included (the packed product is thread-safe). Every column is computed the same
  // way whatever the thread count, so the result does not depend on it.
  const index_t xb = 8, chunk = 1024, sx = h.stride(3);
  const index_t nblocks = (nx + xb - 1) / xb;
  parallel_for_blocks(nblocks, std::max<index_t>(1, nblocks / (4 * static_cast<index_t>(num_threads()))),
                      [&](index_t b0, index_t blen) {
    // Per column j of a block: S_j (points x sources), the packed W_x and T_j = S_j W_x (points x targets),
    // row-major, so that gathering and scattering run along the coils.
    std::vector<grappa_matrix> S(static_cast<std::size_t>(xb)), T(static_cast<std::size_t>(xb));
    std::vector<float> Wx(static_cast<std::size_t>(xb * pf));
    std::vector<float> ph(static_cast<std::size_t>(2 * xb * kx));
    for (index_t bi = b0; bi < b0 + blen; ++bi) {
      const index_t x0 = bi * xb, nb = std::min(xb, nx - x0);
      for (index_t j = 0; j < nb; ++j)
        for (index_t d = 0; d < kx; ++d) {
          const cfloat e = readout_phase(d, kx, x0 + j, nx);
          ph[static_cast<std::size_t>(2 * (j * kx + d))] = e.real();
          ph[static_cast<std::size_t>(2 * (j * kx + d) + 1)] = e.imag();
        }
      // One packed row (64 floats of B, 64 of i B) of every tap at a time, for all columns of the block.
      for (index_t q = 0; q < prows; ++q)
        for (index_t j = 0; j < nb; ++j) {
          float* o = Wx.data() + j * pf + q * 2 * half;
          std::fill_n(o, 2 * half, 0.f);
          for (index_t d = 0; d < kx; ++d) {
            const float* t = taps.data() + d * pf + q * 2 * half;
            const float er = ph[static_cast<std::size_t>(2 * (j * kx + d))],
                        ei = ph[static_cast<std::size_t>(2 * (j * kx + d) + 1)];
            for (index_t f = 0; f < half; ++f) {
              o[f] += er * t[f] + ei * t[half + f];
              o[half + f] += er * t[half + f] - ei * t[f];
            }
          }
        }
      for (index_t p0 = 0; p0 < np; p0 += chunk) {
        const index_t pn = std::min(chunk, np - p0);
        for (index_t j = 0; j < nb; ++j) S[j].resize(pn, nsrc), T[j].resize(pn, ntg);
        for (index_t p = 0; p < pn; ++p)
          for (index_t v = 0; v < nv; ++v) {
            const index_t z = pts[p0 + p][0] + k.sources[v][0], y = pts[p0 + p][1] + k.sources[v][1];
            const bool in = z >= 0 && z < nz && y >= 0 && y < ny;
            for (index_t c = 0; c < nc; ++c) {
              const cfloat* row = in ? &h(c, z, y, x0) : nullptr;
              for (index_t j = 0; j < nb; ++j) S[j](p, v * nc + c) = in ? row[j * sx] : cfloat(0.f, 0.f);
            }
          }
        for (index_t j = 0; j < nb; ++j)
          kernels::packed_product(pn, ntg, nsrc, S[j].data(), nsrc, Wx.data() + j * pf, T[j].data(), ntg);
        for (index_t p = 0; p < pn; ++p)
          for (index_t ti = 0; ti < ntc; ++ti) {
            const index_t z = pts[p0 + p][0] + k.targets[ti][0], y = pts[p0 + p][1] + k.targets[ti][1];
            if (z < 0 || z >= nz || y < 0 || y >= ny || acquired(z, y)) continue;
            for (index_t c = 0; c < nc; ++c) {
              cfloat* row = &h(c, z, y, x0);
              for (index_t j = 0; j < nb; ++j) row[j * sx] = T[j](p, ti * nc + c);
            }
          }
      }
    }
  });
}

template <std::size_t R>
void check_grappa_input(const char* func, strided_view<const cfloat, R> kspace) {
  static_assert(R == 3 || R == 4, "GRAPPA: k-space is (coils, y, x) or (coils, z, y, x)");
  LARMOR_CHECK_ARG(kspace.size() > 0, func, ": k-space is empty (shape ", shape_string(kspace.shape()), ")");
  check_finite(func, "k-space", kspace);
}

// The lattice of the data, with clear errors for data GRAPPA cannot use.
inline sampling_lattice grappa_lattice(const char* func, const line_mask& m) {
  LARMOR_CHECK_DATA(m.count() > 0, func, ": k-space holds no data (all zero)");
  const auto L = detect_lattice(m);
  LARMOR_CHECK_DATA(L.has_value(), func,
                    ": the sampling is not a regular (Ry x Rz, CAIPI) lattice; use cgsense for irregular masks");
  return *L;
}

}  // namespace detail

// Calibrates a kernel on fully sampled ACS data (coils, y, x) or (coils, z, y, x) — the ACS block itself,
// not the zero-filled matrix — for the sampling lattice of the accelerated data.
template <std::size_t R>
grappa_kernel grappa_calibrate(strided_view<const cfloat, R> acs, const sampling_lattice& lattice,
                               const grappa_options& opt = {}) {
  detail::check_grappa_input("grappa_calibrate", acs);
  LARMOR_CHECK_ARG(lattice.ry >= 1 && lattice.rz >= 1, "grappa_calibrate: acceleration must be >= 1, got Ry = ",
                   lattice.ry, ", Rz = ", lattice.rz);
  LARMOR_CHECK_ARG(R == 4 || lattice.rz == 1, "grappa_calibrate: Rz = ", lattice.rz, " needs 3D data (coils, z, y, x)");
  auto k = detail::grappa_geometry(lattice, acs.shape(0), opt);
  if (k.targets.empty()) {  // fully sampled: nothing to fit
    k.weights = array<cfloat, 2>({k.n_sources(), 0});
    return k;
  }
  detail::grappa_fit(k, detail::as_volume(acs), opt);
  return k;
}

// The fully sampled centre of k-space (or of a separate calibration scan), cut out for calibration:
// the block of acquired lines around the centre (fully_sampled_centre), whole readouts.
template <std::size_t R>
array<cfloat, R> grappa_acs(strided_view<const cfloat, R> kspace_or_calibration) {
  const auto m = acquired_lines(kspace_or_calibration);
  LARMOR_CHECK_DATA(m.count() > 0, "grappa: the calibration data is all zero");
  const auto b = fully_sampled_centre(m);
  LARMOR_CHECK_DATA(b.has_value(), "grappa: no calibration data: the k-space centre line (z ", m.nz / 2, ", y ",
                    m.ny / 2, ") was not acquired");
  const auto k = kspace_or_calibration;
  extents<R> sh = k.shape();
  sh[R - 2] = b->ny();
  if constexpr (R == 4) sh[1] = b->nz();
  array<cfloat, R> out(sh, uninitialized);
  auto o = out.view();
  for_each_index(sh, [&](const extents<R>& i) {
    extents<R> j = i;
    j[R - 2] += b->y0;
    if constexpr (R == 4) j[1] += b->z0;
    o[i] = k[j];
  });
  return out;
}

// Fills the missing lines of k-space (coils, [z,] y, x) with a calibrated kernel. Acquired lines (ACS
// included) come back bit-exact.
template <std::size_t R>
array<cfloat, R> grappa_apply(strided_view<const cfloat, R> kspace, const grappa_kernel& kernel) {
  detail::check_grappa_input("grappa_apply", kspace);
  LARMOR_CHECK_ARG(kspace.shape(0) == kernel.coils, "grappa_apply: k-space has ", kspace.shape(0),
                   " coils, the kernel was calibrated for ", kernel.coils);
  const auto mask = acquired_lines(kspace);
  auto out = to_array(kspace);
  if (kernel.targets.empty()) return out;
  ifftc_inplace(out, {-1});
  extents<4> sh{out.shape(0), R == 4 ? out.shape(1) : 1, out.shape(R - 2), out.shape(R - 1)};
  detail::grappa_fill_hybrid(kernel, strided_view<cfloat, 4>(out.data(), sh), mask);
  fftc_inplace(out, {-1});
  // Acquired lines exactly as acquired.
  const auto in4 = detail::as_volume(kspace);
  auto o4 = strided_view<cfloat, 4>(out.data(), sh);
  parallel_for(sh[0], [&](index_t c) {
    for (index_t z = 0; z < sh[1]; ++z)
      for (index_t y = 0; y < sh[2]; ++y)
        if (mask(z, y))
          for (index_t x = 0; x < sh[3]; ++x) o4(c, z, y, x) = in4(c, z, y, x);
  });
  return out;
}

namespace detail {
template <std::size_t R>
array<cfloat, R> grappa_from(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R> acs,
                             const grappa_options& opt) {
  check_grappa_input("grappa", kspace);
  check_grappa_input("grappa", acs);
  LARMOR_CHECK_ARG(acs.shape(0) == kspace.shape(0), "grappa: acs has ", acs.shape(0), " coils, k-space has ",
                   kspace.shape(0));
  const auto L = grappa_lattice("grappa", acquired_lines(kspace));
  const auto block = grappa_acs(acs);
  return grappa_apply(kspace, grappa_calibrate(block.cview(), L, opt));
}
}  // namespace detail

// GRAPPA in one call: the lattice read from the data, the kernel calibrated on the fully sampled centre
// of k-space; returns k-space (coils, [z,] y, x) with every missing line filled.
template <std::size_t R>
array<cfloat, R> grappa(strided_view<const cfloat, R> kspace, const grappa_options& opt = {}) {
  return detail::grappa_from(kspace, kspace, opt);
}

// The same with a separate calibration scan `acs` (the ACS block itself, or zero-filled at full size).
template <std::size_t R>
array<cfloat, R> grappa(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R> acs,
                        const grappa_options& opt = {}) {
  return detail::grappa_from(kspace, acs, opt);
}

namespace detail {
// The body of grappa_unmixing on contiguous maps s and weights u (coils, nz, ny, nx). A task (partition z,
// run of readout positions) reads every map value of its (z, run) before it writes the weights of the
// same positions, and tasks share none: u may be s itself.
void unmixing_weights(const grappa_kernel& kernel, const cfloat* s, cfloat* u, index_t nz, index_t ny,
                             index_t nx, const progress_fn& progress);
}  // namespace detail

// Image-domain unmixing weights u (coils, [z,] y, x) for combined images (see the top of this file).
// `maps` are the coil sensitivities used for combination, (coils, [z,] y, x) or (1, coils, [z,] y, x),
// at the full matrix size of the data to unmix.
//
// The kernel is never transformed as a volume. Its taps sit at k-space offsets (t - v, -dx) from the
// target, and sqrt(N) ifftc of a unit tap at the centre + delta is the plane wave
// exp(2 pi i delta . (r - N/2) / N) (centred transform, any N), so
//     K(r) = I + sum_{dz, dy} e_z(dz, z) e_y(dy, y) T_x(dz, dy),   T_x(dz, dy) = sum_dx e_x(dx, x) T(dz, dy, dx),
// T(dz, dy, dx)[c][o] the sum of the weights W[(v, dx, c), (t, o)] with t - v = (dz, dy). Per readout
// position x and partition z the few (<= 12 in 3D) matrices H(dy) = sum_dz e_z T_x(dz, dy) are stacked
// and applied to the combination weights of the whole (z, x) line by one matrix product
// (kernels::packed_product, on every thread):
//     u(:, z, y, x) = w(y) + sum_dy e_y(dy, y) [H(dy) w](y),        w_o = conj(S_o) / sum |S|^2.
// Cost per pixel n_dy coils^2 multiply-adds; memory: the output and a few coils^2 x ny buffers per
// thread (64 coils x 192x192x96: no coils^2 full-volume transforms, no second coil-sized array). The
// weights do not depend on the lattice offset (the kernel acts as a convolution on the zero-filled lattice
// data, which commutes with shifts). progress(done, total) after each block of 8 readout positions.
template <std::size_t R>
array<cfloat, R> grappa_unmixing(const grappa_kernel& kernel, strided_view<const cfloat, R> maps,
                                 const progress_fn& progress = {}) {
  static_assert(R == 3 || R == 4, "grappa_unmixing: maps are (coils, [z,] y, x)");
  LARMOR_CHECK_ARG(maps.shape(0) == kernel.coils, "grappa_unmixing: maps have ", maps.shape(0),
                   " coils, the kernel was calibrated for ", kernel.coils);
  check_finite("grappa_unmixing", "maps", maps);
  array<cfloat, R> s_owned;  // only for strided maps
  const cfloat* s = contiguous_data(maps, s_owned);
  array<cfloat, R> u(maps.shape(), uninitialized);
  detail::unmixing_weights(kernel, s, u.data(), R == 4 ? maps.shape(1) : 1, maps.shape(R - 2), maps.shape(R - 1),
                           progress);
  return u;
}

// The same, the weights written over the maps' own memory (a 64-coil 3D volume: one coil-sized array less
// at the recon's peak); the maps are gone afterwards.
template <std::size_t R>
array<cfloat, R> grappa_unmixing(const grappa_kernel& kernel, array<cfloat, R>&& maps,
                                 const progress_fn& progress = {}) {
  static_assert(R == 3 || R == 4, "grappa_unmixing: maps are (coils, [z,] y, x)");
  LARMOR_CHECK_ARG(maps.shape(0) == kernel.coils, "grappa_unmixing: maps have ", maps.shape(0),
                   " coils, the kernel was calibrated for ", kernel.coils);
  check_finite("grappa_unmixing", "maps", maps.cview());
  detail::unmixing_weights(kernel, maps.data(), maps.data(), R == 4 ? maps.shape(1) : 1, maps.shape(R - 2),
                           maps.shape(R - 1), progress);
  return std::move(maps);
}

template <std::size_t R>
array<cfloat, R> grappa_unmixing(const grappa_kernel& kernel, strided_view<const cfloat, R + 1> maps,
                                 const progress_fn& progress = {}) {
  LARMOR_CHECK_ARG(maps.shape(0) >= 1, "grappa_unmixing: maps hold no set");
  return grappa_unmixing<R>(kernel, maps.slice(0), progress);
}

// Unfolds accelerated k-space (coils, [z,] y, x) with unmixing weights: lines off the lattice (ACS) are
// dropped, the rest inverse-transformed, and image = sum_c u_c alias_c (coils in groups of <= 256 MiB).
template <std::size_t R>
array<cfloat, R - 1> grappa_unmix(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R> unmixing,
                                  const sampling_lattice& lattice) {
  detail::check_grappa_input("grappa_unmix", kspace);
  check_same_shape("grappa_unmix", "kspace", kspace, "unmixing", unmixing);
  const index_t nc = kspace.shape(0), nz = R == 4 ? kspace.shape(1) : 1, ny = kspace.shape(R - 2),
                nx = kspace.shape(R - 1), n = nz * ny * nx;
  // Coils go in groups whose aliased images take at most 1/16 of the k-space (at least 16 MiB, at most
  // 256 MiB): a 64-coil 3D volume holds 3 coils' images (85 MiB) beside the k-space and the weights, not
  // 9 (256 MiB: 5 % of its recon's peak); 2D takes 8-16 coils per batch of FFTs.
  const index_t coil_bytes = std::max<index_t>(n * index_t{sizeof(cfloat)}, 1);
  const index_t budget = std::clamp<index_t>(nc * coil_bytes / 16, index_t{16} << 20, index_t{256} << 20);
  const index_t group = std::clamp<index_t>(budget / coil_bytes, 1, nc);
  array<cfloat, 2> alias(extents<2>{group, n}, uninitialized);
  const auto in4 = detail::as_volume(kspace);
  array<cfloat, R> u_owned;  // only for strided weights: no per-slice copy otherwise
  const cfloat* u = contiguous_data(unmixing, u_owned);
  extents<R - 1> sh{};
  for (std::size_t a = 1; a < R; ++a) sh[a - 1] = kspace.shape(a);
  array<cfloat, R - 1> img(sh);
  for (index_t c0 = 0; c0 < nc; c0 += group) {
    const index_t g = std::min(group, nc - c0);
    parallel_for(g * nz, [&](index_t cz) {
      const index_t c = cz / nz, z = cz % nz;
      for (index_t y = 0; y < ny; ++y) {
        cfloat* dst = alias.data() + c * n + (z * ny + y) * nx;
        if (lattice.contains(z, y))
          for (index_t x = 0; x < nx; ++x) dst[x] = in4(c0 + c, z, y, x);
        else
          std::fill(dst, dst + nx, cfloat(0.f, 0.f));
      }
    });
    if constexpr (R == 4) {
      strided_view<cfloat, 4> v(alias.data(), extents<4>{g, nz, ny, nx});
      ifftc_inplace(v, {1, 2, 3});
    } else {
      strided_view<cfloat, 3> v(alias.data(), extents<3>{g, ny, nx});
      ifftc_inplace(v, {1, 2});
    }
    const cfloat* uc = u + c0 * n;
    if (!kernels::coil_streams_share_cache_sets(2 * g, n * index_t{sizeof(cfloat)})) {
      parallel_for_blocks(n, 4096, [&](index_t i0, index_t len) {
        kernels::accumulate_unmix_coils(uc + i0, alias.data() + i0, g, n, img.data() + i0, len);
      });
    } else {  // coil stride aliasing in the caches: two coils at a time into the image block
      parallel_for_blocks(n, 8192, [&](index_t i0, index_t len) {
        for (index_t c = 0; c < g; c += 2)
          kernels::accumulate_unmix_coils(uc + c * n + i0, alias.data() + c * n + i0, std::min<index_t>(2, g - c), n,
                                          img.data() + i0, len);
      });
    }
  }
  return img;
}

// g-factor map ([z,] y, x) from unmixing weights and the combination maps they were made with:
// g = sqrt(sum_c |u_c|^2) / (R sqrt(sum_o |w_o|^2)), w = conj(S) / sum |S|^2; 0 outside the maps.
template <std::size_t R>
array<float, R - 1> grappa_gfactor(strided_view<const cfloat, R> unmixing, strided_view<const cfloat, R> maps,
                                   index_t acceleration) {
  check_same_shape("grappa_gfactor", "unmixing", unmixing, "maps", maps);
  LARMOR_CHECK_ARG(acceleration >= 1, "grappa_gfactor: acceleration must be >= 1, got ", acceleration);
  const auto u = to_array(unmixing);
  const auto s = to_array(maps);
  const index_t nc = unmixing.shape(0), n = u.size() / std::max<index_t>(nc, 1);
  extents<R - 1> sh{};
  for (std::size_t a = 1; a < R; ++a) sh[a - 1] = unmixing.shape(a);
  array<float, R - 1> g(sh);
  parallel_for(n, [&](index_t i) {
    double uu = 0, ss = 0;
    for (index_t c = 0; c < nc; ++c) uu += std::norm(u.data()[c * n + i]), ss += std::norm(s.data()[c * n + i]);
    // sum |w|^2 = 1 / sum |S|^2
    g.data()[i] = ss > 0 ? static_cast<float>(std::sqrt(uu * ss) / static_cast<double>(acceleration)) : 0.f;
  });
  return g;
}

}  // namespace larmor
