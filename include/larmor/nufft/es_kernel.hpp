// larmor/nufft/es_kernel.hpp — the "exponential of semicircle" spreading kernel of the NUFFT.
//
//   phi(u) = exp(beta * (sqrt(1 - u^2) - 1))  for |u| < 1, 0 otherwise,   u = distance / (w / 2)
// with the distance in fine-grid cells and w the kernel width in cells. Barnett AH, Magland J,
// af Klinteberg L. A parallel nonuniform fast Fourier transform library based on an "exponential of
// semicircle" kernel. SIAM J Sci Comput 41:C479 (2019). Width and shape from the requested relative
// tolerance eps at upsampling factor 2 (their section 4.1):
//   w = ceil(log10(10 / eps)) (2 <= w <= 16),  beta = c(w) * w,  c = 2.20, 2.26, 2.38 for w = 2, 3, 4, else 2.30.
// Fourier transform for the deconvolution ("correction") step:
//   phihat(xi) = integral phi(2 s / w) cos(2 pi s xi / n) ds over |s| < w/2
// at the image frequencies xi (pixels r of an image of N on a fine grid of n cells), by Gauss-Legendre
// quadrature (the same numerical route as the paper; computed once per plan).
//
// Fast evaluation: a point at fine-grid coordinate t touches the w cells i0 .. i0 + w - 1 with
// i0 = ceil(t - w/2); writing i0 - t = -w/2 + (z + 1)/2 with z in [-1, 1), the w kernel values
// phi((i0 + j - t) / (w/2)) are w smooth functions of z. Each is replaced by its Chebyshev interpolant of
// degree p (converted to monomials), so the w values of a point come from one Horner loop of p steps whose
// inner loop runs over j (vectorisable), instead of w square roots and exponentials.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "larmor/core/error.hpp"
#include "larmor/core/view.hpp"

namespace larmor {

// Width and shape of the kernel for a tolerance eps (1e-15 <= eps < 1) at upsampling sigma = 2 or 1.25.
// sigma = 2: the rule above. sigma = 1.25 (a grid of 1.25 N: 2.56x fewer cells in 2D, wider kernel), the
// paper's rule for other upsampling factors (their eq. 4.1 and section 4.1; the same numbers as FINUFFT's
// setup for upsampfac != 2): w = ceil(-ln eps / (pi sqrt(1 - 1/sigma))), beta = 0.97 pi (1 - 1/(2 sigma)) w.
// At 1.25 that is w = 10 and beta = 18.3 for eps = 1e-6; w is capped at 16 (eps >= ~1e-9).
struct es_kernel_params {
  int width = 7;
  double beta = 16.1;

  static es_kernel_params from_tolerance(double eps, double sigma = 2.0) {
    LARMOR_CHECK_ARG(eps >= 1e-15 && eps < 1, "nufft: tolerance eps must be in [1e-15, 1), got ", eps);
    LARMOR_CHECK_ARG(sigma == 2.0 || sigma == 1.25, "nufft: upsampling must be 2 or 1.25, got ", sigma);
    es_kernel_params p;
    if (sigma == 2.0) {
      p.width = std::clamp(static_cast<int>(std::ceil(std::log10(10.0 / eps))), 2, 16);
      const double c = p.width == 2 ? 2.20 : p.width == 3 ? 2.26 : p.width == 4 ? 2.38 : 2.30;
      p.beta = c * p.width;
    } else {
      const double pi = 3.14159265358979323846;
      p.width = std::clamp(static_cast<int>(std::ceil(-std::log(eps) / (pi * std::sqrt(1.0 - 1.0 / sigma)))), 2, 16);
      p.beta = 0.97 * pi * (1.0 - 1.0 / (2.0 * sigma)) * p.width;
    }
    return p;
  }

