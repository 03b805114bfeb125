// RING gradient-delay estimation and radial trajectory correction (include/larmor/nufft/gradient_delay.hpp).
#include "larmor/nufft/gradient_delay.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <complex>
#include <iomanip>
#include <sstream>

#include "larmor/core/error.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/fft/fft.hpp"

namespace larmor {
namespace {

constexpr double pi = 3.14159265358979323846;

// v (coils, G) of one spoke: its band-limited interpolation at u = (g - half) / upsample samples from `centre`.
void interpolate_spoke(const cfloat* spoke, index_t coils, index_t samples, double centre, const ring_options& o,
                       index_t G, cfloat* v) {
  array<cfloat, 2> k(extents<2>{coils, samples}, uninitialized);
  std::copy(spoke, spoke + coils * samples, k.data());
  const auto p = ifftc(k.cview(), {1});  // profiles (coils, samples), x = j - samples/2
  const index_t half_fov = static_cast<index_t>(std::floor(o.crop * static_cast<double>(samples) / 2));
  const index_t x0 = std::max<index_t>(-samples / 2, -half_fov), x1 = std::min<index_t>(samples - samples / 2 - 1, half_fov);
  const index_t half = (G - 1) / 2;
  const double norm = 1.0 / std::sqrt(static_cast<double>(samples));
  // the nominal centre sits at index `centre`; fftc's k = 0 at samples/2
  const double offset = centre - static_cast<double>(samples / 2);
  std::vector<std::complex<double>> step(static_cast<std::size_t>(x1 - x0 + 1)), ph(step.size());
  for (index_t g = 0; g < G; ++g) {
    const double u = offset + static_cast<double>(g - half) / o.upsample;
    for (index_t x = x0; x <= x1; ++x)
      ph[static_cast<std::size_t>(x - x0)] = std::polar(norm, -2 * pi * u * static_cast<double>(x) / static_cast<double>(samples));
    for (index_t c = 0; c < coils; ++c) {
      std::complex<double> s(0);
      const cfloat* pc = p.data() + c * samples + samples / 2;
      for (index_t x = x0; x <= x1; ++x) s += std::complex<double>(pc[x]) * ph[static_cast<std::size_t>(x - x0)];
      v[c * G + g] = cfloat(s);
    }
  }
}

// angle between two readout directions, folded to [0, pi/2]: 0 parallel/antiparallel, pi/2 orthogonal
double fold(const double* a, const double* b) {
  const double c = std::abs(a[0] * b[0] + a[1] * b[1]);
  return std::acos(std::min(1.0, c));
}

// vertex of the parabola through (-1, a), (0, b), (1, c), in [-0.5, 0.5]
double parabola(double a, double b, double c) {
  const double d = a - 2 * b + c;
  return d > 0 ? std::clamp(0.5 * (a - c) / d, -0.5, 0.5) : 0.0;
}

}  // namespace

std::string gradient_delay_estimate::describe() const {
  std::ostringstream s;
  s << std::fixed << std::setprecision(3) << "S_xx " << sxx << ", S_yy " << syy << ", S_xy " << sxy
    << " samples (RING, " << pairs << " spoke pairs, residual " << std::setprecision(3) << residual_rms << ")";
  return s.str();
}

gradient_delay_estimate ring_gradient_delay(const cfloat* data, index_t spokes, index_t coils, index_t samples,
                                            const double* directions, const double* centre, const ring_options& o) {
  LARMOR_CHECK_ARG(spokes >= 1 && coils >= 1 && samples >= 8, "ring_gradient_delay: need spokes, coils and >= 8 "
                   "samples, got ", spokes, " x ", coils, " x ", samples);
  LARMOR_CHECK_ARG(o.search > 0 && o.search <= 32 && o.upsample >= 2 && o.upsample <= 256 && o.crop > 0 &&
                       o.crop <= 1 && o.max_spokes >= 2,
                   "ring_gradient_delay: search in (0, 32], upsample in [2, 256], crop in (0, 1], max_spokes >= 2");
  for (index_t i = 0; i < coils * samples * spokes; ++i)
    LARMOR_CHECK_DATA(std::isfinite(data[i].real()) && std::isfinite(data[i].imag()),
                      "ring_gradient_delay: the spokes hold NaN or Inf samples");
  // the spokes used: evenly chosen, at most max_spokes, each crossing its centre at least search + 1 samples
  // from both ends (the interpolation is periodic along the readout: a centre-out (UTE) spoke would wrap)
  std::vector<index_t> use;
  const index_t n_try = std::min(spokes, o.max_spokes);
  for (index_t i = 0; i < n_try; ++i) {
    const index_t s = i * spokes / n_try;
    if (centre[s] >= o.search + 1 && centre[s] <= static_cast<double>(samples - 1) - o.search - 1) use.push_back(s);
  }
  LARMOR_CHECK_DATA(use.size() >= 2, "ring_gradient_delay: the spokes do not cross k = 0 at least ", o.search + 1,
                    " samples from both ends of the readout (centre-out or asymmetric-echo spokes)");
  const index_t n_use = static_cast<index_t>(use.size());
  const index_t G = 2 * static_cast<index_t>(std::ceil(o.search * o.upsample)) + 1;
  array<cfloat, 2> v(extents<2>{n_use, coils * G}, uninitialized);
  parallel_for(n_use, [&](index_t i) {
    const index_t s = use[static_cast<std::size_t>(i)];
    interpolate_spoke(data + s * coils * samples, coils, samples, centre[s], o, G, v.data() + i * coils * G);
  });
  // partner: the used spoke closest to orthogonal, within 30 degrees of it
  std::vector<index_t> partner(static_cast<std::size_t>(n_use), -1);
  for (index_t i = 0; i < n_use; ++i) {
    double best = pi / 2 - pi / 6;
    for (index_t j = 0; j < n_use; ++j) {
      const double a = fold(directions + 2 * use[static_cast<std::size_t>(i)], directions + 2 * use[static_cast<std::size_t>(j)]);
      if (a > best) best = a, partner[static_cast<std::size_t>(i)] = j;
    }
  }
  // each pair once: (i, j) and (j, i) are the same intersection
  for (index_t i = 0; i < n_use; ++i) {
    const index_t j = partner[static_cast<std::size_t>(i)];
    if (j > i && partner[static_cast<std::size_t>(j)] == i) partner[static_cast<std::size_t>(j)] = -1;
  }
  // per pair: the (u, w) that minimises sum_c |v_i(u) - v_j(w)|^2 = E_i(u) + E_j(w) - 2 Re sum_c v_i(u) conj(v_j(w))
  std::vector<double> ui(static_cast<std::size_t>(n_use), 0), uj(ui.size(), 0);
  std::vector<char> ok(ui.size(), 0);
  parallel_for(n_use, [&](index_t i) {
    const index_t j = partner[static_cast<std::size_t>(i)];
    if (j < 0) return;
    const cfloat *a = v.data() + i * coils * G, *b = v.data() + j * coils * G;
    std::vector<double> ea(static_cast<std::size_t>(G), 0), eb(ea.size(), 0), cost(static_cast<std::size_t>(G * G));
    for (index_t c = 0; c < coils; ++c)
      for (index_t g = 0; g < G; ++g) ea[static_cast<std::size_t>(g)] += std::norm(a[c * G + g]), eb[static_cast<std::size_t>(g)] += std::norm(b[c * G + g]);
    for (index_t p = 0; p < G; ++p)
      for (index_t q = 0; q < G; ++q) {
        double re = 0;
        for (index_t c = 0; c < coils; ++c) {
          const cfloat x = a[c * G + p], y = b[c * G + q];
          re += static_cast<double>(x.real()) * y.real() + static_cast<double>(x.imag()) * y.imag();
        }
        cost[static_cast<std::size_t>(p * G + q)] = ea[static_cast<std::size_t>(p)] + eb[static_cast<std::size_t>(q)] - 2 * re;
      }
    const auto m = std::min_element(cost.begin(), cost.end()) - cost.begin();
    const index_t p = m / G, q = m % G;
    if (p == 0 || q == 0 || p == G - 1 || q == G - 1) return;  // on the edge: the delay lies beyond `search`
    auto at = [&](index_t r, index_t s) { return cost[static_cast<std::size_t>(r * G + s)]; };
    const double dp = parabola(at(p - 1, q), at(p, q), at(p + 1, q)), dq = parabola(at(p, q - 1), at(p, q), at(p, q + 1));
    const index_t half = (G - 1) / 2;
    ui[static_cast<std::size_t>(i)] = (static_cast<double>(p - half) + dp) / o.upsample;
    uj[static_cast<std::size_t>(i)] = (static_cast<double>(q - half) + dq) / o.upsample;
    ok[static_cast<std::size_t>(i)] = 1;
  });
  // least squares for (S_xx, S_yy, S_xy): per pair, with a = n_i - n_j and b = u_j n_j - u_i n_i,
  //   S_xx a_x + S_xy a_y = b_x,   S_xy a_x + S_yy a_y = b_y
  double N[3][3] = {}, r[3] = {};
  std::vector<std::array<double, 4>> rows;  // (coefficients of S_xx, S_yy, S_xy; right-hand side)
  for (index_t i = 0; i < n_use; ++i) {
    if (!ok[static_cast<std::size_t>(i)]) continue;
    const double* ni = directions + 2 * use[static_cast<std::size_t>(i)];
    const double* nj = directions + 2 * use[static_cast<std::size_t>(partner[static_cast<std::size_t>(i)])];
    const double ax = ni[0] - nj[0], ay = ni[1] - nj[1];
    const double bx = uj[static_cast<std::size_t>(i)] * nj[0] - ui[static_cast<std::size_t>(i)] * ni[0];
    const double by = uj[static_cast<std::size_t>(i)] * nj[1] - ui[static_cast<std::size_t>(i)] * ni[1];
    rows.push_back({ax, 0, ay, bx});
    rows.push_back({0, ay, ax, by});
  }
  gradient_delay_estimate e;
  e.pairs = static_cast<index_t>(rows.size() / 2);
  for (const auto& row : rows)
    for (int a = 0; a < 3; ++a) {
      r[a] += row[static_cast<std::size_t>(a)] * row[3];
      for (int b = 0; b < 3; ++b) N[a][b] += row[static_cast<std::size_t>(a)] * row[static_cast<std::size_t>(b)];
    }
  // 3x3 solve by Cramer's rule, refused when the directions do not determine S
  auto det3 = [](const double m[3][3]) {
    return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
           m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  };
  const double d = det3(N), scale = N[0][0] * N[1][1] * N[2][2];
  LARMOR_CHECK_DATA(e.pairs >= 3 && scale > 0 && std::abs(d) > 1e-6 * scale,
                    "ring_gradient_delay: ", e.pairs, " usable spoke pairs of ", spokes,
                    " spokes; RING needs >= 3 pairs of nearly orthogonal spokes in several directions, with delays "
                    "within +-", o.search, " samples");
  double sol[3];
  for (int k = 0; k < 3; ++k) {
    double m[3][3];
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) m[a][b] = b == k ? r[a] : N[a][b];
    sol[k] = det3(m) / d;
  }
  e.sxx = sol[0], e.syy = sol[1], e.sxy = sol[2];
  double ss = 0;
  for (const auto& row : rows) {
    const double res = row[0] * e.sxx + row[1] * e.syy + row[2] * e.sxy - row[3];
    ss += res * res;
  }
  e.residual_rms = std::sqrt(ss / static_cast<double>(rows.size()));
  return e;
}

