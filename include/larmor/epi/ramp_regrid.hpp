// larmor/epi/ramp_regrid.hpp — ramp-sampled readouts -> the uniform readout grid, by one matrix per scan.
//
// Model (the pixel model of the encoded field of view, N = grid points, x_j at j - N/2, j = 0..N-1): a
// sample at k-space position kappa (units of 1/FOV_encoded, trapezoid.hpp) of the 1D readout profile x is
//   s(kappa) = N^-1/2 sum_j x_j exp(-2 pi i kappa (j - N/2) / N)          (the row of fftc at kappa)
// i.e. s = E x with E (Ns x N). On integer kappa = m - N/2 this is exactly fftc, so uniform samples need no
// interpolation. Ramp sampling leaves the flat top sparser than the Nyquist step of the encoded FOV (the ADC
// window spans N steps with Ns = N samples, the ramps taking the denser share); readout oversampling
// (encoded FOV = 2 x recon FOV) is what makes the inverse well posed. So the inverse is a Tikhonov-
// regularised least squares with a weight per pixel: small inside the recon FOV (support), large in the
// oversampling margins where no signal is expected:
//   x = (E^H E + diag(w))^-1 E^H s,   w_j = lambda_inside (|j - N/2| < support N / 2), lambda_outside else,
// which keeps the noise gain inside the FOV near 1 (1.05 for the 2.89 T Siemens ep2d_bold readout of
// data/scans) and the error of an object inside the FOV at about lambda_inside. The matrix R =
// (E^H E + W)^-1 E^H (N x Ns) is computed once per (trajectory, samples) in double precision and applied
// in float: rows of samples -> rows of readout *image* values (hybrid x space), where the Nyquist-ghost
// phase is applied (ghost_correction.hpp); to_kspace goes on to the uniform k-space grid with fftc.
// Uniform positions (no ramps) give R = E^H exactly (w = 0). A ramp_regridder is immutable after
// construction; to_image is thread-safe.
// Fused k-space matrix (the corrector's fast path): samples -> readout image -> times a phase p(x) (the
// Nyquist correction) -> fftc along x is linear in the samples, so it is one (Ns x N) matrix
//   K = R^T diag(p) F^T,  row n of K = fftc(row n of R^T times p),
// built in double from R (Ns FFTs of N points, ~0.1 ms at N = 192) and applied to many readouts x coils by
// one product (kernels/packed_product.hpp, rows over the threads): no per-readout FFT, phase table or allocation.
#pragma once

#include <cmath>
#include <complex>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/core/error.hpp"
#include "larmor/fft/fft.hpp"
#include "larmor/kernels/dense_decompositions.hpp"
#include "larmor/kernels/packed_product.hpp"

namespace larmor::epi {

struct regrid_options {
  double support = 1.0;          // fraction of the encoded FOV (centred) that holds the object: recon/encoded FOV
  double lambda_inside = 1e-4;   // Tikhonov weight inside the support (E is scaled so that E^H E ~ I)
  double lambda_outside = 1e-1;  // ... in the readout-oversampling margins
};

class ramp_regridder {
 public:
  ramp_regridder() = default;

  // positions: kappa_n of the Ns samples of a readout in recording order (units of the grid step, k = 0 at 0);
  // grid: N, the uniform readout grid (the encoded matrix x).
  ramp_regridder(const std::vector<double>& positions, index_t grid, const regrid_options& opt = {})
      : ns_(static_cast<index_t>(positions.size())), n_(grid) {
    LARMOR_CHECK_ARG(ns_ >= 1 && n_ >= 2, "ramp_regridder: ", ns_, " samples onto a grid of ", n_);
    LARMOR_CHECK_ARG(opt.support > 0 && opt.support <= 1 && opt.lambda_inside >= 0 && opt.lambda_outside >= 0,
                     "ramp_regridder: support ", opt.support, " must lie in (0, 1], lambdas >= 0");
    for (double k : positions)
      LARMOR_CHECK_DATA(std::isfinite(k), "ramp_regridder: non-finite k-space position");
    using cd = std::complex<double>;
    const double pi = 3.14159265358979323846, inv_sqrt = 1.0 / std::sqrt(static_cast<double>(n_));
    // E (Ns x N): E[s, j] = exp(-2 pi i kappa_s (j - N/2) / N) / sqrt(N).
    std::vector<cd> e(static_cast<std::size_t>(ns_ * n_));
    for (index_t s = 0; s < ns_; ++s)
      for (index_t j = 0; j < n_; ++j)
        e[static_cast<std::size_t>(s * n_ + j)] =
            std::polar(inv_sqrt, -2 * pi * positions[static_cast<std::size_t>(s)] * static_cast<double>(j - n_ / 2) /
                                     static_cast<double>(n_));
    bool uniform = ns_ == n_;
    for (index_t s = 0; s < ns_ && uniform; ++s)
      uniform = std::abs(positions[static_cast<std::size_t>(s)] - static_cast<double>(s - n_ / 2)) < 1e-9;
    std::vector<cd> r(e.size());  // R (N x Ns)
    if (uniform) {
      for (index_t s = 0; s < ns_; ++s)
        for (index_t j = 0; j < n_; ++j)
          r[static_cast<std::size_t>(j * ns_ + s)] = std::conj(e[static_cast<std::size_t>(s * n_ + j)]);
    } else {
      std::vector<double> lambda(static_cast<std::size_t>(n_));
      const double half = 0.5 * opt.support * static_cast<double>(n_);
      for (index_t j = 0; j < n_; ++j)
        lambda[static_cast<std::size_t>(j)] =
            std::abs(static_cast<double>(j - n_ / 2)) < half ? opt.lambda_inside : opt.lambda_outside;
      kernels::tikhonov_inverse(ns_, n_, e.data(), lambda.data(), r.data());
    }
    m_ = array<cfloat, 2>(extents<2>{ns_, n_}, uninitialized);  // R^T: out = in * R^T
    rt_ = array<cd, 2>(extents<2>{ns_, n_}, uninitialized);
    for (index_t s = 0; s < ns_; ++s)
      for (index_t j = 0; j < n_; ++j)
        rt_(s, j) = r[static_cast<std::size_t>(j * ns_ + s)], m_(s, j) = cfloat(rt_(s, j));
    packed_.resize(kernels::packed_matrix_floats(ns_, n_));
    kernels::pack_matrix(m_.data(), ns_, n_, n_, packed_.data());
  }

