#include "preview/png_preview.hpp"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

namespace larmor {

void write_png_preview(const std::string& path, strided_view<const float, 2> img) {
  const index_t ny = img.shape(0), nx = img.shape(1);
  LARMOR_CHECK_ARG(ny > 0 && nx > 0, "write_png_preview: empty image");
  std::vector<float> mag;
  mag.reserve(static_cast<std::size_t>(ny * nx));
  for (index_t y = 0; y < ny; ++y)
    for (index_t x = 0; x < nx; ++x) {
      const float v = std::fabs(img(y, x));
      mag.push_back(std::isfinite(v) ? v : 0.0f);
    }
  std::vector<float> sorted = mag;
  const auto k = static_cast<std::size_t>(0.995 * static_cast<double>(sorted.size() - 1));
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(k), sorted.end());
  const float top = sorted[k] > 0 ? sorted[k] : 1.0f;
  std::vector<png_byte> rows(static_cast<std::size_t>(ny * nx));
  for (std::size_t i = 0; i < mag.size(); ++i)
    rows[i] = static_cast<png_byte>(std::lround(255.0f * std::min(1.0f, mag[i] / top)));

  const std::string tmp = path + ".tmp";
  FILE* fp = std::fopen(tmp.c_str(), "wb");
  LARMOR_CHECK_DATA(fp != nullptr, "write_png_preview: cannot create ", tmp);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  volatile bool ok = png && info;  // volatile: read after a possible longjmp
  if (ok && setjmp(png_jmpbuf(png))) ok = false;  // libpng reports errors by longjmp
  if (ok) {
    png_init_io(png, fp);
    png_set_IHDR(png, info, static_cast<png_uint_32>(nx), static_cast<png_uint_32>(ny), 8, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (index_t y = 0; y < ny; ++y) png_write_row(png, rows.data() + y * nx);
    png_write_end(png, nullptr);
  }
  png_destroy_write_struct(&png, &info);
  ok = (std::fclose(fp) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw DataError("write_png_preview: could not write " + path);
  }
}

}  // namespace larmor
