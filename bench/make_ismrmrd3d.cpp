// larmor_make_ismrmrd3d — writes a simulated 3D Cartesian ISMRMRD 1.8 raw-data file of any size, for
// measuring the memory and time of `larmor recon` on realistic (e.g. 5T-class, 64-coil 256x256x128) scans.
//
//   larmor_make_ismrmrd3d COILS NX NY NZ RY RZ ACS OUT.h5 [NOISE_SCANS [OS [LAYOUT]]]
//
// LAYOUT "3d" (default) or "slices": NZ 2D slices acquired one after the other (a sequential multi-slice
// scan, 5 mm apart), each slice's last readout flagged ACQ_LAST_IN_SLICE, RZ ignored; slice s is the
// object and coils at the z position of partition s of the 3D layout (image space, no FFT along z).
//
// Object: the modified Shepp-Logan (sim/phantom.hpp) in (y, x), extruded along z with a profile that is
// 1 for |z| <= 0.7 and falls to 0 at |z| = 0.9 (cosine taper), z in [-1, 1).
// Coils: simulated_coil_maps(COILS, NY, NX) in-plane (every coil its own angle on the ring) times a
// z-profile: coil c sits in ring c % rings (rings = ceil(COILS / 8)), ring centres evenly spaced in
// [-0.8, 0.8], Gaussian fall-off of width 0.5 and a linear phase along z.
// Object and sensitivities are separable in z, so the centred unitary 3D k-space of coil c is
//     k_c(kz, ky, kx) = fftc_z(f a_c)(kz) * fftc_yx(SL b_c)(ky, kx)
// and every readout is one product of a (coils, NY, NX) and a (coils, NZ) table: the file is written line
// by line and never held in memory (peak ~ COILS * NY * NX * 8 bytes). Complex white noise of sigma 0.01
// per real/imaginary part is added to every sample; NOISE_SCANS (default 4) noise readouts of NX samples
// with the same sigma come first (ACQ_IS_NOISE_MEASUREMENT), so recon pre-whitens as for scanner data.
// Sampling: lines with y % RY == 0 and z % RZ == 0, plus the central ACS x ACS block of (y, z) lines
// (ACS lines off the lattice flagged ACQ_IS_PARALLEL_CALIBRATION, on it ..._AND_IMAGING; calibration
// mode "embedded"). RY = RZ = 1 (ACS ignored) writes a fully sampled scan.
// OS (default 1): readout oversampling as scanners record it: OS * NX samples per readout over an encoded FOV
// OS times the recon FOV along x (the object fills the central NX columns), recon space NX.
// Header: recon space (NX, NY, NZ), FOV 256 x 256 x 128 mm (1 mm voxels at 256 x 256 x 128), encoded space
// (OS * NX, NY, NZ), encoding limits with centres NY/2 and NZ/2, 5 T, receiverChannels = COILS.
#include <ismrmrd/dataset.h>
#include <ismrmrd/ismrmrd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <filesystem>
#include <random>
#include <string>

#include "larmor/fft/fft.hpp"
#include "larmor/sim/phantom.hpp"

