// larmor/nufft/plan.hpp — non-uniform FFT plan: type 2 (image -> samples) and type 1 (its adjoint) in
// 1D/2D/3D, float and double, for many coils per execution.
//
// Convention (docs/design.md, docs/nufft.md; binding):
//   forward (type 2):  y(k) = N^-1/2 sum_r x(r) exp(-2 pi i sum_d k_d r_d / N_d),   r_d = j_d - N_d//2
//   adjoint (type 1):  x(r) = N^-1/2 sum_k y(k) exp(+2 pi i sum_d k_d r_d / N_d)    (the exact adjoint)
// N = prod N_d; k in cycles per field of view, nominally [-N_d/2, N_d/2) (any real value is accepted and
// taken modulo N_d: the transform is periodic in k). Coordinates are (M, D) row-major, axis d like the image
// axes: (y, x) in 2D, (z, y, x) in 3D. On integer coordinates `forward` equals fftc. BART's trajectories
// hold the same units in (x, y, z) order: larmor coords[..., d] = bart traj[D - 1 - d, ...].
//
// Algorithm (Barnett, Magland, af Klinteberg, SIAM J Sci Comput 41:C479, 2019): upsampled grid of
// n_d = next 2,3,5-smooth even size >= 2 N_d; "exponential of semicircle" kernel of width w set by eps
// (es_kernel.hpp); forward = deconvolve (divide by phihat) + zero-pad, FFT, interpolate; adjoint = spread,
// FFT, crop + deconvolve. Points are sorted once per plan (set_points) into bins of >= w + 2 cells per axis
// (even bin counts). Spreading is race-free without atomics: bins are processed in 2^D colour phases
// (parity of the bin index per axis), bins of one phase have disjoint padded footprints and run in
// parallel; interior bins spread straight into the fine grid, bins at the periodic edge through a small
// subgrid that is folded back with wrap-around. The summation order per grid cell is fixed, so the result
// does not depend on the thread count (beyond FFTW's own round-off). Kernel values are computed once per
// bin (piecewise polynomial, es_kernel_poly) and reused for every coil. Kernel evaluation and the 2D/3D
// spread/interpolate windows are the SIMD kernels of larmor/kernels/nufft_kernels.hpp (float: Google Highway,
// dispatched at run time to the CPU's best target; double: their scalar references); 1D keeps a loop with
// the kernel width as a compile-time constant.
//
// Threads: parallel over bins (and coils/rows for the deconvolution); FFTs use num_threads(). A plan keeps
// a fine-grid work buffer: do not execute one plan from two threads at once.
#pragma once

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/core/single_user.hpp"
#include "larmor/fft/fft.hpp"
#include "larmor/kernels/nufft_kernels.hpp"
#include "larmor/nufft/es_kernel.hpp"

namespace larmor {

namespace detail {

// Smallest even 2,3,5-smooth integer >= n.
inline index_t next_smooth_even(index_t n) {
  for (index_t m = std::max<index_t>(2, n + (n & 1));; m += 2) {
    index_t r = m;
    for (index_t f : {2, 3, 5})
      while (r % f == 0) r /= f;
    if (r == 1) return m;
  }
}

// 1D: adds value * kernel into the W cells at base (interleaved re/im).
template <int W, class Real>
inline void es_spread_1d(Real* base, const Real* k, Real vr, Real vi) {
  for (int j = 0; j < W; ++j) base[2 * j] += k[j] * vr, base[2 * j + 1] += k[j] * vi;
}
// 1D: sum over the W cells at base of kernel * grid.
template <int W, class Real>
inline std::complex<Real> es_interp_1d(const Real* base, const Real* k) {
  Real re = 0, im = 0;
  for (int j = 0; j < W; ++j) re += k[j] * base[2 * j], im += k[j] * base[2 * j + 1];
  return {re, im};
}

}  // namespace detail

template <class Real, std::size_t D>
class nufft_plan {
  static_assert(D >= 1 && D <= 3, "nufft_plan: 1, 2 or 3 dimensions");

