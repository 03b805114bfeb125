// larmor/io/image_geometry.hpp — where each pixel of an image record lies in the patient, the one rule that the
// DICOM and NIfTI writers (and their tests) share.
//
// ISMRMRD (and so image_record) gives the centre of the reconstructed field of view (`position`, mm, patient
// coordinates LPS: +x to the patient's left, +y posterior, +z head), the unit read, phase and slice directions,
// and the field of view in mm (x, y, z). An image is (z, y, x) with x fastest: x runs along read_dir, y along
// phase_dir, z (3D partitions) along slice_dir. Images are centred as larmor's FFTs centre them (fftc: index n/2
// is the origin), so along an axis of n pixels of size d = fov / n the centre of pixel i lies at
// (i - n/2) d from `position` (integer n/2: for odd n the middle pixel is centred; for even n the pixel just past
// the middle). A 2D slice has one partition: its z field of view is the slice thickness.
//
// DICOM (PS3.3 C.7.6.2.1.1) wants the centre of the first pixel sent (ImagePositionPatient), the direction of a
// row (increasing column index: read_dir) and of a column (increasing row index: phase_dir), in LPS: the same
// coordinate system as ISMRMRD, no flips.
#pragma once

#include <array>
#include <cmath>

#include "larmor/io/image_record.hpp"

namespace larmor::io {

struct image_geometry {
  index_t nx = 1, ny = 1, nz = 1;              // pixels along read, phase, partition
  double dx = 1, dy = 1, dz = 1;               // pixel size (mm); dz: partition spacing, or slice thickness in 2D
                                               // (0: not known)
  std::array<double, 3> read{}, phase{}, slice{};   // unit vectors, LPS
  std::array<double, 3> first{};               // centre of pixel (x, y, z) = (0, 0, 0), LPS mm

  // Centre of pixel (x, y, z), LPS mm.
  std::array<double, 3> pixel(double x, double y, double z = 0) const {
    std::array<double, 3> p{};
    for (int a = 0; a < 3; ++a) p[a] = first[a] + x * dx * read[a] + y * dy * phase[a] + z * dz * slice[a];
    return p;
  }
};

// The geometry of an image record. InvalidArgument when it has none: read and phase directions that are not
// orthogonal unit vectors (to 1e-3), or no in-plane field of view. A missing slice direction is read x phase (a
// right-handed frame, as scanners send); a missing z field of view leaves a 2D slice's thickness unknown (dz = 0)
// and is refused for a 3D image (its partition spacing would be invented).
inline image_geometry geometry_of(const image_record& r) {
  image_geometry g;
  const auto& m = r.magnitude.size() > 0 ? r.magnitude.shape() : extents<3>{r.complex_image.shape(0),
                                                                              r.complex_image.shape(1),
                                                                              r.complex_image.shape(2)};
  g.nz = m[0], g.ny = m[1], g.nx = m[2];
  LARMOR_CHECK_ARG(g.nx > 0 && g.ny > 0 && g.nz > 0, "image geometry: an empty image");
  const auto length = [](const std::array<float, 3>& v) {
    return std::sqrt(double(v[0]) * v[0] + double(v[1]) * v[1] + double(v[2]) * v[2]);
  };
  const auto unit = [&](const std::array<float, 3>& v, const char* name) {
    const double n = length(v);
    LARMOR_CHECK_ARG(n > 0.999 && n < 1.001, "image geometry: the ", name, " direction (", v[0], ", ", v[1], ", ",
                     v[2], ") is not a unit vector (an image without geometry?)");
    return std::array<double, 3>{v[0] / n, v[1] / n, v[2] / n};
  };
  const auto dot = [](const std::array<double, 3>& a, const std::array<double, 3>& b) {
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  };
  g.read = unit(r.read_dir, "read");
  g.phase = unit(r.phase_dir, "phase");
  LARMOR_CHECK_ARG(std::abs(dot(g.read, g.phase)) < 1e-3, "image geometry: the read and phase directions are not "
                   "orthogonal");
  if (length(r.slice_dir) > 0.5) {
    g.slice = unit(r.slice_dir, "slice");
    LARMOR_CHECK_ARG(std::abs(dot(g.read, g.slice)) < 1e-3 && std::abs(dot(g.phase, g.slice)) < 1e-3,
                     "image geometry: the slice direction is not orthogonal to read and phase");
  } else {
    g.slice = {g.read[1] * g.phase[2] - g.read[2] * g.phase[1], g.read[2] * g.phase[0] - g.read[0] * g.phase[2],
               g.read[0] * g.phase[1] - g.read[1] * g.phase[0]};
  }
  LARMOR_CHECK_ARG(r.fov_mm[0] > 0 && r.fov_mm[1] > 0, "image geometry: field of view ", r.fov_mm[0], " x ",
                   r.fov_mm[1], " mm (an image without geometry?)");
  LARMOR_CHECK_ARG(r.fov_mm[2] > 0 || g.nz == 1, "image geometry: a 3D image of ", g.nz,
                   " partitions without a z field of view");
  g.dx = r.fov_mm[0] / static_cast<double>(g.nx);
  g.dy = r.fov_mm[1] / static_cast<double>(g.ny);
  g.dz = r.fov_mm[2] > 0 ? r.fov_mm[2] / static_cast<double>(g.nz) : 0.0;
  const double ox = static_cast<double>(g.nx / 2), oy = static_cast<double>(g.ny / 2),
               oz = static_cast<double>(g.nz / 2);
  for (int a = 0; a < 3; ++a)
    g.first[a] = r.position[a] - ox * g.dx * g.read[a] - oy * g.dy * g.phase[a] - oz * g.dz * g.slice[a];
  return g;
}

// Whether an image record carries a geometry geometry_of accepts.
inline bool has_geometry(const image_record& r) {
  try {
    (void)geometry_of(r);
    return true;
  } catch (const InvalidArgument&) {
    return false;
  }
}

}  // namespace larmor::io
