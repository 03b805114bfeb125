// Tests of the solver layer: power iteration, FISTA and ADMM against closed-form minimisers, the TV prox
// against the known solution of a step, soft threshold, group threshold, finite differences (adjoint).
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <vector>

#include "larmor/ops/compose.hpp"
#include "larmor/ops/finite_difference.hpp"
#include "larmor/prox/group_l1.hpp"
#include "larmor/prox/soft_threshold.hpp"
#include "larmor/solvers/tv_prox.hpp"
#include "larmor/prox/wavelet_l1.hpp"
#include "larmor/solvers/admm.hpp"
#include "larmor/solvers/fista.hpp"
#include "larmor/solvers/pogm.hpp"
#include "larmor/solvers/power_iteration.hpp"
#include "test_helpers.hpp"

using namespace larmor;

namespace {

// A = diag(d): the minimiser of 1/2||A x - y||^2 + lambda |x|_1 is x_i = S_{lambda / d_i^2}(y_i / d_i).
class diag_operator : public linear_operator<cfloat> {
 public:
  explicit diag_operator(std::vector<float> d) : d_(std::move(d)) {}
  index_t input_size() const override { return static_cast<index_t>(d_.size()); }
  index_t output_size() const override { return input_size(); }
  void apply(const cfloat* x, cfloat* y) const override {
    for (std::size_t i = 0; i < d_.size(); ++i) y[i] = d_[i] * x[i];
  }
  void adjoint(const cfloat* y, cfloat* x) const override { apply(y, x); }

 private:
  std::vector<float> d_;
};

cfloat soft(cfloat z, float t) {
  const float a = std::abs(z);
  return a > t ? z * ((a - t) / a) : cfloat(0);
}

}  // namespace

TEST(Prox, SoftThreshold) {
  std::vector<cfloat> v{{3, 4}, {0.3f, 0.4f}, {-1, 0}, {0, 0}}, o(4);
  soft_threshold(1.f, v.data(), o.data(), 4);
  EXPECT_NEAR(o[0].real(), 2.4f, 1e-6);
  EXPECT_NEAR(o[0].imag(), 3.2f, 1e-6);
  EXPECT_EQ(o[1], cfloat(0));
  EXPECT_EQ(o[2], cfloat(0));
  EXPECT_EQ(o[3], cfloat(0));
  // Group: (3, 4i) as one group of 2 -> norm 5 -> shrink by (5 - 1) / 5.
  std::vector<cfloat> g{{3, 0}, {0, 4}}, go(2);
  group_l1_prox gp(1, 2, 2.f);
  gp.apply(0.5f, g.data(), go.data());
  EXPECT_NEAR(go[0].real(), 2.4f, 1e-6);
  EXPECT_NEAR(go[1].imag(), 3.2f, 1e-6);
  EXPECT_NEAR(gp.value(g.data()), 10.0, 1e-6);
}

TEST(Solvers, PowerIterationFindsLargestEigenvalue) {
  diag_operator A({0.5f, 2.f, 1.5f, 0.1f, 1.9f});
  EXPECT_NEAR(max_eigenvalue(A, 200), 4.0f, 1e-3);
  EXPECT_LE(max_eigenvalue(A, 5), 4.0f * (1 + 1e-5));
}

TEST(Solvers, FistaReachesClosedFormMinimiser) {
  const int n = 64;
  std::vector<float> d(n);
  for (int i = 0; i < n; ++i) d[i] = 0.4f + 0.6f * float(i % 7) / 6.f;
  diag_operator A(d);
  auto y = test::random_array<cfloat, 1>({n}, 3);
  std::vector<cfloat> b(n), x(n, cfloat(0));
  A.adjoint(y.data(), b.data());
  const float lambda = 0.3f;
  l1_prox g(n, lambda);
  fista_options o;
  o.iters = 400;
  int calls = 0;
  o.callback = [&](int k, const cfloat*) { EXPECT_EQ(k, ++calls); };
  const auto rep = fista(A, b.data(), g, x.data(), o);
  EXPECT_EQ(rep.iterations, 400);
  EXPECT_NEAR(rep.step, 0.95f / 1.0f, 1e-3);
  double err = 0;
  int zeros = 0;
  for (int i = 0; i < n; ++i) {
    const cfloat ref = soft(y[i] / d[i], lambda / (d[i] * d[i]));
    err = std::max(err, double(std::abs(x[i] - ref)));
    zeros += ref == cfloat(0);
  }
  EXPECT_LT(err, 1e-4);
  EXPECT_GT(zeros, 3);  // the threshold is active somewhere
}