 public:
  using complex = std::complex<Real>;

  // image_shape: N_d (axes like the image, (y, x) in 2D); eps: relative tolerance (1e-15 .. <1; a float
  // plan cannot do better than ~1e-6, smaller eps only widens the kernel).
  // upsampling: fine grid n_d >= sigma N_d, sigma = 2 (default) or 1.25 (smaller grid, wider kernel; es_kernel.hpp).
  explicit nufft_plan(const extents<D>& image_shape, double eps = 1e-6, double upsampling = 2.0)
      : N_(image_shape), eps_(eps), sigma_(upsampling) {
    kernel_ = es_kernel_params::from_tolerance(eps, upsampling);
    const int w = kernel_.width;
    constexpr index_t target = D == 1 ? 1024 : D == 2 ? 32 : 16;
    for (std::size_t d = 0; d < D; ++d) {
      LARMOR_CHECK_ARG(N_[d] >= 1, "nufft: image shape ", shape_string(N_), " must be positive");
      const index_t up = sigma_ == 2.0 ? 2 * N_[d] : (5 * N_[d] + 3) / 4;  // ceil(sigma N)
      n_[d] = detail::next_smooth_even(std::max<index_t>(up, 2 * w));
      index_t nb = n_[d] / std::max<index_t>(target, w + 2);
      if (nb > 1 && nb % 2 == 1) --nb;
      nbins_[d] = std::max<index_t>(nb, 1);
      const auto ph = es_kernel_fourier(kernel_, N_[d], n_[d]);
      corr_[d].resize(ph.size());
      for (std::size_t i = 0; i < ph.size(); ++i) corr_[d][i] = static_cast<Real>(1.0 / ph[i]);
      phihat0_[d] = es_kernel_fourier(kernel_, 1, n_[d])[0];
    }
    const es_kernel_poly poly(kernel_, (w + 7) / 8 * 8);
    degree_ = poly.degree;
    coef_.assign(poly.coef.begin(), poly.coef.end());
  }

  const extents<D>& image_shape() const { return N_; }
  const extents<D>& grid_shape() const { return n_; }
  int kernel_width() const { return kernel_.width; }
  double kernel_beta() const { return kernel_.beta; }
  double tolerance() const { return eps_; }
  double upsampling() const { return sigma_; }
  index_t num_points() const { return M_; }
  index_t image_size() const {
    index_t s = 1;
    for (auto v : N_) s *= v;
    return s;
  }
  index_t grid_size() const {
    index_t s = 1;
    for (auto v : n_) s *= v;
    return s;
  }
  // Integral of the kernel over one axis, in fine-grid cells (phihat(0)); used by density compensation.
  double kernel_integral(std::size_t d) const { return phihat0_[d]; }

