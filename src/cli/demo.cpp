// `larmor demo`: a real scan through the whole chain. The 16-channel in-vivo brain that ships in
// data/scans (Siemens twix, 3 T, 128 x 128, fully sampled; MIT licence, see data/scans/README.md) is
// reconstructed twice:
//   1. fully sampled: ESPIRiT maps + Roemer combination (auto);
//   2. retrospectively accelerated the way a clinical protocol is: every 3rd phase-encode line (GRAPPA
//      R = 3) with 24 embedded ACS lines, and partial Fourier 6/8 (the first quarter of the lines not
//      acquired, encoding limits saying so) — GRAPPA fills the lattice, POCS the missing quarter;
//   and, for comparison, the same k-space with the partial-Fourier quarter zero filled.
// One PNG shows the three side by side (same grey window) with each one's NRMSE against the fully
// sampled image. `--input FILE` reconstructs another raw file instead (one panel).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "cli/commands.hpp"
#include "larmor/io/ismrmrd.hpp"
#include "larmor/io/twix.hpp"
#include "larmor/larmor.hpp"
#include "preview/png_preview.hpp"

namespace larmor::cli {

namespace {

// The scan in the source tree, else beside the executable (<bin>/../share/larmor/...: a .deb, any install
// prefix, the pip package's larmor/bin/larmor), else where `cmake --install` put it.
std::string demo_scan() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::string beside =
      ec ? std::string() : (exe.parent_path().parent_path() / "share" / "larmor" / LARMOR_DEMO_SCAN_RELATIVE).string();
  std::string looked;
  for (const std::string& p : {std::string(LARMOR_DEMO_SCAN_SOURCE), beside, std::string(LARMOR_DEMO_SCAN_INSTALLED)}) {
    if (p.empty()) continue;
    if (std::filesystem::exists(p)) return p;
    looked += (looked.empty() ? "" : ", ") + p;
  }
  throw DataError("demo scan not found (looked for " + looked + "); `larmor demo --input FILE` takes any raw file");
}

// || a - s b || / || s b || with the least-squares scale s (images from different chains differ in scale).
double scaled_nrmse(const array<float, 3>& a, const array<float, 3>& b) {
  double ab = 0, bb = 0;
  for (index_t i = 0; i < a.size(); ++i) ab += double(a[i]) * b[i], bb += double(b[i]) * b[i];
  const double s = bb > 0 ? ab / bb : 0;
  double e = 0;
  for (index_t i = 0; i < a.size(); ++i) e += (a[i] - s * b[i]) * (a[i] - s * b[i]);
  return bb > 0 ? std::sqrt(e / (s * s * bb)) : 0;
}

// The scan as a GRAPPA R = ry protocol with `acs` embedded calibration lines and partial Fourier: lines
// below first_line (counted from the first encoded line) never acquired.
io::raw_dataset accelerate(const io::raw_dataset& full, index_t ry, index_t acs, index_t first_line) {
  io::raw_dataset out;
  out.header = full.header;
  out.source = full.source + " (GRAPPA R=" + std::to_string(ry) + ", partial Fourier)";
  const index_t ny = full.header.encoded_matrix[1];
  const index_t centre = full.header.e1 ? full.header.e1->center : ny / 2;
  out.header.accel_e1 = static_cast<std::uint16_t>(ry);
  out.header.calibration_mode = "embedded";
  out.header.e1 = io::limit{static_cast<std::uint16_t>(first_line), static_cast<std::uint16_t>(ny - 1),
                            static_cast<std::uint16_t>(centre)};
  for (const auto& a : full.acquisitions) {
    const index_t e1 = a.idx.kspace_encode_step_1;
    const bool imaging = !a.has(io::acq_flag::is_noise_measurement);
    const bool in_acs = std::abs(e1 - centre) < acs / 2 + (acs % 2);
    const bool on_lattice = (e1 - centre) % ry == 0;
    if (imaging && (e1 < first_line || (!on_lattice && !in_acs))) continue;
    auto b = a;
    if (imaging && in_acs) b.flags |= io::flag_bit(io::acq_flag::is_parallel_calibration_and_imaging);
    out.acquisitions.push_back(std::move(b));
  }
  return out;
}

strided_view<const float, 2> middle(const array<float, 3>& m) {
  return strided_view<const float, 2>(m.data() + (m.shape(0) / 2) * m.shape(1) * m.shape(2),
                                      extents<2>{m.shape(1), m.shape(2)});
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo", "reconstruct the real brain scan that ships with larmor, fully sampled "
                                         "and accelerated (GRAPPA R=3 + partial Fourier 6/8); write a PNG");
  struct options {
    std::string png = "larmor_demo.png", out, input, method = "auto";
    int threads = 0;
  };
  auto opt = std::make_shared<options>();
  cmd->add_option("--png", opt->png, "preview file to write")->capture_default_str();
  cmd->add_option("-o,--out", opt->out, "also write the images as ISMRMRD");
  cmd->add_option("--input", opt->input, "another raw-data file (ISMRMRD or twix) instead of the shipped scan");
  cmd->add_option("--method", opt->method, "reconstruction method (with --input)")->capture_default_str();
  cmd->add_option("--threads", opt->threads, "worker threads")->check(CLI::NonNegativeNumber);
  cmd->callback([opt] {
    if (opt->threads > 0) set_num_threads(opt->threads);
    const auto t0 = std::chrono::steady_clock::now();
    auto ms = [&] { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count(); };
    if (!opt->input.empty()) {
      const auto res = run_recon(opt->input, opt->out, opt->method, opt->png, "unit", "dataset");
      const auto& m = res.images.front().magnitude;
      std::printf("larmor demo: %s -> %td x %td image (%s) in %.1f ms -> %s\n", opt->input.c_str(), m.shape(1),
                  m.shape(2), res.method.c_str(), ms(), opt->png.c_str());
      return;
    }
    const auto raw = io::read_twix(demo_scan());
    const auto full = recon(raw);
    const auto acc_raw = accelerate(raw, 3, 24, raw.header.encoded_matrix[1] / 4);
    recon_options said;  // what the chain says about this buffer (partial Fourier trusted or not)
    bool pf_not_trusted = false;
    said.progress = [&](const std::string& s) { pf_not_trusted |= s.find("not trusted") != std::string::npos; };
    const auto acc = recon(acc_raw, said);
    recon_options zero;
    zero.partial_fourier.method = partial_fourier_method::zero;
    const auto acc_zero = recon(acc_raw, zero);
    const auto& ref = full.images.front().magnitude;
    const double e_pocs = scaled_nrmse(acc.images.front().magnitude, ref);
    const double e_zero = scaled_nrmse(acc_zero.images.front().magnitude, ref);
    char l1[64], l2[64];
    std::snprintf(l1, sizeof l1, pf_not_trusted ? "R3+PF6/8 AUTO %.3f" : "R3+PF6/8 POCS %.3f", e_pocs);
    std::snprintf(l2, sizeof l2, "PF ZERO-FILL %.3f", e_zero);
    write_png_panels(opt->png, {{middle(ref), "FULLY SAMPLED"},
                                {middle(acc.images.front().magnitude), l1},
                                {middle(acc_zero.images.front().magnitude), l2}});
    if (!opt->out.empty()) io::write_ismrmrd_images(opt->out, acc.images);
    std::printf("larmor demo: 16-channel in-vivo brain %td x %td (data/scans/pulseq_invivo_brain_16ch)\n",
                ref.shape(1), ref.shape(2));
    std::printf("  fully sampled                        %s\n", full.method.c_str());
    std::printf("  GRAPPA R=3 + 24 ACS, partial Fourier 6/8 (%s)   %s  NRMSE %.4f\n",
                pf_not_trusted ? "POCS not trusted on this brain's phase: zero filled" : "POCS", acc.method.c_str(),
                e_pocs);
    std::printf("  the same, partial Fourier zero filled             %s  NRMSE %.4f\n", acc_zero.method.c_str(), e_zero);
    std::printf("  %.0f ms in all -> %s\n", ms(), opt->png.c_str());
  });
}

}  // namespace larmor::cli
