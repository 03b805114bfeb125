// larmor/recon/recon_option_names.hpp — the chain's options as a user writes them (the words of
// `larmor recon --method ... --image-type ...`, of larmor.recon(..., method=..., output=...), of
// larmor.recon_to_file and of larmor.batch), turned into recon_options by one parser, so the command line,
// Python and the batch layer accept the same values and refuse the same mistakes with the same message.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "larmor/recon/chain.hpp"

namespace larmor {

struct recon_option_names {
  std::string method = "auto";             // auto | a name of recon_methods()
  std::string image_type = "magnitude";    // magnitude | complex | phase | real | imaginary
  std::string partial_fourier = "pocs";    // pocs | homodyne | zero
  std::string noise_scaling = "unit";      // unit (BART's whiten) | snr (Gadgetron's SNR units)
  std::string compress = "auto";           // auto | off | N virtual coils
  double lambda = 0;                       // the cs method's l1-wavelet weight; 0: its default
  std::optional<std::vector<long long>> slices;  // none: every slice
  std::string normalize = "off";           // off | auto | coils | body: receive-field (intensity) normalisation
};

inline recon_options parse_recon_options(const recon_option_names& n) {
  recon_options o;
  detail::check_recon_method(n.method);
  o.method = n.method;
  o.output = io::parse_image_type(n.image_type);
  o.partial_fourier.method = parse_partial_fourier_method(n.partial_fourier);
  LARMOR_CHECK_ARG(n.noise_scaling == "unit" || n.noise_scaling == "snr",
                   "noise scaling (--noise-scaling, noise_scaling=) must be unit or snr, got '", n.noise_scaling, "'");
  o.noise.scaling = n.noise_scaling == "snr" ? noise_scaling::snr_units : noise_scaling::unit;
  LARMOR_CHECK_ARG(std::isfinite(n.lambda) && n.lambda >= 0, "lambda (--lambda, lam=) must be finite and >= 0, got ",
                   n.lambda);
  o.lambda = static_cast<float>(n.lambda);
  if (n.compress == "off") {
    o.compression.enabled = false;
  } else if (n.compress != "auto") {
    long long c = 0;
    std::size_t used = 0;
    try {
      c = std::stoll(n.compress, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    LARMOR_CHECK_ARG(used == n.compress.size() && c >= 1 && c <= 65535,
                     "coil compression (--compress, compress=) must be auto, off or a coil count >= 1, got '",
                     n.compress, "'");
    o.compression.coils = static_cast<index_t>(c);
  }
  LARMOR_CHECK_ARG(n.normalize == "off" || n.normalize == "auto" || n.normalize == "coils" || n.normalize == "body",
                   "intensity normalisation (--normalize, normalize=) must be off, auto, coils or body, got '",
                   n.normalize, "'");
  o.normalize = n.normalize;
  if (n.slices) {
    LARMOR_CHECK_ARG(!n.slices->empty(), "slices is an empty list (none means every slice)");
    for (const long long s : *n.slices) {
      LARMOR_CHECK_ARG(s >= 0 && s <= 65535, "slice ", s, " out of range 0..65535");
      o.slices.push_back(static_cast<std::uint16_t>(s));
    }
  }
  return o;
}

}  // namespace larmor