  // Sets the M non-uniform points: coords (M, D) row-major, cycles per FOV, axes like the image.
  // Non-finite coordinates are rejected (DataError). Sorts the points into bins; O(M).
  template <class T>
  void set_points(const T* coords, index_t m) {
    LARMOR_CHECK_ARG(m >= 0, "nufft: number of points must be >= 0, got ", m);
    for (index_t i = 0; i < m * static_cast<index_t>(D); ++i)
      LARMOR_CHECK_DATA(std::isfinite(static_cast<double>(coords[i])), "nufft: coordinate ", i / index_t(D), ",",
                        i % index_t(D), " is not finite");
    M_ = m;
    const int w = kernel_.width;
    const index_t pad = w / 2 + 1;
    index_t total_bins = 1;
    for (auto b : nbins_) total_bins *= b;
    std::vector<std::int32_t> cell(static_cast<std::size_t>(m * D));  // i0 per axis
    std::vector<Real> zz(static_cast<std::size_t>(m * D));
    std::vector<index_t> bin_of(static_cast<std::size_t>(m));
    parallel_for_blocks(m, 4096, [&](index_t first, index_t count) {
      for (index_t i = first; i < first + count; ++i) {
        index_t b = 0;
        for (std::size_t d = 0; d < D; ++d) {
          const double n = static_cast<double>(n_[d]);
          double t = static_cast<double>(coords[i * index_t(D) + index_t(d)]) * n / static_cast<double>(N_[d]);
          t -= n * std::floor(t / n);
          if (t >= n) t -= n;
          if (t < 0) t = 0;
          const double i0 = std::ceil(t - w / 2.0);
          const double z = 2.0 * (i0 - t + w / 2.0) - 1.0;
          cell[static_cast<std::size_t>(i * index_t(D) + index_t(d))] = static_cast<std::int32_t>(i0);
          zz[static_cast<std::size_t>(i * index_t(D) + index_t(d))] = static_cast<Real>(std::clamp(z, -1.0, 1.0));
          const index_t c = std::min<index_t>(static_cast<index_t>(t), n_[d] - 1);
          const index_t bd = ((c + 1) * nbins_[d] - 1) / n_[d];
          b = b * nbins_[d] + bd;
        }
        bin_of[static_cast<std::size_t>(i)] = b;
      }
    });
    // Counting sort by bin (stable: original order inside a bin).
    bin_start_.assign(static_cast<std::size_t>(total_bins + 1), 0);
    for (index_t i = 0; i < m; ++i) ++bin_start_[static_cast<std::size_t>(bin_of[static_cast<std::size_t>(i)] + 1)];
    for (index_t b = 0; b < total_bins; ++b) bin_start_[static_cast<std::size_t>(b + 1)] += bin_start_[static_cast<std::size_t>(b)];
    std::vector<index_t> fill(bin_start_.begin(), bin_start_.end() - 1);
    perm_.resize(static_cast<std::size_t>(m));
    off_.resize(static_cast<std::size_t>(m * D));
    z_.resize(static_cast<std::size_t>(m * D));
    for (index_t i = 0; i < m; ++i) {
      const index_t b = bin_of[static_cast<std::size_t>(i)];
      const index_t s = fill[static_cast<std::size_t>(b)]++;
      perm_[static_cast<std::size_t>(s)] = i;
      // offset relative to the bin's padded origin
      index_t rem = b;
      index_t bidx[D];
      for (std::size_t d = D; d-- > 0;) bidx[d] = rem % nbins_[d], rem /= nbins_[d];
      for (std::size_t d = 0; d < D; ++d) {
        const std::size_t src = static_cast<std::size_t>(i * index_t(D) + index_t(d));
        const std::size_t dst = static_cast<std::size_t>(s * index_t(D) + index_t(d));
        off_[dst] = static_cast<std::int32_t>(cell[src] - bin_lo(d, bidx[d]) + pad);
        z_[dst] = zz[src];
      }
    }
    for (auto& p : phases_) p.clear();
    for (index_t b = 0; b < total_bins; ++b) {
      if (bin_start_[static_cast<std::size_t>(b + 1)] == bin_start_[static_cast<std::size_t>(b)]) continue;
      index_t rem = b;
      unsigned colour = 0;
      for (std::size_t d = D; d-- > 0;) colour |= static_cast<unsigned>((rem % nbins_[d]) & 1) << d, rem /= nbins_[d];
      phases_[colour].push_back(b);
    }
  }
  template <class T>
  void set_points(strided_view<const T, 2> coords) {
    LARMOR_CHECK_ARG(coords.shape(1) == index_t(D), "nufft: coords must be (M, ", D, "), got last axis ",
                     coords.shape(1));
    const auto c = to_array(coords);
    set_points(c.data(), c.shape(0));
  }

