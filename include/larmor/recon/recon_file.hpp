// larmor/recon/recon_file.hpp — recon of a raw-data file: an ISMRMRD or Siemens twix file (.dat, or
// recognised by its content) in, images out. Needs the compiled readers: link larmor::io.
//
// ISMRMRD files are streamed: every readout goes into the kspace_assembler as it is read and is freed
// right after, so the peak memory holds the k-space buffers once, not the readouts beside them
// (5T-class 3D, 64 coils x 256 x 256 x 128: 4 GiB less). Twix files are read whole first.
#pragma once

#include <optional>
#include <string>

#include "larmor/io/ismrmrd.hpp"
#include "larmor/io/twix.hpp"
#include "larmor/recon/recon.hpp"

namespace larmor {

inline bool is_twix_path(const std::string& path) {
  return (path.size() >= 4 && path.compare(path.size() - 4, 4, ".dat") == 0) || io::is_twix_file(path);
}

inline recon_result recon_file(const std::string& path, const recon_options& opt = {},
                               const std::string& group = "dataset") {
  if (is_twix_path(path)) {
    const auto raw = io::read_twix(path);
    return recon(raw, opt);
  }
  detail::check_recon_method(opt.method);
  if (opt.progress) opt.progress("reading and sorting the readouts of " + path);
  io::encoding_header header;
  std::optional<kspace_assembler> assembler;
  std::optional<epi::epi_corrector> epi_filter;  // EPI: ramp regridding + Nyquist ghost correction before assembly
  const auto place = [&](io::acquisition&& a) { assembler->add(a); };
  io::read_ismrmrd(
      path, group,
      [&](const io::encoding_header& h) {
        header = h;
        if (epi::is_epi(h)) header = epi_filter.emplace(h).corrected_header();
        assembler.emplace(header, path);
      },
      [&](io::acquisition&& a) {
        if (!detail::selected_readout(opt, a)) return;
        if (epi_filter) epi_filter->add(std::move(a), place);
        else assembler->add(a);
      });
  LARMOR_CHECK_DATA(assembler.has_value(), "recon: ", path, ": no header");
  if (epi_filter) epi_filter->finish(place);
  if (opt.progress) opt.progress(std::to_string(assembler->added()) + " readouts");
  return recon(std::move(*assembler).finish(), header, opt);
}

inline recon_result recon(const std::string& path, const std::string& method = "auto") {
  recon_options o;
  o.method = method;
  return recon_file(path, o);
}

}  // namespace larmor
