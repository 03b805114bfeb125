// larmor/recon/partial_fourier_request.hpp — does a k-space buffer need a partial-Fourier reconstruction,
// along which axes, over which acquired ranges; and its application at the three places of the chain.
//
// Detected from the data, not from the header alone (encoding limits are often loose, and parallel
// imaging leaves lattice gaps at both edges):
//   y, z: the acquired lines span [first, last]; the missing edges are lo = first and hi = N-1-last
//         lines. A lattice of acceleration R with any offset leaves at most R-1 lines at each edge, so
//         the acquisition is partial Fourier along the axis when |lo - hi| > R (e.g. 3/8 of 256 lines
//         missing: |96 - 0| > R for any R <= 16).
//   x:    the readout samples acquired by any readout of the buffer (kspace_buffer::readout_begin/end,
//         from center_sample: an asymmetric echo), partial when |lo - hi| > 1.
// Applied (recon.hpp):
//   - to coil k-space before methods that combine coil images of full k-space (rss, walsh, inati,
//     espirit), and after the GRAPPA k-space fill (pi_methods.hpp), per coil;
//   - to the k-space of the combined complex image for methods that return an image directly (sense,
//     cgsense, cs, registered methods): their image is the sensitivity-weighted solution, whose phase is
//     the object phase that POCS/homodyne assume smooth.
// Zero filling ("zero") is the identity.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "larmor/fft/fft.hpp"
#include "larmor/pf/partial_fourier.hpp"
#include "larmor/sampling/lattice.hpp"
#include "larmor/assembly/kspace_assembly.hpp"

namespace larmor {

struct partial_fourier_request {
  axis_list axes;                       // of a (coils, z, y, x) buffer: -3 = z, -2 = y, -1 = x
  std::vector<acquired_range> acquired; // one per axis
  partial_fourier_options options;
  std::string describe(const extents<4>& shape) const {
    std::string s;
    for (std::size_t i = 0; i < axes.size(); ++i) {
      const int a = axes[i];
      const index_t n = shape[static_cast<std::size_t>(4 + a)];
      s += std::string(s.empty() ? "" : ", ") + (a == -1 ? "x" : a == -2 ? "y" : "z") + " " +
           std::to_string(acquired[i].end - acquired[i].begin) + "/" + std::to_string(n) + " [" +
           std::to_string(acquired[i].begin) + ", " + std::to_string(acquired[i].end) + ")";
    }
    return s + " (" + partial_fourier_method_name(options.method) + ")";
  }
};

// The request for buffer b (coils, z, y, x) with lattice acceleration ry x rz, or nothing when the buffer
// is not partial Fourier or the method is "zero".
inline std::optional<partial_fourier_request> detect_partial_fourier(const kspace_buffer& b, index_t ry, index_t rz,
                                                                     const partial_fourier_options& opt) {
  if (opt.method == partial_fourier_method::zero) return std::nullopt;
  const auto& k = b.kspace;
  const auto m = acquired_lines(k.cview());
  if (m.count() == 0) return std::nullopt;
  index_t y0 = m.ny, y1 = -1, z0 = m.nz, z1 = -1;
  for (index_t z = 0; z < m.nz; ++z)
    for (index_t y = 0; y < m.ny; ++y)
      if (m(z, y)) y0 = std::min(y0, y), y1 = std::max(y1, y), z0 = std::min(z0, z), z1 = std::max(z1, z);
  partial_fourier_request r;
  r.options = opt;
  auto consider = [&](int axis, index_t n, index_t first, index_t last, index_t slack) {
    const index_t lo = first, hi = n - 1 - last;
    if (std::abs(lo - hi) > slack) {
      r.axes.push_back(axis);
      r.acquired.push_back({first, last + 1});
    }
  };
  if (m.nz > 1) consider(-3, m.nz, z0, z1, std::max<index_t>(rz, 1));
  consider(-2, m.ny, y0, y1, std::max<index_t>(ry, 1));
  const index_t nx = k.shape(3);
  if (b.readout_end > b.readout_begin) consider(-1, nx, b.readout_begin, b.readout_end - 1, 1);
  if (r.axes.empty()) return std::nullopt;
  return r;
}

// Coil k-space (coils, z, y, x) filled in place.
inline void apply_partial_fourier(const partial_fourier_request& r, array<cfloat, 4>& k) {
  k = partial_fourier(k.cview(), r.axes, r.options, r.acquired);
}

// A combined complex image (z, y, x): its k-space filled, back to the image domain.
inline array<cfloat, 3> apply_partial_fourier_to_image(const partial_fourier_request& r, array<cfloat, 3>&& img) {
  const index_t nz = img.shape(0), ny = img.shape(1), nx = img.shape(2);
  array<cfloat, 4> k = std::move(img).reshape(extents<4>{1, nz, ny, nx});
  const axis_list spatial = nz > 1 ? axis_list{1, 2, 3} : axis_list{2, 3};
  fftc_inplace(k.view(), spatial);
  apply_partial_fourier(r, k);
  ifftc_inplace(k.view(), spatial);
  return std::move(k).reshape(extents<3>{nz, ny, nx});
}

}  // namespace larmor
