// larmor/recon/cs_method.hpp — the recon chain's method "cs" (registered in src/recon/builtin_methods.cpp):
// compressed sensing (cs/cs.hpp) with ESPIRiT maps, for buffers with an irregular mask (variable density,
// Poisson disc) that "auto" sends to it.
#pragma once

#include <any>

#include "larmor/coils/espirit.hpp"
#include "larmor/cs/cs.hpp"

namespace larmor {

// Same contract as grappa_method / cgsense_method in recon/pi_methods.hpp:
// ESPIRiT maps (first set) from the calibration buffer, else from the k-space centre, kept in `cache`;
// l1-wavelet with lambda 0.005 (BART-scaled data), 100 FISTA iterations; image (z, y, x).
struct cs_method_state {
  array<cfloat, 4> maps;
  bool have_maps = false;
};

inline array<cfloat, 3> cs_method(const array<cfloat, 4>& kspace, const array<cfloat, 4>* calibration, std::any& cache,
                                  const cs_options& opt_in = {}) {
  if (!cache.has_value()) cache = cs_method_state{};
  auto& st = std::any_cast<cs_method_state&>(cache);
  const auto& cal = calibration ? *calibration : kspace;
  if (!st.have_maps) {
    if (cal.shape(1) == 1) {
      const strided_view<const cfloat, 3> v(cal.data(), {cal.shape(0), cal.shape(2), cal.shape(3)});
      st.maps = espirit_maps(v).reshape(cal.shape());
    } else {
      st.maps = espirit_maps(cal.cview()).reshape(cal.shape());
    }
    st.have_maps = true;
  }
  cs_options opt = opt_in;
  if (opt.wavelet == 0 && opt.tv == 0) opt.wavelet = 0.005f;
  if (kspace.shape(1) == 1) {
    const extents<3> s3{kspace.shape(0), kspace.shape(2), kspace.shape(3)};
    const strided_view<const cfloat, 3> k(kspace.data(), s3), m(st.maps.data(), s3);
    auto img = cs(k, m, opt).image;
    return std::move(img).reshape(extents<3>{1, kspace.shape(2), kspace.shape(3)});
  }
  return cs(kspace.cview(), st.maps.cview(), opt).image;
}

}  // namespace larmor
