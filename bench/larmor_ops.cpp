// larmor_ops — runs one larmor operation on BART cfl files, so that larmor and BART can be timed on
// identical input by bench/compare_bart.sh (same file in, same file out, same process start-up).
//
//   larmor_ops OP IN OUT [REPEAT]
//
// OP     BART equivalent          input dims (BART order)      larmor call
// fft    bart fft -u 3 IN OUT     [x y z coils]                fftc  over (y, x) of (coils, z, y, x)
// ifft   bart fft -u -i 3 IN OUT  [x y z coils]                ifftc over (y, x)
// rss    bart rss 8 IN OUT        [x y z coils]                rss over the coil axis
// rss_into                        [x y z coils]                rss(x, out) into a buffer reused each time
// ifft_inplace                    [x y z coils]                ifftc_inplace on the input (REPEAT times)
// ifft3  bart fft -u -i 7 IN OUT  [x y z coils]                ifftc over (z, y, x): 3D
// copy   bart copy IN OUT         any                          read + write only (I/O baseline)
// ecalib bart ecalib -m1 IN OUT   [x y 1 coils]                espirit_maps (BART defaults)
// nufft                           [x y 1 coils]                a plan (eps 1e-6, upsampling 2) on a uniform
//                                                              radial trajectory (N pi / 2 spokes of 2N
//                                                              samples; radial_trajectory) and the forward
//                                                              NUFFT of every coil image: Python's
//                                                              larmor.nufft(x, coords)
// grappa                          [x y 1 coils]                grappa (ACS and lattice found in the data;
//                                                              kernel 4x5, reg 5e-4: Python's defaults)
//
//   larmor_ops cgsense K MAPS OUT ITERS [REPEAT]
//                                    bart pics -l2 -r 0 -i ITERS -w 1 K MAPS OUT: CG-SENSE with the mask
//                                    read from K ([x y z coils]) and maps MAPS ([x y z coils]), tol 0
//                                    (exactly ITERS iterations); writes the image [x y z].
//   larmor_ops cs K MAPS OUT ITERS LAMBDA [REPEAT]
//                                    bart pics -l1 -r LAMBDA -i ITERS K MAPS OUT: l1-wavelet CS (larmor::cs,
//                                    mask = the non-zero samples of K), 2D; writes the image [x y].
//   larmor_ops undersample RY ACS IN OUT
//                                    keeps every RY-th y line (y % RY == 0) plus ACS central lines.
//
//   larmor_ops stream MB             STREAM-like memory bandwidth: copy (a = b) and triad (a = b + s c)
//                                    on float arrays of MB MiB each, num_threads() threads, and a read-only
//                                    sum; prints "copy_gbs X", "triad_gbs Y" (bytes read + written per
//                                    second) and "read_gbs Z".
//   larmor_ops targets               prints the SIMD target the kernels run on (e.g. AVX3).
//   larmor_ops phantom COILS N OUT   writes a simulated acquisition (Shepp-Logan x smooth coil
//                                    sensitivities, centred k-space, noise sigma 1e-3) as [x y 1 coils].
//
// The operation runs REPEAT times (default 1) in the process; the median compute time in ms is
// printed to stderr as "compute_ms <median>", so the script can separate compute from file I/O, and
// the process's peak resident memory as "peak_rss_mb <MiB>". Threads: OMP_NUM_THREADS.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>


#include <sys/resource.h>

#include "larmor/coils/espirit.hpp"
#include "larmor/larmor.hpp"

