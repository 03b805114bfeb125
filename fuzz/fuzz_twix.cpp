// libFuzzer target for the Siemens twix reader: any byte string goes through parse_twix and, when it
// parses, through the Cartesian k-space assembly (acquisitions -> buffers). The only acceptable outcomes
// are a return or a larmor::Error; sanitizers (address, undefined) and libFuzzer's own limits (memory,
// time per input) catch everything else. Build with -DLARMOR_BUILD_FUZZ=ON and clang; run scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>

#include "larmor/io/twix.hpp"
#include "larmor/recon/kspace_assembly.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto raw = larmor::io::parse_twix(data, size, -1, "fuzz");
    (void)larmor::assemble_kspace(raw);
  } catch (const larmor::Error&) {
  }
  return 0;
}
