// Orthogonal iteration on small Hermitian matrices (include/larmor/coils/small_hermitian.hpp), compiled once here.
#include "larmor/coils/small_hermitian.hpp"

#include <algorithm>

namespace larmor::detail {

int dominant_eigenvectors(const cfloat* m, index_t n, index_t nvec, cfloat* q, float* lambda,
                                 eig_workspace& ws, int max_iter, double tol) {
  if (!orthonormalize(q, n, nvec)) {
    // Restart from unit vectors.
    std::fill(q, q + n * nvec, cfloat(0.f, 0.f));
    for (index_t j = 0; j < nvec; ++j) q[j * n + j] = 1.f;
  }
  cfloat* z = ws.z.data();
  int it = 0;
  for (; it < max_iter; ++it) {
    for (index_t j = 0; j < nvec; ++j) matvec(m, q + j * n, z + j * n, n);
    if (!orthonormalize(z, n, nvec)) {
      std::fill(q, q + n * nvec, cfloat(0.f, 0.f));
      std::fill(lambda, lambda + nvec, 0.f);
      return it + 1;
    }
    double overlap = 0;
    for (index_t i = 0; i < nvec; ++i)
      for (index_t j = 0; j < nvec; ++j) overlap += std::norm(dot(q + i * n, z + j * n, n));
    std::copy(z, z + n * nvec, q);
    if (static_cast<double>(nvec) - overlap < tol) {
      ++it;
      break;
    }
  }
  // Rayleigh-Ritz: T = Q^H M Q.
  if (nvec == 1) {
    matvec(m, q, z, n);
    lambda[0] = static_cast<float>(std::real(dot(q, z, n)));
    return it;
  }
  for (index_t j = 0; j < nvec; ++j) matvec(m, q + j * n, z + j * n, n);
  std::vector<std::complex<double>> t(static_cast<std::size_t>(nvec * nvec)), vectors(t.size());
  std::vector<double> values(static_cast<std::size_t>(nvec));
  for (index_t i = 0; i < nvec; ++i)
    for (index_t j = 0; j < nvec; ++j) t[static_cast<std::size_t>(i * nvec + j)] = dot(q + i * n, z + j * n, n);
  kernels::hermitian_eigen(nvec, t.data(), values.data(), vectors.data());
  std::vector<cfloat> rot(static_cast<std::size_t>(n * nvec), cfloat(0.f, 0.f));
  for (index_t j = 0; j < nvec; ++j) {
    const index_t src = nvec - 1 - j;  // descending eigenvalues
    lambda[j] = static_cast<float>(values[static_cast<std::size_t>(src)]);
    for (index_t i = 0; i < nvec; ++i) {
      const auto w = std::complex<float>(vectors[static_cast<std::size_t>(i * nvec + src)]);
      for (index_t c = 0; c < n; ++c) rot[static_cast<std::size_t>(j * n + c)] += w * q[i * n + c];
    }
  }
  std::copy(rot.begin(), rot.end(), q);
  return it;
}

}  // namespace larmor::detail