namespace {

using larmor::cfloat;
using larmor::index_t;

larmor::array<cfloat, 4> as_coils_1_y_x(larmor::cfl_data&& d) {
  const auto& b = d.bart_dims;
  for (std::size_t i = 4; i < b.size(); ++i)
    LARMOR_CHECK_ARG(b[i] == 1, "larmor_ops: expects BART dims [x y 1 coils], got extra dim ", i, " = ", b[i]);
  auto dim = [&](std::size_t i) { return i < b.size() ? b[i] : index_t{1}; };
  const larmor::extents<4> shape{dim(3), dim(2), dim(1), dim(0)};
  return std::move(d.samples).reshape(shape);
}

template <class F>
double median_ms(int repeat, F&& f) {
  std::vector<double> ms;
  for (int r = 0; r < repeat; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "targets") {  // the SIMD target the kernels dispatch to
    std::printf("%s\n", larmor::kernels::active_target());
    return 0;
  }
  if (argc < 4 && !(argc == 3 && std::string(argv[1]) == "stream")) {
    std::fprintf(stderr, "usage: larmor_ops fft|ifft|rss|copy|ecalib IN OUT [REPEAT] | cgsense K MAPS OUT ITERS [REPEAT] | undersample RY ACS IN OUT | phantom COILS N OUT | stream MB | targets\n");
    return 2;
  }
  if (std::string(argv[1]) == "stream" && argc >= 3) {
    // Each thread works on its own contiguous share (first touch by the same thread: local pages).
    const index_t n = std::atol(argv[2]) * (index_t{1} << 20) / index_t(sizeof(float));
    larmor::array<float, 1> a({n}, larmor::uninitialized), b({n}, larmor::uninitialized), c({n}, larmor::uninitialized);
    const index_t chunks = 64 * larmor::num_threads(), per = (n + chunks - 1) / chunks;
    auto each = [&](auto&& f) {
      larmor::parallel_for(chunks, [&](index_t k) {
        const index_t i0 = std::min(n, k * per), i1 = std::min(n, i0 + per);
        f(i0, i1);
      });
    };
    each([&](index_t i0, index_t i1) {
      for (index_t i = i0; i < i1; ++i) a[i] = 0.f, b[i] = 1.f, c[i] = 2.f;
    });
    const double bytes_copy = 2.0 * n * sizeof(float), bytes_triad = 3.0 * n * sizeof(float);
    const double copy_ms = median_ms(7, [&] {
      each([&](index_t i0, index_t i1) {
        for (index_t i = i0; i < i1; ++i) a[i] = b[i];
      });
    });
    const double triad_ms = median_ms(7, [&] {
      each([&](index_t i0, index_t i1) {
        for (index_t i = i0; i < i1; ++i) a[i] = b[i] + 0.5f * c[i];
      });
    });
    // Read only (what RSS over many coils mostly does): a sum of 32-bit integers, which the compiler
    // vectorises without reordering concerns; one partial sum per chunk.
    larmor::array<std::uint32_t, 1> words({n}, larmor::uninitialized);
    each([&](index_t i0, index_t i1) {
      for (index_t i = i0; i < i1; ++i) words[i] = static_cast<std::uint32_t>(i);
    });
    std::vector<std::uint32_t> partial(static_cast<std::size_t>(chunks));
    const double read_ms = median_ms(7, [&] {
      larmor::parallel_for(chunks, [&](index_t k) {
        const index_t i0 = std::min(n, k * per), i1 = std::min(n, i0 + per);
        std::uint32_t sum = 0;
        for (index_t i = i0; i < i1; ++i) sum += words[i];
        partial[static_cast<std::size_t>(k)] = sum;
      });
    });
    std::printf("copy_gbs %.2f\ntriad_gbs %.2f\nread_gbs %.2f\ncheck %g %u\n", bytes_copy / copy_ms * 1e-6,
                bytes_triad / triad_ms * 1e-6, double(n) * sizeof(std::uint32_t) / read_ms * 1e-6, double(a[n / 2]),
                partial[0]);
    return 0;
  }
  if (std::string(argv[1]) == "phantom" && argc == 5) {
    const index_t nc = std::atol(argv[2]), n = std::atol(argv[3]);
    auto k = larmor::simulated_kspace<float>(nc, n);
    larmor::write_cfl(argv[4], std::move(k).reshape(larmor::extents<4>{nc, 1, n, n}).cview());
    return 0;
  }
  if (std::string(argv[1]) == "undersample" && argc == 6) {
    const index_t ry = std::atol(argv[2]), acs = std::atol(argv[3]);
    auto k = as_coils_1_y_x(larmor::read_cfl(argv[4]));
    const index_t nl = k.shape(0) * k.shape(1), ny = k.shape(2), nx = k.shape(3);
    for (index_t l = 0; l < nl; ++l)
      for (index_t y = 0; y < ny; ++y)
        if (y % ry != 0 && (y < ny / 2 - acs / 2 || y >= ny / 2 + acs / 2))
          std::fill(k.data() + (l * ny + y) * nx, k.data() + (l * ny + y + 1) * nx, cfloat(0.f, 0.f));
    larmor::write_cfl(argv[5], k.cview());
    return 0;
  }
  if (std::string(argv[1]) == "cs" && argc >= 7) {
    try {
      auto k = as_coils_1_y_x(larmor::read_cfl(argv[2]));
      auto m = as_coils_1_y_x(larmor::read_cfl(argv[3]));
      LARMOR_CHECK_ARG(k.shape(1) == 1, "larmor_ops cs: expects one slice, got ", k.shape(1));
      const larmor::extents<3> s{k.shape(0), k.shape(2), k.shape(3)};
      const auto k3 = std::move(k).reshape(s), m3 = std::move(m).reshape(s);
      larmor::cs_options o;
      o.iters = std::max(1, std::atoi(argv[5]));
      o.wavelet = static_cast<float>(std::atof(argv[6]));
      const int rep = argc > 7 ? std::max(1, std::atoi(argv[7])) : 1;
      larmor::array<cfloat, 2> img;
      const double ms = median_ms(rep, [&] { img = larmor::cs(k3.cview(), m3.cview(), o).image; });
      larmor::write_cfl(argv[4], img.cview());
      std::fprintf(stderr, "compute_ms %.3f\n", ms);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "larmor_ops: %s\n", e.what());
      return 1;
    }
    return 0;
  }
  if (std::string(argv[1]) == "cgsense" && argc >= 6) {
    try {
      auto k = as_coils_1_y_x(larmor::read_cfl(argv[2]));
      auto m = as_coils_1_y_x(larmor::read_cfl(argv[3]));
      larmor::cgsense_options o;
      o.iters = std::max(1, std::atoi(argv[5]));
      o.tol = 0;
      const int rep = argc > 6 ? std::max(1, std::atoi(argv[6])) : 1;
      larmor::array<cfloat, 3> img;
      double ms = 0;
      if (k.shape(1) == 1) {  // 2D: (coils, y, x)
        const larmor::extents<3> s{k.shape(0), k.shape(2), k.shape(3)};
        const auto k3 = std::move(k).reshape(s), m3 = std::move(m).reshape(s);
        ms = median_ms(rep, [&] {
          img = std::move(larmor::cgsense(k3.cview(), m3.cview(), o).image).reshape(larmor::extents<3>{1, s[1], s[2]});
        });
      } else {
        ms = median_ms(rep, [&] { img = larmor::cgsense(k.cview(), m.cview(), o).image; });
      }
      larmor::write_cfl(argv[4], img.cview());
      std::fprintf(stderr, "compute_ms %.3f\n", ms);
      rusage ru{};
      getrusage(RUSAGE_SELF, &ru);
      std::fprintf(stderr, "peak_rss_mb %.0f\n", ru.ru_maxrss / 1024.0);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "larmor_ops: %s\n", e.what());
      return 1;
    }
    return 0;
  }
  const std::string op = argv[1], in = argv[2], out = argv[3];
  const int repeat = argc > 4 ? std::max(1, std::atoi(argv[4])) : 1;
  try {
    if (op == "copy") {
      larmor::write_cfl(out, larmor::read_cfl<8>(in).cview());
      std::fprintf(stderr, "compute_ms 0\n");
      return 0;
    }
    auto x = as_coils_1_y_x(larmor::read_cfl(in));
    double ms = 0;
    if (op == "fft" || op == "ifft") {
      larmor::array<cfloat, 4> y;
      ms = median_ms(repeat, [&] { y = op == "fft" ? larmor::fftc(x.cview()) : larmor::ifftc(x.cview()); });
      larmor::write_cfl(out, y.cview());
    } else if (op == "ifft3") {  // 3D: over (z, y, x)
      larmor::array<cfloat, 4> y;
      ms = median_ms(repeat, [&] {
        y = {};  // free the previous result first: two 4 GiB arrays at a time, not three
        y = larmor::ifftc(x.cview(), {1, 2, 3});
      });
      larmor::write_cfl(out, y.cview());
    } else if (op == "ifft_inplace") {  // x is already touched (read into): no allocation, no first-touch faults
      ms = median_ms(repeat, [&] { larmor::ifftc_inplace(x); });
      larmor::write_cfl(out, x.cview());
    } else if (op == "rss" || op == "rss_into") {
      larmor::array<float, 3> r;
      ms = median_ms(repeat, [&] { r = larmor::rss(x.cview(), 0); });
      // rss_into: into the (now touched) buffer r, what a loop over slices/repetitions pays per call.
      if (op == "rss_into") ms = median_ms(repeat, [&] { larmor::rss(x.cview(), r.view(), 0); });
      larmor::array<cfloat, 3> rc(r.shape());
      std::transform(r.begin(), r.end(), rc.begin(), [](float v) { return cfloat(v, 0.f); });
      larmor::write_cfl(out, rc.cview());
    } else if (op == "ecalib") {
      LARMOR_CHECK_ARG(x.shape(1) == 1, "larmor_ops ecalib: expects one slice, got ", x.shape(1));
      const auto k3 = std::move(x).reshape(larmor::extents<3>{x.shape(0), x.shape(2), x.shape(3)});
      larmor::array<cfloat, 4> m;
      ms = median_ms(repeat, [&] { m = larmor::espirit_maps(k3.cview()); });
      larmor::write_cfl(out, m.cview());
    } else if (op == "nufft") {
      LARMOR_CHECK_ARG(x.shape(1) == 1, "larmor_ops nufft: expects one slice, got ", x.shape(1));
      const index_t nc = x.shape(0), ny = x.shape(2), nx = x.shape(3);
      const index_t spokes = static_cast<index_t>(std::lround(nx * 3.14159265358979 / 2)), samples = 2 * nx;
      const auto coords = larmor::radial_trajectory(spokes, samples, static_cast<double>(samples) / 2);
      larmor::array<cfloat, 2> y({nc, spokes * samples}, larmor::uninitialized);
      ms = median_ms(repeat, [&] {
        larmor::nufft_plan<float, 2> plan({ny, nx}, 1e-6, 2.0);
        plan.set_points(coords.data(), spokes * samples);
        plan.forward(x.data(), y.data(), nc);
      });
      larmor::write_cfl(out, y.cview());
    } else if (op == "grappa") {
      LARMOR_CHECK_ARG(x.shape(1) == 1, "larmor_ops grappa: expects one slice, got ", x.shape(1));
      const auto k3 = std::move(x).reshape(larmor::extents<3>{x.shape(0), x.shape(2), x.shape(3)});
      larmor::array<cfloat, 3> g;
      ms = median_ms(repeat, [&] { g = larmor::grappa(k3.cview()); });
      larmor::write_cfl(out, g.cview());
    } else if (op == "cc") {  // SVD coil compression to a quarter of the coils (bart cc -S -p N)
      LARMOR_CHECK_ARG(x.shape(1) == 1, "larmor_ops cc: expects one slice, got ", x.shape(1));
      const auto k3 = std::move(x).reshape(larmor::extents<3>{x.shape(0), x.shape(2), x.shape(3)});
      larmor::array<cfloat, 3> v;
      ms = median_ms(repeat, [&] { v = larmor::coil_compress(k3, k3.shape(0) / 4, larmor::compression_method::svd); });
      larmor::write_cfl(out, v.cview());
    } else {
      std::fprintf(stderr, "larmor_ops: unknown operation '%s'\n", op.c_str());
      return 2;
    }
    std::fprintf(stderr, "compute_ms %.3f\n", ms);
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    std::fprintf(stderr, "peak_rss_mb %.0f\n", ru.ru_maxrss / 1024.0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "larmor_ops: %s\n", e.what());
    return 1;
  }
  return 0;
}
