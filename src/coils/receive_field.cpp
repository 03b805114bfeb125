// The receive-field estimate of include/larmor/coils/receive_field.hpp.
#include "larmor/coils/receive_field.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <vector>

#include "larmor/core/error.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/fft/fft.hpp"
#include "larmor/kernels/dense_decompositions.hpp"

namespace larmor {
namespace {

constexpr double pi = 3.14159265358979323846;

// The exponents (a, b, c) of x^a y^b z^c with a + b + c <= degree (c = 0 in 2D).
std::vector<std::array<int, 3>> monomials(int degree, bool volume) {
  std::vector<std::array<int, 3>> m;
  for (int c = 0; c <= (volume ? degree : 0); ++c)
    for (int b = 0; b + c <= degree; ++b)
      for (int a = 0; a + b + c <= degree; ++a) m.push_back({a, b, c});
  return m;
}

// Coordinates in [-1, 1) of index i on an axis of n points (centre n/2 at 0).
double coordinate(index_t i, index_t n) { return n > 1 ? 2.0 * static_cast<double>(i - n / 2) / static_cast<double>(n) : 0.0; }

double evaluate(const std::vector<std::array<int, 3>>& m, const std::vector<double>& c, double x, double y, double z) {
  double s = 0;
  for (std::size_t k = 0; k < m.size(); ++k)
    s += c[k] * std::pow(x, m[k][0]) * std::pow(y, m[k][1]) * std::pow(z, m[k][2]);
  return s;
}

}  // namespace

array<float, 3> receive_field(strided_view<const cfloat, 4> k, const receive_field_options& o) {
  LARMOR_CHECK_ARG(o.degree >= 0 && o.degree <= 6, "receive_field: degree must be 0..6, got ", o.degree);
  LARMOR_CHECK_ARG(o.calib >= 4 && o.mask_threshold > 0 && o.mask_threshold < 1,
                   "receive_field: calib >= 4 and mask_threshold in (0, 1)");
  const index_t nc = k.shape(0), nz = k.shape(1), ny = k.shape(2), nx = k.shape(3);
  LARMOR_CHECK_ARG(nc >= 1 && ny >= 4 && nx >= 4, "receive_field: k-space (coils, z, y, x) too small: ",
                   shape_string(k.shape()));
  const bool volume = nz > 1;
  const index_t cz = volume ? std::min(o.calib, nz) : 1, cy = std::min(o.calib, ny), cx = std::min(o.calib, nx);
  // 1. the Hann-windowed central block -> coarse coil images -> their root sum of squares
  array<cfloat, 4> block(extents<4>{nc, cz, cy, cx});
  const auto hann = [](index_t i, index_t n) { return n > 1 ? 0.5 - 0.5 * std::cos(2 * pi * (static_cast<double>(i) + 0.5) / static_cast<double>(n)) : 1.0; };
  for (index_t c = 0; c < nc; ++c)
    for (index_t z = 0; z < cz; ++z)
      for (index_t y = 0; y < cy; ++y)
        for (index_t x = 0; x < cx; ++x) {
          const cfloat v = k(c, volume ? nz / 2 - cz / 2 + z : 0, ny / 2 - cy / 2 + y, nx / 2 - cx / 2 + x);
          LARMOR_CHECK_DATA(std::isfinite(v.real()) && std::isfinite(v.imag()), "receive_field: k-space holds NaN or Inf");
          block(c, z, y, x) = v * static_cast<float>(hann(z, cz) * hann(y, cy) * hann(x, cx));
        }
  const auto low = ifftc(block.cview(), volume ? axis_list{1, 2, 3} : axis_list{2, 3});
  const index_t n = cz * cy * cx, ref = o.reference_channel;
  LARMOR_CHECK_ARG(ref < nc && (ref < 0 || nc >= 2), "receive_field: reference channel ", ref, " of ", nc,
                   " channels (the array needs at least one other)");
  // L: the array's root sum of squares (all channels but the reference); B: the reference's magnitude
  std::vector<double> L(static_cast<std::size_t>(n), 0.0), B(static_cast<std::size_t>(n), 0.0);
  for (index_t c = 0; c < nc; ++c)
    for (index_t i = 0; i < n; ++i) {
      const double p = std::norm(low.data()[c * n + i]);
      if (c == ref) B[static_cast<std::size_t>(i)] = std::sqrt(p);
      else L[static_cast<std::size_t>(i)] += p;
    }
  for (auto& v : L) v = std::sqrt(v);
  // What the polynomial is fitted to (log of it) and what defines the object: L alone, or L / B over B's object.
  const std::vector<double>& M = ref >= 0 ? B : L;
  // 2. the object
  std::vector<double> sorted(M);
  std::sort(sorted.begin(), sorted.end());
  const double p99 = sorted[static_cast<std::size_t>(0.99 * static_cast<double>(n - 1))];
  LARMOR_CHECK_DATA(p99 > 0, "receive_field: the k-space centre holds no signal");
  // The object's interior: above the threshold with all its coarse neighbours too (at the object's edge the
  // low resolution blurs the signal into the background and log L falls for reasons that are not the coils).
  std::vector<char> mask(static_cast<std::size_t>(n), 0);
  const auto above = [&](index_t z, index_t y, index_t x) {
    return z >= 0 && z < cz && y >= 0 && y < cy && x >= 0 && x < cx &&
           M[static_cast<std::size_t>((z * cy + y) * cx + x)] > o.mask_threshold * p99;
  };
  for (index_t z = 0; z < cz; ++z)
    for (index_t y = 0; y < cy; ++y)
      for (index_t x = 0; x < cx; ++x) {
        bool all = true;
        const bool erode_z = volume && cz >= 5;  // a slab of a few partitions: erode in-plane only
        for (index_t dz = erode_z ? -1 : 0; dz <= (erode_z ? 1 : 0) && all; ++dz)
          for (index_t dy = -1; dy <= 1 && all; ++dy)
            for (index_t dx = -1; dx <= 1 && all; ++dx) all = above(z + dz, y + dy, x + dx);
        mask[static_cast<std::size_t>((z * cy + y) * cx + x)] = all;
      }
  // 3. weighted least squares for log L over the object
  const auto m = monomials(o.degree, volume);
  const std::size_t T = m.size();
  std::vector<std::complex<double>> A(T * T, 0.0);
  std::vector<double> rhs(T, 0.0), phi(T);
  index_t used = 0;
  for (index_t z = 0; z < cz; ++z)
    for (index_t y = 0; y < cy; ++y)
      for (index_t x = 0; x < cx; ++x) {
        const std::size_t i = static_cast<std::size_t>((z * cy + y) * cx + x);
        if (!mask[i] || !(L[i] > 0)) continue;
        ++used;
        const double w = M[i] / p99, b = ref >= 0 ? std::log(L[i] / B[i]) : std::log(L[i] / p99);
        for (std::size_t t = 0; t < T; ++t)
          phi[t] = std::pow(coordinate(x, cx), m[t][0]) * std::pow(coordinate(y, cy), m[t][1]) *
                   std::pow(coordinate(z, cz), m[t][2]);
        for (std::size_t a = 0; a < T; ++a) {
          rhs[a] += w * phi[a] * b;
          for (std::size_t c = 0; c < T; ++c) A[a * T + c] += w * phi[a] * phi[c];
        }
      }
  LARMOR_CHECK_DATA(used >= static_cast<index_t>(2 * T), "receive_field: ", used, " object pixels at the low ",
                    "resolution for ", T, " polynomial terms: lower the degree");
  // pseudo-inverse through the eigendecomposition (eigenvalues below 1e-10 of the largest dropped)
  std::vector<double> ev(T);
  std::vector<std::complex<double>> V(T * T);
  kernels::hermitian_eigen(static_cast<std::ptrdiff_t>(T), A.data(), ev.data(), V.data());
  std::vector<double> coef(T, 0.0);
  for (std::size_t j = 0; j < T; ++j) {
    if (!(ev[j] > 1e-10 * ev.back())) continue;
    std::complex<double> proj = 0;  // v_j^H rhs, then v_j (v_j^H rhs) / lambda_j; real for the real system
    for (std::size_t a = 0; a < T; ++a) proj += std::conj(V[a * T + j]) * rhs[a];
    for (std::size_t a = 0; a < T; ++a) coef[a] += std::real(V[a * T + j] * proj) / ev[j];
  }
  // median of exp(poly) over the object (coarse grid) -> the scale
  std::vector<double> inside;
  for (index_t z = 0; z < cz; ++z)
    for (index_t y = 0; y < cy; ++y)
      for (index_t x = 0; x < cx; ++x)
        if (mask[static_cast<std::size_t>((z * cy + y) * cx + x)])
          inside.push_back(evaluate(m, coef, coordinate(x, cx), coordinate(y, cy), coordinate(z, cz)));
  std::nth_element(inside.begin(), inside.begin() + static_cast<std::ptrdiff_t>(inside.size() / 2), inside.end());
  const double log_median = inside[inside.size() / 2];
  // the field on the full grid, clamped
  array<float, 3> f(extents<3>{nz, ny, nx}, uninitialized);
  parallel_for(nz * ny, [&](index_t zy) {
    const index_t z = zy / ny, y = zy % ny;
    for (index_t x = 0; x < nx; ++x) {
      const double v = evaluate(m, coef, coordinate(x, nx), coordinate(y, ny), coordinate(z, nz)) - log_median;
      f(z, y, x) = static_cast<float>(std::exp(std::clamp(v, std::log(0.05), std::log(20.0))));
    }
  });
  return f;
}

}  // namespace larmor
