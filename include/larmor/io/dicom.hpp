// larmor/io/dicom.hpp — images as DICOM MR Image Storage files (DCMTK; compiled in src/io, target larmor::io).
//
// One file per 2D image (a 3D image record gives one file per partition), grouped in series:
//   - one series per (image type, contrast, set): magnitude, phase, real and imaginary are their own series (a
//     complex image record gives a real and an imaginary series); slices, cardiac phases and repetitions of a
//     contrast are instances of one series (a time series: TemporalPositionIdentifier = repetition + 1);
//   - pixels as 16-bit integers with RescaleSlope/Intercept (value = slope * stored + intercept): magnitude
//     unsigned over its series' range, phase 0..4095 for (-pi, pi] rad, real/imaginary signed; a window from
//     the series' 99th percentile;
//   - geometry from image_geometry.hpp: ImagePositionPatient (centre of the first pixel), ImageOrientationPatient
//     (row = read, column = phase), PixelSpacing (row spacing = phase pixel size, column spacing = read),
//     SliceThickness, SpacingBetweenSlices (between neighbouring slices of the series), SliceLocation (position
//     along read x phase);
//   - identity and timing from scan_information (the ISMRMRD header): patient, study, protocol, field strength,
//     TR, TE (per contrast), TI, flip angle, sequence; empty where the header has nothing (never invented).
// UIDs: the header's study UID and frame of reference when it has them; every other UID is "2.25." followed by
// the decimal digits of a random 128-bit number (ISO/IEC 9834-8 UUID-derived UIDs, PS3.5 B.2: no registered root
// needed), made once per study / series / instance of a call, so unique per series and stable within it.
// An image without geometry (geometry_of refuses it) is written without ImagePositionPatient/Orientation, with a
// warning in ImageComments, never with an invented position.
// The files are written under temporary names and renamed at the end: a failure leaves no file behind.
#pragma once

#include <string>
#include <vector>

#include "larmor/io/image_record.hpp"
#include "larmor/io/scan_information.hpp"

namespace larmor::io {

struct dicom_options {
  std::string series_description_suffix;  // appended to the protocol name in SeriesDescription (e.g. " larmor")
  std::string method;                     // the reconstruction, for ImageComments ("larmor grappa")
  int first_series_number = 0;            // 0: the header's initialSeriesNumber, else 1
};

struct dicom_series {
  std::string series_instance_uid, description;
  int series_number = 0;
  std::vector<std::string> files;  // paths written, in instance order
};

// Writes `images` into `directory` (created if missing) as <series number>_<kind>/<instance>.dcm and returns the
// series written. InvalidArgument for an empty list; DataError when a file cannot be written.
std::vector<dicom_series> write_dicom(const std::vector<image_record>& images, const scan_information& scan,
                                      const std::string& directory, const dicom_options& opt = {});

// A DICOM UID "2.25.<decimal of 128 random bits>" (at most 44 characters).
std::string make_dicom_uid();

}  // namespace larmor::io
