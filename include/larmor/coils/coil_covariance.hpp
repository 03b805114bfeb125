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
#include "larmor/kernels/packed_product.hpp"

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

// y[v, p] = sum_c a[v, c] x[c, p] for p < npix (a: nv x nc, row-major; rows of x x_stride apart, rows of y
// y_stride apart), on kernels::packed_product (SIMD, runtime dispatch): x is packed in chunks of 256
// samples, each chunk read before its outputs are written, so y may be x itself (in place) when nv <= nc.
// Single-threaded: callers split the samples over the threads. Pre-whitening a 64-coil volume is
// 64 x 64 complex multiply-adds per sample: ~8x faster here than one axpy per matrix entry.
inline void apply_coil_matrix(const cfloat* a, const cfloat* x, cfloat* y, index_t nv, index_t nc, index_t npix,
                              index_t x_stride, index_t y_stride) {
  constexpr index_t chunk = 256;
  thread_local std::vector<float> packed;
  packed.resize(kernels::packed_matrix_floats(nc, chunk));
  for (index_t p0 = 0; p0 < npix; p0 += chunk) {
    const index_t n = std::min(chunk, npix - p0);
    kernels::pack_matrix(x + p0, nc, n, x_stride, packed.data());
    kernels::packed_product(nv, n, nc, a, nc, packed.data(), y + p0, y_stride, false);
  }
}

}  // namespace larmor::detail
