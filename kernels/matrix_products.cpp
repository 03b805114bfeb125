// Complex matrix products on OpenBLAS (include/larmor/kernels/matrix_products.hpp).
#include "larmor/kernels/matrix_products.hpp"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <mutex>
#include <vector>

extern "C" {
// LAPACK (Fortran interface, 32-bit integers: Debian's OpenBLAS); the trailing size_t are the hidden
// lengths of the character arguments (gfortran calling convention).
void cheevd_(const char* jobz, const char* uplo, const int* n, std::complex<float>* a, const int* lda, float* w,
             std::complex<float>* work, const int* lwork, float* rwork, const int* lrwork, int* iwork,
             const int* liwork, int* info, std::size_t, std::size_t);
void cgeqrf_(const int* m, const int* n, std::complex<float>* a, const int* lda, std::complex<float>* tau,
             std::complex<float>* work, const int* lwork, int* info);
void cungqr_(const int* m, const int* n, const int* k, std::complex<float>* a, const int* lda,
             const std::complex<float>* tau, std::complex<float>* work, const int* lwork, int* info);
void cpotrf_(const char* uplo, const int* n, std::complex<float>* a, const int* lda, int* info, std::size_t);
void cpotrs_(const char* uplo, const int* n, const int* nrhs, const std::complex<float>* a, const int* lda,
             std::complex<float>* b, const int* ldb, int* info, std::size_t);
}