  // K (Ns, count): a row vector of samples times K is the uniform k-space (fftc along x over `count` points)
  // of the readout image multiplied by phase[x] (N values; nullptr: no phase) and cropped to the image points
  // [first, first + count) — count < N removes the readout oversampling (the crop of a unitary pair keeps the
  // image values of the kept FOV). count = N, first = 0: the whole grid. See the header comment.
  array<cfloat, 2> fused_kspace_matrix(const std::complex<double>* phase, index_t first = 0,
                                       index_t count = -1) const {
    if (count < 0) count = n_;
    LARMOR_CHECK_ARG(first >= 0 && count >= 1 && first + count <= n_, "ramp_regridder::fused_kspace_matrix: ",
                     "image points [", first, ", ", first + count, ") outside the grid of ", n_);
    // fftc(v) = fftshift(fft(ifftshift(v))) / sqrt(count) along rows, by hand around one unnormalised FFTW
    // transform on a single thread: the corrector calls this a few times per slice and repetition, and an
    // OpenMP-threaded FFT there cost more CPU in spinning worker threads than the whole product.
    const index_t h = count / 2;
    std::vector<std::complex<double>> k(static_cast<std::size_t>(ns_ * count));
    for (index_t s = 0; s < ns_; ++s) {
      std::complex<double>* row = k.data() + s * count;
      for (index_t j = 0; j < count; ++j) {
        const index_t src = first + (j + h < count ? j + h : j + h - count);  // ifftshift
        row[j] = phase ? rt_(s, src) * phase[src] : rt_(s, src);
      }
    }
    detail::execute_dft_inplace<double>({ns_, count}, 2u, FFTW_FORWARD, k.data(), 1);
    const double scale = 1.0 / std::sqrt(static_cast<double>(count));
    array<cfloat, 2> out(extents<2>{ns_, count}, uninitialized);
    for (index_t s = 0; s < ns_; ++s) {
      const std::complex<double>* row = k.data() + s * count;
      cfloat* o = &out(s, 0);
      for (index_t m = 0; m < count; ++m)  // fftshift: out[(m + count/2) % count] = fft[m]
        o[m + h < count ? m + h : m + h - count] = cfloat(row[m] * scale);
    }
    return out;
  }

  index_t samples() const { return ns_; }
  index_t grid() const { return n_; }
  // (Ns, N): a row vector of samples times this is the readout image.
  const array<cfloat, 2>& matrix() const { return m_; }

  // rows x Ns samples (row r at in + r * ld_in) -> rows x N readout image values (contiguous) at out.
  // larmor's packed SIMD product (kernels/packed_product.hpp; the matrix packed once at construction):
  // no BLAS on the per-readout path, and calls from several threads run at once.
  void to_image(const cfloat* in, index_t rows, index_t ld_in, cfloat* out) const {
    kernels::packed_product(rows, n_, ns_, in, ld_in, packed_.data(), out, n_);
  }

  // (rows, Ns) samples -> (rows, N) uniform k-space (fftc of the readout image along x).
  array<cfloat, 2> to_kspace(strided_view<const cfloat, 2> in) const {
    LARMOR_CHECK_ARG(in.shape(1) == ns_ && in.stride(1) == 1, "ramp_regridder::to_kspace: rows of ", in.shape(1),
                     " samples with stride ", in.stride(1), ", expected ", ns_, " contiguous");
    array<cfloat, 2> out(extents<2>{in.shape(0), n_}, uninitialized);
    to_image(in.data(), in.shape(0), in.stride(0), out.data());
    fftc_inplace(out.view(), {1});
    return out;
  }

 private:
  index_t ns_ = 0, n_ = 0;
  array<cfloat, 2> m_;
  std::vector<float> packed_;           // m_ packed for kernels::packed_product
  array<std::complex<double>, 2> rt_;  // R^T in double, for the fused matrices
};

}  // namespace larmor::epi
