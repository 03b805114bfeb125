// src/recon/builtin_methods.cpp — the chain's built-in reconstruction methods (recon/chain.hpp):
// "rss", "walsh", "inati", "espirit", "grappa", "sense", "cs", "cgsense", each described once here
// (method_description: what it needs, its defaults, where partial Fourier runs, whether compression suits it).
// Compiled once into the larmor_recon library (linked through larmor::larmor): the lambdas below reach
// every method of the library, and compiling them in each translation unit that includes chain.hpp
// cost about 50 s of compiler time per unit.
#include <algorithm>
#include <any>

#include "larmor/coils/combine.hpp"
#include "larmor/coils/espirit.hpp"
#include "larmor/coils/inati.hpp"
#include "larmor/coils/rss.hpp"
#include "larmor/coils/walsh.hpp"
#include "larmor/recon/chain.hpp"
#include "larmor/recon/cs_method.hpp"
#include "larmor/recon/pi_methods.hpp"

namespace larmor::detail {

namespace {

// (coils, z, y, x) -> coil images, 2D when z = 1.
array<cfloat, 4> coil_images(const array<cfloat, 4>& k) {
  return k.shape(1) == 1 ? ifftc(k.cview(), {2, 3}) : ifftc(k.cview(), {1, 2, 3});
}

// Runs f on the (coils, y, x) view when z = 1, else on (coils, z, y, x); f returns maps of the same
// shape as its input; the result is reshaped to (coils, z, y, x).
template <class F>
array<cfloat, 4> per_dimensionality(const array<cfloat, 4>& x, F&& f) {
  if (x.shape(1) == 1) {
    const strided_view<const cfloat, 3> v(x.data(), extents<3>{x.shape(0), x.shape(2), x.shape(3)});
    return f(v).reshape(x.shape());
  }
  return f(x.cview());
}

array<cfloat, 3> combine_with(const array<cfloat, 4>& imgs, const array<cfloat, 4>& maps) {
  auto c = combine(imgs.cview(), maps.cview());
  return c;
}

}  // namespace

void register_builtin_methods() {
  auto& r = method_registry();
  if (r.count("rss")) return;
  using stage = partial_fourier_stage;
  const auto add = [&r](const char* name, stage pf, bool with_maps, const char* needs, recon_method run) {
    r[name] = method_description{std::move(run), pf, with_maps, needs};
  };
  add("rss", stage::coil_kspace, false, "fully sampled k-space; root sum of squares of the coil images (magnitude)",
      [](const method_input& in) {
        const auto imgs = coil_images(in.kspace);
        const auto mag = rss(imgs.cview());
        array<cfloat, 3> out(mag.shape(), uninitialized);
        std::transform(mag.begin(), mag.end(), out.begin(), [](float v) { return cfloat(v, 0.f); });
        return out;
      });
  add("walsh", stage::coil_kspace, false, "fully sampled k-space; Walsh maps (7-pixel kernel), Roemer combination",
      [](const method_input& in) {
        const auto imgs = coil_images(in.kspace);
        const auto maps = per_dimensionality(imgs, [](auto v) { return walsh_maps(v, 7); });
        return combine_with(imgs, maps);
      });
  add("inati", stage::coil_kspace, false, "fully sampled k-space; Inati maps (5-pixel kernel, 5 iterations), Roemer combination",
      [](const method_input& in) {
        const auto imgs = coil_images(in.kspace);
        const auto maps = per_dimensionality(imgs, [](auto v) { return inati_maps(v, 5, 5); });
        return combine_with(imgs, maps);
      });
  auto scratch = [](const method_input& in, std::any& local) -> std::any& { return in.state ? *in.state : local; };
  add("espirit", stage::coil_kspace, true,
      "fully sampled k-space (or a calibration buffer for the maps); ESPIRiT maps as BART ecalib, Roemer combination",
      [scratch](const method_input& in) {
        std::any local;  // maps from the calibration (or this buffer), kept for the slice's other buffers
        const auto& maps = cached_maps(in.kspace, in.calibration, scratch(in, local),
                                       in.progress_for ? in.progress_for("ESPIRiT maps") : progress_fn{});
        return combine_with(coil_images(in.kspace), maps);
      });
  add("grappa", stage::inside, false,
      "a regular lattice and ACS (embedded, separate or interleaved); kernel 4 lattice lines x 5 readout samples "
      "(3D: x 3 rows), image-domain weights with ESPIRiT maps",
      [scratch](const method_input& in) {
        std::any local;
        return grappa_method(in.kspace, in.calibration, scratch(in, local), in.partial_fourier, in.progress_for,
                             in.release_calibration, in.gfactor);
      });
  add("sense", stage::image, true, "a regular lattice and a fully sampled centre for ESPIRiT maps; exact unfolding",
      [scratch](const method_input& in) {
        std::any local;
        return sense_method(in.kspace, in.calibration, scratch(in, local), in.gfactor);
      });
  add("cs", stage::image, true,
      "any mask with a fully sampled centre; l1-wavelet (lambda 0.005 on BART-scaled data, --lambda), 100 FISTA "
      "iterations, ESPIRiT maps",
      [scratch](const method_input& in) {
        std::any local;
        cs_options o;
        o.wavelet = in.lambda;  // 0: cs_method's default
        return cs_method(in.kspace, in.calibration, scratch(in, local), o);
      });
  add("cgsense", stage::image, true, "any mask with a fully sampled centre; CG-SENSE (30 iterations), ESPIRiT maps",
      [scratch](const method_input& in) {
        std::any local;
        return cgsense_method(in.kspace, in.calibration, scratch(in, local), in.gfactor);
      });
}

}  // namespace larmor::detail
