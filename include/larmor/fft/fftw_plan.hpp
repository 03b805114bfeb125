// larmor/fft/fftw_plan.hpp — cached FFTW plans for unnormalised DFTs of contiguous C-order arrays.
//
// A plan is keyed by (precision, shape, transformed axes, direction, in-place, alignment, threads,
// planner effort). Plans are made once under one global mutex — the FFTW planner is not thread-safe —
// and reused: execution (fftw_execute_dft with new arrays) is thread-safe and never re-plans.
// With planner effort `measure` (default) the planner times candidate algorithms on a scratch buffer
// (never on the caller's data): 0.1-0.3 s once per size, after which a batched 2D transform runs up to
// 10x faster than an `estimate` plan (64 coils x 512^2 on AVX-512: 31 ms vs 365 ms). `estimate` plans
// instantly; it is used for transforms under 2^20 points or whose scratch would exceed 1 GiB, and when
// the environment sets LARMOR_FFT_PLANNER=estimate. Wisdom (FFTW's record of measured plans) can be
// saved and loaded with fft_wisdom_export/import (or the LARMOR_FFTW_WISDOM environment variable, see
// fftw_plan_cache) so later processes skip the measuring.
// Sharing FFTW with a host program: FFTW's planner keeps global state (wisdom, the planner itself), and
// larmor's mutex only orders larmor's own calls. Before its first FFTW call larmor therefore calls
// fftw[f]_init_threads and fftw[f]_make_planner_thread_safe once per process (fftw_library_init), which
// makes FFTW serialise every planner call internally — the host's as well, whichever thread they come
// from. The host's plans are unaffected otherwise; FFTW documents the call as safe to make more than once.
// This needs FFTW's POSIX-threads library (libfftw3[f]_threads, what larmor links): in FFTW 3.3.10's
// OpenMP library (libfftw3[f]_omp) make_planner_thread_safe is an empty function. A host that links the
// _omp variant itself must serialise its planning with larmor's in its own way.
#pragma once

#include <fftw3.h>

#include <atomic>
#include <complex>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/core/parallel.hpp"

namespace larmor {

enum class fft_planner_effort { estimate, measure };

namespace detail {

template <class Real>
struct fftw_traits;

template <>
struct fftw_traits<float> {
  using plan = fftwf_plan;
  using complex = fftwf_complex;
  static plan make(int rank, const fftw_iodim64* dims, int hrank, const fftw_iodim64* hdims, complex* in,
                   complex* out, int sign, unsigned flags) {
    return fftwf_plan_guru64_dft(rank, dims, hrank, hdims, in, out, sign, flags);
  }
  static void execute(plan p, complex* in, complex* out) { fftwf_execute_dft(p, in, out); }
  static void destroy(plan p) { fftwf_destroy_plan(p); }
  static int alignment_of(float* p) { return fftwf_alignment_of(p); }
  static void init_threads() { fftwf_init_threads(); }
  static void plan_with_nthreads(int n) { fftwf_plan_with_nthreads(n); }
  static void import_wisdom(const std::string& f) { fftwf_import_wisdom_from_filename((f + ".f").c_str()); }
  static void export_wisdom(const std::string& f) { fftwf_export_wisdom_to_filename((f + ".f").c_str()); }
};

template <>
struct fftw_traits<double> {
  using plan = fftw_plan;
  using complex = fftw_complex;
  static plan make(int rank, const fftw_iodim64* dims, int hrank, const fftw_iodim64* hdims, complex* in,
                   complex* out, int sign, unsigned flags) {
    return fftw_plan_guru64_dft(rank, dims, hrank, hdims, in, out, sign, flags);
  }
  static void execute(plan p, complex* in, complex* out) { fftw_execute_dft(p, in, out); }
  static void destroy(plan p) { fftw_destroy_plan(p); }
  static int alignment_of(double* p) { return fftw_alignment_of(p); }
  static void init_threads() { fftw_init_threads(); }
  static void plan_with_nthreads(int n) { fftw_plan_with_nthreads(n); }
  static void import_wisdom(const std::string& f) { fftw_import_wisdom_from_filename((f + ".d").c_str()); }
  static void export_wisdom(const std::string& f) { fftw_export_wisdom_to_filename((f + ".d").c_str()); }
};

inline std::mutex& fftw_planner_mutex() {
  static std::mutex m;
  return m;
}

// Once per process, before larmor's first FFTW call: threads for both precisions and a thread-safe
// planner (FFTW >= 3.3.5), so that a host planning its own FFTW transforms on another thread cannot race
// with larmor's planning (see the file comment).
inline void fftw_library_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    fftwf_init_threads();
    fftw_init_threads();
    fftwf_make_planner_thread_safe();
    fftw_make_planner_thread_safe();
  });
}

