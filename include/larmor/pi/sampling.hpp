// larmor/pi/sampling.hpp — moved to larmor/sampling/lattice.hpp (the sampling layer, below parallel imaging and
// the operators that use it); this name stays for one release.
#pragma once

#include "larmor/sampling/lattice.hpp"