  // phi at distance d (cells) from the point.
  double value(double d) const {
    const double u = 2.0 * d / width;
    return std::abs(u) < 1 ? std::exp(beta * (std::sqrt(1.0 - u * u) - 1.0)) : 0.0;
  }
};

namespace detail {

// Gauss-Legendre nodes and weights on [-1, 1] (Newton on P_n from the Chebyshev-like first guesses).
inline void gauss_legendre(int n, std::vector<double>& x, std::vector<double>& w) {
  x.assign(static_cast<std::size_t>(n), 0.0);
  w.assign(static_cast<std::size_t>(n), 0.0);
  const double pi = 3.14159265358979323846;
  for (int i = 0; i < n; ++i) {
    double z = std::cos(pi * (i + 0.75) / (n + 0.5)), dp = 1;
    for (int it = 0; it < 100; ++it) {
      double p0 = 1, p1 = z;  // P_0, P_1
      for (int k = 2; k <= n; ++k) {
        const double p2 = ((2.0 * k - 1) * z * p1 - (k - 1.0) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      dp = n * (z * p1 - p0) / (z * z - 1);
      const double dz = p1 / dp;
      z -= dz;
      if (std::abs(dz) < 1e-16) break;
    }
    x[static_cast<std::size_t>(i)] = z;
    w[static_cast<std::size_t>(i)] = 2.0 / ((1 - z * z) * dp * dp);
  }
}

}  // namespace detail

// phihat at the integer frequencies r = -N//2 .. N - N//2 - 1 of an image of N pixels on a fine grid of
// n cells; element r + N//2.
inline std::vector<double> es_kernel_fourier(const es_kernel_params& k, index_t N, index_t n) {
  std::vector<double> x, w;
  detail::gauss_legendre(2 * k.width + 60, x, w);
  const double half = k.width / 2.0, pi = 3.14159265358979323846;
  std::vector<double> out(static_cast<std::size_t>(N));
  for (index_t j = 0; j < N; ++j) {
    const double r = static_cast<double>(j - N / 2);
    double s = 0;
    for (std::size_t q = 0; q < x.size(); ++q) {
      const double d = half * x[q];  // node in cells, [-w/2, w/2]
      s += w[q] * k.value(d) * std::cos(2 * pi * d * r / static_cast<double>(n));
    }
    out[static_cast<std::size_t>(j)] = s * half;
  }
  return out;
}

// Monomial coefficients of the piecewise-polynomial kernel: value_j(z) = sum_q c[q * stride + j] z^q,
// q = 0 .. degree, j = 0 .. width - 1 (stride >= width, padding entries 0).
struct es_kernel_poly {
  int width = 0, degree = 0, stride = 0;
  std::vector<double> coef;

  explicit es_kernel_poly(const es_kernel_params& k, int stride_at_least = 0) {
    width = k.width;
    degree = std::min(k.width + 4, 20);
    stride = std::max(width, stride_at_least);
    const int m = degree + 1;  // Chebyshev nodes
    const double pi = 3.14159265358979323846;
    coef.assign(static_cast<std::size_t>(m * stride), 0.0);
    // Monomial coefficients of T_0 .. T_degree: t[a][b] = coefficient of z^b in T_a.
    std::vector<std::vector<double>> t(static_cast<std::size_t>(m), std::vector<double>(static_cast<std::size_t>(m), 0));
    t[0][0] = 1;
    if (m > 1) t[1][1] = 1;
    for (int a = 2; a < m; ++a)
      for (int b = 0; b < m; ++b) {
        double v = -t[static_cast<std::size_t>(a - 2)][static_cast<std::size_t>(b)];
        if (b > 0) v += 2 * t[static_cast<std::size_t>(a - 1)][static_cast<std::size_t>(b - 1)];
        t[static_cast<std::size_t>(a)][static_cast<std::size_t>(b)] = v;
      }
    for (int j = 0; j < width; ++j) {
      std::vector<double> f(static_cast<std::size_t>(m)), zc(static_cast<std::size_t>(m));
      for (int i = 0; i < m; ++i) {
        const double z = std::cos(pi * (i + 0.5) / m);
        zc[static_cast<std::size_t>(i)] = z;
        f[static_cast<std::size_t>(i)] = k.value(-k.width / 2.0 + (z + 1) / 2 + j);
      }
      for (int a = 0; a < m; ++a) {  // Chebyshev coefficient a
        double s = 0;
        for (int i = 0; i < m; ++i) s += f[static_cast<std::size_t>(i)] * std::cos(pi * a * (i + 0.5) / m);
        const double ca = s * (a == 0 ? 1.0 : 2.0) / m;
        for (int b = 0; b < m; ++b)
          coef[static_cast<std::size_t>(b * stride + j)] += ca * t[static_cast<std::size_t>(a)][static_cast<std::size_t>(b)];
      }
    }
  }
};

}  // namespace larmor
