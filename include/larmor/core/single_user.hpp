// larmor/core/single_user.hpp — objects for one thread at a time, checked.
//
// Operators and NUFFT plans keep work buffers that their const methods write (the image a composed
// operator passes between its parts, a NUFFT's oversampled grid, a SENSE operator's coil batch), so one
// object must not be used by two threads at once: each thread makes its own (cheap next to a
// reconstruction). That rule used to live in comments only, and a host that shared an operator between
// threads got two silently wrong results. Now such a method opens a single_user_scope on the object's
// single_user_flag: a second thread that enters while another is inside gets larmor::InvalidArgument
// ("... used by two threads at once ...") and nothing is written. The thread inside may re-enter (a
// method that calls another of the same object). A copied object gets a free flag of its own.
// Cost: one compare-and-swap per call.
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "larmor/core/error.hpp"

namespace larmor {

class single_user_flag {
 public:
  single_user_flag() = default;
  single_user_flag(const single_user_flag&) noexcept {}
  single_user_flag& operator=(const single_user_flag&) noexcept { return *this; }

 private:
  friend class single_user_scope;
  mutable std::atomic<std::thread::id> owner_{std::thread::id{}};
  mutable int depth_ = 0;  // written by the owner only
};

class single_user_scope {
 public:
  // what: the object's type, for the message.
  single_user_scope(const single_user_flag& f, const char* what) : f_(f) {
    const auto me = std::this_thread::get_id();
    std::thread::id expected{};
    if (f.owner_.compare_exchange_strong(expected, me, std::memory_order_acquire)) {
      f.depth_ = 1;
      return;
    }
    if (expected == me) {
      ++f.depth_;
      return;
    }
    throw InvalidArgument(std::string(what) +
                          ": used by two threads at once; it keeps work buffers, so each thread needs its own");
  }
  ~single_user_scope() {
    if (--f_.depth_ == 0) f_.owner_.store(std::thread::id{}, std::memory_order_release);
  }
  single_user_scope(const single_user_scope&) = delete;
  single_user_scope& operator=(const single_user_scope&) = delete;

 private:
  const single_user_flag& f_;
};

}  // namespace larmor
