// larmor/larmor.hpp — the umbrella header: include this one.
#pragma once

#include "larmor/core/array.hpp"
#include "larmor/core/error.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/core/view.hpp"
#include "larmor/fft/fft.hpp"
#include "larmor/calib/calibration_region.hpp"
#include "larmor/coils/coil_compress.hpp"
#include "larmor/coils/combine.hpp"
#include "larmor/coils/espirit.hpp"
#include "larmor/coils/inati.hpp"
#include "larmor/coils/noise.hpp"
#include "larmor/coils/rss.hpp"
#include "larmor/coils/walsh.hpp"
#include "larmor/io/cfl.hpp"
#include "larmor/sim/phantom.hpp"
#include "larmor/version.hpp"
