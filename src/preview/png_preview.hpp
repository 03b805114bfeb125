// png_preview.hpp — 8-bit grey-scale PNG previews of magnitude images.
#pragma once

#include <string>
#include <vector>

#include "larmor/core/array.hpp"

namespace larmor {

// Writes |img| (y, x) to path as an 8-bit grey PNG, window [0, the 99.5th percentile] mapped to
// [0, 255]. Writes to path + ".tmp" and renames, so no partial file is left on failure.
void write_png_preview(const std::string& path, strided_view<const float, 2> img);

// One image of a side-by-side figure and the text written above it.
struct png_panel {
  strided_view<const float, 2> image;
  std::string label;
};

// Writes the panels side by side (same height required) with their labels above them (5 x 7 bitmap font,
// scaled by 2), all in the window of the first panel ([0, its 99.5th percentile]), so differences in
// intensity show. Same temporary-name rule as write_png_preview.
void write_png_panels(const std::string& path, const std::vector<png_panel>& panels);

}  // namespace larmor