namespace {

using larmor::cfloat;
using larmor::index_t;

std::string header_xml(index_t nc, index_t nx, index_t ny, index_t nz, index_t ry, index_t rz, index_t os,
                       index_t slices) {
  auto v3 = [](const char* tag, double x, double y, double z) {
    char b[256];
    std::snprintf(b, sizeof b, "<%s><x>%g</x><y>%g</y><z>%g</z></%s>", tag, x, y, z, tag);
    return std::string(b);
  };
  auto lim = [](const char* tag, index_t max, index_t centre) {
    return "<" + std::string(tag) + "><minimum>0</minimum><maximum>" + std::to_string(max) + "</maximum><center>" +
           std::to_string(centre) + "</center></" + tag + ">";
  };
  const double fx = static_cast<double>(nx), fy = static_cast<double>(ny), fz = static_cast<double>(nz);
  const double o = static_cast<double>(os);
  const std::string recon_space =
      v3("matrixSize", fx, fy, fz) + v3("fieldOfView_mm", 256.0 * fx / 256, 256.0 * fy / 256, 128.0 * fz / 128);
  const std::string encoded_space =
      v3("matrixSize", o * fx, fy, fz) + v3("fieldOfView_mm", o * 256.0 * fx / 256, 256.0 * fy / 256, 128.0 * fz / 128);
  std::string x = "<?xml version=\"1.0\"?><ismrmrdHeader xmlns=\"http://www.ismrm.org/ISMRMRD\">";
  x += "<measurementInformation><patientPosition>HFS</patientPosition><protocolName>larmor_make_ismrmrd3d</protocolName></measurementInformation>";
  x += "<acquisitionSystemInformation><systemFieldStrength_T>5.0</systemFieldStrength_T><receiverChannels>" +
       std::to_string(nc) + "</receiverChannels></acquisitionSystemInformation>";
  x += "<experimentalConditions><H1resonanceFrequency_Hz>212885000</H1resonanceFrequency_Hz></experimentalConditions>";
  x += "<encoding><encodedSpace>" + encoded_space + "</encodedSpace><reconSpace>" + recon_space + "</reconSpace>";
  x += "<encodingLimits>" + lim("kspace_encoding_step_1", ny - 1, ny / 2) + lim("kspace_encoding_step_2", nz - 1, nz / 2) +
       lim("average", 0, 0) + lim("slice", slices - 1, 0) + lim("contrast", 0, 0) + lim("phase", 0, 0) +
       lim("repetition", 0, 0) + lim("set", 0, 0) + lim("segment", 0, 0) + "</encodingLimits>";
  x += "<trajectory>cartesian</trajectory>";
  if (ry * rz > 1)
    x += "<parallelImaging><accelerationFactor><kspace_encoding_step_1>" + std::to_string(ry) +
         "</kspace_encoding_step_1><kspace_encoding_step_2>" + std::to_string(rz) +
         "</kspace_encoding_step_2></accelerationFactor><calibrationMode>embedded</calibrationMode></parallelImaging>";
  x += "</encoding></ismrmrdHeader>";
  return x;
}

void set_geometry(ISMRMRD::Acquisition& a, index_t nc, index_t nx) {
  ISMRMRD::AcquisitionHeader h = a.getHead();
  h.number_of_samples = static_cast<uint16_t>(nx);
  h.active_channels = h.available_channels = static_cast<uint16_t>(nc);
  h.center_sample = static_cast<uint16_t>(nx / 2);
  h.sample_time_us = 2.5f;
  h.read_dir[0] = 1, h.phase_dir[1] = 1, h.slice_dir[2] = 1;
  for (int i = 0; i < 3; ++i) h.position[i] = 0, h.patient_table_position[i] = 0;
  a.setHead(h);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 9 || argc > 12) {
    std::fprintf(stderr, "usage: larmor_make_ismrmrd3d COILS NX NY NZ RY RZ ACS OUT.h5 [NOISE_SCANS [OS [3d|slices]]]\n");
    return 2;
  }
  const index_t nc = std::atol(argv[1]), nx = std::atol(argv[2]), ny = std::atol(argv[3]), nz = std::atol(argv[4]);
  const bool slices = argc >= 12 && std::string(argv[11]) == "slices";
  if (argc >= 12 && !slices && std::string(argv[11]) != "3d") {
    std::fprintf(stderr, "larmor_make_ismrmrd3d: LAYOUT must be 3d or slices\n");
    return 2;
  }
  const index_t ry = std::atol(argv[5]), rz = slices ? 1 : std::atol(argv[6]), acs = std::atol(argv[7]);
  const std::string out = argv[8];
  const index_t noise_scans = argc >= 10 ? std::atol(argv[9]) : 4, os = argc >= 11 ? std::atol(argv[10]) : 1;
  if (nc < 1 || nx < 2 || ny < 2 || nz < 2 || ry < 1 || rz < 1 || acs < 0 || noise_scans < 0 || os < 1 ||
      nc > 65535 || os * nx > 65535 || ny > 65535 || nz > 65535) {
    std::fprintf(stderr, "larmor_make_ismrmrd3d: bad sizes\n");
    return 2;
  }
  const double pi = 3.14159265358979323846;

  // In-plane k-space of every coil: fftc_yx(SL b_c), (coils, y, OS * x); the object in the central NX columns.
  const index_t nr = os * nx, x0 = (nr - nx) / 2;  // samples per readout; first object column
  auto p = larmor::simulated_coil_maps<float>(nc, ny, nr);
  {
    const auto sl = larmor::shepp_logan<float>(ny, nx);
    for (index_t c = 0; c < nc; ++c)
      for (index_t y = 0; y < ny; ++y)
        for (index_t x = 0; x < nr; ++x)
          p(c, y, x) *= x >= x0 && x < x0 + nx ? sl(y, x - x0) : 0.f;
    larmor::fftc_inplace(p, {1, 2});
  }
  // z spectrum of every coil: fftc_z(f a_c), (coils, z).
  const index_t rings = (nc + 7) / 8;
  larmor::array<cfloat, 2> q(larmor::extents<2>{nc, nz});
  for (index_t c = 0; c < nc; ++c) {
    const index_t r = c % rings;
    const double zc = rings == 1 ? 0.0 : -0.8 + 1.6 * static_cast<double>(r) / static_cast<double>(rings - 1);
    for (index_t z = 0; z < nz; ++z) {
      const double zn = -1.0 + 2.0 * (static_cast<double>(z) + 0.5) / static_cast<double>(nz);
      const double az = std::abs(zn);
      const double f = az <= 0.7 ? 1.0 : az >= 0.9 ? 0.0 : 0.5 * (1 + std::cos(pi * (az - 0.7) / 0.2));
      const double mag = f * std::exp(-(zn - zc) * (zn - zc) / (2 * 0.5 * 0.5)), ph = 0.3 * pi * (zn - zc);
      q(c, z) = cfloat(static_cast<float>(mag * std::cos(ph)), static_cast<float>(mag * std::sin(ph)));
    }
  }
  if (!slices) larmor::fftc_inplace(q, {1});  // slices: the image-space profile, one value per slice

