#include <larmor/larmor.hpp>

#include <cmath>
#include <cstdio>

int main() {
  larmor::array<larmor::cfloat, 3> k(larmor::extents<3>{2, 8, 8});
  k(0, 4, 4) = 8.0f;  // DC of an 8x8 centered transform
  const auto img = larmor::rss(larmor::ifftc(k.cview()).cview());
  const bool ok = std::abs(img(0, 0) - 1.0f) < 1e-6f;
  std::printf("consumer: rss(ifftc(k))[0,0] = %g (%s)\n", img(0, 0), ok ? "ok" : "wrong");
  return ok ? 0 : 1;
}
