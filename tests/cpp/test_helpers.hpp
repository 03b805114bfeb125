// test_helpers.hpp — shared pieces of the C++ tests: random data, error norms, running BART.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>

#include "larmor/larmor.hpp"

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

inline bool have_bart() { return std::string(LARMOR_BART).size() > 0; }

// Runs `bart <args>` in the test's temporary directory; returns the exit status.
inline int run_bart(const std::string& args) {
  const std::string cmd = "cd '" + std::string(LARMOR_TEST_TMP) + "' && '" + LARMOR_BART + "' " + args + " >/dev/null";
  return std::system(cmd.c_str());
}

inline std::string tmp_path(const std::string& name) { return std::string(LARMOR_TEST_TMP) + "/" + name; }

}  // namespace larmor::test