inline std::atomic<int>& planner_effort_setting() {
  static std::atomic<int> e{[] {
    const char* env = std::getenv("LARMOR_FFT_PLANNER");
    const bool estimate = env != nullptr && std::string(env) == "estimate";
    return static_cast<int>(estimate ? fft_planner_effort::estimate : fft_planner_effort::measure);
  }()};
  return e;
}

// Transforms below this many points are estimated: they take microseconds either way, and measuring
// many small shapes (a test suite, a 1D readout FFT) costs more than it can ever save...
inline constexpr index_t measure_min_points = index_t{1} << 20;
// ... unless one transformed volume (the product of the transformed axes) has this many points: FFTW 3.3.10's
// estimated plans of 256^2 and larger planes are ~10x slower than measured ones (float, in place, this
// machine: 1 x 256^2 1.66 vs 0.13 ms, 8 x 256^2 13.6 vs 1.2 ms, 1 x 512^2 11.6 vs 0.72 ms; 200^2 and
// 128^2 planes are equal either way), and such transforms (a NUFFT grid, a Toeplitz-padded image) repeat
// every iteration. Measuring costs ~0.1-0.2 s per shape, once per process (or never, with wisdom).
inline constexpr index_t measure_min_volume_points = index_t{1} << 16;

// Scratch limit for measuring: above it a plan is estimated instead (memory, not time, is the limit).
inline constexpr std::size_t measure_scratch_limit_bytes = std::size_t{1} << 30;

}  // namespace detail

// Chooses how hard FFTW plans new sizes (already cached plans are kept).
inline void set_fft_planner_effort(fft_planner_effort e) { detail::planner_effort_setting() = static_cast<int>(e); }
inline fft_planner_effort fft_planner_effort_setting() {
  return static_cast<fft_planner_effort>(detail::planner_effort_setting().load());
}

// FFTW wisdom files (single and double precision in one text file each: PATH.f and PATH.d).
// import returns false when the files are missing or unreadable (nothing changes); export throws
// larmor::DataError when they cannot be written.
inline bool fft_wisdom_import(const std::string& path) {
  detail::fftw_library_init();
  std::lock_guard<std::mutex> lock(detail::fftw_planner_mutex());
  const bool f = fftwf_import_wisdom_from_filename((path + ".f").c_str()) != 0;
  const bool d = fftw_import_wisdom_from_filename((path + ".d").c_str()) != 0;
  return f && d;
}
inline void fft_wisdom_export(const std::string& path) {
  detail::fftw_library_init();
  std::lock_guard<std::mutex> lock(detail::fftw_planner_mutex());
  LARMOR_CHECK_DATA(fftwf_export_wisdom_to_filename((path + ".f").c_str()) != 0 &&
                        fftw_export_wisdom_to_filename((path + ".d").c_str()) != 0,
                    "fft_wisdom_export: cannot write ", path, ".f / ", path, ".d");
}

// One FFTW plan (move-only) for a contiguous C-order array of `shape`, transforming `axes`.
template <class Real>
class fftw_plan_handle {
  using traits = detail::fftw_traits<Real>;

