// larmor/pi/sense.hpp — Cartesian SENSE unfolding of regularly undersampled k-space, and g-factor maps.
//
// Pruessmann KP, Weiger M, Scheidegger MB, Boesiger P. SENSE: sensitivity encoding for fast MRI.
// MRM 42:952 (1999); CAIPIRINHA lattices: Breuer FA et al., MRM 55:549 (2006).
//
// Model (the same as cgsense and `bart pics -w 1`): k_c = M fftc(S_c x) with M the lattice of acquired
// lines (sampling/lattice.hpp). Zero-filled coil images are I_c = ifftc(M k_c) = psf (*) (S_c x), a circular
// convolution over (z, y) with the point-spread function psf = ifft(ifftshift(M)) of the lattice: it has
// exactly R = Ry*Rz non-zero peaks of magnitude 1/R at the positions q_1..q_R of a subgroup H of the
// (z, y) grid (plain Ry x Rz grids, any offsets, CAIPIRINHA shifts alike). So x only mixes within the
// alias groups g + H, and on each group the normal equations of the full problem decouple exactly:
//     (G + reg I) x_g = b_g,   G_kl = psf[q_k - q_l] sum_c conj(S_c[g_k]) S_c[g_l],   b = A^H k
// — an R x R Hermitian system per group and readout position, solved by Cholesky in double precision.
// This is the exact minimiser of ||M (fftc(S x) - k)||^2 + reg ||x||^2 (what cgsense converges to).
//
// reg (Tikhonov lambda) is absolute, on the same scale as cgsense's reg and BART's -r: with maps
// normalised to sum_c |S_c|^2 = 1 (ESPIRiT) the diagonal of G is 1/R inside the object, so reg is
// relative to that. Chosen absolute so that sense and cgsense solve the same problem with the same
// number and the value does not depend on the data.
//
// Pixels where sum_c |S_c|^2 = 0 (outside the maps' support) are not unknowns: they stay 0 and do not
// take part in their alias group. When the remaining system is singular (more aliased pixels than
// coils, reg = 0) a tiny ridge of 1e-6 of the mean diagonal is added for that pixel.
//
// Sampling: the lattice is detected from the data (detect_lattice on acquired_lines) unless given.
// Acquired lines off the lattice (ACS) are ignored; every lattice line must be acquired (partial
// Fourier or irregular patterns: use cgsense). Shapes: k-space (coils, [z,] y, x), maps (coils, ...)
// or (1, coils, ...), image ([z,] y, x). Threads: the coil ifftc, then parallel over alias groups.
#pragma once

#include <cmath>
#include <optional>
#include <vector>

#include "larmor/ops/sense_operator.hpp"
#include "larmor/sampling/lattice.hpp"

