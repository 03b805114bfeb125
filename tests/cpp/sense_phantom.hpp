// sense_phantom.hpp — shared pieces of the SENSE / CG-SENSE tests: retrospective undersampling on a
// lattice with ACS lines, a 3D phantom with known sensitivities, the centred DFT as an explicit matrix
// (for brute-force encoding matrices with Eigen), and complex NRMSE.
#pragma once

#include <Eigen/Dense>

#include "coil_phantom.hpp"
#include "larmor/sampling/lattice.hpp"

namespace larmor::test {

// Zeroes every (z, y) line of k (coils, y, x) / (coils, z, y, x) that `keep(z, y)` rejects.
template <std::size_t R, class Keep>
void keep_lines(array<cfloat, R>& k, Keep&& keep) {
  const index_t nc = k.shape(0), nz = R == 4 ? k.shape(1) : 1, ny = k.shape(R - 2), nx = k.shape(R - 1);
  for (index_t c = 0; c < nc; ++c)
    for (index_t z = 0; z < nz; ++z)
      for (index_t y = 0; y < ny; ++y)
        if (!keep(z, y))
          for (index_t x = 0; x < nx; ++x) k[((c * nz + z) * ny + y) * nx + x] = cfloat(0.f, 0.f);
}

// Lattice lines plus `acs` central lines along y (all z in 3D get the central y block only where the
// lattice also holds them: 3D ACS is a central acs_z x acs block).
inline auto lattice_with_acs(sampling_lattice L, index_t nz, index_t ny, index_t acs, index_t acs_z = 0) {
  return [=](index_t z, index_t y) {
    const bool in_acs = y >= ny / 2 - acs / 2 && y < ny / 2 + acs / 2 &&
                        (acs_z == 0 ? true : (z >= nz / 2 - acs_z / 2 && z < nz / 2 + acs_z / 2));
    return L.contains(z, y) || (acs > 0 && in_acs);
  };
}

// A 3D acquisition: the 2D phantom scaled differently on each partition, sensitivities that vary
// smoothly (and periodically) along z. Returns (object (z, y, x), maps (coils, z, y, x), k-space).
struct coil_phantom_3d {
  array<cfloat, 3> object;
  array<cfloat, 4> maps, kspace;
};
inline coil_phantom_3d make_coil_phantom_3d(index_t nc, index_t nz, index_t ny, index_t nx) {
  const auto p2 = make_coil_phantom(nc, ny, nx);
  coil_phantom_3d p;
  p.object = array<cfloat, 3>(extents<3>{nz, ny, nx});
  p.maps = array<cfloat, 4>(extents<4>{nc, nz, ny, nx});
  array<cfloat, 4> img(extents<4>{nc, nz, ny, nx});
  for (index_t z = 0; z < nz; ++z) {
    const float t = 2.f * 3.14159265f * static_cast<float>(z) / static_cast<float>(nz);
    for (index_t y = 0; y < ny; ++y)
      for (index_t x = 0; x < nx; ++x) {
        p.object(z, y, x) = p2.object(y, x) * (0.6f + 0.4f * std::cos(t)) * std::polar(1.f, 0.3f * std::sin(t));
        for (index_t c = 0; c < nc; ++c)
          p.maps(c, z, y, x) = p2.maps(c, y, x) * std::polar(1.f + 0.4f * std::cos(t + 1.3f * static_cast<float>(c)),
                                                             0.6f * std::sin(t + 0.7f * static_cast<float>(c)));
      }
  }
  for (index_t c = 0; c < nc; ++c)
    for (index_t i = 0; i < nz * ny * nx; ++i) img[c * nz * ny * nx + i] = p.maps[c * nz * ny * nx + i] * p.object[i];
  p.kspace = fftc(img.cview(), {1, 2, 3});
  return p;
}

// The centred unitary DFT of length n as a matrix (even n): F[k, p] = exp(-2 pi i (k - n/2)(p - n/2) / n) / sqrt(n).
inline Eigen::MatrixXcd centred_dft_matrix(index_t n) {
  Eigen::MatrixXcd f(n, n);
  const double pi = 3.14159265358979323846;
  for (index_t k = 0; k < n; ++k)
    for (index_t p = 0; p < n; ++p)
      f(k, p) = std::polar(1.0 / std::sqrt(double(n)), -2 * pi * double((k - n / 2) * (p - n / 2)) / double(n));
  return f;
}

// The explicit encoding matrix E (coils * N x N) of k_c = M fftc(S_c x) for maps (coils, [z,] y, x)
// given as a flat contiguous array of shape (nc, nz, ny, nx); mask over (nz, ny, nx) flat. Rows of
// unacquired samples are zero (kept so y stacks like the k-space array).
inline Eigen::MatrixXcd encoding_matrix(const cfloat* maps, index_t nc, index_t nz, index_t ny, index_t nx,
                                        const std::vector<float>& mask) {
  const index_t n = nz * ny * nx;
  // 3D centred DFT = kron(Fz, Fy, Fx) in row-major order.
  Eigen::MatrixXcd f = Eigen::MatrixXcd::Ones(1, 1);
  for (index_t len : {nz, ny, nx})
    if (len > 1) {
      const Eigen::MatrixXcd g = centred_dft_matrix(len);
      Eigen::MatrixXcd k(f.rows() * len, f.cols() * len);
      for (index_t i = 0; i < f.rows(); ++i)
        for (index_t j = 0; j < f.cols(); ++j) k.block(i * len, j * len, len, len) = f(i, j) * g;
      f = k;
    }
  Eigen::MatrixXcd e(nc * n, n);
  for (index_t c = 0; c < nc; ++c) {
    Eigen::MatrixXcd fs = f;
    for (index_t p = 0; p < n; ++p) fs.col(p) *= std::complex<double>(maps[c * n + p]);
    for (index_t k = 0; k < n; ++k) fs.row(k) *= double(mask[static_cast<std::size_t>(k)]);
    e.block(c * n, 0, n, n) = fs;
  }
  return e;
}

// ||a - b|| / ||b|| over all elements, or over the elements where `where` is true.
template <class A, class B>
double nrmse(const A& a, const B& b) {
  double num = 0, den = 0;
  for (index_t i = 0; i < b.size(); ++i) {
    num += std::norm(std::complex<double>(a[i]) - std::complex<double>(b[i]));
    den += std::norm(std::complex<double>(b[i]));
  }
  return std::sqrt(num / den);
}

}  // namespace larmor::test
