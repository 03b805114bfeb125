// commands.hpp — the subcommands of the `larmor` command line tool.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "larmor/recon/recon.hpp"

namespace larmor::cli {

// Registers `larmor demo` on app; the callback runs the demo reconstruction.
void add_demo_command(CLI::App& app);
// `larmor recon IN -o OUT` and `larmor info IN` (recon.cpp).
void add_recon_command(CLI::App& app);
void add_info_command(CLI::App& app);
// `larmor serve` and `larmor send` (serve.cpp).
void add_serve_command(CLI::App& app);
void add_send_command(CLI::App& app);
// `larmor recon -`: an ISMRMRD stream (the protocol of `larmor serve`) read from stdin.
recon_result recon_stream_input(const recon_options& opt);

// Reads IN, reconstructs with `method`, writes OUT (if not empty) and the PNG (if not empty).
// output: magnitude|complex|phase|real|imaginary; partial_fourier: pocs|homodyne|zero; lambda: for cs.
// gfactors, fieldmaps: when non-null, receive the g-factor maps of the parallel-imaging methods and the B0 field
// maps of multi-echo scans (recon_options::gfactor_sink, fieldmap_sink).
recon_result run_recon(const std::string& in, const std::string& out, const std::string& method,
                       const std::string& png, const std::string& noise_scaling, const std::string& group,
                       const std::string& output = "magnitude", const std::string& partial_fourier = "pocs",
                       float lambda = 0, const std::string& compress = "auto", double kspace_budget_mb = 0,
                       std::vector<io::image_record>* gfactors = nullptr,
                       std::vector<io::image_record>* fieldmaps = nullptr, const std::string& normalize = "off",
                       std::vector<io::image_record>* unnormalized = nullptr);

}  // namespace larmor::cli
