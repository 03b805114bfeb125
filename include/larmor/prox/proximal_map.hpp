// larmor/prox/proximal_map.hpp — the interface of a proximal map (docs/design.md, "Operators, proximal maps,
// solvers").
//
//   prox_{alpha g}(v) = argmin_z  1/2 ||z - v||_2^2 + alpha g(z)
//
// for a convex penalty g (its weight lambda is part of g: g = lambda R). Vectors are flat and contiguous
// (size() samples), in the element order of the operator the solver works with. out may equal in
// (in place); otherwise they must not overlap. apply is not const: a map may draw random numbers (cycle
// spinning) or keep work buffers, so one object must not be used from two threads at once.
#pragma once

#include "larmor/core/array.hpp"

namespace larmor {

template <class T = cfloat>
class proximal_map {
 public:
  using value_type = T;
  virtual ~proximal_map() = default;
  virtual index_t size() const = 0;
  virtual void apply(float alpha, const T* in, T* out) = 0;
  // g(x), the penalty's value (for objective reports and tests).
  virtual double value(const T* x) = 0;
};

}  // namespace larmor
