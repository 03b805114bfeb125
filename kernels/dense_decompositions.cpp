// The dense decompositions of include/larmor/kernels/dense_decompositions.hpp, on Eigen 3.4.
// Each function copies its row-major input into the Eigen matrix the routine works on and copies the
// result back; the sizes are coils (<= ~100), kernel sources or frames, so the copies are negligible.
#include "larmor/kernels/dense_decompositions.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>

namespace larmor::kernels {

namespace {
using cf = std::complex<float>;
using cd = std::complex<double>;
using row_major_cf = Eigen::Matrix<cf, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using row_major_cd = Eigen::Matrix<cd, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

Eigen::MatrixXcd load(std::ptrdiff_t m, std::ptrdiff_t n, const cd* a) { return Eigen::Map<const row_major_cd>(a, m, n); }
void store(const Eigen::MatrixXcd& x, cd* out) { Eigen::Map<row_major_cd>(out, x.rows(), x.cols()) = x; }
}  // namespace

void gram_rows_single(std::ptrdiff_t m, std::ptrdiff_t k, const cf* a, cd* c) {
  const Eigen::Map<const row_major_cf> x(a, m, k);
  store((x * x.adjoint()).cast<cd>(), c);
}

void gram_rows_double(std::ptrdiff_t m, std::ptrdiff_t k, const cf* a, cd* c) {
  const Eigen::Map<const row_major_cf> x(a, m, k);
  const Eigen::MatrixXcd xd = x.cast<cd>();
  store(xd * xd.adjoint(), c);
}

void hermitian_eigen(std::ptrdiff_t n, const cd* a, double* w, cd* v) {
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXcd> es(load(n, n, a),
                                                           v ? Eigen::ComputeEigenvectors : Eigen::EigenvaluesOnly);
  Eigen::Map<Eigen::VectorXd>(w, n) = es.eigenvalues();
  if (v) store(es.eigenvectors(), v);
}

bool cholesky_lower_inverse(std::ptrdiff_t n, const cd* a, cd* linv) {
  const Eigen::LLT<Eigen::MatrixXcd> llt(load(n, n, a));
  if (llt.info() != Eigen::Success) return false;
  store(llt.matrixL().solve(Eigen::MatrixXcd::Identity(n, n)), linv);
  return true;
}

bool ldlt_solve(std::ptrdiff_t n, std::ptrdiff_t nrhs, const cf* g, const cf* b, cf* x) {
  const Eigen::LDLT<row_major_cf, Eigen::Lower> ldlt(Eigen::Map<const row_major_cf>(g, n, n));
  if (ldlt.info() != Eigen::Success) return false;
  Eigen::Map<row_major_cf>(x, n, nrhs) = ldlt.solve(Eigen::Map<const row_major_cf>(b, n, nrhs));
  return true;
}

void tikhonov_inverse(std::ptrdiff_t m, std::ptrdiff_t n, const cd* e, const double* d, cd* r) {
  const Eigen::MatrixXcd em = load(m, n, e);
  Eigen::MatrixXcd normal = em.adjoint() * em;
  for (std::ptrdiff_t j = 0; j < n; ++j) normal(j, j) += d[j];
  store(normal.ldlt().solve(em.adjoint()), r);
}

void procrustes_align(std::ptrdiff_t m, std::ptrdiff_t n, const cf* ref, cf* a) {
  Eigen::Map<row_major_cf> am(a, m, n);
  const Eigen::Map<const row_major_cf> bm(ref, m, n);
  const Eigen::MatrixXcd p = bm.cast<cd>() * am.cast<cd>().adjoint();
  // Jacobi SVD: m x m is small, and BDCSVD<complex> is the heaviest template Eigen has.
  const Eigen::JacobiSVD<Eigen::MatrixXcd> svd(p, Eigen::ComputeFullU | Eigen::ComputeFullV);
  const Eigen::MatrixXcd q = svd.matrixU() * svd.matrixV().adjoint();
  const row_major_cf aligned = (q * am.cast<cd>()).cast<cf>();
  am = aligned;
}

void singular_value_threshold(std::ptrdiff_t m, std::ptrdiff_t n, cd* c, double t) {
  Eigen::MatrixXcd cm = load(m, n, c);
  const Eigen::MatrixXcd gram = cm.adjoint() * cm;
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXcd> es(gram);
  const Eigen::VectorXd& lambda = es.eigenvalues();
  Eigen::VectorXd f(lambda.size());
  for (Eigen::Index j = 0; j < lambda.size(); ++j) {
    const double sigma = std::sqrt(std::max(lambda[j], 0.0));
    f[j] = sigma > t ? 1 - t / sigma : 0.0;
  }
  const Eigen::MatrixXcd& v = es.eigenvectors();
  cm = (cm * v) * f.asDiagonal() * v.adjoint();
  store(cm, c);
}

double nuclear_norm(std::ptrdiff_t m, std::ptrdiff_t n, const cd* c) {
  return Eigen::JacobiSVD<Eigen::MatrixXcd>(load(m, n, c)).singularValues().sum();
}

}  // namespace larmor::kernels
