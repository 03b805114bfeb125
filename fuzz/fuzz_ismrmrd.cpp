// libFuzzer target for the ISMRMRD path that larmor owns: the XML header (io::parse_ismrmrd_header: the
// encoding, limits, acceleration, trajectory and its description) and the acquisition headers a file
// carries (flags, counters, centre sample, discards, channels, samples) through the k-space assembly,
// which must refuse a corrupt header before it allocates. The HDF5 container itself is the HDF5
// library's (its own fuzzing); the test suite covers truncated and damaged files.
//
// Input layout: 2 bytes little-endian L, L bytes of XML, then 16-byte readout records
//   u32 flags | u16 e1 | u16 e2 | u8 slice | u8 contrast | u8 repetition | u16 center_sample |
//   u8 discard_pre | u8 discard_post | u8 channels (1 + v % 4) | u8 samples (1 + v)
// with sample values derived from the record bytes. The only acceptable outcomes are a return or a
// larmor::Error. Build with -DLARMOR_BUILD_FUZZ=ON and clang; run scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "larmor/core/parallel.hpp"
#include "larmor/fft/fftw_plan.hpp"
#include "larmor/io/ismrmrd.hpp"
#include "larmor/assembly/kspace_assembly.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  larmor::set_fft_planner_effort(larmor::fft_planner_effort::estimate);
  larmor::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace larmor;
  if (size < 2) return 0;
  const std::size_t xml_len = std::min<std::size_t>(size - 2, data[0] | (std::size_t{data[1]} << 8));
  const std::string xml(reinterpret_cast<const char*>(data + 2), xml_len);
  try {
    const auto header = io::parse_ismrmrd_header(xml, "fuzz");
    // A plausible but large matrix is a valid scan that the assembler allocates when the machine has the
    // memory (it refuses more than physical memory); the fuzzer's own budget is 1 GiB (scripts/fuzz.sh), so
    // headers whose buffer of up to 4 channels would exceed 256 MiB are not exercised here.
    const double cells = 4.0 * header.encoded_matrix[0] * header.encoded_matrix[1] * header.encoded_matrix[2];
    if (cells * sizeof(cfloat) > 256.0 * (1 << 20)) return 0;
    kspace_assembler as(header, "fuzz");
    for (std::size_t p = 2 + xml_len; p + 16 <= size; p += 16) {
      const std::uint8_t* r = data + p;
      io::acquisition a;
      std::memcpy(&a.flags, r, 4);
      std::memcpy(&a.idx.kspace_encode_step_1, r + 4, 2);
      std::memcpy(&a.idx.kspace_encode_step_2, r + 6, 2);
      a.idx.slice = r[8], a.idx.contrast = r[9], a.idx.repetition = r[10];
      std::memcpy(&a.center_sample, r + 11, 2);
      a.discard_pre = r[13] % 8, a.discard_post = r[14] % 8;
      const index_t channels = 1 + r[15] % 4, samples = 1 + (r[15] >> 2) * 4;
      a.data = array<cfloat, 2>(extents<2>{channels, samples});
      for (index_t i = 0; i < a.data.size(); ++i)
        a.data[i] = cfloat(static_cast<float>(r[i % 16]) - 128.f, static_cast<float>(i % 7));
      as.add(a);
    }
    (void)std::move(as).finish();
  } catch (const Error&) {
  }
  return 0;
}
