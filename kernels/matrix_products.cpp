// Complex matrix products on OpenBLAS (include/larmor/kernels/matrix_products.hpp).
#include "larmor/kernels/matrix_products.hpp"

#include <cblas.h>

#include <mutex>

namespace larmor::kernels {

namespace {
// Debian's single-threaded OpenBLAS is built without USE_LOCKING: two threads inside it at once share
// its buffer pool and corrupt each other's results (seen as a run-to-run difference of a GRAPPA fill).
// One call at a time; larmor calls these from one thread anyway, the lock covers concurrent users
// (e.g. two Python threads reconstructing at once).
std::mutex& blas_mutex() {
  static std::mutex m;
  return m;
}
}  // namespace

void cgemm(bool conj_a, std::ptrdiff_t m, std::ptrdiff_t n, std::ptrdiff_t k, const std::complex<float>* a,
           std::ptrdiff_t lda, const std::complex<float>* b, std::ptrdiff_t ldb, float beta, std::complex<float>* c,
           std::ptrdiff_t ldc) noexcept {
  if (m <= 0 || n <= 0) return;
  const std::lock_guard<std::mutex> lock(blas_mutex());
  const std::complex<float> one(1.f, 0.f), b0(beta, 0.f);
  cblas_cgemm(CblasRowMajor, conj_a ? CblasConjTrans : CblasNoTrans, CblasNoTrans, static_cast<blasint>(m),
              static_cast<blasint>(n), static_cast<blasint>(k), &one, a, static_cast<blasint>(lda), b,
              static_cast<blasint>(ldb), &b0, c, static_cast<blasint>(ldc));
}

void gram_lower(std::ptrdiff_t n, std::ptrdiff_t k, const std::complex<float>* a, std::ptrdiff_t lda,
                std::complex<float>* c, std::ptrdiff_t ldc) noexcept {
  if (n <= 0) return;
  const std::lock_guard<std::mutex> lock(blas_mutex());
  cblas_cherk(CblasRowMajor, CblasLower, CblasConjTrans, static_cast<blasint>(n), static_cast<blasint>(k), 1.f, a,
              static_cast<blasint>(lda), 0.f, c, static_cast<blasint>(ldc));
}

}  // namespace larmor::kernels