 public:
  fftw_plan_handle(typename traits::plan p) : plan_(p) {}
  fftw_plan_handle(const fftw_plan_handle&) = delete;
  fftw_plan_handle& operator=(const fftw_plan_handle&) = delete;
  ~fftw_plan_handle() {
    if (plan_) {
      std::lock_guard<std::mutex> lock(detail::fftw_planner_mutex());
      traits::destroy(plan_);
    }
  }
  void execute(std::complex<Real>* in, std::complex<Real>* out) const {
    traits::execute(plan_, reinterpret_cast<typename traits::complex*>(in),
                    reinterpret_cast<typename traits::complex*>(out));
  }

 private:
  typename traits::plan plan_;
};

// The process-wide plan cache. plan() returns a shared handle: the plan stays valid as long as the caller
// holds it, also after the cache let it go. The cache keeps at most max_cached_plans plans per precision
// and drops the least recently used one beyond that (a server that reconstructs scans of ever new sizes
// for months would otherwise keep every plan it ever made: each holds twiddle tables and, for measured
// plans, the planner's choices). A dropped plan is made again when its shape comes back.
inline constexpr std::size_t max_cached_plans = 256;
template <class Real>
class fftw_plan_cache {
  using traits = detail::fftw_traits<Real>;

 public:
  struct key {
    std::vector<index_t> shape;
    unsigned axes_mask;
    int sign;
    bool in_place;
    bool aligned;
    int threads;
    int effort;
    bool operator<(const key& o) const {
      return std::tie(shape, axes_mask, sign, in_place, aligned, threads, effort) <
             std::tie(o.shape, o.axes_mask, o.sign, o.in_place, o.aligned, o.threads, o.effort);
    }
  };

  static fftw_plan_cache& instance() {
    static fftw_plan_cache cache;
    return cache;
  }

  // sign: FFTW_FORWARD (-1) or FFTW_BACKWARD (+1). axes_mask bit a: transform axis a.
  // measure_min: fewer points are planned with FFTW_ESTIMATE even under the `measure` effort, unless one
  // transformed volume reaches measure_min_volume_points.
  std::shared_ptr<const fftw_plan_handle<Real>> plan(const std::vector<index_t>& shape, unsigned axes_mask, int sign,
                                                     const std::complex<Real>* in, const std::complex<Real>* out,
                                                     int threads, index_t measure_min = detail::measure_min_points);

  // Plans created so far (the benchmark and tests use it to show reuse), and plans held now.
  std::size_t plans_made() const {
    std::lock_guard<std::mutex> lock(detail::fftw_planner_mutex());
    return plans_made_;
  }
  std::size_t plans_cached() const {
    std::lock_guard<std::mutex> lock(detail::fftw_planner_mutex());
    return plans_.size();
  }

 private:
  fftw_plan_cache() {
    detail::fftw_library_init();
    if (const char* w = wisdom_file()) traits::import_wisdom(w);
  }

  // LARMOR_FFTW_WISDOM=FILE: wisdom is read from FILE.f/.d when the cache starts and written back after
  // every measured plan, so the measuring cost is paid once per machine, not once per process.
  static const char* wisdom_file() {
    const char* w = std::getenv("LARMOR_FFTW_WISDOM");
    return (w != nullptr && *w != '\0') ? w : nullptr;
  }

  // Called with the planner mutex held.
  typename traits::plan make(const key& k);

  struct entry {
    std::shared_ptr<const fftw_plan_handle<Real>> handle;
    std::uint64_t last_use = 0;
  };
  std::map<key, entry> plans_;
  std::size_t plans_made_ = 0;
  std::uint64_t uses_ = 0;
};