TEST(Solvers, FistaMomentumBeatsIsta) {
  // Same problem, ill-conditioned: after 30 iterations FISTA is closer to the minimiser than ISTA (r -> 0
  // approximates no momentum: t stays ~ p/2 + ... ; use p = 2, q = 0 + tiny, r = tiny: t = 1 always).
  const int n = 40;
  std::vector<float> d(n);
  for (int i = 0; i < n; ++i) d[i] = 0.05f + 0.95f * float(i) / float(n - 1);
  diag_operator A(d);
  auto y = test::random_array<cfloat, 1>({n}, 5);
  std::vector<cfloat> b(n);
  A.adjoint(y.data(), b.data());
  auto run = [&](float p, float q, float r) {
    std::vector<cfloat> x(n, cfloat(0));
    l1_prox g(n, 0.01f);
    fista_options o;
    o.iters = 30;
    o.p = p, o.q = q, o.r = r;
    fista(A, b.data(), g, x.data(), o);
    double e = 0;
    for (int i = 0; i < n; ++i) e += std::norm(x[i] - soft(y[i] / d[i], 0.01f / (d[i] * d[i])));
    return std::sqrt(e);
  };
  EXPECT_LT(run(1, 1, 4), 0.7 * run(1, 1e-12f, 1e-12f) + 0.0);  // t_k = 1 throughout: plain ISTA
}

TEST(Solvers, FiniteDifferenceAdjoint) {
  for (auto shape : {std::vector<index_t>{5, 7}, std::vector<index_t>{3, 4, 6}, std::vector<index_t>{9}}) {
    finite_difference_operator D(shape);
    const index_t n = D.input_size(), m = D.output_size();
    auto x = test::random_array<cfloat, 1>({n}, 1);
    auto y = test::random_array<cfloat, 1>({m}, 2);
    std::vector<cfloat> Dx(m), Dhy(n);
    D.apply(x.data(), Dx.data());
    D.adjoint(y.data(), Dhy.data());
    std::complex<double> a = 0, b = 0;
    for (index_t i = 0; i < m; ++i) a += std::conj(std::complex<double>(Dx[i])) * std::complex<double>(y[i]);
    for (index_t i = 0; i < n; ++i) b += std::conj(std::complex<double>(x[i])) * std::complex<double>(Dhy[i]);
    EXPECT_LT(std::abs(a - b), 1e-4 * std::abs(a)) << shape.size();
  }
  // A ramp along the last axis: differences 1 inside, 0 at the edge and along the other axis.
  finite_difference_operator D({3, 4});
  std::vector<cfloat> x(12), y(24);
  for (int i = 0; i < 12; ++i) x[i] = cfloat(float(i % 4), 0);
  D.apply(x.data(), y.data());
  for (int i = 0; i < 12; ++i) EXPECT_EQ(y[i], cfloat(0));                          // along axis 0
  for (int i = 0; i < 12; ++i) EXPECT_EQ(y[12 + i], cfloat(i % 4 == 3 ? 0.f : 1.f));  // along axis 1
}

TEST(Prox, TvOfAStepHasTheKnownSolution) {
  // 1D TV denoising of a step a (n1 samples) | c (n2 samples), c - a > lambda (1/n1 + 1/n2): the solution
  // moves the plateaus toward each other by lambda / n1 and lambda / n2 (Strong D, Chan T, Inverse Problems
  // 19:S165 (2003)). An image constant along y reduces to it row by row, for isotropic and anisotropic TV.
  const index_t ny = 6, n1 = 10, n2 = 6, nx = n1 + n2;
  const float a = 1.f, c = 3.f, lambda = 2.f;
  std::vector<cfloat> v(ny * nx), out(ny * nx);
  for (index_t y = 0; y < ny; ++y)
    for (index_t x = 0; x < nx; ++x) v[y * nx + x] = cfloat(x < n1 ? a : c, x < n1 ? -a : -c);
  for (bool iso : {true, false}) {
    tv_prox P({ny, nx}, lambda, iso, ~0u, 300, 1.f, 10);
    P.apply(1.f, v.data(), out.data());
    // complex step (1 - i) * (a | c): the shift is along the step's direction, |shift| = lambda / n
    const cfloat dir = cfloat(1, -1) / std::sqrt(2.f);
    for (index_t y = 0; y < ny; ++y)
      for (index_t x = 0; x < nx; ++x) {
        const cfloat ref = x < n1 ? v[y * nx + x] + dir * (lambda / float(n1)) : v[y * nx + x] - dir * (lambda / float(n2));
        EXPECT_LT(std::abs(out[y * nx + x] - ref), 2e-3) << iso << " " << y << " " << x;
      }
  }
}

