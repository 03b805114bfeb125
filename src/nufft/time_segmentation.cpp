// The least-squares time-segmentation interpolator (include/larmor/nufft/time_segmentation.hpp).
#include "larmor/nufft/time_segmentation.hpp"

#include <algorithm>
#include <cmath>
#include <complex>

#include "larmor/core/error.hpp"
#include "larmor/kernels/dense_decompositions.hpp"

namespace larmor {
namespace {

using cd = std::complex<double>;
constexpr double two_pi = 6.283185307179586476925286766559;
constexpr index_t histogram_bins = 256;
// The error is evaluated on at most this many of the distinct sample times (evenly strided, first and last
// included); the phasor error is a smooth function of t, so the subset bounds it well.
constexpr index_t error_times = 4096;

struct histogram {
  std::vector<double> f, w;  // occupied bin centres (Hz) and their pixel fractions
};

histogram make_histogram(const float* hz, index_t n, double f_min, double f_max) {
  const index_t J = f_max > f_min ? histogram_bins : 1;
  const double width = (f_max - f_min) / static_cast<double>(J);
  std::vector<double> count(static_cast<std::size_t>(J), 0.0);
  for (index_t i = 0; i < n; ++i) {
    index_t j = width > 0 ? static_cast<index_t>((static_cast<double>(hz[i]) - f_min) / width) : 0;
    count[static_cast<std::size_t>(std::clamp<index_t>(j, 0, J - 1))] += 1;
  }
  histogram h;
  for (index_t j = 0; j < J; ++j)
    if (count[static_cast<std::size_t>(j)] > 0) {
      h.f.push_back(f_min + (static_cast<double>(j) + 0.5) * width);
      h.w.push_back(count[static_cast<std::size_t>(j)] / static_cast<double>(n));
    }
  return h;
}

// e(t)_j = exp(i 2 pi f_j t) for the histogram's bins.
void phasors(const histogram& h, double t, cd* e) {
  for (std::size_t j = 0; j < h.f.size(); ++j) e[j] = std::polar(1.0, two_pi * h.f[j] * t);
}

struct interpolator {
  std::vector<double> tau;  // L segment times
  std::vector<cd> E;        // (J, L) exp(i 2 pi f_j tau_l)
  std::vector<cd> P;        // (L, J) pinv(W^1/2 E) W^1/2: b(t) = P e(t)
};

interpolator make_interpolator(const histogram& h, double t_min, double t_max, index_t L) {
  interpolator ip;
  const index_t J = static_cast<index_t>(h.f.size());
  for (index_t l = 0; l < L; ++l)
    ip.tau.push_back(L == 1 ? 0.5 * (t_min + t_max)
                            : t_min + (t_max - t_min) * static_cast<double>(l) / static_cast<double>(L - 1));
  ip.E.resize(static_cast<std::size_t>(J * L));
  for (index_t j = 0; j < J; ++j)
    for (index_t l = 0; l < L; ++l)
      ip.E[static_cast<std::size_t>(j * L + l)] = std::polar(1.0, two_pi * h.f[static_cast<std::size_t>(j)] *
                                                                      ip.tau[static_cast<std::size_t>(l)]);
  // G = E^H W E (L x L); pinv(W^1/2 E) W^1/2 = G^+ E^H W with G^+ from its eigendecomposition, eigenvalues
  // below 1e-12 of the largest dropped (singular values below 1e-6: segments the histogram cannot tell apart).
  std::vector<cd> G(static_cast<std::size_t>(L * L), cd(0));
  for (index_t a = 0; a < L; ++a)
    for (index_t b = 0; b < L; ++b) {
      cd s(0);
      for (index_t j = 0; j < J; ++j)
        s += std::conj(ip.E[static_cast<std::size_t>(j * L + a)]) * h.w[static_cast<std::size_t>(j)] *
             ip.E[static_cast<std::size_t>(j * L + b)];
      G[static_cast<std::size_t>(a * L + b)] = s;
    }
  std::vector<double> w(static_cast<std::size_t>(L));
  std::vector<cd> V(static_cast<std::size_t>(L * L));
  kernels::hermitian_eigen(L, G.data(), w.data(), V.data());
  const double cut = 1e-12 * std::max(w.back(), 0.0);
  std::vector<cd> Gp(static_cast<std::size_t>(L * L), cd(0));
  for (index_t k = 0; k < L; ++k) {
    const double wk = w[static_cast<std::size_t>(k)];
    if (!(wk > cut)) continue;
    for (index_t a = 0; a < L; ++a)
      for (index_t b = 0; b < L; ++b)
        Gp[static_cast<std::size_t>(a * L + b)] +=
            V[static_cast<std::size_t>(a * L + k)] * std::conj(V[static_cast<std::size_t>(b * L + k)]) / wk;
  }
  ip.P.assign(static_cast<std::size_t>(L * J), cd(0));
  for (index_t l = 0; l < L; ++l)
    for (index_t j = 0; j < J; ++j) {
      cd s(0);
      for (index_t b = 0; b < L; ++b)
        s += Gp[static_cast<std::size_t>(l * L + b)] * std::conj(ip.E[static_cast<std::size_t>(j * L + b)]);
      ip.P[static_cast<std::size_t>(l * J + j)] = s * h.w[static_cast<std::size_t>(j)];
    }
  return ip;
}

// b(t) (L values) and, when err != nullptr, the phasor error: adds sum_j w_j |e_j - (E b)_j|^2 to err[0] and
// raises err[1] to the largest |e_j - (E b)_j|.
void coefficients_at(const histogram& h, const interpolator& ip, double t, cd* e, cd* b, double* err) {
  const index_t J = static_cast<index_t>(h.f.size()), L = static_cast<index_t>(ip.tau.size());
  phasors(h, t, e);
  for (index_t l = 0; l < L; ++l) {
    cd s(0);
    for (index_t j = 0; j < J; ++j) s += ip.P[static_cast<std::size_t>(l * J + j)] * e[j];
    b[l] = s;
  }
  if (!err) return;
  for (index_t j = 0; j < J; ++j) {
    cd s(0);
    for (index_t l = 0; l < L; ++l) s += ip.E[static_cast<std::size_t>(j * L + l)] * b[l];
    const double d = std::abs(e[j] - s);
    err[0] += h.w[static_cast<std::size_t>(j)] * d * d;
    err[1] = std::max(err[1], d);
  }
}

// RMS and maximum phasor error over (a strided subset of) the distinct times, each weighted by its samples.
std::pair<double, double> interpolation_error(const histogram& h, const interpolator& ip, const std::vector<double>& t,
                                              const std::vector<double>& count) {
  const index_t U = static_cast<index_t>(t.size());
  const index_t stride = std::max<index_t>(1, (U + error_times - 1) / error_times);
  std::vector<cd> e(h.f.size()), b(ip.tau.size());
  double sum = 0, total = 0, worst = 0;
  std::vector<index_t> at;
  for (index_t u = 0; u < U; u += stride) at.push_back(u);
  if (at.back() != U - 1) at.push_back(U - 1);
  for (index_t u : at) {
    double err[2] = {0, 0};
    coefficients_at(h, ip, t[static_cast<std::size_t>(u)], e.data(), b.data(), err);
    sum += err[0] * count[static_cast<std::size_t>(u)];
    total += count[static_cast<std::size_t>(u)];
    worst = std::max(worst, err[1]);
  }
  return {std::sqrt(sum / total), worst};
}

}  // namespace

time_segmentation make_time_segmentation(const float* hz, index_t n, const double* times, index_t M,
                                         const time_segmentation_options& o) {
  LARMOR_CHECK_ARG(n >= 1 && M >= 1, "time segmentation: the field map and the sample times must not be empty");
  LARMOR_CHECK_ARG(o.segments >= 0 && o.segments <= 256 && o.max_segments >= 1 && o.max_segments <= 256,
                   "time segmentation: segments must be in 0..256 (0: automatic), got ", o.segments);
  LARMOR_CHECK_ARG(o.segments > 0 || (o.tolerance > 0 && o.tolerance < 1),
                   "time segmentation: tolerance must be in (0, 1), got ", o.tolerance);
  time_segmentation ts;
  double f_min = 0, f_max = 0;
  for (index_t i = 0; i < n; ++i) {
    const double f = hz[i];
    LARMOR_CHECK_ARG(std::isfinite(f) && std::abs(f) <= 1e5, "time segmentation: field map value ", i, " is ", f,
                     " Hz (must be finite, |f| <= 100 kHz)");
    f_min = i == 0 ? f : std::min(f_min, f), f_max = i == 0 ? f : std::max(f_max, f);
  }
  std::vector<std::pair<double, index_t>> order(static_cast<std::size_t>(M));
  for (index_t m = 0; m < M; ++m) {
    LARMOR_CHECK_ARG(std::isfinite(times[m]), "time segmentation: sample time ", m, " is not finite");
    order[static_cast<std::size_t>(m)] = {times[m], m};
  }
  std::sort(order.begin(), order.end());
  const double t_min = order.front().first, t_max = order.back().first;
  LARMOR_CHECK_ARG(t_max - t_min <= 1.0, "time segmentation: the sample times span ", t_max - t_min,
                   " s; a readout lasts at most 1 s (times are in seconds)");
  ts.time_index.resize(static_cast<std::size_t>(M));
  std::vector<double> count;
  for (const auto& [t, m] : order) {
    if (ts.sample_times.empty() || t != ts.sample_times.back()) ts.sample_times.push_back(t), count.push_back(0);
    ts.time_index[static_cast<std::size_t>(m)] = static_cast<std::uint32_t>(ts.sample_times.size() - 1);
    count.back() += 1;
  }
  ts.f_min = f_min, ts.f_max = f_max;
  const histogram h = make_histogram(hz, n, f_min, f_max);

  interpolator ip;
  std::pair<double, double> err{0, 0};
  if (o.segments > 0) {
    ip = make_interpolator(h, t_min, t_max, o.segments);
    err = interpolation_error(h, ip, ts.sample_times, count);
  } else {
    for (index_t L = 1; L <= o.max_segments; ++L) {
      ip = make_interpolator(h, t_min, t_max, L);
      err = interpolation_error(h, ip, ts.sample_times, count);
      if (err.first <= o.tolerance) break;
    }
  }
  const index_t L = static_cast<index_t>(ip.tau.size()), U = ts.distinct_times();
  ts.segment_times = ip.tau;
  ts.rms_error = err.first, ts.max_error = err.second;
  ts.coefficients.resize(static_cast<std::size_t>(L * U));
  std::vector<cd> e(h.f.size()), b(static_cast<std::size_t>(L));
  for (index_t u = 0; u < U; ++u) {
    coefficients_at(h, ip, ts.sample_times[static_cast<std::size_t>(u)], e.data(), b.data(), nullptr);
    for (index_t l = 0; l < L; ++l) ts.coefficients[static_cast<std::size_t>(l * U + u)] = cfloat(b[l]);
  }
  return ts;
}

}  // namespace larmor
