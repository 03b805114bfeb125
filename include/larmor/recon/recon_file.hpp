// larmor/recon/recon_file.hpp — recon(path, method): an ISMRMRD or Siemens twix file (.dat, or recognised
// by its content) in, images out. Needs the compiled readers: link larmor::io.
#pragma once

#include <string>

#include "larmor/io/ismrmrd.hpp"
#include "larmor/io/twix.hpp"
#include "larmor/recon/recon.hpp"

namespace larmor {

inline recon_result recon(const std::string& path, const std::string& method = "auto") {
  recon_options o;
  o.method = method;
  const bool twix = (path.size() >= 4 && path.compare(path.size() - 4, 4, ".dat") == 0) || io::is_twix_file(path);
  return recon(twix ? io::read_twix(path) : io::read_ismrmrd(path), o);
}

}  // namespace larmor
