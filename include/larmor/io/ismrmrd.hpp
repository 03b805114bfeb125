// larmor/io/ismrmrd.hpp — ISMRMRD raw data in, ISMRMRD images out (compiled in src/io, target
// larmor::io; HDF5 and libismrmrd stay out of every other header).
//
// read_ismrmrd parses the XML header of the first encoding (encoded and recon space, encoding limits
// with centres, acceleration factors, calibration mode) and reads every acquisition of
// <file>/<group>/data into the scanner-independent raw_dataset (acquisition.hpp). Nothing is
// interpreted here: the Cartesian chain (assembly/kspace_assembly.hpp) decides what each flag means.
// Errors (missing file, not HDF5, no such group, malformed header, truncated data) raise
// larmor::DataError with one line naming the file; the HDF5 library's error printing is silenced.
//
// write_ismrmrd_images writes one ISMRMRD image per image_record — float magnitude, phase, real or
// imaginary, or complex float, as its `type` says (matrix x/y/z, one channel) — with its geometry and
// loop indices into <file>/<group>/image_0. The file is written
// under a temporary name and renamed at the end, so a failure never leaves a partial file behind.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "larmor/io/acquisition.hpp"
#include "larmor/io/image_record.hpp"

namespace larmor::io {

raw_dataset read_ismrmrd(const std::string& path, const std::string& group = "dataset");

// The same one readout at a time: `header` receives the parsed header first, then `each` every acquisition
// in file order. Only one readout is held at a time (read_ismrmrd collects them into a vector), so a
// caller can assemble k-space (assembly/kspace_assembly.hpp: kspace_assembler) without holding the raw data
// twice. Errors as for read_ismrmrd; larmor::Error from a callback passes through unchanged.
void read_ismrmrd(const std::string& path, const std::string& group,
                  const std::function<void(const encoding_header&)>& header,
                  const std::function<void(acquisition&&)>& each);

// The XML header of an ISMRMRD file (its first encoding) as read_ismrmrd parses it; `source` names it in
// messages. DataError for malformed XML or a header without an encoding. (Fuzzed: fuzz/fuzz_ismrmrd.cpp.)
encoding_header parse_ismrmrd_header(const std::string& xml, const std::string& source);

void write_ismrmrd_images(const std::string& path, const std::vector<image_record>& images,
                          const std::string& group = "dataset");

// Reads back what write_ismrmrd_images wrote (for tests and `larmor info` of image files).
std::vector<image_record> read_ismrmrd_images(const std::string& path, const std::string& group = "dataset");

// A complex float array stored as an HDF5 compound {real, imag} dataset (how ismrmrd-tools stores the
// ground truth beside its synthetic raw data, e.g. "dataset/phantom", "dataset/csm"). dims are HDF5's
// (row-major, slowest first); samples holds prod(dims) values.
struct hdf5_complex_array {
  std::vector<index_t> dims;
  array<cfloat, 1> samples;
};
hdf5_complex_array read_hdf5_complex(const std::string& path, const std::string& dataset);

}  // namespace larmor::io
