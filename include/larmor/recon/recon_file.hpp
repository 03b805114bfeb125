// larmor/recon/recon_file.hpp — recon(path, method): an ISMRMRD file in, images out. Needs the compiled
// ISMRMRD reader: link larmor::io.
#pragma once

#include <string>

#include "larmor/io/ismrmrd.hpp"
#include "larmor/recon/recon.hpp"

namespace larmor {

inline recon_result recon(const std::string& path, const std::string& method = "auto") {
  recon_options o;
  o.method = method;
  return recon(io::read_ismrmrd(path), o);
}

}  // namespace larmor
