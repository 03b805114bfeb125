// larmor/coils/coil_covariance.hpp — the coil covariance X X^H of (coils, samples) data and its first
// principal component (the phase reference of ESPIRiT, Walsh and Inati maps), and the product of a coil
// mixing matrix with coil data (coil compression, ESPIRiT's virtual coils). The eigendecomposition is
// the compiled kernels::hermitian_eigen (kernels/dense_decompositions.hpp).
#pragma once

#include <algorithm>
#include <complex>
#include <vector>

#include "larmor/coils/small_hermitian.hpp"
#include "larmor/core/view.hpp"
#include "larmor/kernels/dense_decompositions.hpp"

namespace larmor::detail {

// Dominant eigenvector of the coil covariance sum_p x_p x_p^H of contiguous (coils, npix) data.
inline std::vector<cfloat> first_principal_component(const cfloat* x, index_t nc, index_t npix) {
  std::vector<std::complex<double>> cov(static_cast<std::size_t>(nc * nc)), vectors(cov.size());
  std::vector<double> values(static_cast<std::size_t>(nc));
  kernels::gram_rows_single(nc, npix, x, cov.data());
  kernels::hermitian_eigen(nc, cov.data(), values.data(), vectors.data());
  std::vector<cfloat> pc(static_cast<std::size_t>(nc));
  for (index_t c = 0; c < nc; ++c)  // the eigenvector of the largest eigenvalue: the last column
    pc[static_cast<std::size_t>(c)] = cfloat(vectors[static_cast<std::size_t>(c * nc + nc - 1)]);
  return pc;
}

// y[v, p] = sum_c a[v, c] x[c, p] for contiguous x (nc, npix) and y (nv, npix).
inline void apply_coil_matrix(const cfloat* a, const cfloat* x, cfloat* y, index_t nv, index_t nc, index_t npix,
                              index_t x_stride, index_t y_stride) {
  for (index_t v = 0; v < nv; ++v) {
    cfloat* dst = y + v * y_stride;
    std::fill(dst, dst + npix, cfloat(0.f, 0.f));
    for (index_t c = 0; c < nc; ++c) caxpy(a[v * nc + c], x + c * x_stride, dst, npix);
  }
}

}  // namespace larmor::detail
