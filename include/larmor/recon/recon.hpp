// larmor/recon/recon.hpp — raw data -> images: the chain (chain.hpp: k-space assembly, pre-whitening,
// a method per buffer, partial Fourier, recon matrix) and the streaming session that runs it as readouts
// arrive (recon_session.hpp). recon(raw_dataset) and recon_file (recon_file.hpp) run through a session.
#pragma once

#include "larmor/recon/chain.hpp"
#include "larmor/recon/recon_session.hpp"
