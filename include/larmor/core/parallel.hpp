// larmor/core/parallel.hpp — the thread count and the one parallel loop the algorithms use.
//
// The library runs on OpenMP. The thread count starts at OpenMP's default (OMP_NUM_THREADS, else
// the number of cores) and is changed with set_num_threads(n). FFTW's own threading (the OpenMP
// build of FFTW) uses the same count, and runs single-threaded when called from inside a parallel
// loop so the two never oversubscribe the cores. Loop bodies must not throw: validate before.
#pragma once

#include <algorithm>
#include <atomic>

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
}  // namespace detail

// Threads the library uses for its parallel loops and FFTs.
inline int num_threads() {
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

// True inside one of the library's parallel regions (nested work then runs serially).
inline bool in_parallel_region() {
#ifdef _OPENMP
  return omp_in_parallel() != 0;
#else
  return false;
#endif
}

// Runs body(i) for i in [0, n), statically scheduled over num_threads() threads.
// body must be noexcept in effect: an exception escaping an OpenMP region terminates.
template <class Body>
void parallel_for(index_t n, Body&& body) {
#ifdef _OPENMP
  const int nt = in_parallel_region() ? 1 : num_threads();
  if (nt > 1 && n > 1) {
#pragma omp parallel for num_threads(nt) schedule(static)
    for (index_t i = 0; i < n; ++i) body(i);
    return;
  }
#endif
  for (index_t i = 0; i < n; ++i) body(i);
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
#pragma omp parallel for num_threads(nt) schedule(dynamic)
    for (index_t i = 0; i < n; ++i) body(i);
    return;
  }
#endif
  for (index_t i = 0; i < n; ++i) body(i);
}

}  // namespace larmor
