// larmor/ops/linear_operator.hpp — the interface every linear operator of the operator / proximal /
// solver layer implements (docs/design.md, "Operators, proximal maps, solvers").
//
//   A : C^n -> C^m      apply:   y = A x        (x: input_size() elements, y: output_size())
//                       adjoint: x = A^H y
//                       normal:  z = A^H A x    (default: apply then adjoint through a work buffer;
//                                                operators with a cheaper normal form override it,
//                                                e.g. the Cartesian SENSE operator or a Toeplitz NUFFT)
// Vectors are flat and contiguous, in the operator's own element order (its documentation says which
// shape the flat vector stands for, e.g. ([z,] y, x) images or (coils, samples) data). Output buffers
// never alias inputs. The solvers (solvers/) see only this interface and proximal maps (prox/), never MRI
// types, so a new trajectory or penalty does not touch them.
//
// Threads: an operator brings its own parallelism inside apply/adjoint/normal. An operator object keeps
// work buffers and is for one thread at a time: those that write buffers in their const methods check it
// (core/single_user.hpp) and refuse a second thread with InvalidArgument. Make one per thread.
#pragma once

#include <complex>

#include "larmor/core/array.hpp"
#include "larmor/core/single_user.hpp"

namespace larmor {

template <class T = cfloat>
class linear_operator {
 public:
  using value_type = T;
  virtual ~linear_operator() = default;

  virtual index_t input_size() const = 0;   // n: elements of x
  virtual index_t output_size() const = 0;  // m: elements of y = A x
  virtual void apply(const T* x, T* y) const = 0;
  virtual void adjoint(const T* y, T* x) const = 0;
  virtual void normal(const T* x, T* out) const {
    const single_user_scope one(normal_user_, "linear_operator::normal");
    if (work_.size() != output_size()) work_ = array<T, 1>(extents<1>{output_size()}, uninitialized);
    apply(x, work_.data());
    adjoint(work_.data(), out);
  }

 private:
  mutable array<T, 1> work_;
  single_user_flag normal_user_;
};

}  // namespace larmor
