// libFuzzer target for the Siemens twix reader: any byte string goes through parse_twix and, when it
// parses, through the Cartesian k-space assembly (acquisitions -> buffers). The only acceptable outcomes
// are a return or a larmor::Error; sanitizers (address, undefined) and libFuzzer's own limits (memory,
// time per input) catch everything else. Build with -DLARMOR_BUILD_FUZZ=ON and clang; run scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>

#include "larmor/core/parallel.hpp"
#include "larmor/fft/fftw_plan.hpp"
#include "larmor/io/twix.hpp"
#include "larmor/assembly/kspace_assembly.hpp"

// Every input makes new transform shapes: estimated FFTW plans (measuring a >= 2^20-point plan takes
// seconds, which is the planner's cost, not a finding) and one thread, so the time limit per input means
// what it says.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  larmor::set_fft_planner_effort(larmor::fft_planner_effort::estimate);
  larmor::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto raw = larmor::io::parse_twix(data, size, -1, "fuzz");
    (void)larmor::assemble_kspace(raw);
  } catch (const larmor::Error&) {
  }
  return 0;
}
