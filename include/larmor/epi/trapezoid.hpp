// larmor/epi/trapezoid.hpp — where in k-space each ADC sample of a ramp-sampled EPI readout lies.
//
// The readout lobe is a trapezoid G(t): linear ramp-up over [0, Tu], flat top over [Tu, Tu + Tf], linear
// ramp-down over [Tu + Tf, T], T = Tu + Tf + Td (io::epi_trapezoid, times in microseconds). Its moment
//   m(t) = integral_0^t G / G_flat  =  t^2 / (2 Tu)                          t <= Tu
//                                      Tu/2 + (t - Tu)                       Tu < t <= Tu + Tf
//                                      Tu/2 + Tf + Td/2 - (T - t)^2 / (2 Td)  t > Tu + Tf
// is k(t) up to the gradient amplitude. ADC sample n (0-based, in recording order) stands for its dwell
// interval [delay + n dwell, delay + (n + 1) dwell] and is placed at its centre, t_n = delay + (n + 1/2)
// dwell. (On the Siemens ep2d_bold scan of data/scans this convention leaves an odd/even shift of 0.2
// samples for the navigators to remove; sampling instants at the interval starts would leave 1.5 samples.)
// The echo (k = 0) is half-way through the lobe, at m(T/2) (the prephaser cancels half of the lobe's
// moment). The grid spacing is fixed by the area the ADC window covers: the window [delay, delay + Ns dwell]
// spans `grid` uniform k-space steps, as a readout of `grid` samples on a flat top would (Gadgetron's
// EPIReconXObjectTrapezoid scales its trajectory the same way). So
//   kappa_n = (m(t_n) - m(T/2)) * grid / (m(delay + Ns dwell) - m(delay))      (units of 1/FOV_encoded)
// and a flat-top readout (Tu = Td = 0, delay = 0, Ns = grid) gives kappa_n = n + 1/2 - grid/2: uniform steps,
// the echo between samples grid/2 - 1 and grid/2. A reversed readout (negative lobe, ACQ_IS_REVERSE) runs
// through the same positions negated: sample n of it lies at -kappa_n. A scanner whose true sampling instant
// differs from this convention by a fraction of a dwell (or gradient delays) shifts forward and reversed
// echoes in opposite directions: a linear phase between odd and even echoes, which the navigator
// correction (ghost_correction.hpp) measures and removes.
#pragma once

#include <cmath>
#include <vector>

#include "larmor/core/error.hpp"
#include "larmor/core/view.hpp"
#include "larmor/io/acquisition.hpp"

namespace larmor::epi {

// The normalised gradient moment m(t) of the trapezoid (microseconds; G_flat = 1). t is clamped to [0, T].
inline double trapezoid_moment(const io::epi_trapezoid& g, double t) {
  const double tu = g.ramp_up_us, tf = g.flat_top_us, td = g.ramp_down_us, total = tu + tf + td;
  t = std::min(std::max(t, 0.0), total);
  if (t <= tu) return tu > 0 ? 0.5 * t * t / tu : 0.0;
  if (t <= tu + tf) return 0.5 * tu + (t - tu);
  const double v = total - t;
  return 0.5 * tu + tf + 0.5 * td - (td > 0 ? 0.5 * v * v / td : 0.0);
}

// Checks that the trapezoid can define a readout of `samples` samples at `dwell_us`; names what is wrong.
inline void check_trapezoid(const io::epi_trapezoid& g, index_t samples, double dwell_us, const char* who) {
  LARMOR_CHECK_DATA(std::isfinite(g.ramp_up_us) && std::isfinite(g.flat_top_us) && std::isfinite(g.ramp_down_us) &&
                        std::isfinite(g.acq_delay_us) && g.ramp_up_us >= 0 && g.flat_top_us >= 0 &&
                        g.ramp_down_us >= 0 && g.acq_delay_us >= 0,
                    who, ": EPI readout trapezoid has negative or non-finite times (ramp-up ", g.ramp_up_us,
                    " us, flat top ", g.flat_top_us, " us, ramp-down ", g.ramp_down_us, " us, delay ",
                    g.acq_delay_us, " us)");
  LARMOR_CHECK_DATA(g.ramp_up_us + g.flat_top_us + g.ramp_down_us > 0, who,
                    ": EPI readout trapezoid has zero duration");
  LARMOR_CHECK_DATA(std::isfinite(dwell_us) && dwell_us > 0, who, ": EPI dwell time ", dwell_us,
                    " us is not positive (neither the trapezoid nor the readouts give it)");
  LARMOR_CHECK_DATA(samples >= 2, who, ": an EPI readout of ", samples, " samples cannot be regridded");
  const double end = g.acq_delay_us + static_cast<double>(samples) * dwell_us;
  const double total = g.ramp_up_us + g.flat_top_us + g.ramp_down_us;
  LARMOR_CHECK_DATA(end <= total * 1.0001 + 1e-3, who, ": the ADC window (delay ", g.acq_delay_us, " us + ",
                    samples, " samples x ", dwell_us, " us = ", end, " us) outlasts the readout trapezoid (", total,
                    " us)");
}

// k-space positions kappa_n (units of the uniform grid step, k = 0 at 0) of the `samples` ADC samples of a
// forward readout; the uniform target grid has `grid` points. See the header comment for the formula.
inline std::vector<double> ramp_sample_positions(const io::epi_trapezoid& g, index_t samples, double dwell_us,
                                                 index_t grid) {
  check_trapezoid(g, samples, dwell_us, "ramp_sample_positions");
  LARMOR_CHECK_ARG(grid >= 2, "ramp_sample_positions: grid of ", grid, " points");
  const double total = g.ramp_up_us + g.flat_top_us + g.ramp_down_us;
  const double window = trapezoid_moment(g, g.acq_delay_us + static_cast<double>(samples) * dwell_us) -
                        trapezoid_moment(g, g.acq_delay_us);
  LARMOR_CHECK_DATA(window > 0, "ramp_sample_positions: the ADC window covers no gradient area");
  const double scale = static_cast<double>(grid) / window, centre = trapezoid_moment(g, 0.5 * total);
  std::vector<double> k(static_cast<std::size_t>(samples));
  for (index_t n = 0; n < samples; ++n)
    k[static_cast<std::size_t>(n)] =
        (trapezoid_moment(g, g.acq_delay_us + (static_cast<double>(n) + 0.5) * dwell_us) - centre) * scale;
  return k;
}

}  // namespace larmor::epi
