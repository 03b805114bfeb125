// `larmor demo`: reconstructs a simulated multi-coil acquisition of the Shepp-Logan phantom and
// writes a PNG. Steps: phantom x coil maps -> k-space (fftc) + complex Gaussian noise -> ifftc -> RSS.
#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include "cli/commands.hpp"
#include "larmor/larmor.hpp"
#include "preview/png_preview.hpp"

namespace larmor::cli {

void add_demo_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo", "simulate and reconstruct a multi-coil phantom, write a PNG");
  struct options {
    std::string png = "larmor_demo.png";
    int coils = 16;
    int size = 256;
    int threads = 0;
  };
  auto opt = std::make_shared<options>();
  cmd->add_option("--png", opt->png, "preview file to write")->capture_default_str();
  cmd->add_option("--coils", opt->coils, "receive coils")->check(CLI::Range(1, 256))->capture_default_str();
  cmd->add_option("--size", opt->size, "matrix size")->check(CLI::Range(8, 2048))->capture_default_str();
  cmd->add_option("--threads", opt->threads, "worker threads")->check(CLI::NonNegativeNumber);
  cmd->callback([opt] {
    if (opt->threads > 0) set_num_threads(opt->threads);
    const index_t n = opt->size, nc = opt->coils;
    const auto t0 = std::chrono::steady_clock::now();
    const array<float, 2> truth = shepp_logan<float>(n, n);
    const array<cfloat, 3> maps = simulated_coil_maps<float>(nc, n, n);
    array<cfloat, 3> coil_imgs(extents<3>{nc, n, n});
    for (index_t c = 0; c < nc; ++c)
      for (index_t y = 0; y < n; ++y)
        for (index_t x = 0; x < n; ++x) coil_imgs(c, y, x) = maps(c, y, x) * truth(y, x);
    array<cfloat, 3> kspace = fftc(coil_imgs.cview());
    std::mt19937 rng(1234);
    std::normal_distribution<float> noise(0.0f, 0.002f);
    for (auto& v : kspace) v += cfloat(noise(rng), noise(rng));
    const array<cfloat, 3> recon_coils = ifftc(kspace.cview());
    const array<float, 2> image = rss(recon_coils.cview());
    write_png_preview(opt->png, image.cview());
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("larmor demo: %d coils, %dx%d, RSS reconstruction in %.1f ms -> %s\n", opt->coils, opt->size,
                opt->size, ms, opt->png.c_str());
  });
}

}  // namespace larmor::cli
