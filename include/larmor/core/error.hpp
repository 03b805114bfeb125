// larmor/core/error.hpp — the library's exception types and the checks that throw them.
//
// Every failure the library can detect is reported by throwing:
//   larmor::Error            base (derived from std::runtime_error)
//   larmor::InvalidArgument  a caller passed a wrong shape, axis, parameter value (Python: ValueError)
//   larmor::DataError        the data itself is unusable: NaN/Inf, malformed files, missing calibration
//                            (Python: RuntimeError)
// Messages name the argument, the expected and the actual value. Nothing in the library calls
// abort/exit or prints.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace larmor {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class InvalidArgument : public Error {
 public:
  using Error::Error;
};

class DataError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}
}  // namespace detail

}  // namespace larmor

// LARMOR_CHECK_ARG(cond, "grappa: acs has ", n, " coils, expected ", m) throws InvalidArgument.
#define LARMOR_CHECK_ARG(cond, ...)                                              \
  do {                                                                           \
    if (!(cond)) throw ::larmor::InvalidArgument(::larmor::detail::concat(__VA_ARGS__)); \
  } while (0)

// LARMOR_CHECK_DATA(cond, "read_cfl: ", path, " is truncated") throws DataError.
#define LARMOR_CHECK_DATA(cond, ...)                                             \
  do {                                                                           \
    if (!(cond)) throw ::larmor::DataError(::larmor::detail::concat(__VA_ARGS__)); \
  } while (0)
