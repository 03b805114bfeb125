// Tests of ops/wavelet.hpp: the filters (Daubechies' conditions), the transform against a direct
// filter-bank implementation written here in double (periodic convolution then downsampling, Mallat's
// pyramid), perfect reconstruction and orthogonality, non-power-of-two and odd sizes, 3D.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <vector>

#include "larmor/ops/wavelet.hpp"
#include "test_helpers.hpp"

using namespace larmor;
using cd = std::complex<double>;

namespace {

std::vector<double> lowpass(wavelet_kind k) {
  const auto h = detail::daubechies_lowpass(k);
  return std::vector<double>(h.begin(), h.end());
}

// One level along a line of length m (direct filter bank): c = x (*) reversed filter (circular over the even part
// me), keep even outputs; low-pass first, then (odd m) the last sample, then the details.
std::vector<cd> dwt_line(const std::vector<cd>& x, const std::vector<double>& h) {
  const std::size_t m = x.size(), me = m - m % 2, L = h.size();
  std::vector<double> g(L);
  for (std::size_t j = 0; j < L; ++j) g[j] = (j % 2 ? -1.0 : 1.0) * h[L - 1 - j];
  std::vector<cd> lo(me), hi(me);
  for (std::size_t n = 0; n < me; ++n)
    for (std::size_t j = 0; j < L; ++j) lo[n] += h[j] * x[(n + j) % me], hi[n] += g[j] * x[(n + j) % me];
  std::vector<cd> out;
  for (std::size_t n = 0; n < me; n += 2) out.push_back(lo[n]);
  if (m % 2) out.push_back(x[m - 1]);
  for (std::size_t n = 0; n < me; n += 2) out.push_back(hi[n]);
  return out;
}

// Mallat pyramid on a row-major image (shape), reference in double.
std::vector<cd> dwt_ref(std::vector<cd> v, const std::vector<index_t>& shape, const std::vector<double>& h,
                        index_t min_size) {
  std::vector<index_t> len = shape;
  const std::size_t nd = shape.size();
  std::vector<index_t> stride(nd, 1);
  for (std::size_t a = nd - 1; a-- > 0;) stride[a] = stride[a + 1] * shape[a + 1];
  for (;;) {
    std::vector<std::size_t> ax;
    for (std::size_t a = 0; a < nd; ++a)
      if (shape[a] > 1 && len[a] >= 2 * min_size) ax.push_back(a);
    if (ax.empty()) break;
    for (std::size_t a : ax) {
      // every line along a inside the block len
      index_t nlines = 1;
      for (std::size_t b = 0; b < nd; ++b)
        if (b != a) nlines *= len[b];
      for (index_t l = 0; l < nlines; ++l) {
        index_t q = l, base = 0;
        for (std::size_t b = nd; b-- > 0;) {
          if (b == a) continue;
          base += (q % len[b]) * stride[b];
          q /= len[b];
        }
        std::vector<cd> line(static_cast<std::size_t>(len[a]));
        for (index_t i = 0; i < len[a]; ++i) line[i] = v[base + i * stride[a]];
        const auto o = dwt_line(line, h);
        for (index_t i = 0; i < len[a]; ++i) v[base + i * stride[a]] = o[i];
      }
    }
    for (std::size_t a : ax) len[a] = (len[a] + 1) / 2;
  }
  return v;
}

std::vector<cfloat> random_vec(index_t n, unsigned seed) {
  auto a = test::random_array<cfloat, 1>({n}, seed);
  return std::vector<cfloat>(a.begin(), a.end());
}

double rel(const std::vector<cfloat>& a, const std::vector<cd>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) num += std::norm(cd(a[i]) - b[i]), den += std::norm(b[i]);
  return std::sqrt(num / den);
}

