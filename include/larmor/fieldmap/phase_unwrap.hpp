// larmor/fieldmap/phase_unwrap.hpp — spatial phase unwrapping by quality-guided region growing.
//
// Given a wrapped phase psi in (-pi, pi] on a 1D-3D grid, a mask and a quality map q (larger = more
// reliable), returns phi = psi + 2 pi n with one integer n per pixel, such that along the growth path
// neighbouring pixels differ by less than pi. Growth: start at the most reliable pixel of a connected
// masked region; a priority queue holds the frontier ordered by quality; a pixel taken from it is
// unwrapped against the already unwrapped neighbour that put it there,
//     phi = psi + 2 pi round((phi_neighbour - psi) / 2 pi),
// so wraps are decided first where the data are best and noisy pixels are reached last (quality-guided
// path following: Ghiglia DC, Pritt MD, Two-Dimensional Phase Unwrapping, Wiley 1998, ch. 4.3). Masked
// regions that do not touch (2D: 4-neighbours, 3D: 6-neighbours) are grown from their own seeds; each is
// then shifted by the multiple of 2 pi that brings its median into (-pi, pi] (the usual assumption of a
// shimmed field: its mean offset is smaller than one wrap). Outside the mask phi = 0.
// Serial, O(N log N) for N masked pixels.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <queue>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/core/error.hpp"

namespace larmor {

// psi, mask (0/1), quality: prod(shape) values, row-major; shape: 1 to 3 axes. Returns phi.
inline std::vector<float> unwrap_phase(const float* psi, const unsigned char* mask, const float* quality,
                                       const std::vector<index_t>& shape) {
  LARMOR_CHECK_ARG(!shape.empty() && shape.size() <= 3, "unwrap_phase: 1 to 3 axes, got ", shape.size());
  index_t n = 1;
  for (index_t s : shape) {
    LARMOR_CHECK_ARG(s >= 1, "unwrap_phase: every axis needs at least one pixel");
    n *= s;
  }
  constexpr double two_pi = 6.283185307179586;
  std::vector<float> phi(static_cast<std::size_t>(n), 0.f);
  std::vector<unsigned char> done(static_cast<std::size_t>(n), 0);
  std::vector<index_t> stride(shape.size(), 1);
  for (std::size_t a = shape.size() - 1; a-- > 0;) stride[a] = stride[a + 1] * shape[a + 1];
  // Seeds: masked pixels in decreasing quality; each one not yet reached starts a region.
  std::vector<index_t> order;
  for (index_t p = 0; p < n; ++p)
    if (mask[p]) order.push_back(p);
  std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) { return quality[a] > quality[b]; });
  struct item {
    float q;
    index_t pixel, from;
    bool operator<(const item& o) const { return q < o.q || (q == o.q && pixel > o.pixel); }
  };
  std::priority_queue<item> frontier;
  std::vector<index_t> region;
  for (index_t seed : order) {
    if (done[seed]) continue;
    region.clear();
    phi[seed] = psi[seed];
    done[seed] = 1;
    region.push_back(seed);
    auto push_neighbours = [&](index_t p) {
      index_t rest = p;
      for (std::size_t a = 0; a < shape.size(); ++a) {
        const index_t i = rest / stride[a];
        rest %= stride[a];
        for (int dir : {-1, 1}) {
          if ((dir < 0 && i == 0) || (dir > 0 && i + 1 == shape[a])) continue;
          const index_t q = p + dir * stride[a];
          if (mask[q] && !done[q]) frontier.push({quality[q], q, p});
        }
      }
    };
    push_neighbours(seed);
    while (!frontier.empty()) {
      const item it = frontier.top();
      frontier.pop();
      if (done[it.pixel]) continue;
      const double w = psi[it.pixel];
      phi[it.pixel] = static_cast<float>(w + two_pi * std::round((phi[it.from] - w) / two_pi));
      done[it.pixel] = 1;
      region.push_back(it.pixel);
      push_neighbours(it.pixel);
    }
    // The region's offset: its median into (-pi, pi].
    std::vector<float> v;
    v.reserve(region.size());
    for (index_t p : region) v.push_back(phi[p]);
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    const double shift = two_pi * std::round(v[v.size() / 2] / two_pi);
    if (shift != 0)
      for (index_t p : region) phi[p] = static_cast<float>(phi[p] - shift);
  }
  return phi;
}

}  // namespace larmor
