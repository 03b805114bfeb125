// png_preview.hpp — 8-bit grey-scale PNG previews of magnitude images.
#pragma once

#include <string>

#include "larmor/core/array.hpp"

namespace larmor {

// Writes |img| (y, x) to path as an 8-bit grey PNG, window [0, the 99.5th percentile] mapped to
// [0, 255]. Writes to path + ".tmp" and renames, so no partial file is left on failure.
void write_png_preview(const std::string& path, strided_view<const float, 2> img);

}  // namespace larmor