void check_against_reference(const std::vector<index_t>& shape, wavelet_kind k, index_t min_size, int expect_levels) {
  wavelet_operator W(shape, k, min_size);
  EXPECT_EQ(W.levels(), expect_levels);
  const index_t n = W.input_size();
  const auto x = random_vec(n, 7);
  std::vector<cfloat> y(n), back(n);
  W.apply(x.data(), y.data());
  const auto ref = dwt_ref(std::vector<cd>(x.begin(), x.end()), shape, lowpass(k), min_size);
  EXPECT_LT(rel(y, ref), 2e-6);
  // Perfect reconstruction: W^H W x = x.
  W.adjoint(y.data(), back.data());
  EXPECT_LT(rel(back, std::vector<cd>(x.begin(), x.end())), 2e-6);
  // Orthogonality: <W x, W u> = <x, u>, ||W x|| = ||x||.
  const auto u = random_vec(n, 9);
  std::vector<cfloat> wu(n);
  W.apply(u.data(), wu.data());
  cd d1 = 0, d2 = 0;
  double nx = 0, ny = 0;
  for (index_t i = 0; i < n; ++i) {
    d1 += std::conj(cd(x[i])) * cd(u[i]);
    d2 += std::conj(cd(y[i])) * cd(wu[i]);
    nx += std::norm(cd(x[i]));
    ny += std::norm(cd(y[i]));
  }
  EXPECT_LT(std::abs(d1 - d2), 1e-5 * std::sqrt(nx * ny));
  EXPECT_NEAR(ny / nx, 1.0, 1e-5);
}

}  // namespace

TEST(Wavelet, DaubechiesConditions) {
  for (auto k : {wavelet_kind::db2, wavelet_kind::db4}) {
    const auto h = lowpass(k);
    const int L = static_cast<int>(h.size()), N = L / 2;
    double s = 0;
    for (double v : h) s += v;
    EXPECT_NEAR(s, std::sqrt(2.0), 1e-6);
    for (int sh = 0; sh < N; ++sh) {  // sum_j h[j] h[j + 2 sh] = delta(sh)
      double d = 0;
      for (int j = 0; j + 2 * sh < L; ++j) d += h[j] * h[j + 2 * sh];
      EXPECT_NEAR(d, sh == 0 ? 1.0 : 0.0, 1e-6) << sh;
    }
    for (int mo = 0; mo < N; ++mo) {  // N vanishing moments of the high-pass filter
      double d = 0;
      for (int j = 0; j < L; ++j) d += (j % 2 ? -1.0 : 1.0) * h[L - 1 - j] * std::pow(double(j), mo);
      EXPECT_NEAR(d, 0.0, 1e-5) << mo;
    }
  }
}

TEST(Wavelet, MatchesDirectFilterBank2D) {
  check_against_reference({64, 64}, wavelet_kind::db2, 16, 2);
  check_against_reference({64, 128}, wavelet_kind::db4, 8, 4);
  check_against_reference({40, 37}, wavelet_kind::db2, 4, 3);   // not powers of two, odd
  check_against_reference({23, 50}, wavelet_kind::db4, 3, 4);
  check_against_reference({7, 9}, wavelet_kind::db2, 16, 0);    // too small: identity
}

TEST(Wavelet, MatchesDirectFilterBank3DAnd1D) {
  check_against_reference({12, 20, 33}, wavelet_kind::db2, 4, 3);
  check_against_reference({1, 32, 32}, wavelet_kind::db2, 8, 2);
  check_against_reference({100}, wavelet_kind::db4, 10, 3);
}

TEST(Wavelet, PolynomialsHaveNoDetails) {
  // db2 has 2 vanishing moments: a linear ramp along x, periodic over the even part, gives zero details
  // away from the wrap-around.
  wavelet_operator W({1, 64}, wavelet_kind::db2, 32);
  ASSERT_EQ(W.levels(), 1);
  std::vector<cfloat> x(64), y(64);
  for (int i = 0; i < 64; ++i) x[i] = cfloat(float(i), -0.5f * float(i));
  W.apply(x.data(), y.data());
  for (int k = 0; k < 31; ++k) EXPECT_LT(std::abs(y[32 + k]), 1e-4f) << k;  // only the last window wraps
  EXPECT_GT(std::abs(y[63]), 1.f);
  // The coarse block: the first 32 coefficients along x.
  EXPECT_TRUE(W.is_coarse(31));
  EXPECT_FALSE(W.is_coarse(32));
}

TEST(Wavelet, RejectsBadArguments) {
  EXPECT_THROW(wavelet_operator({}), InvalidArgument);
  EXPECT_THROW(wavelet_operator({4, 0}), InvalidArgument);
  EXPECT_THROW(wavelet_operator({4, 4}, wavelet_kind::db2, 0), InvalidArgument);
}