radial_spokes find_radial_spokes(const float* coords, index_t readouts, index_t samples, index_t stride, int ox, int oy) {
  radial_spokes r;
  LARMOR_CHECK_ARG(readouts >= 1 && samples >= 2 && stride >= 2 && ox >= 0 && oy >= 0 && ox < stride && oy < stride,
                   "find_radial_spokes: bad shape");
  r.directions.resize(static_cast<std::size_t>(2 * readouts));
  r.centre.resize(static_cast<std::size_t>(readouts));
  r.spacing.resize(static_cast<std::size_t>(readouts));
  for (index_t i = 0; i < readouts; ++i) {
    const float* k = coords + i * samples * stride;
    const double x0 = k[ox], y0 = k[oy], x1 = k[(samples - 1) * stride + ox], y1 = k[(samples - 1) * stride + oy];
    const double len = std::hypot(x1 - x0, y1 - y0), dk = len / static_cast<double>(samples - 1);
    std::ostringstream why;
    if (!(dk > 0)) {
      why << "readout " << i << " does not move in k-space";
      r.why_not = why.str();
      return r;
    }
    const double nx = (x1 - x0) / len, ny = (y1 - y0) / len;
    // distance of the line from the origin, and the deviation of each point from even spacing on it
    const double miss = std::abs(x0 * ny - y0 * nx);
    double worst = 0;
    for (index_t s = 0; s < samples; ++s) {
      const double ex = x0 + static_cast<double>(s) * dk * nx, ey = y0 + static_cast<double>(s) * dk * ny;
      worst = std::max(worst, std::hypot(k[s * stride + ox] - ex, k[s * stride + oy] - ey));
    }
    if (miss > 0.5 * dk || worst > 0.05 * dk) {
      why << "readout " << i << " is not a spoke through the centre (it misses the origin by " << miss / dk
          << " samples; largest deviation from a straight, evenly sampled line " << worst / dk << " samples)";
      r.why_not = why.str();
      return r;
    }
    r.directions[static_cast<std::size_t>(2 * i)] = nx;
    r.directions[static_cast<std::size_t>(2 * i + 1)] = ny;
    r.centre[static_cast<std::size_t>(i)] = -(x0 * nx + y0 * ny) / dk;
    r.spacing[static_cast<std::size_t>(i)] = dk;
  }
  r.radial = true;
  return r;
}

void correct_radial_trajectory(float* coords, index_t readouts, index_t samples, index_t stride, int ox, int oy,
                               const radial_spokes& spokes, const gradient_delay_estimate& s) {
  LARMOR_CHECK_ARG(spokes.radial && static_cast<index_t>(spokes.centre.size()) == readouts,
                   "correct_radial_trajectory: the spokes do not describe these readouts");
  for (index_t i = 0; i < readouts; ++i) {
    const double nx = spokes.directions[static_cast<std::size_t>(2 * i)], ny = spokes.directions[static_cast<std::size_t>(2 * i + 1)];
    const double dk = spokes.spacing[static_cast<std::size_t>(i)];
    const double sx = dk * (s.sxx * nx + s.sxy * ny), sy = dk * (s.sxy * nx + s.syy * ny);
    for (index_t k = 0; k < samples; ++k) {
      coords[(i * samples + k) * stride + ox] += static_cast<float>(sx);
      coords[(i * samples + k) * stride + oy] += static_cast<float>(sy);
    }
  }
}

}  // namespace larmor
