// Complex matrix products on OpenBLAS (include/larmor/kernels/matrix_products.hpp).
#include "larmor/kernels/matrix_products.hpp"

#include <cblas.h>

namespace larmor::kernels {

void cgemm(bool conj_a, std::ptrdiff_t m, std::ptrdiff_t n, std::ptrdiff_t k, const std::complex<float>* a,
           std::ptrdiff_t lda, const std::complex<float>* b, std::ptrdiff_t ldb, float beta, std::complex<float>* c,
           std::ptrdiff_t ldc) noexcept {
  if (m <= 0 || n <= 0) return;
  const std::complex<float> one(1.f, 0.f), b0(beta, 0.f);
  cblas_cgemm(CblasRowMajor, conj_a ? CblasConjTrans : CblasNoTrans, CblasNoTrans, static_cast<blasint>(m),
              static_cast<blasint>(n), static_cast<blasint>(k), &one, a, static_cast<blasint>(lda), b,
              static_cast<blasint>(ldb), &b0, c, static_cast<blasint>(ldc));
}

void gram_lower(std::ptrdiff_t n, std::ptrdiff_t k, const std::complex<float>* a, std::ptrdiff_t lda,
                std::complex<float>* c, std::ptrdiff_t ldc) noexcept {
  if (n <= 0) return;
  cblas_cherk(CblasRowMajor, CblasLower, CblasConjTrans, static_cast<blasint>(n), static_cast<blasint>(k), 1.f, a,
              static_cast<blasint>(lda), 0.f, c, static_cast<blasint>(ldc));
}

}  // namespace larmor::kernels