  // Type 2: x (batch, N...) contiguous -> y (batch, M) contiguous.
  void forward(const complex* x, complex* y, index_t batch) const {
    for_chunks(batch, [&](index_t b0, index_t nb) {
      complex* g = grid_.data();
      const index_t gs = grid_size(), is = image_size();
      parallel_for_blocks(nb * gs, index_t{1} << 16, [&](index_t f, index_t c) { std::fill(g + f, g + f + c, complex(0)); });
      const index_t rows = is / N_[D - 1];
      const Real scale = static_cast<Real>(1.0 / std::sqrt(static_cast<double>(is)));
      parallel_for(nb * rows, [&](index_t q) {
        const index_t c = q / rows, row = q % rows;
        const complex* src = x + (b0 + c) * is + row * N_[D - 1];
        complex* dst = g + c * gs + grid_row_offset(row);
        const Real f = scale * row_factor(row);
        copy_row_deconvolved(src, dst, f, /*to_grid=*/true);
      });
      fft_grid(nb, FFTW_FORWARD);
      interpolate(g, y + b0 * M_, nb);
    });
  }

  // Type 1: y (batch, M) contiguous -> x (batch, N...) contiguous.
  void adjoint(const complex* y, complex* x, index_t batch) const {
    for_chunks(batch, [&](index_t b0, index_t nb) {
      complex* g = grid_.data();
      const index_t gs = grid_size(), is = image_size();
      spread(y + b0 * M_, g, nb);
      fft_grid(nb, FFTW_BACKWARD);
      const index_t rows = is / N_[D - 1];
      const Real scale = static_cast<Real>(1.0 / std::sqrt(static_cast<double>(is)));
      parallel_for(nb * rows, [&](index_t q) {
        const index_t c = q / rows, row = q % rows;
        complex* dst = x + (b0 + c) * is + row * N_[D - 1];
        const complex* src = g + c * gs + grid_row_offset(row);
        copy_row_deconvolved(src, dst, scale * row_factor(row), /*to_grid=*/false);
      });
    });
  }

  // grid (batch, n...) <- sum_k y_k phi(t_k - m) (the grid is zeroed first). No FFT, no deconvolution.
  void spread(const complex* y, complex* grid, index_t batch) const {
    const index_t gs = grid_size();
    parallel_for_blocks(batch * gs, index_t{1} << 16,
                        [&](index_t f, index_t c) { std::fill(grid + f, grid + f + c, complex(0)); });
    if (M_ == 0) return;
    for (const auto& phase : phases_)
      parallel_for_dynamic(static_cast<index_t>(phase.size()),
                           [&](index_t i) { spread_bin(phase[static_cast<std::size_t>(i)], y, grid, batch); });
  }

  // y (batch, M) <- sum_m grid_m phi(t_k - m).
  void interpolate(const complex* grid, complex* y, index_t batch) const {
    if (M_ == 0) return;
    index_t total_bins = static_cast<index_t>(bin_start_.size()) - 1;
    parallel_for_dynamic(total_bins, [&](index_t b) { interp_bin(b, grid, y, batch); });
  }

 private:
  // First cell of bin b along axis d (bins tile [0, n_d)).
  index_t bin_lo(std::size_t d, index_t b) const { return b * n_[d] / nbins_[d]; }

  // Offset in the fine grid of image row `row` (all axes but the last), first pixel r_x = -N_x//2.
  index_t grid_row_offset(index_t row) const {
    index_t off = 0, rem = row, mul = n_[D - 1];
    for (std::size_t d = D - 1; d-- > 0;) {
      const index_t j = rem % N_[d];
      rem /= N_[d];
      index_t g = j - N_[d] / 2;
      if (g < 0) g += n_[d];
      off += g * mul;
      mul *= n_[d];
    }
    return off;
  }
  Real row_factor(index_t row) const {
    Real f = 1;
    index_t rem = row;
    for (std::size_t d = D - 1; d-- > 0;) {
      f *= corr_[d][static_cast<std::size_t>(rem % N_[d])];
      rem /= N_[d];
    }
    return f;
  }
  // One image row <-> the fine-grid row (negative frequencies wrap to the end of the grid row).
  // to_grid: a = image row, b = grid row; else a = grid row, b = image row.
  void copy_row_deconvolved(const complex* a, complex* b, Real f, bool to_grid) const {
    const index_t Nx = N_[D - 1], nx = n_[D - 1], h = Nx / 2;
    const Real* c = corr_[D - 1].data();
    for (index_t j = 0; j < Nx; ++j) {
      const index_t g = j < h ? nx - h + j : j - h;
      if (to_grid)
        b[g] = a[j] * (f * c[j]);
      else
        b[j] = a[g] * (f * c[j]);
    }
  }

