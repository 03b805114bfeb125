// `larmor demo`: reconstructs the small raw-data file that ships with larmor (data/, an ISMRMRD file made
// by ismrmrd_generate_cartesian_shepp_logan: 8 coils, 96 x 96, 2x readout oversampling, noise scans)
// with the full chain — noise pre-whitening, oversampling removal, ESPIRiT maps, Roemer combination —
// and writes a PNG preview.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "cli/commands.hpp"
#include "larmor/larmor.hpp"

namespace larmor::cli {

namespace {

std::string demo_data() {
  for (const char* p : {LARMOR_DEMO_DATA_SOURCE, LARMOR_DEMO_DATA_INSTALLED})
    if (std::filesystem::exists(p)) return p;
  throw DataError(std::string("demo data not found (looked for ") + LARMOR_DEMO_DATA_SOURCE + " and " +
                  LARMOR_DEMO_DATA_INSTALLED + ")");
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo", "reconstruct the raw-data file that ships with larmor, write a PNG");
  struct options {
    std::string png = "larmor_demo.png", out, input, method = "espirit";
    int threads = 0;
  };
  auto opt = std::make_shared<options>();
  cmd->add_option("--png", opt->png, "preview file to write")->capture_default_str();
  cmd->add_option("-o,--output", opt->out, "also write the images as ISMRMRD");
  cmd->add_option("--input", opt->input, "another ISMRMRD raw-data file instead of the shipped one");
  cmd->add_option("--method", opt->method, "reconstruction method")->capture_default_str();
  cmd->add_option("--threads", opt->threads, "worker threads")->check(CLI::NonNegativeNumber);
  cmd->callback([opt] {
    if (opt->threads > 0) set_num_threads(opt->threads);
    const std::string in = opt->input.empty() ? demo_data() : opt->input;
    const auto t0 = std::chrono::steady_clock::now();
    const auto res = run_recon(in, opt->out, opt->method, opt->png, "unit", "dataset");
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const auto& m = res.images.front().magnitude;
    std::printf("larmor demo: %s -> %td x %td image (%s) in %.1f ms -> %s\n", in.c_str(), m.shape(1), m.shape(2),
                res.method.c_str(), ms, opt->png.c_str());
  });
}

}  // namespace larmor::cli
