// larmor/core/parallel.hpp — the thread count and the one parallel loop the algorithms use.
//
// The library runs on OpenMP. The thread count starts at OpenMP's default (OMP_NUM_THREADS, else
// the number of cores) and is changed with set_num_threads(n) for the process. A thread that runs one of
// several independent jobs at once (a server's connection) may take a share of the cores for the work it
// starts with a thread_count_scope, which overrides the process setting on that thread only. FFTW's own
// threads (its POSIX-threads build, fft/fftw_plan.hpp) use the same count, and FFTW runs single-threaded
// when called from inside a parallel loop so the two never oversubscribe the cores.
//
// Failures: an exception thrown by a loop body (allocation failure included) does not escape the
// OpenMP region (that would terminate the process): the first one is kept, the remaining iterations
// are skipped, and after the loop it reaches the caller — larmor errors as they were thrown,
// std::bad_alloc as larmor::Error("... out of memory ..."), anything else as larmor::Error(what()).
//
// Progress: long steps take a progress_fn in their options, called as progress(done, total) from one
// thread at a time (never concurrently) after each unit of work (an x-block, a slice); it must be cheap
// and must not throw.
#pragma once

#include <algorithm>
#include <atomic>
#include <exception>
#include <functional>
#include <mutex>
#include <new>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "larmor/core/error.hpp"
#include "larmor/core/view.hpp"

namespace larmor {

namespace detail {
inline std::atomic<int>& thread_setting() {
  static std::atomic<int> n{0};  // 0: follow OpenMP's default
  return n;
}
inline int& this_thread_setting() {
  thread_local int n = 0;  // 0: follow the process setting
  return n;
}
}  // namespace detail

// Threads the library uses for its parallel loops and FFTs (started from the calling thread).
inline int num_threads() {
  if (detail::this_thread_setting() > 0) return detail::this_thread_setting();
  const int n = detail::thread_setting().load();
  if (n > 0) return n;
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// Sets the thread count (n >= 1); n = 0 returns to OpenMP's default.
inline void set_num_threads(int n) {
  LARMOR_CHECK_ARG(n >= 0, "set_num_threads: n must be >= 0, got ", n);
  detail::thread_setting().store(n);
}

// The work started from the constructing thread, until the scope ends, uses n threads (n >= 1; 0 leaves
// the setting as it is). Scopes nest; each restores what it found.
class thread_count_scope {
 public:
  explicit thread_count_scope(int n) : saved_(detail::this_thread_setting()) {
    LARMOR_CHECK_ARG(n >= 0, "thread_count_scope: n must be >= 0, got ", n);
    if (n > 0) detail::this_thread_setting() = n;
  }
  ~thread_count_scope() { detail::this_thread_setting() = saved_; }
  thread_count_scope(const thread_count_scope&) = delete;
  thread_count_scope& operator=(const thread_count_scope&) = delete;

 private:
  int saved_;
};

// Progress report of a long step: progress(done, total), done = 1..total units.
using progress_fn = std::function<void(index_t done, index_t total)>;

namespace detail {

// Collects the first exception of a parallel loop and rethrows it, as a larmor error, on the caller's thread.
class loop_failure {
 public:
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  template <class F>
  void run(F&& f) noexcept {
    if (failed()) return;  // skip the remaining iterations once one has failed
    try {
      f();
    } catch (...) {
      const std::lock_guard<std::mutex> lock(m_);
      if (!first_) first_ = std::current_exception();
      failed_.store(true);
    }
  }
  void rethrow() const {
    if (!first_) return;
    try {
      std::rethrow_exception(first_);
    } catch (const Error&) {
      throw;
    } catch (const std::bad_alloc&) {
      throw Error("larmor: out of memory in a parallel loop (std::bad_alloc)");
    } catch (const std::exception& e) {
      throw Error(concat("larmor: error in a parallel loop: ", e.what()));
    } catch (...) {
      throw Error("larmor: unknown exception in a parallel loop");
    }
  }

 private:
  std::atomic<bool> failed_{false};
  std::mutex m_;
  std::exception_ptr first_;
};

// Calls progress(done, total) serially from any thread; counts completed units.
class progress_counter {
 public:
  progress_counter(const progress_fn& f, index_t total) : f_(f), total_(total) {}
  void step() {
    if (!f_) return;
    const std::lock_guard<std::mutex> lock(m_);
    f_(++done_, total_);
  }

 private:
  const progress_fn& f_;
  index_t total_, done_ = 0;
  std::mutex m_;
};

}  // namespace detail

// True inside one of the library's parallel regions (nested work then runs serially).
inline bool in_parallel_region() {
#ifdef _OPENMP
  return omp_in_parallel() != 0;
#else
  return false;
#endif
}

// Runs body(i) for i in [0, n), statically scheduled over num_threads() threads. An exception thrown
// by body reaches the caller after the loop (see the top of this file).
template <class Body>
void parallel_for(index_t n, Body&& body) {
#ifdef _OPENMP
  const int nt = in_parallel_region() ? 1 : num_threads();
  if (nt > 1 && n > 1) {
    detail::loop_failure fail;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (index_t i = 0; i < n; ++i) fail.run([&] { body(i); });
    fail.rethrow();
    return;
  }
#endif
  detail::loop_failure fail;
  for (index_t i = 0; i < n && !fail.failed(); ++i) fail.run([&] { body(i); });
  fail.rethrow();
}

// Runs body(first, count) over the items [0, n) cut into blocks of `block` (the last one may be shorter),
// the blocks statically scheduled over the threads as in parallel_for.
template <class Body>
void parallel_for_blocks(index_t n, index_t block, Body&& body) {
  parallel_for((n + block - 1) / block, [&](index_t b) {
    const index_t first = b * block;
    body(first, std::min(block, n - first));
  });
}

// Like parallel_for, with dynamic scheduling for uneven work (e.g. per-pixel eigenproblems).
template <class Body>
void parallel_for_dynamic(index_t n, Body&& body) {
#ifdef _OPENMP
  const int nt = in_parallel_region() ? 1 : num_threads();
  if (nt > 1 && n > 1) {
    detail::loop_failure fail;
#pragma omp parallel for num_threads(nt) schedule(dynamic)
    for (index_t i = 0; i < n; ++i) fail.run([&] { body(i); });
    fail.rethrow();
    return;
  }
#endif
  detail::loop_failure fail;
  for (index_t i = 0; i < n && !fail.failed(); ++i) fail.run([&] { body(i); });
  fail.rethrow();
}

}  // namespace larmor
