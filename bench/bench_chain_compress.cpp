// Coil compression inside the recon chain (issue 15 item 3, coils/chain_compression.hpp): image-quality
// cost and time saved, ESPIRiT maps + CG-SENSE as the chain runs them (recon/pi_methods.hpp), all coils
// vs compressed to several energy fractions, in one run.
//   bench_chain_compress phantom NC N [R]        2D simulated (Shepp-Logan x simulated_coil_maps, noise
//                                                 1e-3), R x 1 with 24 ACS lines
//   bench_chain_compress volume NC NZ N [RY RZ]  3D: the object and coils of bench_scale, 2 x 2, 24 x 24 ACS
//   bench_chain_compress twix FILE [R]           a real fully sampled 2D scan, retrospectively R x 1, 24 ACS
// Prints per setting: virtual coils, kept calibration energy, seconds (wall and process CPU) for maps and
// CG-SENSE, magnitude NRMSE against the uncompressed chain, and (phantom) against the true object.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>

#include "larmor/coils/chain_compression.hpp"
#include "larmor/io/twix.hpp"
#include "larmor/larmor.hpp"
#include "larmor/recon/pi_methods.hpp"

namespace {

using larmor::array;
using larmor::cfloat;
using larmor::extents;
using larmor::index_t;

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
double cpu() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

// Keeps lines y % ry == 0 (z % rz == 0) and the central acs x acs block.
void undersample(array<cfloat, 4>& k, index_t ry, index_t rz, index_t acs) {
  const index_t nc = k.shape(0), nz = k.shape(1), ny = k.shape(2), nx = k.shape(3);
  for (index_t c = 0; c < nc; ++c)
    for (index_t z = 0; z < nz; ++z)
      for (index_t y = 0; y < ny; ++y) {
        const bool in_acs = std::abs(y - ny / 2) < acs / 2 && (nz == 1 || std::abs(z - nz / 2) < acs / 2);
        if ((y % ry == 0 && z % rz == 0) || in_acs) continue;
        for (index_t x = 0; x < nx; ++x) k(c, z, y, x) = 0;
      }
}

double nrmse(const array<cfloat, 3>& a, const array<float, 3>& ref) {
  double n = 0, d = 0;
  for (index_t i = 0; i < a.size(); ++i) {
    const double e = std::abs(a[i]) - ref[i];
    n += e * e;
    d += double(ref[i]) * ref[i];
  }
  return std::sqrt(n / d);
}

struct run_result {
  array<cfloat, 3> image;
  double maps_s, maps_cpu, cg_s, cg_cpu, cc_s;
  index_t nv;
  double energy;
};

run_result run(const array<cfloat, 4>& k, const larmor::coil_compression_options* o) {
  run_result r;
  double t = now(), c00 = cpu();
  array<cfloat, 4> kc;
  const array<cfloat, 4>* kk = &k;
  larmor::chain_compression cc;
  if (o) {
    cc = larmor::compression_for(nullptr, k, *o);
    std::printf("  (estimate %.2f s wall, %.2f s CPU;", now() - t, cpu() - c00);
    const double t1 = now(), c1 = cpu();
    kc = k;
    cc.apply(kc);
    kk = &kc;
    std::printf(" copy + apply %.2f s wall, %.2f s CPU)\n", now() - t1, cpu() - c1);
  }
  r.cc_s = now() - t;
  r.nv = o ? cc.virtual_coils() : k.shape(0);
  r.energy = cc.retained_energy();
  std::any state;
  t = now();
  double c0 = cpu();
  larmor::detail::cached_maps(*kk, nullptr, state);
  r.maps_s = now() - t, r.maps_cpu = cpu() - c0;
  t = now(), c0 = cpu();
  r.image = larmor::detail::cgsense_method(*kk, nullptr, state);
  r.cg_s = now() - t, r.cg_cpu = cpu() - c0;
  return r;
}

void compare(const array<cfloat, 4>& k, const array<float, 3>* truth) {
  const auto full = run(k, nullptr);
  array<float, 3> ref(full.image.shape());
  for (index_t i = 0; i < ref.size(); ++i) ref[i] = std::abs(full.image[i]);
  std::printf("%-14s %4s %9s %8s %8s %8s %8s %8s %10s %10s\n", "setting", "nv", "energy", "cc_s", "maps_s", "maps_cpu",
              "cg_s", "cg_cpu", "nrmse_full", "nrmse_true");
  auto row = [&](const char* name, const run_result& r) {
    std::printf("%-14s %4lld %9.5f %8.2f %8.2f %8.2f %8.2f %8.2f %10.5f %10s\n", name, static_cast<long long>(r.nv),
                r.energy, r.cc_s, r.maps_s, r.maps_cpu, r.cg_s, r.cg_cpu, nrmse(r.image, ref),
                truth ? std::to_string(nrmse(r.image, *truth)).c_str() : "-");
  };
  row("all coils", full);
  for (double e : {0.99, 0.995, 0.999, 0.9999}) {
    larmor::coil_compression_options o;
    o.energy = e;
    o.auto_above = 0;
    char name[32];
    std::snprintf(name, sizeof name, "energy %.4g", e);
    row(name, run(k, &o));
  }
  std::fflush(stdout);
}

// Object magnitude x root-sum-of-squares of the true maps: what a unit-norm-map combination returns.
array<float, 3> truth_2d(index_t nc, index_t n) {
  const auto obj = larmor::shepp_logan<float>(n, n);
  const auto maps = larmor::simulated_coil_maps<float>(nc, n, n);
  array<float, 3> t(extents<3>{1, n, n});
  for (index_t y = 0; y < n; ++y)
    for (index_t x = 0; x < n; ++x) {
      double s = 0;
      for (index_t c = 0; c < nc; ++c) s += std::norm(std::complex<double>(maps(c, y, x)));
      t(0, y, x) = static_cast<float>(std::abs(obj(y, x)) * std::sqrt(s));
    }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string what = argc > 1 ? argv[1] : "";
  try {
    if (what == "phantom" && argc >= 4) {
      const index_t nc = std::atol(argv[2]), n = std::atol(argv[3]), r = argc > 4 ? std::atol(argv[4]) : 2;
      const auto k3 = larmor::simulated_kspace<float>(nc, n, 1e-3);
      auto k = array<cfloat, 3>(k3).reshape(extents<4>{nc, 1, n, n});
      undersample(k, r, 1, 24);
      std::printf("phantom 2D: %lld coils %lldx%lld R=%lld, 24 ACS lines\n", static_cast<long long>(nc),
                  static_cast<long long>(n), static_cast<long long>(n), static_cast<long long>(r));
      const auto t = truth_2d(nc, n);
      compare(k, &t);
      return 0;
    }
    if (what == "volume" && argc >= 5) {
      const index_t nc = std::atol(argv[2]), nz = std::atol(argv[3]), n = std::atol(argv[4]);
      const index_t ry = argc > 5 ? std::atol(argv[5]) : 2, rz = argc > 6 ? std::atol(argv[6]) : 2;
      // The object and coils of bench_scale (Shepp-Logan extruded along z, per-coil z profile), noise 0.01.
      const auto obj = larmor::shepp_logan<float>(n, n);
      const auto maps = larmor::simulated_coil_maps<float>(nc, n, n);
      array<cfloat, 4> k(extents<4>{nc, nz, n, n});
      const index_t rings = (nc + 7) / 8;
      std::mt19937 rng(5);
      std::normal_distribution<float> g(0.f, 0.01f);
      for (index_t c = 0; c < nc; ++c) {
        const float zc = rings > 1 ? -0.8f + 1.6f * static_cast<float>(c % rings) / static_cast<float>(rings - 1) : 0.f;
        for (index_t z = 0; z < nz; ++z) {
          const float zz = -1.f + 2.f * static_cast<float>(z) / static_cast<float>(nz), a = std::abs(zz);
          const float taper = a <= 0.7f ? 1.f : a >= 0.9f ? 0.f : 0.5f * (1.f + std::cos(3.14159265f * (a - 0.7f) / 0.2f));
          const cfloat prof = std::polar(std::exp(-(zz - zc) * (zz - zc) / (2 * 0.25f)), 0.8f * zz);
          for (index_t y = 0; y < n; ++y)
            for (index_t x = 0; x < n; ++x) k(c, z, y, x) = maps(c, y, x) * obj(y, x) * taper * prof;
        }
      }
      // Truth: |object| x taper x root-sum-of-squares of the true sensitivities (maps x z profile).
      array<float, 3> truth(extents<3>{nz, n, n});
      for (index_t z = 0; z < nz; ++z)
        for (index_t y = 0; y < n; ++y)
          for (index_t x = 0; x < n; ++x) {
            double s2 = 0;
            for (index_t c = 0; c < nc; ++c) s2 += std::norm(std::complex<double>(k(c, z, y, x)));
            truth(z, y, x) = static_cast<float>(std::sqrt(s2));
          }
      larmor::fftc_inplace(k.view(), {1, 2, 3});
      for (auto& v : k) v += cfloat(g(rng), g(rng));
      undersample(k, ry, rz, 24);
      std::printf("volume 3D: %lld coils %lldx%lldx%lld, %lldx%lld, 24x24 ACS\n", static_cast<long long>(nc),
                  static_cast<long long>(nz), static_cast<long long>(n), static_cast<long long>(n),
                  static_cast<long long>(ry), static_cast<long long>(rz));
      compare(k, &truth);
      return 0;
    }
    if (what == "twix" && argc >= 3) {
      const index_t r = argc > 3 ? std::atol(argv[3]) : 2;
      const auto raw = larmor::io::read_twix(argv[2]);
      auto kd = larmor::assemble_kspace(raw);
      auto& k = kd.imaging.at(0).kspace;
      undersample(k, r, 1, 24);
      std::printf("%s: %lld coils %lldx%lld, R=%lld, 24 ACS lines\n", argv[2], static_cast<long long>(k.shape(0)),
                  static_cast<long long>(k.shape(2)), static_cast<long long>(k.shape(3)), static_cast<long long>(r));
      compare(k, nullptr);
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_chain_compress: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "usage: bench_chain_compress phantom NC N [R] | volume NC NZ N [RY RZ] | twix FILE [R]\n");
  return 2;
}