TEST(Solvers, AdmmWithIdentityTermIsSoftThreshold) {
  // min 1/2||x - y||^2 + lambda ||x||_1 by ADMM (A = I, F = I): x = S_lambda(y).
  const index_t n = 50;
  auto y = test::random_array<cfloat, 1>({n}, 11);
  identity_operator I(n);
  l1_prox g(n, 0.8f);
  std::vector<cfloat> x(n, cfloat(0));
  admm_options o;
  o.iters = 200;
  o.rho = 1.f;
  admm(I, y.data(), {{nullptr, &g}}, x.data(), o);
  for (index_t i = 0; i < n; ++i) EXPECT_LT(std::abs(x[i] - soft(y[i], 0.8f)), 1e-4) << i;
}

TEST(Prox, WaveletL1IsExactProxAndSeedable) {
  const std::vector<index_t> shape{32, 48};
  const index_t n = 32 * 48;
  auto v = test::random_array<cfloat, 1>({n}, 4);
  // No spinning: W^H S(W v) with the coarse block kept, checked by hand.
  wavelet_l1_prox P(shape, 0.5f, wavelet_kind::db2, 8, false);
  std::vector<cfloat> o(n), w(n), ref(n);
  P.apply(2.f, v.data(), o.data());
  const auto& W = P.transform();
  W.apply(v.data(), w.data());
  for (index_t i = 0; i < n; ++i) w[i] = W.is_coarse(i) ? w[i] : soft(w[i], 1.f);
  W.adjoint(w.data(), ref.data());
  for (index_t i = 0; i < n; ++i) EXPECT_LT(std::abs(o[i] - ref[i]), 1e-5) << i;
  // Spinning: same seed -> same shifts and results; different seeds differ.
  wavelet_l1_prox A(shape, 0.5f, wavelet_kind::db2, 8, true, 42), B(shape, 0.5f, wavelet_kind::db2, 8, true, 42),
      C(shape, 0.5f, wavelet_kind::db2, 8, true, 43);
  std::vector<cfloat> oa(n), ob(n), oc(n);
  for (int k = 0; k < 3; ++k) {
    A.apply(1.f, v.data(), oa.data());
    B.apply(1.f, v.data(), ob.data());
    C.apply(1.f, v.data(), oc.data());
  }
  EXPECT_EQ(A.last_shift(), B.last_shift());
  EXPECT_EQ(oa, ob);
  EXPECT_NE(oa, oc);
  // A shifted prox is the prox of the shifted penalty: its output for v shifted by s, shifted back.
  const auto s = A.last_shift();
  std::vector<cfloat> vs(n), os(n), back(n);
  detail::circshift(v.data(), vs.data(), shape, s);
  wavelet_l1_prox P2(shape, 0.5f, wavelet_kind::db2, 8, false);
  P2.apply(1.f, vs.data(), os.data());
  std::vector<index_t> ms{-s[0], -s[1]};
  detail::circshift(os.data(), back.data(), shape, ms);
  for (index_t i = 0; i < n; ++i) EXPECT_LT(std::abs(back[i] - oa[i]), 1e-5) << i;
}

namespace {

// A dense complex m x n matrix as an operator.
class dense_operator : public linear_operator<cfloat> {
 public:
  dense_operator(index_t m, index_t n, unsigned seed) : m_(m), n_(n), a_(test::random_array<cfloat, 1>({m * n}, seed)) {}
  index_t input_size() const override { return n_; }
  index_t output_size() const override { return m_; }
  void apply(const cfloat* x, cfloat* y) const override {
    for (index_t i = 0; i < m_; ++i) {
      cfloat s = 0;
      for (index_t j = 0; j < n_; ++j) s += a_[i * n_ + j] * x[j];
      y[i] = s;
    }
  }
  void adjoint(const cfloat* y, cfloat* x) const override {
    for (index_t j = 0; j < n_; ++j) {
      cfloat s = 0;
      for (index_t i = 0; i < m_; ++i) s += std::conj(a_[i * n_ + j]) * y[i];
      x[j] = s;
    }
  }
  std::complex<double> at(index_t i, index_t j) const { return std::complex<double>(a_[i * n_ + j]); }

