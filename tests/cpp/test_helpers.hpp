// test_helpers.hpp — shared pieces of the C++ tests: random data, error norms, running BART.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>

#include "larmor/io/acquisition.hpp"
#include "larmor/core/array.hpp"

namespace larmor::test {

// Complex Gaussian samples, reproducible from seed.
template <class T, std::size_t R>
array<T, R> random_array(const extents<R>& shape, unsigned seed = 1) {
  array<T, R> a(shape);
  std::mt19937 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  using real = typename T::value_type;
  for (auto& v : a) v = T(static_cast<real>(g(rng)), static_cast<real>(g(rng)));
  return a;
}

// ||a - b||_2 / ||b||_2 over all elements of two equally shaped views.
template <class A, class B>
double relative_error(const A& a, const B& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double num = 0, den = 0;
  const auto va = a.view(), vb = b.view();
  for_each_index(va.shape(), [&](const auto& i) {
    const auto x = va[i], y = vb[i];
    num += std::norm(std::complex<double>(x) - std::complex<double>(y));
    den += std::norm(std::complex<double>(y));
  });
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// One Cartesian readout: line y of k-space (coils, y, x) as slice `slice` (axial, 5 mm apart) of repetition
// `repetition`, with acquisition flags `flags` and contrast `contrast`.
inline io::acquisition line_readout(const array<cfloat, 3>& k, index_t y, index_t slice, index_t repetition = 0,
                                    std::uint64_t flags = 0, index_t contrast = 0) {
  const index_t nc = k.shape(0), nx = k.shape(2);
  io::acquisition a;
  a.idx.kspace_encode_step_1 = static_cast<std::uint16_t>(y);
  a.idx.slice = static_cast<std::uint16_t>(slice);
  a.idx.repetition = static_cast<std::uint16_t>(repetition);
  a.idx.contrast = static_cast<std::uint16_t>(contrast);
  a.flags = flags;
  a.center_sample = static_cast<std::uint16_t>(nx / 2);
  a.position = {0.f, 0.f, 5.f * static_cast<float>(slice)};
  a.read_dir = {1.f, 0.f, 0.f};
  a.phase_dir = {0.f, 1.f, 0.f};
  a.slice_dir = {0.f, 0.f, 1.f};
  a.data = array<cfloat, 2>(extents<2>{nc, nx}, uninitialized);
  for (index_t c = 0; c < nc; ++c)
    for (index_t x = 0; x < nx; ++x) a.data(c, x) = k(c, y, x);
  return a;
}

inline bool have_bart() { return std::string(LARMOR_BART).size() > 0; }

// Runs `bart <args>` in the test's temporary directory; returns the exit status.
inline int run_bart(const std::string& args) {
  const std::string cmd = "cd '" + std::string(LARMOR_TEST_TMP) + "' && '" + LARMOR_BART + "' " + args + " >/dev/null";
  return std::system(cmd.c_str());
}

inline std::string tmp_path(const std::string& name) { return std::string(LARMOR_TEST_TMP) + "/" + name; }

}  // namespace larmor::test
