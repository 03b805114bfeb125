// larmor/io/image_record.hpp — one reconstructed image with the geometry a viewer needs to place it.
//
// Geometry follows ISMRMRD's image header (from the acquisitions of the k-space buffer it came from):
// position of the centre of the FOV and read/phase/slice directions in patient coordinates (mm, unit
// vectors), the reconstructed field of view in mm (x, y, z) and the loop indices.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "larmor/core/array.hpp"
#include "larmor/core/error.hpp"

namespace larmor::io {

// What an image file holds per pixel: ISMRMRD image types (ISMRMRD_IMTYPE_*, same numbers). Phase,
// real and complex are what QSM, SWI, Dixon and B0 mapping need; phase is in radians (-pi, pi].
enum class image_type : std::uint16_t { magnitude = 1, phase = 2, real = 3, imaginary = 4, complex = 5 };

inline const char* image_type_name(image_type t) {
  switch (t) {
    case image_type::magnitude: return "magnitude";
    case image_type::phase: return "phase";
    case image_type::real: return "real";
    case image_type::imaginary: return "imaginary";
    case image_type::complex: return "complex";
  }
  return "?";
}

// "magnitude" | "phase" | "real" | "imaginary" | "complex" -> image_type; anything else: InvalidArgument.
inline image_type parse_image_type(const std::string& name) {
  for (auto t : {image_type::magnitude, image_type::phase, image_type::real, image_type::imaginary, image_type::complex})
    if (name == image_type_name(t)) return t;
  LARMOR_CHECK_ARG(false, "output must be magnitude, phase, real, imaginary or complex, got '", name, "'");
  return image_type::magnitude;
}

struct image_record {
  array<float, 3> magnitude;      // (z, y, x): |image|, always there (previews, quick looks)
  array<cfloat, 3> complex_image; // (z, y, x): the complex image, kept when `type` is not magnitude
  image_type type = image_type::magnitude;  // what a writer stores
  std::array<float, 3> fov_mm{}, position{}, read_dir{}, phase_dir{}, slice_dir{}, patient_table_position{};
  // The time stamps of the first readout of the image's k-space (io::acquisition), 0 when not recorded.
  std::uint32_t acquisition_time_stamp = 0;
  std::array<std::uint32_t, 3> physiology_time_stamp{};
  std::uint16_t slice = 0, contrast = 0, phase = 0, repetition = 0, set = 0, average = 0;
  std::uint16_t image_index = 0, series_index = 1;  // image_index: see image_index_for
};

// image_index of the n-th image (n = 1, 2, ...) of a scan or stream. ISMRMRD stores it in 16 bits, so a
// long series (an fMRI session of 300 volumes x 72 slices = 21,600 images; a server streaming for days)
// counts 1 .. 65535 and then starts again at 1 (never 0, which readers take as "not set"). It is a label
// for people and viewers, not an identity: larmor orders and finds images by their place in the output
// and by their loop indices (slice, contrast, phase, repetition, set), never by image_index.
inline std::uint16_t image_index_for(long long n) {
  return static_cast<std::uint16_t>(1 + (n > 0 ? (n - 1) % 65535 : 0));
}

}  // namespace larmor::io