  template <class F>
  void for_chunks(index_t batch, F&& f) const {
    LARMOR_CHECK_ARG(batch >= 0, "nufft: batch must be >= 0, got ", batch);
    const single_user_scope one(user_, "nufft_plan");  // grid_ is this call's
    const index_t gs = grid_size();
    const index_t per = std::max<index_t>(1, static_cast<index_t>((std::size_t{1} << 30) / (sizeof(complex) * static_cast<std::size_t>(gs))));
    const index_t chunk = std::min(batch, per);
    if (chunk == 0) return;
    if (grid_.size() < chunk * gs) grid_ = array<complex, 1>(extents<1>{chunk * gs}, uninitialized);
    for (index_t b0 = 0; b0 < batch; b0 += chunk) f(b0, std::min(chunk, batch - b0));
  }

  void fft_grid(index_t nb, int sign) const {
    std::vector<index_t> shape{nb};
    unsigned mask = 0;
    for (std::size_t d = 0; d < D; ++d) shape.push_back(n_[d]), mask |= 1u << (d + 1);
    detail::execute_dft_inplace<Real>(shape, mask, sign, grid_.data(), in_parallel_region() ? 1 : num_threads());
  }

  template <class F>
  void dispatch_width(F&& f) const {
    switch (kernel_.width) {
      case 2: f(std::integral_constant<int, 2>{}); break;
      case 3: f(std::integral_constant<int, 3>{}); break;
      case 4: f(std::integral_constant<int, 4>{}); break;
      case 5: f(std::integral_constant<int, 5>{}); break;
      case 6: f(std::integral_constant<int, 6>{}); break;
      case 7: f(std::integral_constant<int, 7>{}); break;
      case 8: f(std::integral_constant<int, 8>{}); break;
      case 9: f(std::integral_constant<int, 9>{}); break;
      case 10: f(std::integral_constant<int, 10>{}); break;
      case 11: f(std::integral_constant<int, 11>{}); break;
      case 12: f(std::integral_constant<int, 12>{}); break;
      case 13: f(std::integral_constant<int, 13>{}); break;
      case 14: f(std::integral_constant<int, 14>{}); break;
      case 15: f(std::integral_constant<int, 15>{}); break;
      default: f(std::integral_constant<int, 16>{}); break;
    }
  }

  // Geometry of bin b: padded origin and extent per axis, and whether its footprint stays inside the grid.
  struct bin_geom {
    index_t lo[D], ext[D];
    bool interior;
  };
  bin_geom geometry(index_t b) const {
    bin_geom g;
    const index_t pad = kernel_.width / 2 + 1;
    g.interior = true;
    index_t rem = b;
    for (std::size_t d = D; d-- > 0;) {
      const index_t bd = rem % nbins_[d];
      rem /= nbins_[d];
      g.lo[d] = bin_lo(d, bd) - pad;
      g.ext[d] = bin_lo(d, bd + 1) - bin_lo(d, bd) + 2 * pad;
      if (g.lo[d] < 0 || g.lo[d] + g.ext[d] > n_[d]) g.interior = false;
    }
    return g;
  }

  // Kernel values of the points [p0, p1) of the sorted list: (points, D, S), S = taps padded to 8.
  int taps() const { return (kernel_.width + 7) / 8 * 8; }
  void kernel_values(index_t p0, index_t p1, std::vector<Real>& k) const {
    k.resize(static_cast<std::size_t>((p1 - p0) * index_t(D) * taps()));
    kernels::es_kernel_values(coef_.data(), degree_, taps(), z_.data() + p0 * index_t(D), (p1 - p0) * index_t(D),
                              k.data());
  }

