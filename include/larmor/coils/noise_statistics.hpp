// larmor/coils/noise_statistics.hpp — what a scan's noise readouts say about its receive chain: the noise
// level per coil and how strongly the coils' noise is coupled, accumulated one readout at a time (so
// `larmor info` can describe a file of any size in the memory of one readout).
//
// With n the (coils) noise sample vector, over N samples:
//     Psi       = (1 / N) sum n n^H                   (noise covariance, complex double)
//     sigma_c   = sqrt(Psi_cc)                        (complex standard deviation: E|n_c|^2 = sigma_c^2)
//     rho_ij    = Psi_ij / sqrt(Psi_ii Psi_jj)        (correlation coefficient; |rho| <= 1)
// Reported: sigma per coil, the largest |rho_ij| (i != j) with its pair, and the mean |rho_ij| over pairs.
// (Kellman P, McVeigh ER. MRM 54:1439 (2005): Psi is what pre-whitening and SNR units rest on.)
#pragma once

#include <cmath>
#include <complex>
#include <vector>

#include "larmor/core/view.hpp"
#include "larmor/kernels/dense_decompositions.hpp"

namespace larmor {

struct noise_statistics {
  index_t samples = 0;            // per coil
  std::vector<double> sigma;      // per coil
  double max_correlation = 0;     // the largest |rho_ij|, i != j
  index_t max_pair_i = 0, max_pair_j = 0;
  double mean_correlation = 0;    // mean |rho_ij| over the pairs i < j
};

class noise_statistics_accumulator {
 public:
  // One noise readout (coils, samples). The coil count is fixed by the first readout; a readout with
  // another count (or none) is left out and counted (other_coils()), as describing a file must not fail.
  void add(strided_view<const cfloat, 2> noise) {
    const index_t nc = noise.shape(0), m = noise.shape(1);
    if (nc < 1 || (nc_ != 0 && nc != nc_)) {
      ++other_coils_;
      return;
    }
    if (nc_ == 0) {
      nc_ = nc;
      psi_.assign(static_cast<std::size_t>(nc * nc), 0.0);
    }
    // The samples finite in every coil, as a dense (coils, m') block, and their Gram matrix added to Psi.
    std::vector<cfloat> dense;
    dense.reserve(static_cast<std::size_t>(nc * m));
    std::vector<index_t> keep;
    for (index_t s = 0; s < m; ++s) {
      bool finite = true;
      for (index_t c = 0; c < nc; ++c) finite = finite && std::isfinite(noise(c, s).real()) && std::isfinite(noise(c, s).imag());
      if (finite)
        keep.push_back(s);
      else
        ++skipped_;
    }
    const index_t k = static_cast<index_t>(keep.size());
    if (k == 0) return;
    for (index_t c = 0; c < nc; ++c)
      for (index_t s : keep) dense.push_back(noise(c, s));
    std::vector<std::complex<double>> g(static_cast<std::size_t>(nc * nc));
    kernels::gram_rows_double(nc, k, dense.data(), g.data());
    for (std::size_t i = 0; i < g.size(); ++i) psi_[i] += g[i];
    samples_ += k;
  }
  index_t samples() const { return samples_; }
  index_t skipped() const { return skipped_; }  // samples left out for a NaN/Inf in some coil
  index_t other_coils() const { return other_coils_; }  // readouts left out for their coil count

  noise_statistics result() const {
    noise_statistics r;
    r.samples = samples_;
    if (samples_ == 0) return r;
    const auto at = [&](index_t i, index_t j) { return psi_[static_cast<std::size_t>(i * nc_ + j)] / double(samples_); };
    for (index_t c = 0; c < nc_; ++c) r.sigma.push_back(std::sqrt(at(c, c).real()));
    double sum = 0;
    index_t pairs = 0;
    for (index_t i = 1; i < nc_; ++i)
      for (index_t j = 0; j < i; ++j) {
        const double d = std::sqrt(at(i, i).real() * at(j, j).real());
        const double rho = d > 0 ? std::abs(at(i, j)) / d : 0.0;
        sum += rho, ++pairs;
        if (rho > r.max_correlation) r.max_correlation = rho, r.max_pair_i = j, r.max_pair_j = i;
      }
    r.mean_correlation = pairs > 0 ? sum / double(pairs) : 0.0;
    return r;
  }

 private:
  index_t nc_ = 0, samples_ = 0, skipped_ = 0, other_coils_ = 0;
  std::vector<std::complex<double>> psi_;  // sum n n^H
};

}  // namespace larmor