namespace larmor {

struct sense_options {
  float reg = 0;                             // Tikhonov lambda (absolute; see the top of this file)
  std::optional<sampling_lattice> lattice;   // default: detected from the data
};

namespace detail {

// The alias groups of a lattice on an (nz, ny) grid of lines.
struct sense_alias_groups {
  index_t r = 1;                              // aliases per group (Ry * Rz)
  std::vector<index_t> lines;                 // (groups, r): line index z * ny + y of g_k = g_0 + q_k
  std::vector<std::complex<double>> phi;      // r x r: psf[q_k - q_l]
  index_t groups() const { return static_cast<index_t>(lines.size()) / r; }
};

inline sense_alias_groups sense_aliasing(const char* func, const sampling_lattice& L, index_t nz, index_t ny) {
  LARMOR_CHECK_ARG(L.ry >= 1 && L.rz >= 1 && L.shift >= 0, func, ": lattice needs ry, rz >= 1 and shift >= 0, got ry ",
                   L.ry, " rz ", L.rz, " shift ", L.shift);
  LARMOR_CHECK_ARG(ny % L.ry == 0, func, ": acceleration Ry = ", L.ry, " does not divide the ", ny,
                   " phase-encode lines (y); SENSE needs Ny a multiple of Ry (use cgsense otherwise)");
  LARMOR_CHECK_ARG(nz % L.rz == 0, func, ": acceleration Rz = ", L.rz, " does not divide the ", nz,
                   " partitions (z); SENSE needs Nz a multiple of Rz (use cgsense otherwise)");
  LARMOR_CHECK_ARG(L.rz == 1 || (L.shift * (nz / L.rz)) % L.ry == 0, func, ": the CAIPIRINHA shift ", L.shift,
                   " with Ry ", L.ry, ", Rz ", L.rz, " is not periodic over ", nz,
                   " partitions (shift * Nz / Rz must be a multiple of Ry)");
  const index_t n = nz * ny, r = L.factor();
  array<cdouble, 2> m(extents<2>{nz, ny});
  for (index_t z = 0; z < nz; ++z)
    for (index_t y = 0; y < ny; ++y) m(z, y) = L.contains(z, y) ? 1.0 : 0.0;
  const auto f = ifftc(m.cview(), {0, 1});
  // psf[q] = ifft(ifftshift(M))[q] = ifftc(M)[(q + n/2) mod n] / sqrt(N) per axis.
  std::vector<std::complex<double>> psf(static_cast<std::size_t>(n));
  const double s = 1.0 / std::sqrt(static_cast<double>(n));
  for (index_t z = 0; z < nz; ++z)
    for (index_t y = 0; y < ny; ++y) psf[static_cast<std::size_t>(z * ny + y)] = f((z + nz / 2) % nz, (y + ny / 2) % ny) * s;
  std::vector<index_t> qz, qy;
  for (index_t z = 0; z < nz; ++z)
    for (index_t y = 0; y < ny; ++y)
      if (std::abs(psf[static_cast<std::size_t>(z * ny + y)]) > 0.5 / static_cast<double>(r)) qz.push_back(z), qy.push_back(y);
  LARMOR_CHECK_DATA(static_cast<index_t>(qz.size()) == r, func, ": the lattice (Ry ", L.ry, ", Rz ", L.rz, ", shift ",
                    L.shift, ") has ", qz.size(), " aliases on a ", nz, " x ", ny, " grid, expected ", r);
  sense_alias_groups g;
  g.r = r;
  g.phi.resize(static_cast<std::size_t>(r * r));
  for (index_t k = 0; k < r; ++k)
    for (index_t l = 0; l < r; ++l) {
      const index_t dz = ((qz[k] - qz[l]) % nz + nz) % nz, dy = ((qy[k] - qy[l]) % ny + ny) % ny;
      g.phi[static_cast<std::size_t>(k * r + l)] = psf[static_cast<std::size_t>(dz * ny + dy)];
    }
  std::vector<unsigned char> seen(static_cast<std::size_t>(n), 0);
  g.lines.reserve(static_cast<std::size_t>(n));
  for (index_t z = 0; z < nz; ++z)
    for (index_t y = 0; y < ny; ++y) {
      if (seen[static_cast<std::size_t>(z * ny + y)]) continue;
      for (index_t k = 0; k < r; ++k) {
        const index_t l = ((z + qz[k]) % nz) * ny + (y + qy[k]) % ny;
        LARMOR_CHECK_DATA(!seen[static_cast<std::size_t>(l)], func, ": the aliases of the lattice do not form a group");
        seen[static_cast<std::size_t>(l)] = 1;
        g.lines.push_back(l);
      }
    }
  return g;
}

// In-place Cholesky of an n x n Hermitian positive definite matrix (row-major, lower triangle used);
// false when a pivot is not positive.
inline bool cholesky_inplace(std::complex<double>* a, index_t n) {
  for (index_t j = 0; j < n; ++j) {
    double d = a[j * n + j].real();
    for (index_t k = 0; k < j; ++k) d -= std::norm(a[j * n + k]);
    if (!(d > 0)) return false;
    d = std::sqrt(d);
    a[j * n + j] = d;
    for (index_t i = j + 1; i < n; ++i) {
      std::complex<double> v = a[i * n + j];
      for (index_t k = 0; k < j; ++k) v -= a[i * n + k] * std::conj(a[j * n + k]);
      a[i * n + j] = v / d;
    }
  }
  return true;
}
// Solves L L^H x = b in place (L from cholesky_inplace).
inline void cholesky_solve(const std::complex<double>* l, index_t n, std::complex<double>* b) {
  for (index_t i = 0; i < n; ++i) {
    std::complex<double> v = b[i];
    for (index_t k = 0; k < i; ++k) v -= l[i * n + k] * b[k];
    b[i] = v / l[i * n + i].real();
  }
  for (index_t i = n; i-- > 0;) {
    std::complex<double> v = b[i];
    for (index_t k = i + 1; k < n; ++k) v -= std::conj(l[k * n + i]) * b[k];
    b[i] = v / l[i * n + i].real();
  }
}

// Cholesky factor of H + reg I (m x m, Hermitian) into `a`. Where that is not numerically positive definite
// (coils nearly dependent at the pixel, reg = 0) a ridge of 1e-6 of the mean diagonal is added. False only
// when even that fails.
inline bool ridge_cholesky(const std::complex<double>* h, index_t m, double reg, std::vector<std::complex<double>>& a) {
  double trace = 0;
  for (index_t i = 0; i < m; ++i) trace += h[i * m + i].real();
  for (const double ridge : {reg, reg + 1e-6 * trace / static_cast<double>(m)}) {
    a.assign(h, h + m * m);
    for (index_t i = 0; i < m; ++i) a[static_cast<std::size_t>(i * m + i)] += ridge;
    if (cholesky_inplace(a.data(), m)) return true;
  }
  return false;
}

// Noise variance of each unknown of the regularised solve x = X b, X = (H + reg I)^-1 (factor from
// ridge_cholesky), b = E^H k with white unit noise: var_i = [X H X]_ii = x_i^H H x_i, x_i = column i of X
// (Pruessmann 1999 with the ridge). `inv` is scratch.
inline void solve_noise_variances(const std::complex<double>* factor, const std::complex<double>* h, index_t m,
                                  std::vector<std::complex<double>>& inv, double* var) {
  inv.assign(static_cast<std::size_t>(m * m), 0.0);
  for (index_t j = 0; j < m; ++j) {
    std::complex<double>* col = inv.data() + j * m;  // column j of X stored contiguously (X is Hermitian)
    col[j] = 1.0;
    cholesky_solve(factor, m, col);
  }
  for (index_t i = 0; i < m; ++i) {
    const std::complex<double>* xi = inv.data() + i * m;
    std::complex<double> v = 0;
    for (index_t p = 0; p < m; ++p) {
      std::complex<double> hp = 0;
      for (index_t q = 0; q < m; ++q) hp += h[p * m + q] * xi[q];
      v += std::conj(xi[p]) * hp;
    }
    var[i] = std::max(0.0, v.real());
  }
}

// The per-group solve. maps: contiguous (coils, lines, nx). b: A^H k ((lines, nx)) or null; image and
// gfactor outputs (lines, nx) or null.
void sense_unfold(const cfloat* maps, index_t nc, index_t nl, index_t nx, const sense_alias_groups& ag,
                         double reg, const cfloat* b, cfloat* image, float* gfactor);

}  // namespace detail

// SENSE image ([z,] y, x) from regularly undersampled k-space (coils, [z,] y, x) and maps of its shape.
template <std::size_t R>
array<cfloat, R - 1> sense(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R> maps,
                           const sense_options& opt = {}) {
  static_assert(R == 3 || R == 4, "sense: k-space is (coils, y, x) or (coils, z, y, x)");
  detail::check_sense_inputs("sense", kspace, maps);
  LARMOR_CHECK_ARG(std::isfinite(opt.reg) && opt.reg >= 0, "sense: reg must be finite and >= 0, got ", opt.reg);
  const index_t nc = kspace.shape(0), nz = R == 4 ? kspace.shape(1) : 1, ny = kspace.shape(R - 2),
                nx = kspace.shape(R - 1);
  const auto lines = acquired_lines(kspace);
  sampling_lattice lat;
  if (opt.lattice) {
    lat = *opt.lattice;
    LARMOR_CHECK_ARG(R == 4 || lat.rz == 1, "sense: 2D k-space needs Rz = 1, got ", lat.rz);
  } else {
    const auto found = detect_lattice(lines);
    LARMOR_CHECK_DATA(found.has_value(), "sense: the acquired lines form no regular (Ry x Rz, CAIPIRINHA) lattice ",
                      "(", lines.count(), " of ", nz * ny, " lines acquired); use cgsense for irregular patterns");
    lat = *found;
  }
  const auto groups = detail::sense_aliasing("sense", lat, nz, ny);
  std::vector<float> w(static_cast<std::size_t>(nz * ny));
  for (index_t z = 0; z < nz; ++z)
    for (index_t y = 0; y < ny; ++y) {
      const bool on = lat.contains(z, y);
      LARMOR_CHECK_DATA(!on || lines(z, y), "sense: line (z ", z, ", y ", y, ") of the lattice (Ry ", lat.ry, ", Rz ",
                        lat.rz, ", shift ", lat.shift, ") was not acquired (partial Fourier?); use cgsense");
      w[static_cast<std::size_t>(z * ny + y)] = on ? 1.f : 0.f;
    }
  const auto b = detail::sense_adjoint(kspace, maps, w.data(), true);
  array<cfloat, R> owned;
  const cfloat* mc = contiguous_data(maps, owned);
  array<cfloat, R - 1> out(b.shape(), uninitialized);
  detail::sense_unfold(mc, nc, nz * ny, nx, groups, static_cast<double>(opt.reg), b.data(), out.data(), nullptr);
  return out;
}

template <std::size_t R>
array<cfloat, R - 1> sense(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R + 1> maps,
                           const sense_options& opt = {}) {
  return sense(kspace, detail::single_map_set<R>("sense", maps), opt);
}
template <std::size_t R, std::size_t RM>
array<cfloat, R - 1> sense(const array<cfloat, R>& kspace, const array<cfloat, RM>& maps, const sense_options& opt = {}) {
  return sense(kspace.cview(), maps.cview(), opt);
}

namespace detail {

template <std::size_t R>
array<float, R - 1> sense_gfactor_coils(strided_view<const cfloat, R> maps, index_t ry, index_t rz, index_t shift,
                                        float reg) {
  static_assert(R == 3 || R == 4, "sense_gfactor: maps are (maps, coils, y, x) or (maps, coils, z, y, x)");
  LARMOR_CHECK_ARG(maps.size() > 0, "sense_gfactor: maps are empty, shape ", shape_string(maps.shape()));
  LARMOR_CHECK_ARG(R == 4 || rz == 1, "sense_gfactor: 2D maps need rz = 1, got ", rz);
  LARMOR_CHECK_ARG(ry >= 1 && rz >= 1 && shift >= 0 && (rz > 1 || shift == 0) && shift < ry,
                   "sense_gfactor: need ry, rz >= 1 and 0 <= shift < ry (shift only with rz > 1), got ry ", ry, " rz ",
                   rz, " shift ", shift);
  LARMOR_CHECK_ARG(std::isfinite(reg) && reg >= 0, "sense_gfactor: reg must be finite and >= 0, got ", reg);
  check_finite("sense_gfactor", "maps", maps);
  const index_t nc = maps.shape(0), nz = R == 4 ? maps.shape(1) : 1, ny = maps.shape(R - 2), nx = maps.shape(R - 1);
  sampling_lattice lat;
  lat.ry = ry, lat.rz = rz, lat.shift = shift;
  const auto groups = sense_aliasing("sense_gfactor", lat, nz, ny);
  array<cfloat, R> owned;
  const cfloat* mc = contiguous_data(maps, owned);
  extents<R - 1> sp{};
  for (std::size_t a = 1; a < R; ++a) sp[a - 1] = maps.shape(a);
  array<float, R - 1> g(sp, uninitialized);
  sense_unfold(mc, nc, nz * ny, nx, groups, static_cast<double>(reg), nullptr, nullptr, g.data());
  return g;
}

}  // namespace detail

// g-factor map ([z,] y, x) of SENSE with maps (maps, coils, [z,] y, x) holding one set (the docs/design.md
// layout; 2D maps may also be passed as (coils, y, x)), at acceleration ry x rz with CAIPIRINHA shift
// `shift`, and Tikhonov reg (as in sense):
//     g_p = sqrt( [(S^H S)^-1]_pp [S^H S]_pp )          (reg = 0; Pruessmann et al. 1999)
// over the alias group of p, S the coils x aliases sensitivity matrix, noise covariance identity
// (pre-whitened data). With reg > 0 the noise variance [X G X]_pp, X = (G + reg I)^-1, replaces
// [G^-1]_pp (g may then drop below 1). 0 outside the maps' support (sum_c |S_c|^2 = 0), where there is
// no signal to amplify noise into. Independent of the lattice offsets.
template <std::size_t R>
array<float, R - 2> sense_gfactor(strided_view<const cfloat, R> maps, index_t ry, index_t rz = 1, index_t shift = 0,
                                  float reg = 0) {
  static_assert(R == 4 || R == 5, "sense_gfactor: maps are (maps, coils, y, x) or (maps, coils, z, y, x)");
  return detail::sense_gfactor_coils(detail::single_map_set<R - 1>("sense_gfactor", maps), ry, rz, shift, reg);
}
inline array<float, 2> sense_gfactor(strided_view<const cfloat, 3> maps, index_t ry, index_t rz = 1,
                                     index_t shift = 0, float reg = 0) {
  return detail::sense_gfactor_coils(maps, ry, rz, shift, reg);
}
template <std::size_t R>
auto sense_gfactor(const array<cfloat, R>& maps, index_t ry, index_t rz = 1, index_t shift = 0,
                                  float reg = 0) {
  return sense_gfactor(maps.cview(), ry, rz, shift, reg);
}

}  // namespace larmor
