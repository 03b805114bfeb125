// coil_phantom.hpp — a multi-coil acquisition with known ground truth for the coil and
// parallel-imaging tests: Shepp-Logan object x smooth simulated sensitivities, its centred k-space,
// optional complex Gaussian noise; and comparisons of sensitivity maps that ignore the per-pixel phase
// every map estimate is free to choose.
#pragma once

#include <random>

#include "larmor/core/array.hpp"
#include "larmor/fft/fft.hpp"
#include "larmor/sim/phantom.hpp"

namespace larmor::test {

struct coil_phantom {
  array<float, 2> object;       // (y, x), real
  array<cfloat, 3> maps;        // (coils, y, x), the true sensitivities
  array<cfloat, 3> images;      // (coils, y, x) = maps * object
  array<cfloat, 3> kspace;      // fftc(images) (+ noise)
};

inline coil_phantom make_coil_phantom(index_t coils, index_t ny, index_t nx, double noise = 0.0, unsigned seed = 3) {
  coil_phantom p;
  p.object = shepp_logan<float>(ny, nx);
  p.maps = simulated_coil_maps<float>(coils, ny, nx);
  p.images = array<cfloat, 3>(p.maps.shape());
  for (index_t c = 0; c < coils; ++c)
    for (index_t y = 0; y < ny; ++y)
      for (index_t x = 0; x < nx; ++x) p.images(c, y, x) = p.maps(c, y, x) * p.object(y, x);
  p.kspace = fftc(p.images.cview());
  if (noise > 0) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.f, static_cast<float>(noise));
    for (auto& v : p.kspace) v += cfloat(g(rng), g(rng));
  }
  return p;
}

// |<a, b>| / (|a| |b|) over the coil vector at pixel (y, x); 1 when the maps agree up to a phase.
template <class A, class B>
double map_cosine(const A& a, const B& b, index_t y, index_t x) {
  std::complex<double> ab = 0;
  double aa = 0, bb = 0;
  for (index_t c = 0; c < a.shape(0); ++c) {
    const std::complex<double> u(a(c, y, x)), v(b(c, y, x));
    ab += std::conj(u) * v;
    aa += std::norm(u);
    bb += std::norm(v);
  }
  return (aa > 0 && bb > 0) ? std::abs(ab) / std::sqrt(aa * bb) : 0.0;
}

// Pixels where the object is (clearly) present.
inline std::vector<std::pair<index_t, index_t>> object_pixels(const array<float, 2>& object, float level = 0.05f) {
  std::vector<std::pair<index_t, index_t>> px;
  for (index_t y = 0; y < object.shape(0); ++y)
    for (index_t x = 0; x < object.shape(1); ++x)
      if (object(y, x) > level) px.emplace_back(y, x);
  return px;
}

// The minimum and mean of map_cosine over the given pixels.
template <class A, class B>
std::pair<double, double> cosine_stats(const A& a, const B& b, const std::vector<std::pair<index_t, index_t>>& px) {
  double lo = 1, sum = 0;
  for (auto [y, x] : px) {
    const double c = map_cosine(a, b, y, x);
    lo = std::min(lo, c);
    sum += c;
  }
  return {lo, px.empty() ? 0.0 : sum / static_cast<double>(px.size())};
}

}  // namespace larmor::test
