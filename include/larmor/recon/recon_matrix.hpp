// larmor/recon/recon_matrix.hpp — bringing a reconstructed image to the recon matrix of the header.
//
// Per axis of a complex image (z, y, x):
//   recon size < image size: central crop in the image domain (the encoded FOV was larger, e.g. phase
//                            oversampling); element n/2 stays the centre, so the crop keeps
//                            [n/2 - r/2, n/2 - r/2 + r);
//   recon size > image size: zero-padding interpolation — the centred unitary FFT along the axis, the n
//                            samples placed at [r/2 - n/2, r/2 - n/2 + n) of r (k-space centre n/2 -> r/2),
//                            the inverse FFT, times sqrt(r/n) so pixel values keep their scale (the
//                            transforms are unitary: an image of constant c stays c, not c sqrt(n/r)).
//                            This is what scanners do when the recon matrix is finer than the encoded
//                            one (Siemens "interpolation", ISMRMRD reconSpace > encodedSpace).
// Threads: the FFTs (fft/fft.hpp); the copies are cheap.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>

#include "larmor/core/array.hpp"
#include "larmor/fft/fft.hpp"
#include "larmor/io/acquisition.hpp"
#include "larmor/io/image_record.hpp"

namespace larmor {

namespace detail {

// Crops or zero-pads axis `ax` of x (z, y, x) to `r` samples (see the top of the file).
inline array<cfloat, 3> resize_axis_centred(array<cfloat, 3>&& x, int ax, index_t r) {
  const index_t n = x.shape(static_cast<std::size_t>(ax));
  if (r == n) return std::move(x);
  extents<3> sh = x.shape();
  sh[static_cast<std::size_t>(ax)] = r;
  array<cfloat, 3> out(sh);  // zero: the padding
  const bool pad = r > n;
  if (pad) fftc_inplace(x.view(), {ax});
  // Source range [s0, s0 + m) of x goes to [d0, d0 + m) of out.
  const index_t m = std::min(n, r), s0 = pad ? 0 : n / 2 - r / 2, d0 = pad ? r / 2 - n / 2 : 0;
  for (index_t z = 0; z < sh[0]; ++z)
    for (index_t y = 0; y < sh[1]; ++y)
      for (index_t i = 0; i < sh[2]; ++i) {
        std::array<index_t, 3> o{z, y, i};
        index_t& a = o[static_cast<std::size_t>(ax)];
        if (a < d0 || a >= d0 + m) continue;
        std::array<index_t, 3> s = o;
        s[static_cast<std::size_t>(ax)] = a - d0 + s0;
        out(o[0], o[1], o[2]) = x(s[0], s[1], s[2]);
      }
  if (pad) {
    ifftc_inplace(out.view(), {ax});
    const float scale = std::sqrt(static_cast<float>(r) / static_cast<float>(n));
    for (auto& v : out) v *= scale;
  }
  return out;
}

}  // namespace detail

// The image (z, y, x) cropped or interpolated to (rz, ry, rx), axis by axis. Sizes below 1 keep the axis.
inline array<cfloat, 3> fit_to_recon_matrix(array<cfloat, 3> image, index_t rz, index_t ry, index_t rx) {
  const std::array<index_t, 3> r{rz, ry, rx};
  for (int ax = 0; ax < 3; ++ax)
    if (r[static_cast<std::size_t>(ax)] >= 1)
      image = detail::resize_axis_centred(std::move(image), ax, r[static_cast<std::size_t>(ax)]);
  return image;
}

// The image record of a reconstructed complex image (z, y, x): brought to the header's recon matrix
// (z too when `volume`, else it stays one partition), its magnitude, the complex image when `output`
// keeps it, the recon FOV, and the geometry of the buffer's first readout when there is one. The loop
// indices and the image number are the caller's to set.
inline io::image_record image_record_from(array<cfloat, 3> img, const io::encoding_header& h, bool volume,
                                          io::image_type output, const io::acquisition* first) {
  img = fit_to_recon_matrix(std::move(img), volume ? h.recon_matrix[2] : 1, h.recon_matrix[1], h.recon_matrix[0]);
  io::image_record r;
  r.magnitude = array<float, 3>(img.shape(), uninitialized);
  std::transform(img.begin(), img.end(), r.magnitude.begin(), [](const cfloat& v) { return std::abs(v); });
  r.type = output;
  if (output != io::image_type::magnitude) r.complex_image = std::move(img);
  r.fov_mm = {h.recon_fov_mm[0], h.recon_fov_mm[1], h.recon_fov_mm[2]};
  if (first) {
    r.position = first->position;
    r.read_dir = first->read_dir;
    r.phase_dir = first->phase_dir;
    r.slice_dir = first->slice_dir;
    r.patient_table_position = first->patient_table_position;
    r.acquisition_time_stamp = first->acquisition_time_stamp;
    r.physiology_time_stamp = first->physiology_time_stamp;
  }
  return r;
}

}  // namespace larmor
