// kernels/dense_decompositions.hpp against what each decomposition must satisfy, checked with products
// written out here: A v = lambda v with orthonormal V, L^-1 A L^-H = I, G X = B, the Tikhonov normal
// equations, a rotation recovered by Procrustes, and singular values of matrices built from known ones.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <numeric>
#include <random>
#include <vector>

#include "larmor/kernels/dense_decompositions.hpp"
#include "larmor/kernels/packed_gram.hpp"
#include "larmor/core/parallel.hpp"

namespace {

using cd = std::complex<double>;
using cf = std::complex<float>;
using mat = std::vector<cd>;  // row-major

mat random_matrix(std::ptrdiff_t m, std::ptrdiff_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> g;
  mat a(static_cast<std::size_t>(m * n));
  for (auto& v : a) v = {g(rng), g(rng)};
  return a;
}

// C = A B (m x k times k x n), optionally A^H (A stored k x m).
mat product(const mat& a, const mat& b, std::ptrdiff_t m, std::ptrdiff_t k, std::ptrdiff_t n, bool adjoint_a = false) {
  mat c(static_cast<std::size_t>(m * n));
  for (std::ptrdiff_t i = 0; i < m; ++i)
    for (std::ptrdiff_t j = 0; j < n; ++j) {
      cd s = 0;
      for (std::ptrdiff_t l = 0; l < k; ++l)
        s += (adjoint_a ? std::conj(a[static_cast<std::size_t>(l * m + i)]) : a[static_cast<std::size_t>(i * k + l)]) *
             b[static_cast<std::size_t>(l * n + j)];
      c[static_cast<std::size_t>(i * n + j)] = s;
    }
  return c;
}

mat adjoint(const mat& a, std::ptrdiff_t m, std::ptrdiff_t n) {
  mat t(a.size());
  for (std::ptrdiff_t i = 0; i < m; ++i)
    for (std::ptrdiff_t j = 0; j < n; ++j) t[static_cast<std::size_t>(j * m + i)] = std::conj(a[static_cast<std::size_t>(i * n + j)]);
  return t;
}

double max_abs_diff(const mat& a, const mat& b) {
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

mat identity(std::ptrdiff_t n) {
  mat e(static_cast<std::size_t>(n * n));
  for (std::ptrdiff_t i = 0; i < n; ++i) e[static_cast<std::size_t>(i * n + i)] = 1;
  return e;
}

// A unitary n x n matrix: Gram-Schmidt on the columns of a random matrix.
mat random_unitary(std::ptrdiff_t n, unsigned seed) {
  mat q = random_matrix(n, n, seed);
  for (std::ptrdiff_t j = 0; j < n; ++j) {
    for (std::ptrdiff_t i = 0; i < j; ++i) {
      cd p = 0;
      for (std::ptrdiff_t r = 0; r < n; ++r) p += std::conj(q[static_cast<std::size_t>(r * n + i)]) * q[static_cast<std::size_t>(r * n + j)];
      for (std::ptrdiff_t r = 0; r < n; ++r) q[static_cast<std::size_t>(r * n + j)] -= p * q[static_cast<std::size_t>(r * n + i)];
    }
    double nrm = 0;
    for (std::ptrdiff_t r = 0; r < n; ++r) nrm += std::norm(q[static_cast<std::size_t>(r * n + j)]);
    for (std::ptrdiff_t r = 0; r < n; ++r) q[static_cast<std::size_t>(r * n + j)] /= std::sqrt(nrm);
  }
  return q;
}

}  // namespace

TEST(DenseDecompositions, HermitianEigenSatisfiesAvEqualsLambdaV) {
  const std::ptrdiff_t n = 13;
  const mat x = random_matrix(n, n, 1);
  const mat a = product(x, x, n, n, n, true);  // X^H X: Hermitian positive semi-definite
  std::vector<double> w(static_cast<std::size_t>(n)), w_only(w.size());
  mat v(a.size());
  larmor::kernels::hermitian_eigen(n, a.data(), w.data(), v.data());
  larmor::kernels::hermitian_eigen(n, a.data(), w_only.data(), nullptr);
  EXPECT_TRUE(std::is_sorted(w.begin(), w.end()));
  const double scale = w.back();
  const mat av = product(a, v, n, n, n);
  for (std::ptrdiff_t j = 0; j < n; ++j) {
    EXPECT_NEAR(w[static_cast<std::size_t>(j)], w_only[static_cast<std::size_t>(j)], 1e-10 * scale);
    for (std::ptrdiff_t i = 0; i < n; ++i)
      EXPECT_LT(std::abs(av[static_cast<std::size_t>(i * n + j)] - w[static_cast<std::size_t>(j)] * v[static_cast<std::size_t>(i * n + j)]),
                1e-10 * scale);
  }
  EXPECT_LT(max_abs_diff(product(v, v, n, n, n, true), identity(n)), 1e-12);
  // The trace is the sum of the eigenvalues.
  double trace = 0;
  for (std::ptrdiff_t i = 0; i < n; ++i) trace += a[static_cast<std::size_t>(i * n + i)].real();
  EXPECT_NEAR(std::accumulate(w.begin(), w.end(), 0.0), trace, 1e-10 * trace);
}

TEST(DenseDecompositions, GramRowsMatchTheSumOverSamples) {
  const std::ptrdiff_t m = 5, k = 300;
  std::mt19937 rng(2);
  std::normal_distribution<float> g;
  std::vector<cf> x(static_cast<std::size_t>(m * k));
  for (auto& v : x) v = {g(rng), g(rng)};
  mat single(static_cast<std::size_t>(m * m)), dbl(single.size()), ref(single.size());
  larmor::kernels::gram_rows_single(m, k, x.data(), single.data());
  larmor::kernels::gram_rows_double(m, k, x.data(), dbl.data());
  for (std::ptrdiff_t i = 0; i < m; ++i)
    for (std::ptrdiff_t j = 0; j < m; ++j)
      for (std::ptrdiff_t s = 0; s < k; ++s)
        ref[static_cast<std::size_t>(i * m + j)] +=
            cd(x[static_cast<std::size_t>(i * k + s)]) * std::conj(cd(x[static_cast<std::size_t>(j * k + s)]));
  EXPECT_LT(max_abs_diff(dbl, ref), 1e-10 * k);
  EXPECT_LT(max_abs_diff(single, ref), 1e-5 * k);
}

TEST(DenseDecompositions, CholeskyInverseWhitensAndRefusesIndefinite) {
  const std::ptrdiff_t n = 8;
  const mat x = random_matrix(20, n, 3);
  const mat a = product(x, x, n, 20, n, true);  // positive definite
  mat linv(a.size());
  ASSERT_TRUE(larmor::kernels::cholesky_lower_inverse(n, a.data(), linv.data()));
  for (std::ptrdiff_t i = 0; i < n; ++i)
    for (std::ptrdiff_t j = i + 1; j < n; ++j) EXPECT_EQ(linv[static_cast<std::size_t>(i * n + j)], cd(0));
  // L^-1 A L^-H = I
  const mat w = product(product(linv, a, n, n, n), adjoint(linv, n, n), n, n, n);
  EXPECT_LT(max_abs_diff(w, identity(n)), 1e-10);
  mat indefinite = identity(n);
  indefinite[static_cast<std::size_t>(3 * n + 3)] = -1;
  EXPECT_FALSE(larmor::kernels::cholesky_lower_inverse(n, indefinite.data(), linv.data()));
}

TEST(DenseDecompositions, LdltSolvesAnIndefiniteHermitianSystem) {
  const std::ptrdiff_t n = 10, nrhs = 3;
  const mat u = random_unitary(n, 4);
  mat d(static_cast<std::size_t>(n * n));
  for (std::ptrdiff_t i = 0; i < n; ++i) d[static_cast<std::size_t>(i * n + i)] = (i % 2 ? -1.0 : 1.0) * (1.0 + 0.5 * i);
  const mat g = product(product(u, d, n, n, n), adjoint(u, n, n), n, n, n);  // eigenvalues of both signs
  const mat b = random_matrix(n, nrhs, 5);
  std::vector<cf> gf(g.size()), bf(b.size()), xf(b.size());
  for (std::size_t i = 0; i < g.size(); ++i) gf[i] = cf(g[i]);
  for (std::size_t i = 0; i < b.size(); ++i) bf[i] = cf(b[i]);
  ASSERT_TRUE(larmor::kernels::ldlt_solve(n, nrhs, gf.data(), bf.data(), xf.data()));
  mat x(xf.size());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = cd(xf[i]);
  EXPECT_LT(max_abs_diff(product(g, x, n, n, nrhs), b), 1e-4);
}

TEST(DenseDecompositions, TikhonovInverseSolvesTheNormalEquations) {
  const std::ptrdiff_t m = 14, n = 9;
  const mat e = random_matrix(m, n, 6);
  std::vector<double> reg(static_cast<std::size_t>(n));
  for (std::ptrdiff_t j = 0; j < n; ++j) reg[static_cast<std::size_t>(j)] = 0.01 * (j + 1);
  mat r(static_cast<std::size_t>(n * m));
  larmor::kernels::tikhonov_inverse(m, n, e.data(), reg.data(), r.data());
  mat normal = product(e, e, n, m, n, true);
  for (std::ptrdiff_t j = 0; j < n; ++j) normal[static_cast<std::size_t>(j * n + j)] += reg[static_cast<std::size_t>(j)];
  // (E^H E + D) R = E^H
  EXPECT_LT(max_abs_diff(product(normal, r, n, n, m), adjoint(e, m, n)), 1e-10);
}

TEST(DenseDecompositions, ProcrustesRecoversAUnitaryRotation) {
  const std::ptrdiff_t m = 4, n = 12;
  const mat q = random_unitary(m, 7);
  const mat a = random_matrix(m, n, 8);
  const mat ref = product(q, a, m, m, n);
  std::vector<cf> af(a.size()), rf(ref.size());
  for (std::size_t i = 0; i < a.size(); ++i) af[i] = cf(a[i]), rf[i] = cf(ref[i]);
  larmor::kernels::procrustes_align(m, n, rf.data(), af.data());
  for (std::size_t i = 0; i < af.size(); ++i) EXPECT_LT(std::abs(cd(af[i]) - ref[i]), 1e-5) << i;
}

TEST(DenseDecompositions, SingularValueThresholdAndNuclearNormOfAKnownSpectrum) {
  const std::ptrdiff_t m = 20, n = 5;
  // C = U[:, :n] diag(s) V^H with known singular values s.
  const mat u = random_unitary(m, 9), v = random_unitary(n, 10);
  const std::vector<double> s{5.0, 3.0, 1.5, 0.7, 0.2};
  mat us(static_cast<std::size_t>(m * n));
  for (std::ptrdiff_t i = 0; i < m; ++i)
    for (std::ptrdiff_t j = 0; j < n; ++j) us[static_cast<std::size_t>(i * n + j)] = u[static_cast<std::size_t>(i * m + j)] * s[static_cast<std::size_t>(j)];
  mat c = product(us, adjoint(v, n, n), m, n, n);
  EXPECT_NEAR(larmor::kernels::nuclear_norm(m, n, c.data()), 10.4, 1e-10);
  const double t = 1.0;
  larmor::kernels::singular_value_threshold(m, n, c.data(), t);
  // Soft thresholding: 4 + 2 + 0.5 + 0 + 0, the same singular vectors.
  EXPECT_NEAR(larmor::kernels::nuclear_norm(m, n, c.data()), 6.5, 1e-9);
  mat expect(static_cast<std::size_t>(m * n));
  for (std::ptrdiff_t i = 0; i < m; ++i)
    for (std::ptrdiff_t j = 0; j < n; ++j)
      expect[static_cast<std::size_t>(i * n + j)] = u[static_cast<std::size_t>(i * m + j)] * std::max(0.0, s[static_cast<std::size_t>(j)] - t);
  EXPECT_LT(max_abs_diff(c, product(expect, adjoint(v, n, n), m, n, n)), 1e-10);
}

// The threaded packed products against the sums written out in double: C = A B and C = A^H B with sizes
// that leave partial row, column and k blocks (and k over one 256-chunk), G += A^H A (lower triangle) and
// A^H B with sign -1; the same bits with 1 and 2 threads.
TEST(PackedProducts, MatchTheSumsAndDoNotDependOnTheThreadCount) {
  const std::ptrdiff_t m = 70, n = 45, k = 300;
  std::mt19937 rng(9);
  std::normal_distribution<float> g;
  auto random = [&](std::ptrdiff_t size) {
    std::vector<cf> v(static_cast<std::size_t>(size));
    for (auto& e : v) e = cf(g(rng), g(rng));
    return v;
  };
  const auto a = random(m * k), at = random(k * m), b = random(k * n);
  auto run = [&](bool conj_a, int threads) {
    larmor::set_num_threads(threads);
    std::vector<cf> c(static_cast<std::size_t>(m * n));
    larmor::kernels::packed_matrix_product(conj_a, m, n, k, conj_a ? at.data() : a.data(), conj_a ? m : k, b.data(), n,
                                           c.data(), n);
    larmor::set_num_threads(0);
    return c;
  };
  for (bool conj_a : {false, true}) {
    const auto c1 = run(conj_a, 1), c2 = run(conj_a, 2);
    double err = 0, ref = 0;
    for (std::ptrdiff_t i = 0; i < m; ++i)
      for (std::ptrdiff_t j = 0; j < n; ++j) {
        cd s = 0;
        for (std::ptrdiff_t q = 0; q < k; ++q)
          s += (conj_a ? std::conj(cd(at[q * m + i])) : cd(a[i * k + q])) * cd(b[q * n + j]);
        err += std::norm(cd(c1[i * n + j]) - s), ref += std::norm(s);
        ASSERT_EQ(c1[i * n + j], c2[i * n + j]);
      }
    EXPECT_LT(std::sqrt(err / ref), 1e-6) << "conj_a " << conj_a;
  }
  // G = -A^H A (lower triangle) and AhB = -A^H B for A = at (k x m), B = b (k x n).
  std::vector<cf> G(static_cast<std::size_t>(m * m)), AhB(static_cast<std::size_t>(m * n));
  larmor::kernels::packed_normal_equations(k, m, n, at.data(), m, b.data(), n, G.data(), m, AhB.data(), n, -1.f);
  double eg = 0, rg = 0, eb = 0, rb = 0;
  for (std::ptrdiff_t i = 0; i < m; ++i) {
    for (std::ptrdiff_t j = 0; j <= i; ++j) {
      cd s = 0;
      for (std::ptrdiff_t q = 0; q < k; ++q) s -= std::conj(cd(at[q * m + i])) * cd(at[q * m + j]);
      eg += std::norm(cd(G[i * m + j]) - s), rg += std::norm(s);
    }
    for (std::ptrdiff_t j = 0; j < n; ++j) {
      cd s = 0;
      for (std::ptrdiff_t q = 0; q < k; ++q) s -= std::conj(cd(at[q * m + i])) * cd(b[q * n + j]);
      eb += std::norm(cd(AhB[i * n + j]) - s), rb += std::norm(s);
    }
  }
  EXPECT_LT(std::sqrt(eg / rg), 1e-6);
  EXPECT_LT(std::sqrt(eb / rb), 1e-6);
}
