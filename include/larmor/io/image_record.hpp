// larmor/io/image_record.hpp — one reconstructed image with the geometry a viewer needs to place it.
//
// Geometry follows ISMRMRD's image header (from the acquisitions of the k-space buffer it came from):
// position of the centre of the FOV and read/phase/slice directions in patient coordinates (mm, unit
// vectors), the reconstructed field of view in mm (x, y, z) and the loop indices.
#pragma once

#include <array>
#include <cstdint>

#include "larmor/core/array.hpp"

namespace larmor::io {

struct image_record {
  array<float, 3> magnitude;  // (z, y, x)
  std::array<float, 3> fov_mm{}, position{}, read_dir{}, phase_dir{}, slice_dir{}, patient_table_position{};
  std::uint16_t slice = 0, contrast = 0, phase = 0, repetition = 0, set = 0, average = 0;
  std::uint16_t image_index = 0, series_index = 1;
};

}  // namespace larmor::io