namespace larmor::kernels {

namespace {
// Debian's single-threaded OpenBLAS is built without USE_LOCKING: two threads inside it at once share
// its buffer pool and corrupt each other's results (seen as a run-to-run difference of a GRAPPA fill).
// One call at a time; larmor calls these from one thread anyway, the lock covers concurrent users
// (e.g. two Python threads reconstructing at once).
//
// OpenBLAS's kernels are the ones it chose for this CPU (or that OPENBLAS_CORETYPE names): larmor never
// changes that choice. (Earlier versions re-selected OpenBLAS's kernels on the first call with setenv and
// gotoblas_dynamic_quit/init: a process-wide change under a host -- numpy in the same process -- that may
// be inside OpenBLAS at that moment, and machines set OPENBLAS_CORETYPE precisely where some kernels
// compute wrong results.) The hot products run on larmor's own SIMD kernels (packed_product.hpp); what
// stays here runs once per calibration.
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

void gram_rows_lower(std::ptrdiff_t m, std::ptrdiff_t k, const std::complex<float>* a, std::ptrdiff_t lda,
                     std::complex<float>* c, std::ptrdiff_t ldc) noexcept {
  if (m <= 0) return;
  const std::lock_guard<std::mutex> lock(blas_mutex());
  cblas_cherk(CblasRowMajor, CblasLower, CblasNoTrans, static_cast<blasint>(m), static_cast<blasint>(k), 1.f, a,
              static_cast<blasint>(lda), 0.f, c, static_cast<blasint>(ldc));
}

bool hermitian_eig(std::ptrdiff_t n, std::complex<float>* a, float* w) noexcept {
  if (n <= 0) return true;
  if (n > 30000) return false;  // 2 n^2 workspace beyond 32-bit LAPACK sizes
  // Row-major lower triangle = column-major upper triangle of A^T = conj(A): cheevd on conj(A) returns
  // column j = conj(v_j) (column-major), i.e. row j of the row-major buffer; one conjugation gives v_j.
  const int ni = static_cast<int>(n);
  int info = 0, lwork = -1, lrwork = -1, liwork = -1, iw = 0;
  constexpr std::size_t pad = 1024;  // elements of slack after every LAPACK buffer (see below)
  std::complex<float> wq;
  float rq = 0;
  try {
    const std::lock_guard<std::mutex> lock(blas_mutex());
    cheevd_("V", "U", &ni, a, &ni, w, &wq, &lwork, &rq, &lrwork, &iw, &liwork, &info, 1, 1);
    if (info != 0) return false;
    // The float workspace sizes LAPACK returns round off above 2^24: take the documented minimums too.
    const long long nn = n;
    lwork = static_cast<int>(std::max<long long>(static_cast<long long>(wq.real()) + 1, 2 * nn + nn * nn));
    lrwork = static_cast<int>(std::max<long long>(static_cast<long long>(rq) + 1, 1 + 5 * nn + 2 * nn * nn));
    liwork = std::max(iw + 1, 3 + 5 * ni);
    std::vector<std::complex<float>> work(static_cast<std::size_t>(lwork) + pad);
    std::vector<float> rwork(static_cast<std::size_t>(lrwork) + 2 * pad);
    std::vector<int> iwork(static_cast<std::size_t>(liwork) + 2 * pad);
    // The matrix goes through a padded copy: Debian's OpenBLAS 0.3.21 Haswell cgemv kernel (called by
    // chetrd/clatrd) reads past the end of the trailing submatrix; on a buffer that ends at a page
    // boundary that segfaulted (about half the runs of the 16-coil ESPIRiT with 2 threads).
    std::vector<std::complex<float>> m(static_cast<std::size_t>(n * n) + pad);
    std::copy(a, a + n * n, m.data());
    std::vector<float> ev(static_cast<std::size_t>(n) + pad);
    cheevd_("V", "U", &ni, m.data(), &ni, ev.data(), work.data(), &lwork, rwork.data(), &lrwork, iwork.data(), &liwork,
            &info, 1, 1);
    std::copy(m.data(), m.data() + n * n, a);
    std::copy(ev.data(), ev.data() + n, w);
  } catch (...) {  // workspace allocation
    return false;
  }
  if (info != 0) return false;
  for (std::ptrdiff_t i = 0; i < n * n; ++i) a[i] = std::conj(a[i]);
  return true;
}

bool orthonormalize_columns(std::ptrdiff_t m, std::ptrdiff_t n, std::complex<float>* a, std::ptrdiff_t lda) noexcept {
  if (m <= 0 || n <= 0) return true;
  if (n > m || m * n > (std::ptrdiff_t{1} << 30)) return false;
  const int mi = static_cast<int>(m), ni = static_cast<int>(n);
  int info = 0;
  try {
    std::vector<std::complex<float>> c(static_cast<std::size_t>(m * n)), tau(static_cast<std::size_t>(n));
    for (std::ptrdiff_t i = 0; i < m; ++i)
      for (std::ptrdiff_t j = 0; j < n; ++j) c[static_cast<std::size_t>(j * m + i)] = a[i * lda + j];
    const int lwork = std::max(1, ni * 64);
    std::vector<std::complex<float>> work(static_cast<std::size_t>(lwork));
    const std::lock_guard<std::mutex> lock(blas_mutex());
    cgeqrf_(&mi, &ni, c.data(), &mi, tau.data(), work.data(), &lwork, &info);
    if (info != 0) return false;
    cungqr_(&mi, &ni, &ni, c.data(), &mi, tau.data(), work.data(), &lwork, &info);
    if (info != 0) return false;
    for (std::ptrdiff_t i = 0; i < m; ++i)
      for (std::ptrdiff_t j = 0; j < n; ++j) a[i * lda + j] = c[static_cast<std::size_t>(j * m + i)];
  } catch (...) {
    return false;
  }
  return true;
}

bool cholesky_solve(std::ptrdiff_t n, std::ptrdiff_t nrhs, std::complex<float>* g, std::complex<float>* b) noexcept {
  if (n <= 0 || nrhs <= 0) return true;
  if (n > 40000) return false;
  // Column-major, the row-major lower triangle of G is the upper triangle of conj(G): factor conj(G),
  // solve conj(G) conj(X) = conj(B) with conj(B) stored column-major (n x nrhs), conjugate back.
  const int ni = static_cast<int>(n), ri = static_cast<int>(nrhs);
  int info = 0;
  try {
    std::vector<std::complex<float>> cb(static_cast<std::size_t>(n * nrhs));
    for (std::ptrdiff_t i = 0; i < n; ++i)
      for (std::ptrdiff_t j = 0; j < nrhs; ++j) cb[static_cast<std::size_t>(j * n + i)] = std::conj(b[i * nrhs + j]);
    const std::lock_guard<std::mutex> lock(blas_mutex());
    cpotrf_("U", &ni, g, &ni, &info, 1);
    if (info != 0) return false;
    cpotrs_("U", &ni, &ri, g, &ni, cb.data(), &ni, &info, 1);
    if (info != 0) return false;
    for (std::ptrdiff_t i = 0; i < n; ++i)
      for (std::ptrdiff_t j = 0; j < nrhs; ++j) b[i * nrhs + j] = std::conj(cb[static_cast<std::size_t>(j * n + i)]);
  } catch (...) {
    return false;
  }
  return true;
}

}  // namespace larmor::kernels
