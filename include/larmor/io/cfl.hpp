// larmor/io/cfl.hpp — BART's .cfl/.hdr file pair.
//
// BART stores complex float32 (little-endian, interleaved re/im) in column-major order: BART's
// dimension 0 (read-out, x) is the fastest. Our arrays are row-major with x last, so a BART file with
// dims [d0 d1 ... dk] is our array of shape (dk, ..., d1, d0) — the dims reversed, same bytes.
// BART's k-space convention [x y z coils …] therefore arrives as (…, coils, z, y, x): our layout.
//   read_cfl(base)      -> cfl_data: BART dims and the flat samples
//   read_cfl<R>(base)   -> array<cfloat, R> (reversed dims; size-1 axes dropped or added to fit R)
//   write_cfl(base, x)  writes base.hdr and base.cfl (dims reversed, padded with 1 to 16 dims)
#pragma once

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "larmor/core/array.hpp"

namespace larmor {

struct cfl_data {
  std::vector<index_t> bart_dims;  // as in the .hdr: x first
  array<cfloat, 1> samples;        // prod(bart_dims) values, column-major in BART's sense

  // Row-major shape: bart_dims reversed, BART's trailing size-1 dims dropped (at least rank 1).
  std::vector<index_t> shape() const {
    std::size_t k = bart_dims.size();
    while (k > 1 && bart_dims[k - 1] == 1) --k;
    return std::vector<index_t>(bart_dims.rend() - static_cast<std::ptrdiff_t>(k), bart_dims.rend());
  }
};

inline cfl_data read_cfl(const std::string& base) {
  const std::string hdr_path = base + ".hdr", cfl_path = base + ".cfl";
  std::ifstream hdr(hdr_path);
  LARMOR_CHECK_DATA(hdr.good(), "read_cfl: cannot open ", hdr_path);
  std::string line;
  bool found = false;
  cfl_data out;
  while (std::getline(hdr, line)) {
    if (line.rfind("# Dimensions", 0) == 0) {
      LARMOR_CHECK_DATA(static_cast<bool>(std::getline(hdr, line)), "read_cfl: ", hdr_path,
                        " ends after '# Dimensions'");
      std::istringstream is(line);
      std::string tok;
      while (is >> tok) {
        std::size_t used = 0;
        long long v = -1;
        try {
          v = std::stoll(tok, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        LARMOR_CHECK_DATA(used == tok.size() && v >= 1, "read_cfl: ", hdr_path, " has dimension '", tok,
                          "', expected a positive integer");
        out.bart_dims.push_back(static_cast<index_t>(v));
      }
      found = true;
      break;
    }
  }
  LARMOR_CHECK_DATA(found && !out.bart_dims.empty(), "read_cfl: ", hdr_path, " has no '# Dimensions' line");
  index_t n = 1;
  for (auto d : out.bart_dims) {
    LARMOR_CHECK_DATA(n <= PTRDIFF_MAX / 8 / d, "read_cfl: ", hdr_path, " dimensions are too large");
    n *= d;
  }
  std::ifstream cfl(cfl_path, std::ios::binary | std::ios::ate);
  LARMOR_CHECK_DATA(cfl.good(), "read_cfl: cannot open ", cfl_path);
  const auto bytes = static_cast<index_t>(cfl.tellg());
  LARMOR_CHECK_DATA(bytes >= n * 8, "read_cfl: ", cfl_path, " holds ", bytes, " bytes, expected ", n * 8,
                    " for dims ", shape_string(out.bart_dims));
  cfl.seekg(0);
  out.samples = array<cfloat, 1>(extents<1>{n}, uninitialized);  // filled by the read below
  cfl.read(reinterpret_cast<char*>(out.samples.data()), static_cast<std::streamsize>(n * 8));
  LARMOR_CHECK_DATA(cfl.good(), "read_cfl: read error in ", cfl_path);
  return out;
}

// Reads into a rank-R array. Extra size-1 axes are dropped (outermost first), missing ones added in front.
template <std::size_t R>
array<cfloat, R> read_cfl(const std::string& base) {
  cfl_data d = read_cfl(base);
  std::vector<index_t> sh = d.shape();
  for (std::size_t i = 0; sh.size() > R && i < sh.size();) {
    if (sh[i] == 1)
      sh.erase(sh.begin() + static_cast<std::ptrdiff_t>(i));
    else
      ++i;
  }
  LARMOR_CHECK_DATA(sh.size() <= R, "read_cfl: ", base, " has shape ", shape_string(d.shape()),
                    ", which does not fit rank ", R);
  extents<R> e{};
  e.fill(1);
  std::copy(sh.begin(), sh.end(), e.begin() + static_cast<std::ptrdiff_t>(R - sh.size()));
  return std::move(d.samples).reshape(e);
}

template <std::size_t R>
void write_cfl(const std::string& base, strided_view<const cfloat, R> x) {
  static_assert(R <= 16, "BART files hold at most 16 dimensions");
  const std::string hdr_path = base + ".hdr", cfl_path = base + ".cfl";
  {
    std::ofstream hdr(hdr_path);
    LARMOR_CHECK_DATA(hdr.good(), "write_cfl: cannot create ", hdr_path);
    hdr << "# Dimensions\n";
    for (std::size_t k = 0; k < 16; ++k) hdr << (k < R ? x.shape(R - 1 - k) : 1) << ' ';
    hdr << "\n";
    LARMOR_CHECK_DATA(hdr.good(), "write_cfl: write error in ", hdr_path);
  }
  array<cfloat, R> dense;  // a contiguous copy only when x is strided
  if (!x.is_contiguous()) dense = to_array(x);
  const cfloat* samples = x.is_contiguous() ? x.data() : dense.data();
  std::ofstream cfl(cfl_path, std::ios::binary);
  LARMOR_CHECK_DATA(cfl.good(), "write_cfl: cannot create ", cfl_path);
  cfl.write(reinterpret_cast<const char*>(samples), static_cast<std::streamsize>(x.size() * 8));
  LARMOR_CHECK_DATA(cfl.good(), "write_cfl: write error in ", cfl_path);
}

template <std::size_t R>
void write_cfl(const std::string& base, strided_view<cfloat, R> x) {
  write_cfl(base, strided_view<const cfloat, R>(x));
}
template <std::size_t R>
void write_cfl(const std::string& base, const array<cfloat, R>& x) {
  write_cfl(base, x.cview());
}

}  // namespace larmor
