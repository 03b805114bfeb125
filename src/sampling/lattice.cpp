// Lattice detection (include/larmor/sampling/lattice.hpp), compiled once here.
#include "larmor/sampling/lattice.hpp"

namespace larmor {

std::optional<sampling_lattice> detect_lattice(const line_mask& m, index_t max_r) {
  if (m.count() == 0) return std::nullopt;
  // Bounding box of the acquired lines.
  index_t y0 = m.ny, y1 = -1, z0 = m.nz, z1 = -1;
  for (index_t z = 0; z < m.nz; ++z)
    for (index_t y = 0; y < m.ny; ++y)
      if (m(z, y)) {
        y0 = std::min(y0, y), y1 = std::max(y1, y), z0 = std::min(z0, z), z1 = std::max(z1, z);
      }
  // No gap inside the acquired extent: fully sampled (partial Fourier at most), whatever the centre.
  index_t gaps = 0;
  for (index_t z = z0; z <= z1; ++z)
    for (index_t y = y0; y <= y1; ++y) gaps += !m(z, y);
  if (gaps == 0) return sampling_lattice{};
  const auto centre = fully_sampled_centre(m);
  const bool have_centre = centre.has_value();
  index_t cz0 = 0, cz1 = -1, cy0 = 0, cy1 = -1;
  if (have_centre) cz0 = centre->z0, cz1 = centre->z1, cy0 = centre->y0, cy1 = centre->y1;
  auto in_centre = [&](index_t z, index_t y) { return have_centre && z >= cz0 && z <= cz1 && y >= cy0 && y <= cy1; };

  std::optional<sampling_lattice> best;
  for (index_t rz = 1; rz <= std::min(max_r, m.nz); ++rz)
    for (index_t ry = 1; ry <= std::min(max_r, m.ny); ++ry) {
      if (best && ry * rz <= best->factor()) continue;
      for (index_t s = 0; s < (rz > 1 ? ry : 1); ++s)
        for (index_t oz = 0; oz < rz; ++oz)
          for (index_t oy = 0; oy < ry; ++oy) {
            const sampling_lattice L{ry, rz, s, oy, oz};
            bool ok = true;
            for (index_t z = 0; z < m.nz && ok; ++z)
              for (index_t y = 0; y < m.ny && ok; ++y) {
                const bool on = L.contains(z, y), acq = m(z, y);
                if (on && !acq && z >= z0 && z <= z1 && y >= y0 && y <= y1) ok = false;
                if (!on && acq && !in_centre(z, y)) ok = false;
              }
            if (ok && (!best || L.factor() > best->factor())) best = L;
          }
    }
  return best;
}

}  // namespace larmor
