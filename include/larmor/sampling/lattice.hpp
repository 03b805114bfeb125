// larmor/sampling/lattice.hpp — the Cartesian sampling pattern, read from the data, and its lattice.
//
// Cartesian parallel imaging skips whole phase-encode lines: in 2D a line is one ky (y) row, in 3D one
// (kz, ky) = (z, y) position whose readout (x) is acquired or not. Following docs/design.md a line is
// acquired when any coil holds a non-zero sample on it.
//
// Regular undersampling (what GRAPPA and Cartesian SENSE need) acquires a lattice of lines
//     { (y, z) : z = oz + Rz*j,  y = oy + s*j + Ry*i  (mod Ny) }     for integers i, j,
// with acceleration Ry along y, Rz along z and the CAIPIRINHA shift s (Breuer et al., MRM 55:549, 2006):
// each acquired kz row moves its ky pattern by s lines. s = 0 is the plain Ry x Rz grid; 2D data has
// Rz = 1. Scanners add fully sampled calibration (ACS) lines in the centre and may cut lines at one
// edge (partial Fourier); detect_lattice looks past both.
#pragma once

#include <optional>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/core/parallel.hpp"

namespace larmor {

// acquired[z * ny + y] for every phase-encode line; nz = 1 for 2D data.
struct line_mask {
  index_t nz = 1, ny = 0;
  std::vector<unsigned char> acquired;

  bool operator()(index_t z, index_t y) const { return acquired[static_cast<std::size_t>(z * ny + y)] != 0; }
  index_t count() const {
    index_t n = 0;
    for (auto a : acquired) n += a;
    return n;
  }
};

// The lines of k-space (coils, y, x) or (coils, z, y, x) that hold data.
template <std::size_t R>
line_mask acquired_lines(strided_view<const cfloat, R> kspace) {
  static_assert(R == 3 || R == 4, "acquired_lines: k-space is (coils, y, x) or (coils, z, y, x)");
  line_mask m;
  m.nz = R == 4 ? kspace.shape(1) : 1;
  m.ny = kspace.shape(R - 2);
  const index_t nx = kspace.shape(R - 1);
  m.acquired.assign(static_cast<std::size_t>(m.nz * m.ny), 0);
  // A line is acquired when any coil has a non-zero sample on it: coils are tried until one has, each
  // readout scanned whole (a loop the compiler vectorizes); lines over the threads.
  const auto k4 = [&] {
    if constexpr (R == 4) return kspace;
    else
      return strided_view<const cfloat, 4>(kspace.data(), {kspace.shape(0), 1, kspace.shape(1), nx},
                                           {kspace.stride(0), 0, kspace.stride(1), kspace.stride(2)});
  }();
  const index_t sx = k4.stride(3);
  parallel_for(m.nz * m.ny, [&](index_t zy) {
    const index_t z = zy / m.ny, y = zy % m.ny;
    int any = 0;  // an int, not a bool: GCC 12 vectorizes the |= reduction only on integers
    for (index_t c = 0; c < k4.shape(0) && any == 0; ++c) {
      const float* row = reinterpret_cast<const float*>(&k4(c, z, y, 0));
      if (sx == 1) {
        for (index_t i = 0; i < 2 * nx; ++i) any |= row[i] != 0.f;
      } else {
        for (index_t x = 0; x < nx; ++x) any |= (row[2 * x * sx] != 0.f) | (row[2 * x * sx + 1] != 0.f);
      }
    }
    m.acquired[static_cast<std::size_t>(zy)] = any != 0;
  });
  return m;
}

// A regular sampling lattice (see the top of this file).
struct sampling_lattice {
  index_t ry = 1, rz = 1;  // acceleration along y and z
  index_t shift = 0;       // CAIPIRINHA shift of the ky pattern per acquired kz row, 0 <= shift < ry
  index_t offset_y = 0, offset_z = 0;

  index_t factor() const { return ry * rz; }
  bool contains(index_t z, index_t y) const {
    const index_t dz = z - offset_z;
    if (((dz % rz) + rz) % rz != 0) return false;
    const index_t j = (dz - ((dz % rz) + rz) % rz) / rz;
    const index_t dy = y - offset_y - shift * j;
    return ((dy % ry) + ry) % ry == 0;
  }
};

// The block of lines [z0, z1] x [y0, y1] (inclusive) around the k-space centre (nz/2, ny/2) in which
// every line was acquired: the ACS / calibration lines. Grown greedily one line at a time along y and z
// while the new row or column is complete, so rectangular ACS blocks are found whole. Nothing when the
// centre line itself is missing.
struct line_block {
  index_t z0 = 0, z1 = 0, y0 = 0, y1 = 0;
  index_t nz() const { return z1 - z0 + 1; }
  index_t ny() const { return y1 - y0 + 1; }
};
inline std::optional<line_block> fully_sampled_centre(const line_mask& m) {
  if (m.ny == 0 || !m(m.nz / 2, m.ny / 2)) return std::nullopt;
  line_block b{m.nz / 2, m.nz / 2, m.ny / 2, m.ny / 2};
  auto full = [&](index_t za, index_t zb, index_t ya, index_t yb) {
    if (za < 0 || ya < 0 || zb >= m.nz || yb >= m.ny) return false;
    for (index_t z = za; z <= zb; ++z)
      for (index_t y = ya; y <= yb; ++y)
        if (!m(z, y)) return false;
    return true;
  };
  for (bool grew = true; grew;) {
    grew = false;
    if (full(b.z0, b.z1, b.y0 - 1, b.y0 - 1)) --b.y0, grew = true;
    if (full(b.z0, b.z1, b.y1 + 1, b.y1 + 1)) ++b.y1, grew = true;
    if (full(b.z0 - 1, b.z0 - 1, b.y0, b.y1)) --b.z0, grew = true;
    if (full(b.z1 + 1, b.z1 + 1, b.y0, b.y1)) ++b.z1, grew = true;
  }
  return b;
}

// The lattice with the largest Ry*Rz (each at most max_r) such that
//  - every lattice line inside the acquired extent (the bounding box of acquired lines: partial
//    Fourier cuts one edge) was acquired, and
//  - every acquired line off the lattice lies in the contiguous block of fully sampled lines
//    around the k-space centre (the ACS / calibration lines).
// Fully sampled data gives ry = rz = 1. Returns nothing for patterns with no such lattice (random,
// Poisson-disc, variable density): those need an iterative method (cgsense).
std::optional<sampling_lattice> detect_lattice(const line_mask& m, index_t max_r = 16);

}  // namespace larmor
