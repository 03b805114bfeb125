// larmor/ops/compose.hpp — building blocks for combining linear operators (docs/design.md, "Operators,
// proximal maps, solvers"): the identity, a product B A (applied right to left) and a vertical stack
// [A_1; A_2; ...] (outputs concatenated, normal = sum_i A_i^H A_i).
// Operators are referenced, not copied (they must outlive the combination). Work buffers are kept, so a
// combination is not for two threads at once.
#pragma once

#include <algorithm>
#include <vector>

#include "larmor/core/error.hpp"
#include "larmor/ops/linear_operator.hpp"

namespace larmor {

class identity_operator : public linear_operator<cfloat> {
 public:
  explicit identity_operator(index_t n) : n_(n) {}
  index_t input_size() const override { return n_; }
  index_t output_size() const override { return n_; }
  void apply(const cfloat* x, cfloat* y) const override { std::copy(x, x + n_, y); }
  void adjoint(const cfloat* y, cfloat* x) const override { std::copy(y, y + n_, x); }
  void normal(const cfloat* x, cfloat* y) const override { std::copy(x, x + n_, y); }

 private:
  index_t n_;
};

// y = B (A x); adjoint A^H (B^H y).
class composed_operator : public linear_operator<cfloat> {
 public:
  composed_operator(const linear_operator<cfloat>& B, const linear_operator<cfloat>& A) : B_(B), A_(A) {
    LARMOR_CHECK_ARG(B.input_size() == A.output_size(), "composed_operator: B takes ", B.input_size(),
                     " samples but A gives ", A.output_size());
    mid_.resize(static_cast<std::size_t>(A.output_size()));
  }
  index_t input_size() const override { return A_.input_size(); }
  index_t output_size() const override { return B_.output_size(); }
  void apply(const cfloat* x, cfloat* y) const override {
    const single_user_scope one(user_, "composed_operator");
    A_.apply(x, mid_.data());
    B_.apply(mid_.data(), y);
  }
  void adjoint(const cfloat* y, cfloat* x) const override {
    const single_user_scope one(user_, "composed_operator");
    B_.adjoint(y, mid_.data());
    A_.adjoint(mid_.data(), x);
  }

 private:
  const linear_operator<cfloat>& B_;
  const linear_operator<cfloat>& A_;
  mutable std::vector<cfloat> mid_;
  single_user_flag user_;
};

// y = [A_1 x; A_2 x; ...]; normal = sum_i A_i^H A_i x (each through its own normal()).
class stacked_operator : public linear_operator<cfloat> {
 public:
  explicit stacked_operator(std::vector<const linear_operator<cfloat>*> ops) : ops_(std::move(ops)) {
    LARMOR_CHECK_ARG(!ops_.empty(), "stacked_operator: no operators");
    for (auto* o : ops_) {
      LARMOR_CHECK_ARG(o->input_size() == ops_[0]->input_size(), "stacked_operator: input sizes differ");
      m_ += o->output_size();
    }
    tmp_.resize(static_cast<std::size_t>(ops_[0]->input_size()));
  }
  index_t input_size() const override { return ops_[0]->input_size(); }
  index_t output_size() const override { return m_; }
  void apply(const cfloat* x, cfloat* y) const override {
    for (auto* o : ops_) {
      o->apply(x, y);
      y += o->output_size();
    }
  }
  void adjoint(const cfloat* y, cfloat* x) const override { accumulate(x, [&](const linear_operator<cfloat>* o, cfloat* t) { o->adjoint(y, t); y += o->output_size(); }); }
  void normal(const cfloat* x, cfloat* out) const override {
    accumulate(out, [&](const linear_operator<cfloat>* o, cfloat* t) { o->normal(x, t); });
  }

 private:
  template <class F>
  void accumulate(cfloat* out, F&& f) const {
    const single_user_scope one(user_, "stacked_operator");
    const index_t n = input_size();
    f(ops_[0], out);
    for (std::size_t i = 1; i < ops_.size(); ++i) {
      f(ops_[i], tmp_.data());
      for (index_t j = 0; j < n; ++j) out[j] += tmp_[static_cast<std::size_t>(j)];
    }
  }
  std::vector<const linear_operator<cfloat>*> ops_;
  index_t m_ = 0;
  mutable std::vector<cfloat> tmp_;
  single_user_flag user_;
};

}  // namespace larmor
