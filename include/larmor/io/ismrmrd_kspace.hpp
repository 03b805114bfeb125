// larmor/io/ismrmrd_kspace.hpp — an ISMRMRD raw-data file read straight into assembled k-space buffers:
// the one read call C++ and Python share.
//
//   C++                                         Python
//   io::read_ismrmrd(path, group)               (raw readouts; no Python counterpart needed: see below)
//   io::read_ismrmrd_kspace(path, group)        larmor.read_ismrmrd(path, dataset) -> dict, and its alias
//                                               larmor.read_ismrmrd_kspace(path, dataset)
//
// read_ismrmrd_kspace reads the readouts one at a time (io::read_ismrmrd with callbacks) into a
// kspace_assembler (assembly/kspace_assembly.hpp), so the list of raw acquisitions never exists beside the
// k-space: the result is the parsed XML header and the assembled buffers — one (coils, z, y, x) k-space
// per slice/contrast/phase/repetition/set with averages divided out and readout oversampling removed,
// the noise scans (coils, samples) and separate calibration buffers. Python's dict holds exactly these:
// 'header' (the header's fields), 'kspace' + 'indices' (imaging buffers and their keys), 'noise' (or None),
// 'calibration'. Raw readouts stay a C++ affair (io::read_ismrmrd, io::acquisition); Python gets the
// same data assembled because per-readout Python objects would cost more than the reconstruction.
// Errors: larmor::DataError naming the file (missing, not HDF5, malformed, non-Cartesian trajectory...).
#pragma once

#include <optional>
#include <string>

#include "larmor/io/ismrmrd.hpp"
#include "larmor/assembly/kspace_assembly.hpp"

namespace larmor::io {

struct ismrmrd_kspace {
  encoding_header header;
  assembled_kspace kspace;
};

inline ismrmrd_kspace read_ismrmrd_kspace(const std::string& path, const std::string& group = "dataset",
                                          const assembly_options& opt = {}) {
  ismrmrd_kspace out;
  std::optional<kspace_assembler> as;
  read_ismrmrd(
      path, group,
      [&](const encoding_header& h) {
        out.header = h;
        as.emplace(h, path, opt);
      },
      [&](acquisition&& a) { as->add(a); });
  LARMOR_CHECK_DATA(as.has_value(), "read_ismrmrd_kspace: ", path, ": no header was read");
  out.kspace = std::move(*as).finish();
  return out;
}

}  // namespace larmor::io
