// libFuzzer target for the ISMRMRD / Gadgetron stream protocol that `larmor serve` and `larmor recon -` read
// (io/ismrmrd_stream.hpp): any bytes as a stream of messages, each HEADER through the XML header parser and
// the acquisitions into the k-space assembly (which must refuse a corrupt readout before it allocates). The
// only acceptable outcomes are a return or a larmor::Error: no crash, no leak, no allocation beyond the limits.
// Build with -DLARMOR_BUILD_FUZZ=ON and clang; run scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "larmor/core/parallel.hpp"
#include "larmor/fft/fftw_plan.hpp"
#include "larmor/io/ismrmrd.hpp"
#include "larmor/io/ismrmrd_stream.hpp"
#include "larmor/assembly/kspace_assembly.hpp"

namespace {

struct bytes_source : larmor::io::byte_source {
  const std::uint8_t* p;
  std::size_t left;
  std::size_t read_some(void* out, std::size_t n) override {
    const std::size_t k = n < left ? n : left;
    std::memcpy(out, p, k);
    p += k;
    left -= k;
    return k;
  }
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  larmor::set_fft_planner_effort(larmor::fft_planner_effort::estimate);
  larmor::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace larmor;
  bytes_source in;
  in.p = data;
  in.left = size;
  io::stream_limits limits;  // the fuzzer's memory budget is 1 GiB (scripts/fuzz.sh)
  limits.max_text_bytes = 1 << 20;
  limits.max_readout_bytes = 16 << 20;
  limits.max_image_bytes = 64 << 20;
  try {
    io::stream_reader r(in, "fuzz", limits);
    std::unique_ptr<kspace_assembler> as;
    while (auto m = r.next()) {
      if (m->id == io::stream_message::header) {
        const auto header = io::parse_ismrmrd_header(m->text, "fuzz");
        const double cells = 4.0 * header.encoded_matrix[0] * header.encoded_matrix[1] * header.encoded_matrix[2];
        if (cells * sizeof(cfloat) > 256.0 * (1 << 20)) return 0;  // as fuzz_ismrmrd.cpp
        as = std::make_unique<kspace_assembler>(header, "fuzz");
      } else if (m->readout && as) {
        if (m->readout->channels() > 4) continue;  // the assembler's buffer is sized by the first readout
        as->add(*m->readout);
      }
    }
    if (as) (void)std::move(*as).finish();
  } catch (const Error&) {
  }
  return 0;
}