  // Linear offset in a box of extents ext (C order) of the point p's first cell.
  index_t point_offset(index_t p, const index_t* st) const {
    index_t o = 0;
    for (std::size_t d = 0; d < D; ++d) o += off_[static_cast<std::size_t>(p * index_t(D) + index_t(d))] * st[d];
    return o;
  }

  // Per bin: kernel values, the geometry and each point's window offset in the grid (interior bins) or in
  // the bin's subgrid (bins at the periodic edge).
  struct bin_work {
    index_t p0, p1;
    std::vector<Real> k;
    bin_geom g;
    index_t gst[D], sst[D];  // grid and subgrid strides (complex elements)
    index_t origin = 0;      // offset of the padded origin in the grid
    index_t sub_size = 1;
    std::vector<std::ptrdiff_t> off;
  };
  void prepare_bin(index_t b, bin_work& bw) const {
    bw.p0 = bin_start_[static_cast<std::size_t>(b)], bw.p1 = bin_start_[static_cast<std::size_t>(b + 1)];
    kernel_values(bw.p0, bw.p1, bw.k);
    bw.g = geometry(b);
    bw.gst[D - 1] = 1, bw.sst[D - 1] = 1;
    for (std::size_t d = D - 1; d-- > 0;)
      bw.gst[d] = bw.gst[d + 1] * n_[d + 1], bw.sst[d] = bw.sst[d + 1] * bw.g.ext[d + 1];
    for (std::size_t d = 0; d < D; ++d) bw.sub_size *= bw.g.ext[d], bw.origin += bw.g.lo[d] * bw.gst[d];
    const index_t* st = bw.g.interior ? bw.gst : bw.sst;
    bw.off.resize(static_cast<std::size_t>(bw.p1 - bw.p0));
    for (index_t p = bw.p0; p < bw.p1; ++p) bw.off[static_cast<std::size_t>(p - bw.p0)] = point_offset(p, st);
  }

  // values v (the bin's points in sorted order) spread into target with strides st.
  void spread_points(const bin_work& bw, const index_t* st, const complex* v, complex* target) const {
    const int w = kernel_.width;
    const index_t n = bw.p1 - bw.p0;
    if constexpr (D == 1) {
      dispatch_width([&](auto wc) {
        constexpr int W = decltype(wc)::value;
        for (index_t i = 0; i < n; ++i)
          detail::es_spread_1d<W, Real>(reinterpret_cast<Real*>(target + bw.off[static_cast<std::size_t>(i)]),
                                        bw.k.data() + i * taps(), v[i].real(), v[i].imag());
      });
    } else if constexpr (D == 2) {
      kernels::es_spread_2d(target, st[0], bw.off.data(), bw.k.data(), w, taps(), v, n);
    } else {
      kernels::es_spread_3d(target, st[0], st[1], bw.off.data(), bw.k.data(), w, taps(), v, n);
    }
  }
  void interp_points(const bin_work& bw, const index_t* st, const complex* source, complex* out) const {
    const int w = kernel_.width;
    const index_t n = bw.p1 - bw.p0;
    if constexpr (D == 1) {
      dispatch_width([&](auto wc) {
        constexpr int W = decltype(wc)::value;
        for (index_t i = 0; i < n; ++i)
          out[i] = detail::es_interp_1d<W, Real>(
              reinterpret_cast<const Real*>(source + bw.off[static_cast<std::size_t>(i)]), bw.k.data() + i * taps());
      });
    } else if constexpr (D == 2) {
      kernels::es_interp_2d(source, st[0], bw.off.data(), bw.k.data(), w, taps(), out, n);
    } else {
      kernels::es_interp_3d(source, st[0], st[1], bw.off.data(), bw.k.data(), w, taps(), out, n);
    }
  }

