// larmor/nufft/gradient_delay.hpp — radial gradient-delay estimation by radial intersections (RING) and the
// trajectory correction it implies.
//
// Model (Rosenzweig S, Holme HCM, Uecker M. Simple auto-calibrated gradient delay estimation from few spokes
// using radial intersections (RING). MRM 81:1898, 2019): a spoke with unit readout direction n = (n_x, n_y)
// meant to sample k = u dk n (u: samples from its k = 0 crossing, dk: the readout's sample spacing) samples
// instead
//
//   k = (u dk) n + dk S n,        S = [[S_xx, S_xy], [S_xy, S_yy]]  (samples)
//
// — per-axis gradient delays shift every spoke along its own direction by a direction-dependent amount; S_xy
// is the anisotropy between the axes. Two spokes i, j that are not parallel intersect in the true k-space at
// one point: u_i n_i + S n_i = u_j n_j + S n_j. RING finds (u_i, u_j) where the two spokes' multi-coil data
// agree best, and the pairs' equations S (n_i - n_j) = u_j n_j - u_i n_i (two per pair) are solved for the
// three entries of S by least squares.
//
// Here: each spoke's data are interpolated along the readout band-limitedly, on a grid of 1/upsample samples
// within +-search samples of its nominal centre: profile p = ifftc(spoke), cropped to the central `crop` of the
// readout's field of view (the object of a 2x-oversampled readout fills half of it: the rest is noise), then
//   v(u) = Ns^-1/2 sum_x p(x) exp(-2 pi i u x / Ns)   (u in samples from the centre; = the sample at integer u
//                                                     when crop = 1)
// Each spoke is paired with the spoke closest to orthogonal to it (within 30 degrees), the squared difference
// sum_c |v_ic(u) - v_jc(w)|^2 is minimised over the (u, w) grid and refined by a parabola through the
// minimum's neighbours per axis. Pairs whose minimum lies on the edge of the search region (a delay beyond
// it) are dropped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "larmor/core/array.hpp"

namespace larmor {

struct ring_options {
  double search = 4.0;       // +- samples around each spoke's nominal centre
  int upsample = 32;         // grid points per sample
  double crop = 0.6;         // fraction of the readout FOV kept (1: none; use 1 without readout oversampling)
  index_t max_spokes = 96;   // spokes used (evenly chosen from the given ones; 48-64 give 0.003 samples)
};

struct gradient_delay_estimate {
  double sxx = 0, syy = 0, sxy = 0;  // S in samples of the readout, axes of the directions given (x, y)
  index_t pairs = 0;                 // spoke pairs used
  double residual_rms = 0;           // RMS of the pairs' equations after the fit (samples)
  // "S_xx 0.512, S_yy -0.298, S_xy 0.013 samples (RING, 64 spoke pairs, residual 0.02)"
  std::string describe() const;
};

// data (spokes, coils, samples) contiguous; directions (spokes, 2): unit readout directions (n_x, n_y);
// centre (spokes): the fractional sample index of each spoke's nominal k = 0 crossing. Throws DataError when
// fewer than 3 usable pairs are found (too few spokes, directions too alike, delays beyond `search`).
gradient_delay_estimate ring_gradient_delay(const cfloat* data, index_t spokes, index_t coils, index_t samples,
                                            const double* directions, const double* centre,
                                            const ring_options& o = {});

// The spokes of a trajectory's in-plane part: readouts of `samples` points, coords (readouts * samples,
// stride) in any units, x and y at offsets ox, oy of each point. A readout is a spoke when its points lie on a straight line through the origin at even spacing
// (deviation <= 5 % of the spacing); then direction, spacing and centre (fractional index of k = 0) are set.
struct radial_spokes {
  bool radial = false;              // every readout is a spoke
  std::string why_not;              // when not: which readout fails and how
  std::vector<double> directions;   // (readouts, 2)
  std::vector<double> centre;       // (readouts)
  std::vector<double> spacing;      // (readouts) dk, in the coordinates' units
};
radial_spokes find_radial_spokes(const float* coords, index_t readouts, index_t samples, index_t stride, int ox, int oy);

// Applies the estimate: k += dk S n per spoke (coords (readouts * samples, stride), the x and y entries at
// offsets ox, oy of each point).
void correct_radial_trajectory(float* coords, index_t readouts, index_t samples, index_t stride, int ox, int oy,
                               const radial_spokes& spokes, const gradient_delay_estimate& s);

}  // namespace larmor