  std::filesystem::remove(out);
  ISMRMRD::Dataset d(out.c_str(), "dataset", true);
  d.writeHeader(slices ? header_xml(nc, nx, ny, 1, ry, 1, os, nz) : header_xml(nc, nx, ny, nz, ry, rz, os, 1));
  std::mt19937 rng(11);
  std::normal_distribution<float> g(0.f, 0.01f);
  ISMRMRD::Acquisition a(static_cast<uint16_t>(nr), static_cast<uint16_t>(nc));
  uint32_t counter = 0;
  for (index_t s = 0; s < noise_scans; ++s) {
    a.clearAllFlags();
    set_geometry(a, nc, nr);
    a.setFlag(ISMRMRD::ISMRMRD_ACQ_IS_NOISE_MEASUREMENT);
    a.scan_counter() = counter++;
    for (auto* v = a.data_begin(); v != a.data_end(); ++v) *v = std::complex<float>(g(rng), g(rng));
    d.appendAcquisition(a);
  }
  const bool accelerated = ry * rz > 1;
  auto in_acs = [&](index_t i, index_t n) { return accelerated && i >= n / 2 - acs / 2 && i < n / 2 - acs / 2 + acs; };
  // slices: every slice samples the lattice lines and its own ACS block (in_acs along z always true).
  auto in_acs_z = [&](index_t z) { return slices || in_acs(z, nz); };
  index_t written = 0, total = 0, first_line = ny, last_line = -1;
  for (index_t z = 0; z < nz; ++z)
    for (index_t y = 0; y < ny; ++y) {
      const bool taken = (y % ry == 0 && z % rz == 0) || (in_acs(y, ny) && in_acs_z(z));
      total += taken;
      if (taken && z == 0) first_line = std::min(first_line, y), last_line = std::max(last_line, y);
    }
  for (index_t z = 0; z < nz; ++z)
    for (index_t y = 0; y < ny; ++y) {
      const bool lattice = y % ry == 0 && z % rz == 0, calib = in_acs(y, ny) && in_acs_z(z);
      if (!lattice && !calib) continue;
      a.clearAllFlags();
      set_geometry(a, nc, nr);
      if (calib) a.setFlag(lattice ? ISMRMRD::ISMRMRD_ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING
                                   : ISMRMRD::ISMRMRD_ACQ_IS_PARALLEL_CALIBRATION);
      const bool slice_first = slices ? y == first_line : written == 0;
      const bool slice_last = slices ? y == last_line : written == total - 1;
      if (slice_first) a.setFlag(ISMRMRD::ISMRMRD_ACQ_FIRST_IN_SLICE);
      if (slice_last) a.setFlag(ISMRMRD::ISMRMRD_ACQ_LAST_IN_SLICE);
      if (written == total - 1) a.setFlag(ISMRMRD::ISMRMRD_ACQ_LAST_IN_MEASUREMENT);
      a.scan_counter() = counter++;
      a.idx().kspace_encode_step_1 = static_cast<uint16_t>(y);
      a.idx().kspace_encode_step_2 = static_cast<uint16_t>(slices ? 0 : z);
      a.idx().slice = static_cast<uint16_t>(slices ? z : 0);
      if (slices) {
        ISMRMRD::AcquisitionHeader h = a.getHead();
        h.position[2] = static_cast<float>(5.0 * (static_cast<double>(z) - static_cast<double>(nz) / 2));
        a.setHead(h);
      }
      std::complex<float>* dst = a.getDataPtr();  // data[channel * samples + sample]
      for (index_t c = 0; c < nc; ++c) {
        const cfloat qz = q(c, z);
        const cfloat* row = p.data() + (c * ny + y) * nr;
        for (index_t x = 0; x < nr; ++x) dst[c * nr + x] = qz * row[x] + std::complex<float>(g(rng), g(rng));
      }
      d.appendAcquisition(a);
      ++written;
    }
  std::fprintf(stderr,
               "larmor_make_ismrmrd3d: %s: %u readouts (%td noise), %td coils, %td x %td x %td, R %td x %td, OS %td\n",
               out.c_str(), counter, noise_scans, nc, nx, ny, nz, ry, rz, os);
  return 0;
}
