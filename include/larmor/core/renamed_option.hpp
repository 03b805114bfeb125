// larmor/core/renamed_option.hpp — an option field kept under its old name for one release after a rename.
//
// The options of every algorithm share one vocabulary (docs/api.md, "One vocabulary for options"): `iters`
// for an iteration limit, `tol` for a relative stopping tolerance, `reg` for a Tikhonov weight, and so on.
// Where an options struct used another spelling, the field was renamed and the old name stays as a
// renamed_option<T> for one release: assigning it still works (and wins over the new field), with a
// compiler deprecation warning that names the change; reading it gives what was assigned.
//   struct cg_options { int iters = 30; renamed_option<int> max_iter; };   // max_iter -> iters
//   o.max_iter = 50;   // warning: deprecated; the solver runs 50 iterations
// The library reads the pair with `o.max_iter.or_value(o.iters)`. Copying a struct warns about nothing.
#pragma once

#include <optional>

namespace larmor {

template <class T>
class renamed_option {
 public:
  renamed_option() = default;
  [[deprecated("this option was renamed (the options struct's comment gives the new name); the old name goes in 0.2")]]
  renamed_option& operator=(T v) {
    value_ = v;
    return *this;
  }
  [[deprecated("this option was renamed (the options struct's comment gives the new name); the old name goes in 0.2")]]
  operator T() const {
    return value_.value_or(T{});
  }
  // The assigned value, else `current` (the field under its new name).
  T or_value(T current) const { return value_.value_or(current); }
  bool assigned() const { return value_.has_value(); }

 private:
  std::optional<T> value_;
};

}  // namespace larmor
