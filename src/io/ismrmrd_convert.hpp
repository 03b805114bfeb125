// src/io/ismrmrd_convert.hpp (private to larmor_io) — larmor's readout and image records <-> libismrmrd's
// structs, one conversion for the HDF5 files (ismrmrd_io.cpp) and the network stream (ismrmrd_stream.cpp).
#pragma once

#include <ismrmrd/ismrmrd.h>

#include <algorithm>
#include <array>
#include <complex>

#include "larmor/io/acquisition.hpp"
#include "larmor/io/image_record.hpp"

namespace larmor::io::detail {

// Three elements of a member array of a packed ISMRMRD header, read by value (ISMRMRD's headers are packed
// structs: their members are read by value, never bound to a reference or a pointer, which would be misaligned;
// hence a macro, not a function).
#define LARMOR_ISMRMRD_VEC3(a) (std::array<float, 3>{(a)[0], (a)[1], (a)[2]})

// The header fields of one readout (its samples and trajectory apart).
inline acquisition acquisition_fields(const ISMRMRD::ISMRMRD_AcquisitionHeader& hd) {
  acquisition q;
  q.flags = hd.flags;
  q.scan_counter = hd.scan_counter;
  q.discard_pre = hd.discard_pre;
  q.discard_post = hd.discard_post;
  q.center_sample = hd.center_sample;
  q.sample_time_us = hd.sample_time_us;
  const ISMRMRD::EncodingCounters idx = hd.idx;
  q.idx = {idx.kspace_encode_step_1, idx.kspace_encode_step_2, idx.average, idx.slice, idx.contrast,
           idx.phase, idx.repetition, idx.set, idx.segment};
  q.position = LARMOR_ISMRMRD_VEC3(hd.position);
  q.read_dir = LARMOR_ISMRMRD_VEC3(hd.read_dir);
  q.phase_dir = LARMOR_ISMRMRD_VEC3(hd.phase_dir);
  q.slice_dir = LARMOR_ISMRMRD_VEC3(hd.slice_dir);
  q.patient_table_position = LARMOR_ISMRMRD_VEC3(hd.patient_table_position);
  q.acquisition_time_stamp = hd.acquisition_time_stamp;
  q.physiology_time_stamp = {hd.physiology_time_stamp[0], hd.physiology_time_stamp[1], hd.physiology_time_stamp[2]};
  return q;
}

// One readout: its header, data[channel * samples + sample] and, when trajectory_dimensions > 0,
// traj[sample * dims + d] (nullptr otherwise).
inline acquisition from_ismrmrd(const ISMRMRD::ISMRMRD_AcquisitionHeader& hd, const cfloat* data, const float* traj) {
  acquisition q = acquisition_fields(hd);
  const index_t nc = hd.active_channels, ns = hd.number_of_samples;
  q.data = array<cfloat, 2>(extents<2>{nc, ns}, uninitialized);
  std::copy(data, data + nc * ns, q.data.data());
  const index_t dims = hd.trajectory_dimensions;
  if (traj != nullptr && dims > 0 && ns > 0) {
    q.traj = array<float, 2>(extents<2>{ns, dims}, uninitialized);
    std::copy(traj, traj + ns * dims, q.traj.data());
  }
  return q;
}

// Geometry and loop indices of an image record -> the ISMRMRD image header.
template <class Image>
void set_image_header(Image& im, const image_record& r) {
  im.setFieldOfView(r.fov_mm[0], r.fov_mm[1], r.fov_mm[2]);
  im.setPosition(r.position[0], r.position[1], r.position[2]);
  im.setReadDirection(r.read_dir[0], r.read_dir[1], r.read_dir[2]);
  im.setPhaseDirection(r.phase_dir[0], r.phase_dir[1], r.phase_dir[2]);
  im.setSliceDirection(r.slice_dir[0], r.slice_dir[1], r.slice_dir[2]);
  im.setPatientTablePosition(r.patient_table_position[0], r.patient_table_position[1], r.patient_table_position[2]);
  im.setSlice(r.slice);
  im.setContrast(r.contrast);
  im.setPhase(r.phase);
  im.setRepetition(r.repetition);
  im.setSet(r.set);
  im.setAverage(r.average);
  im.setImageIndex(r.image_index);
  im.setImageSeriesIndex(r.series_index);
  im.setAcquisitionTimeStamp(r.acquisition_time_stamp);
  for (unsigned i = 0; i < 3; ++i) im.setPhysiologyTimeStamp(i, r.physiology_time_stamp[i]);
}

// The geometry, loop indices and type of an ISMRMRD image header into an image record (pixels apart). An
// image type larmor does not know reads as magnitude.
inline void set_record_header(image_record& r, const ISMRMRD::ISMRMRD_ImageHeader& h) {
  const std::uint16_t type = h.image_type;
  r.type = type >= 1 && type <= 5 ? static_cast<image_type>(type) : image_type::magnitude;
  r.fov_mm = LARMOR_ISMRMRD_VEC3(h.field_of_view);
  r.position = LARMOR_ISMRMRD_VEC3(h.position);
  r.read_dir = LARMOR_ISMRMRD_VEC3(h.read_dir);
  r.phase_dir = LARMOR_ISMRMRD_VEC3(h.phase_dir);
  r.slice_dir = LARMOR_ISMRMRD_VEC3(h.slice_dir);
  r.patient_table_position = LARMOR_ISMRMRD_VEC3(h.patient_table_position);
  r.slice = h.slice;
  r.contrast = h.contrast;
  r.phase = h.phase;
  r.repetition = h.repetition;
  r.set = h.set;
  r.average = h.average;
  r.image_index = h.image_index;
  r.series_index = h.image_series_index;
  r.acquisition_time_stamp = h.acquisition_time_stamp;
  r.physiology_time_stamp = {h.physiology_time_stamp[0], h.physiology_time_stamp[1], h.physiology_time_stamp[2]};
}

// A complex image record as an ISMRMRD complex-float image (one channel, matrix x/y/z).
inline ISMRMRD::Image<std::complex<float>> complex_ismrmrd_image(const image_record& r) {
  LARMOR_CHECK_ARG(r.complex_image.size() > 0, "ismrmrd image: a complex image record without its complex image");
  const index_t nz = r.complex_image.shape(0), ny = r.complex_image.shape(1), nx = r.complex_image.shape(2);
  ISMRMRD::Image<std::complex<float>> im(static_cast<uint16_t>(nx), static_cast<uint16_t>(ny),
                                         static_cast<uint16_t>(nz), 1);
  std::copy(r.complex_image.begin(), r.complex_image.end(), im.getDataPtr());
  im.setImageType(ISMRMRD::ISMRMRD_IMTYPE_COMPLEX);
  set_image_header(im, r);
  return im;
}

// A magnitude, phase (radians), real or imaginary image record as an ISMRMRD float image.
inline ISMRMRD::Image<float> real_ismrmrd_image(const image_record& r) {
  const index_t nz = r.magnitude.shape(0), ny = r.magnitude.shape(1), nx = r.magnitude.shape(2);
  ISMRMRD::Image<float> im(static_cast<uint16_t>(nx), static_cast<uint16_t>(ny), static_cast<uint16_t>(nz), 1);
  if (r.type == image_type::magnitude) {
    std::copy(r.magnitude.begin(), r.magnitude.end(), im.getDataPtr());
  } else {
    LARMOR_CHECK_ARG(r.complex_image.size() == r.magnitude.size(), "ismrmrd image: a ", image_type_name(r.type),
                     " image record without its complex image");
    float* dst = im.getDataPtr();
    const cfloat* src = r.complex_image.data();
    for (index_t i = 0; i < r.magnitude.size(); ++i)
      dst[i] = r.type == image_type::phase ? std::arg(src[i])
               : r.type == image_type::real ? src[i].real()
                                            : src[i].imag();
  }
  im.setImageType(static_cast<ISMRMRD::ISMRMRD_ImageTypes>(r.type));
  set_image_header(im, r);
  return im;
}

}  // namespace larmor::io::detail