  void spread_bin(index_t b, const complex* y, complex* grid, index_t batch) const {
    bin_work bw;
    prepare_bin(b, bw);
    const bin_geom& g = bw.g;
    const index_t gs = grid_size(), n = bw.p1 - bw.p0;
    std::vector<complex> sub(g.interior ? 0 : static_cast<std::size_t>(bw.sub_size));
    std::vector<complex> v(static_cast<std::size_t>(n));
    for (index_t c = 0; c < batch; ++c) {
      const complex* yc = y + c * M_;
      for (index_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = yc[perm_[static_cast<std::size_t>(bw.p0 + i)]];
      if (g.interior) {
        spread_points(bw, bw.gst, v.data(), grid + c * gs + bw.origin);
      } else {
        std::fill(sub.begin(), sub.end(), complex(0));
        spread_points(bw, bw.sst, v.data(), sub.data());
        fold_subgrid(sub.data(), g, grid + c * gs, bw.gst);
      }
    }
  }

  // Calls f(s, o) for every cell of the bin's padded footprint (extents g.ext at padded origin g.lo):
  // s its index in the subgrid, o its offset in the periodic grid (wrapped per axis).
  template <class F>
  void for_each_footprint_cell(const bin_geom& g, const index_t* gst, F&& f) const {
    index_t rows = 1;
    for (std::size_t d = 0; d + 1 < D; ++d) rows *= g.ext[d];
    const index_t ex = g.ext[D - 1], nx = n_[D - 1];
    for (index_t r = 0; r < rows; ++r) {
      index_t rem = r, goff = 0;
      for (std::size_t d = D - 1; d-- > 0;) {
        const index_t i = rem % g.ext[d];
        rem /= g.ext[d];
        index_t gi = (g.lo[d] + i) % n_[d];
        if (gi < 0) gi += n_[d];
        goff += gi * gst[d];
      }
      for (index_t i = 0; i < ex; ++i) {
        index_t gi = (g.lo[D - 1] + i) % nx;
        if (gi < 0) gi += nx;
        f(r * ex + i, goff + gi);
      }
    }
  }
  // Adds the subgrid into the periodic grid.
  void fold_subgrid(const complex* sub, const bin_geom& g, complex* grid, const index_t* gst) const {
    for_each_footprint_cell(g, gst, [&](index_t s, index_t o) { grid[o] += sub[s]; });
  }
  // Copies the periodic grid's footprint of the bin into the subgrid.
  void gather_subgrid(complex* sub, const bin_geom& g, const complex* grid, const index_t* gst) const {
    for_each_footprint_cell(g, gst, [&](index_t s, index_t o) { sub[s] = grid[o]; });
  }

  void interp_bin(index_t b, const complex* grid, complex* y, index_t batch) const {
    if (bin_start_[static_cast<std::size_t>(b)] == bin_start_[static_cast<std::size_t>(b + 1)]) return;
    bin_work bw;
    prepare_bin(b, bw);
    const bin_geom& g = bw.g;
    const index_t gs = grid_size(), n = bw.p1 - bw.p0;
    std::vector<complex> sub(g.interior ? 0 : static_cast<std::size_t>(bw.sub_size));
    std::vector<complex> out(static_cast<std::size_t>(n));
    for (index_t c = 0; c < batch; ++c) {
      if (g.interior) {
        interp_points(bw, bw.gst, grid + c * gs + bw.origin, out.data());
      } else {
        gather_subgrid(sub.data(), g, grid + c * gs, bw.gst);
        interp_points(bw, bw.sst, sub.data(), out.data());
      }
      complex* yc = y + c * M_;
      for (index_t i = 0; i < n; ++i) yc[perm_[static_cast<std::size_t>(bw.p0 + i)]] = out[static_cast<std::size_t>(i)];
    }
  }

  extents<D> N_{}, n_{}, nbins_{};
  double eps_;
  double sigma_ = 2.0;
  es_kernel_params kernel_;
  std::vector<Real> corr_[D];
  double phihat0_[D] = {};
  int degree_ = 0;
  std::vector<Real> coef_;
  index_t M_ = 0;
  std::vector<index_t> bin_start_, perm_;
  std::vector<std::int32_t> off_;
  std::vector<Real> z_;
  std::vector<index_t> phases_[1u << D];
  mutable array<complex, 1> grid_;
  single_user_flag user_;  // forward/adjoint: one thread at a time (grid_)
};

}  // namespace larmor
