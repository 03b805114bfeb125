// Options renamed to the common vocabulary (docs/api.md) keep their 0.1 names for one release: assigning the
// old name still reaches the algorithm (and wins over the new field). The deprecation warning is what a user
// sees; it is silenced here because this test uses the old names on purpose.
#include <gtest/gtest.h>

#include <complex>
#include <vector>

#include "larmor/coils/espirit.hpp"
#include "larmor/pf/partial_fourier.hpp"
#include "larmor/solvers/conjugate_gradient.hpp"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace larmor {
namespace {

// CG on the diagonal system diag(1..n) x = 1: it needs n iterations to converge, so the count it ran is the
// limit it was given.
int cg_iterations_run(const cg_options& o) {
  const index_t n = 40;
  std::vector<std::complex<double>> b(n, 1.0), x(n);
  auto normal = [&](const std::complex<double>* in, std::complex<double>* out) {
    for (index_t i = 0; i < n; ++i) out[i] = static_cast<double>(i + 1) * in[i];
  };
  return conjugate_gradient<double>(normal, b.data(), x.data(), n, o).iterations;
}

TEST(OptionVocabulary, CgMaxIterStillLimitsTheIterations) {
  cg_options o;
  o.tol = 0;
  o.iters = 7;
  EXPECT_EQ(cg_iterations_run(o), 7);
  o.max_iter = 3;  // the old name wins while it is assigned
  EXPECT_EQ(cg_iterations_run(o), 3);
  EXPECT_EQ(static_cast<int>(o.max_iter), 3);
  const cg_options copy = o;  // copies carry it
  EXPECT_EQ(cg_iterations_run(copy), 3);
}

TEST(OptionVocabulary, OldNamesOfPocsAndEspiritOptionsAreChecked) {
  array<cfloat, 2> k(extents<2>{32, 32});
  for (index_t y = 16 - 10; y < 32; ++y)
    for (index_t x = 0; x < 32; ++x) k(y, x) = cfloat(1.f / (1 + std::abs(float(y - 16)) + std::abs(float(x - 16))), 0.f);
  partial_fourier_options p;
  p.iterations = 0;  // refused under its old name exactly as iters = 0 is
  EXPECT_THROW(partial_fourier(k.cview(), {-2}, p), InvalidArgument);
  p = {};
  p.tolerance = -1.0;
  EXPECT_THROW(partial_fourier(k.cview(), {-2}, p), InvalidArgument);
  espirit_options e;
  e.max_iter = 0;
  array<cfloat, 3> coils(extents<3>{2, 32, 32});
  EXPECT_THROW(espirit_maps(coils.cview(), e), InvalidArgument);
}

}  // namespace
}  // namespace larmor