 private:
  index_t m_, n_;
  array<cfloat, 1> a_;
};

}  // namespace

TEST(Solvers, PogmMatchesAReferenceIterateByIterate) {
  // Reference: the POGM recursion of Kim & Fessler (2018) / Fessler (2020) Fig. 3 written out in double on
  // the dense problem, l1 prox in closed form; larmor's float iterates must follow it at every k.
  const index_t m = 14, n = 9;
  const int N = 25;
  dense_operator A(m, n, 21);
  const auto y = test::random_array<cfloat, 1>({m}, 22);
  std::vector<cfloat> b(n);
  A.adjoint(y.data(), b.data());
  float bmax = 0;
  for (const auto& v : b) bmax = std::max(bmax, std::abs(v));
  const float lambda = 0.7f * bmax, tau = 0.9f / max_eigenvalue(A, 300);  // some entries 0, some not
  using cd = std::complex<double>;
  auto grad = [&](const std::vector<cd>& x) {
    std::vector<cd> r(m), g(n);
    for (index_t i = 0; i < m; ++i) {
      r[i] = -cd(y[i]);
      for (index_t j = 0; j < n; ++j) r[i] += A.at(i, j) * x[j];
    }
    for (index_t j = 0; j < n; ++j)
      for (index_t i = 0; i < m; ++i) g[j] += std::conj(A.at(i, j)) * r[i];
    return g;
  };
  std::vector<std::vector<cd>> ref;
  {
    std::vector<cd> x(n), w(n), z(n);
    double th = 1, ga = tau;
    for (int k = 1; k <= N; ++k) {
      const double thn = (1 + std::sqrt((k < N ? 4.0 : 8.0) * th * th + 1)) / 2;
      const double gan = tau * (2 * th + thn - 1) / thn;
      const auto g = grad(x);
      std::vector<cd> wn(n), zn(n);
      for (index_t j = 0; j < n; ++j) {
        wn[j] = x[j] - double(tau) * g[j];
        zn[j] = wn[j] + (th - 1) / thn * (wn[j] - w[j]) + th / thn * (wn[j] - x[j]) +
                (th - 1) * tau / (ga * thn) * (z[j] - x[j]);
      }
      for (index_t j = 0; j < n; ++j) {
        const double a = std::abs(zn[j]), t = gan * lambda;
        x[j] = a > t ? zn[j] * ((a - t) / a) : cd(0);
      }
      w = wn, z = zn, th = thn, ga = gan;
      ref.push_back(x);
    }
  }
  std::vector<cfloat> x(n, cfloat(0));
  l1_prox g(n, lambda);
  pogm_options o;
  o.iters = N;
  o.step = tau;
  double worst = 0, rn = 0;
  int zeros = 0;
  for (index_t j = 0; j < n; ++j) rn += std::norm(ref[N - 1][j]);
  o.callback = [&](int k, const cfloat* xk) {
    double e = 0;
    for (index_t j = 0; j < n; ++j) e += std::norm(cd(xk[j]) - ref[k - 1][j]);
    worst = std::max(worst, std::sqrt(e / rn));
    if (k == N)
      for (index_t j = 0; j < n; ++j) zeros += ref[k - 1][j] == cd(0);
  };
  const auto rep = pogm(A, b.data(), g, x.data(), o);
  EXPECT_EQ(rep.iterations, N);
  EXPECT_LT(worst, 1e-5);
  EXPECT_GT(zeros, 0);  // the l1 threshold is active
  EXPECT_LT(zeros, n);
  // And it reaches the minimiser FISTA reaches after many iterations.
  std::vector<cfloat> xf(n, cfloat(0)), xp(n, cfloat(0));
  fista_options fo;
  fo.iters = 3000;
  fo.step = tau;
  fista(A, b.data(), g, xf.data(), fo);
  pogm_options po;
  po.iters = 300;
  po.step = tau;
  pogm(A, b.data(), g, xp.data(), po);
  double e = 0, r = 0;
  for (index_t j = 0; j < n; ++j) e += std::norm(xp[j] - xf[j]), r += std::norm(xf[j]);
  EXPECT_LT(std::sqrt(e / r), 1e-4);
}