// Out of the class (so not inline): instantiated once for float and double in the compiled library
// (kernels/fft_instances.cpp), not in every unit that runs an FFT.
template <class Real>
std::shared_ptr<const fftw_plan_handle<Real>> fftw_plan_cache<Real>::plan(const std::vector<index_t>& shape,
                                                                         unsigned axes_mask, int sign,
                                                                         const std::complex<Real>* in,
                                                                         const std::complex<Real>* out, int threads,
                                                                         index_t measure_min) {
  const bool aligned = traits::alignment_of(reinterpret_cast<Real*>(const_cast<std::complex<Real>*>(in))) == 0 &&
                       traits::alignment_of(reinterpret_cast<Real*>(const_cast<std::complex<Real>*>(out))) == 0;
  index_t total = 1, volume = 1;
  for (std::size_t a = 0; a < shape.size(); ++a) {
    total *= shape[a];
    if (axes_mask & (1u << a)) volume *= shape[a];
  }
  const std::size_t bytes = static_cast<std::size_t>(total) * sizeof(std::complex<Real>) * (in == out ? 1 : 2);
  int effort = detail::planner_effort_setting().load();
  if ((total < measure_min && volume < detail::measure_min_volume_points) ||
      bytes > detail::measure_scratch_limit_bytes)
    effort = static_cast<int>(fft_planner_effort::estimate);
  key k{shape, axes_mask, sign, in == out, aligned, threads, effort};
  // Declared before the lock: a plan dropped from the cache is destroyed (which takes the planner mutex)
  // after the lock is released, if no caller holds it any more.
  std::shared_ptr<const fftw_plan_handle<Real>> dropped;
  std::lock_guard<std::mutex> lock(detail::fftw_planner_mutex());
  ++uses_;
  auto it = plans_.find(k);
  if (it != plans_.end()) {
    it->second.last_use = uses_;
    return it->second.handle;
  }
  if (plans_.size() >= max_cached_plans) {
    auto oldest = plans_.begin();
    for (auto j = plans_.begin(); j != plans_.end(); ++j)
      if (j->second.last_use < oldest->second.last_use) oldest = j;
    dropped = std::move(oldest->second.handle);
    plans_.erase(oldest);
  }
  ++plans_made_;
  auto handle = std::make_shared<const fftw_plan_handle<Real>>(make(k));
  plans_.emplace(k, entry{handle, uses_});
  return handle;
}

template <class Real>
typename detail::fftw_traits<Real>::plan fftw_plan_cache<Real>::make(const key& k) {
  const int r = static_cast<int>(k.shape.size());
  std::vector<fftw_iodim64> dims, hdims;
  index_t stride = 1, total = 1;
  for (int a = r - 1; a >= 0; --a) {
    fftw_iodim64 d{k.shape[a], stride, stride};
    if (k.axes_mask & (1u << a))
      dims.insert(dims.begin(), d);
    else if (k.shape[a] > 1)
      hdims.insert(hdims.begin(), d);
    stride *= k.shape[a];
    total *= k.shape[a];
  }
  // Plans are made on scratch memory so `measure` never touches the caller's data.
  const std::size_t bytes = static_cast<std::size_t>(total) * sizeof(std::complex<Real>);
  const bool measure = k.effort == static_cast<int>(fft_planner_effort::measure);  // decided in plan()
  const std::size_t scratch_bytes = measure ? bytes : 64;  // an estimate never touches the arrays
  std::unique_ptr<void, void (*)(void*)> in(aligned_allocate(scratch_bytes), aligned_free);
  std::unique_ptr<void, void (*)(void*)> out(k.in_place ? nullptr : aligned_allocate(scratch_bytes), aligned_free);
  auto* pin = static_cast<typename traits::complex*>(in.get());
  auto* pout = k.in_place ? pin : static_cast<typename traits::complex*>(out.get());
  unsigned flags = measure ? FFTW_MEASURE : FFTW_ESTIMATE;
  if (!k.aligned) flags |= FFTW_UNALIGNED;
  traits::plan_with_nthreads(k.threads);
  auto p = traits::make(static_cast<int>(dims.size()), dims.data(), static_cast<int>(hdims.size()), hdims.data(),
                        pin, pout, k.sign, flags);
  if (!p) throw Error("fft: FFTW could not plan a transform of shape " + shape_string(k.shape));
  if (measure && wisdom_file() != nullptr) traits::export_wisdom(wisdom_file());  // best effort
  return p;
}

extern template class fftw_plan_cache<float>;
extern template class fftw_plan_cache<double>;

}  // namespace larmor
