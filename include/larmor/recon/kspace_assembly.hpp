// larmor/recon/kspace_assembly.hpp — moved: k-space assembly now sits below both the readers and the chain,
// in larmor/assembly/kspace_assembly.hpp. This forwarding header is kept for one release (0.2 removes it);
// include the new path.
#pragma once

#include "larmor/assembly/kspace_assembly.hpp"
