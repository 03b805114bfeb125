#include "preview/png_preview.hpp"

#include "preview/bitmap_font.hpp"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

namespace larmor {

namespace {

// The 99.5th percentile of |img| (1 when the image is all zero).
float window_top(strided_view<const float, 2> img) {
  std::vector<float> mag;
  mag.reserve(static_cast<std::size_t>(img.shape(0) * img.shape(1)));
  for (index_t y = 0; y < img.shape(0); ++y)
    for (index_t x = 0; x < img.shape(1); ++x) {
      const float v = std::fabs(img(y, x));
      mag.push_back(std::isfinite(v) ? v : 0.0f);
    }
  const auto k = static_cast<std::size_t>(0.995 * static_cast<double>(mag.size() - 1));
  std::nth_element(mag.begin(), mag.begin() + static_cast<std::ptrdiff_t>(k), mag.end());
  return mag[k] > 0 ? mag[k] : 1.0f;
}

png_byte grey(float v, float top) {
  const float m = std::fabs(v);
  return static_cast<png_byte>(std::lround(255.0f * std::min(1.0f, std::isfinite(m) ? m / top : 0.0f)));
}

// Writes an 8-bit grey image of ny rows x nx columns.
void write_grey_png(const std::string& path, const std::vector<png_byte>& rows, index_t ny, index_t nx) {
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
    for (index_t y = 0; y < ny; ++y) png_write_row(png, const_cast<png_byte*>(rows.data() + y * nx));
    png_write_end(png, nullptr);
  }
  png_destroy_write_struct(&png, &info);
  ok = (std::fclose(fp) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw DataError("write_png_preview: could not write " + path);
  }
}

}  // namespace

void write_png_preview(const std::string& path, strided_view<const float, 2> img) {
  const index_t ny = img.shape(0), nx = img.shape(1);
  LARMOR_CHECK_ARG(ny > 0 && nx > 0, "write_png_preview: empty image");
  const float top = window_top(img);
  std::vector<png_byte> rows(static_cast<std::size_t>(ny * nx));
  for (index_t y = 0; y < ny; ++y)
    for (index_t x = 0; x < nx; ++x) rows[static_cast<std::size_t>(y * nx + x)] = grey(img(y, x), top);
  write_grey_png(path, rows, ny, nx);
}

void write_png_panels(const std::string& path, const std::vector<png_panel>& panels) {
  LARMOR_CHECK_ARG(!panels.empty(), "write_png_panels: no panels");
  const index_t rows0 = panels[0].image.shape(0), scale = 2, band = 7 * scale + 8, gap = 4;
  // Small images are enlarged by whole pixels (nearest neighbour) to at least 256 rows, so that a
  // 128 x 128 scan is readable and its label fits above it.
  const index_t zoom = std::max<index_t>(1, (256 + rows0 - 1) / std::max<index_t>(rows0, 1));
  const index_t ny = rows0 * zoom;
  index_t width = 0;
  for (const auto& p : panels) {
    LARMOR_CHECK_ARG(p.image.shape(0) == rows0 && p.image.shape(1) > 0, "write_png_panels: panel '", p.label,
                     "' has ", p.image.shape(0), " rows, the first ", rows0);
    width += p.image.shape(1) * zoom + gap;
  }
  width -= gap;
  const index_t height = band + ny;
  std::vector<png_byte> rows(static_cast<std::size_t>(height * width), 0);
  const float top = window_top(panels[0].image);
  index_t x0 = 0;
  for (const auto& p : panels) {
    const index_t nx = p.image.shape(1) * zoom;
    for (index_t y = 0; y < ny; ++y)
      for (index_t x = 0; x < nx; ++x)
        rows[static_cast<std::size_t>((band + y) * width + x0 + x)] = grey(p.image(y / zoom, x / zoom), top);
    // The label, clipped to the panel's width.
    index_t cx = x0 + 2;
    for (char ch : p.label) {
      const auto g = preview::glyph_of(ch);
      if (cx + 5 * scale > x0 + nx) break;
      for (index_t r = 0; r < 7; ++r)
        for (index_t c = 0; c < 5; ++c)
          if (g[static_cast<std::size_t>(r)] & (0x10 >> c))
            for (index_t dy = 0; dy < scale; ++dy)
              for (index_t dx = 0; dx < scale; ++dx)
                rows[static_cast<std::size_t>((4 + r * scale + dy) * width + cx + c * scale + dx)] = 255;
      cx += 6 * scale;
    }
    x0 += nx + gap;
  }
  write_grey_png(path, rows, height, width);
}

}  // namespace larmor
