// The FFT's instantiations (include/larmor/fft/fft.hpp, fftw_plan.hpp): the plan cache and the centred
// DFTs for float and double, ranks 1 to 6, compiled once here; the headers declare them extern.
#include "larmor/fft/fft.hpp"

namespace larmor {

template class fftw_plan_cache<float>;
template class fftw_plan_cache<double>;

namespace detail {
LARMOR_FFT_INSTANCES(, float)
LARMOR_FFT_INSTANCES(, double)
}  // namespace detail

}  // namespace larmor
