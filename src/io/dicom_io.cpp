// Images as DICOM MR Image Storage files with DCMTK (larmor/io/dicom.hpp).
#include "larmor/io/dicom.hpp"

#include <dcmtk/dcmdata/dctk.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <tuple>

#include "larmor/io/image_geometry.hpp"
#include "staged_files.hpp"
#include "larmor/version.hpp"

namespace larmor::io {

namespace fs = std::filesystem;
using detail::staged_files;

namespace {

// "2.25." and the decimal digits of a 127-bit number given as four 32-bit words (the top bit cleared).
std::string uid_from_words(std::uint32_t w[4]) {
  w[0] &= 0x7fffffffu;
  std::string digits;
  for (;;) {
    bool zero = true;
    std::uint64_t rem = 0;
    for (int i = 0; i < 4; ++i) {
      const std::uint64_t cur = (rem << 32) | w[i];
      w[i] = static_cast<std::uint32_t>(cur / 10);
      rem = cur % 10;
      zero = zero && w[i] == 0;
    }
    digits.push_back(static_cast<char>('0' + rem));
    if (zero) break;
  }
  std::reverse(digits.begin(), digits.end());
  const auto nz = digits.find_first_not_of('0');
  return "2.25." + (nz == std::string::npos ? std::string("0") : digits.substr(nz));
}

// A UID that is the same for the same text on every run: two 64-bit FNV-1a hashes of it (different offsets).
std::string uid_from_text(const std::string& text) {
  std::uint64_t h1 = 1469598103934665603ull, h2 = 0x84222325cbf29ce4ull;
  for (const unsigned char c : text) {
    h1 = (h1 ^ c) * 1099511628211ull;
    h2 = (h2 ^ c) * 0x100000001b3ull;
    h2 ^= h2 >> 29;
  }
  std::uint32_t w[4] = {static_cast<std::uint32_t>(h1 >> 32), static_cast<std::uint32_t>(h1),
                        static_cast<std::uint32_t>(h2 >> 32), static_cast<std::uint32_t>(h2)};
  return uid_from_words(w);
}

// PS3.5 9.1: digits and dots, components without leading zeros, at most 64 characters.
bool valid_uid(const std::string& u) {
  if (u.empty() || u.size() > 64 || u.front() == '.' || u.back() == '.') return false;
  for (std::size_t i = 0; i < u.size(); ++i) {
    const char c = u[i];
    if (c == '.') {
      if (u[i - 1] == '.') return false;
      continue;
    }
    if (c < '0' || c > '9') return false;
    if (c == '0' && (i == 0 || u[i - 1] == '.') && i + 1 < u.size() && u[i + 1] != '.') return false;
  }
  return true;
}

// At most `n` bytes of UTF-8 text, never a split character (the VR limits, LO 64, SH 16, PN 64, count characters;
// validators and some archives count bytes, so bytes it is).
std::string fit(const std::string& s, std::size_t n) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    if (i + len > s.size() || i + len > n) break;
    i += len;
  }
  return s.substr(0, i);
}

}  // namespace

std::string make_dicom_uid() {
  static thread_local std::mt19937_64 rng{std::random_device{}() ^ (std::uint64_t(std::random_device{}()) << 32)};
  const std::uint64_t a = rng(), b = rng();
  std::uint32_t w[4] = {static_cast<std::uint32_t>(a >> 32), static_cast<std::uint32_t>(a),
                        static_cast<std::uint32_t>(b >> 32), static_cast<std::uint32_t>(b)};
  return uid_from_words(w);
}

namespace {

// The kind of pixel a series holds.
enum class pixel_kind { magnitude, phase, real, imaginary };

const char* kind_name(pixel_kind k) {
  switch (k) {
    case pixel_kind::magnitude: return "magnitude";
    case pixel_kind::phase: return "phase";
    case pixel_kind::real: return "real";
    case pixel_kind::imaginary: return "imaginary";
  }
  return "?";
}

const char* kind_code(pixel_kind k) {  // ImageType value 3, as Siemens scanners write it
  switch (k) {
    case pixel_kind::magnitude: return "M";
    case pixel_kind::phase: return "P";
    case pixel_kind::real: return "R";
    case pixel_kind::imaginary: return "I";
  }
  return "M";
}

// The values of one image's pixels of a kind, (z, y, x) with x fastest.
std::vector<float> values_of(const image_record& r, pixel_kind k) {
  if (k == pixel_kind::magnitude && r.magnitude.size() > 0) return {r.magnitude.begin(), r.magnitude.end()};
  LARMOR_CHECK_ARG(r.complex_image.size() > 0, "write_dicom: a ", kind_name(k), " image without its complex image");
  std::vector<float> v(static_cast<std::size_t>(r.complex_image.size()));
  for (std::size_t i = 0; i < v.size(); ++i) {
    const cfloat c = r.complex_image[static_cast<index_t>(i)];
    v[i] = k == pixel_kind::magnitude ? std::abs(c)
           : k == pixel_kind::phase   ? std::arg(c)
           : k == pixel_kind::real    ? c.real()
                                      : c.imag();
  }
  return v;
}

std::vector<pixel_kind> kinds_of(const image_record& r) {
  switch (r.type) {
    case image_type::magnitude: return {pixel_kind::magnitude};
    case image_type::phase: return {pixel_kind::phase};
    case image_type::real: return {pixel_kind::real};
    case image_type::imaginary: return {pixel_kind::imaginary};
    case image_type::complex: return {pixel_kind::real, pixel_kind::imaginary};
  }
  return {pixel_kind::magnitude};
}

// "YYYY-MM-DD" or "YYYYMMDD" -> DICOM DA "YYYYMMDD"; "HH:MM:SS(.frac)" -> TM "HHMMSS(.frac)"; else "".
std::string dicom_date(const std::string& s) {
  std::string d;
  for (char c : s)
    if (c >= '0' && c <= '9') d.push_back(c);
  return d.size() == 8 ? d : std::string();
}
std::string dicom_time(const std::string& s) {
  std::string t;
  for (char c : s)
    if ((c >= '0' && c <= '9') || c == '.') t.push_back(c);
  return t.size() >= 6 ? t.substr(0, 13) : std::string();
}

// 2.5 ms ticks since midnight -> DICOM TM "HHMMSS.ffffff" (days beyond the first wrap).
std::string time_of_day(std::uint32_t ticks) {
  const double s = std::fmod(ticks * 0.0025, 86400.0);
  const int h = static_cast<int>(s / 3600), m = static_cast<int>((s - h * 3600) / 60);
  const double sec = s - h * 3600 - m * 60;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d%02d%09.6f", h, m, sec);
  return buf;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  std::string s = buf;
  return s.size() <= 16 ? s : std::to_string(static_cast<float>(v)).substr(0, 16);  // DS: at most 16 characters
}

std::string ds_list(std::initializer_list<double> v) {
  std::string s;
  for (double x : v) s += (s.empty() ? "" : "\\") + number(std::abs(x) < 1e-9 ? 0.0 : x);
  return s;
}

void put(DcmDataset& d, const DcmTagKey& tag, const std::string& value) {
  const OFCondition c = d.putAndInsertString(tag, value.c_str());
  LARMOR_CHECK_DATA(c.good(), "write_dicom: cannot set ", DcmTag(tag).getTagName(), " (", c.text(), ")");
}

// ScanningSequence (0018,0020) from ISMRMRD's free-text sequence type, by whole words ("Spiral" is not IR).
std::string scanning_sequence(const std::string& seq) {
  std::vector<std::string> words(1);
  for (char c : seq) {
    if (std::isalnum(static_cast<unsigned char>(c)))
      words.back().push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    else if (!words.back().empty())
      words.emplace_back();
  }
  const auto any = [&](std::initializer_list<const char*> names) {
    for (const auto& w : words)
      for (const char* n : names)
        if (w == n) return true;
    return false;
  };
  if (any({"EPI", "EP", "BOLD", "DWI", "EPISE", "EPIFID"})) return "EP";
  if (any({"IR", "INVERSION", "MPRAGE", "FLAIR", "STIR", "TIR"})) return "IR";
  if (any({"SE", "TSE", "FSE", "SPINECHO", "HASTE", "SPACE", "RARE"})) return "SE";
  if (any({"FLASH", "GRE", "GR", "FISP", "TRUEFISP", "SSFP", "BSSFP", "FFE", "SPGR", "VIBE"})) return "GR";
  return "RM";  // research mode: what the header does not tell
}

float per_contrast(const std::vector<float>& v, std::size_t contrast) {
  if (v.empty()) return -1;
  return v[std::min(contrast, v.size() - 1)];
}

// One 2D plane to write: image i, partition z.
struct plane {
  std::size_t image;
  index_t z;
};

struct series_plan {
  pixel_kind kind;
  std::uint16_t contrast, set;
  std::vector<plane> planes;
  double lo = 0, hi = 0, p99 = 0;  // value range over the series
  int phases = 1;                   // cardiac phases in the series
};

}  // namespace

std::vector<dicom_series> write_dicom(const std::vector<image_record>& images, const scan_information& scan,
                                      const std::string& directory, const dicom_options& opt) {
  LARMOR_CHECK_ARG(!images.empty(), "write_dicom: no images");
  // Series: (kind, contrast, set) in that order, planes in the order made (slices, phases, repetitions).
  std::map<std::tuple<int, int, int>, series_plan> plans;
  for (std::size_t i = 0; i < images.size(); ++i) {
    const auto& r = images[i];
    const index_t nz = r.magnitude.size() > 0 ? r.magnitude.shape(0) : r.complex_image.shape(0);
    for (const auto k : kinds_of(r)) {
      auto& p = plans[{static_cast<int>(k), r.contrast, r.set}];
      p.kind = k, p.contrast = r.contrast, p.set = r.set;
      for (index_t z = 0; z < nz; ++z) p.planes.push_back({i, z});
    }
  }
  // The range of each series (slope and window shared by its instances).
  for (auto& [key, p] : plans) {
    std::vector<float> all;
    for (const auto& pl : p.planes) {
      if (pl.z != 0) continue;
      const auto v = values_of(images[pl.image], p.kind);
      for (float x : v)
        LARMOR_CHECK_DATA(std::isfinite(x), "write_dicom: image ", pl.image, " (slice ",
                          images[pl.image].slice, ", repetition ", images[pl.image].repetition,
                          ") holds NaN or Inf; nothing written");
      all.insert(all.end(), v.begin(), v.end());
    }
    const auto [mn, mx] = std::minmax_element(all.begin(), all.end());
    p.lo = *mn, p.hi = *mx;
    std::vector<float> mags(all.size());
    for (std::size_t j = 0; j < all.size(); ++j) mags[j] = std::abs(all[j]);
    const std::size_t q = std::min(mags.size() - 1, static_cast<std::size_t>(0.99 * static_cast<double>(mags.size())));
    std::nth_element(mags.begin(), mags.begin() + static_cast<std::ptrdiff_t>(q), mags.end());
    p.p99 = mags[q];
    for (const auto& pl : p.planes) p.phases = std::max<int>(p.phases, images[pl.image].phase + 1);
  }
  std::error_code ec;
  fs::create_directories(directory, ec);
  LARMOR_CHECK_DATA(fs::is_directory(directory), "write_dicom: cannot make the directory ", directory);

  // Study and frame of reference: the header's when they are valid UIDs, else derived from what identifies the
  // scan (the same on every run, so magnitude and phase written apart share them), else new.
  const auto uid_for = [&](const std::string& given, const char* what) {
    if (valid_uid(given)) return given;
    return scan.identity.empty() ? make_dicom_uid() : uid_from_text(std::string(what) + "\n" + scan.identity);
  };
  const std::string study_uid = uid_for(scan.study_instance_uid, "study");
  const std::string frame_uid = uid_for(scan.frame_of_reference_uid, "frame of reference");
  int series_number = opt.first_series_number > 0 ? opt.first_series_number
                      : scan.initial_series_number > 0 ? static_cast<int>(scan.initial_series_number)
                                                       : 1;
  std::vector<dicom_series> out;
  staged_files staged;  // every file removed again unless all are written
  {
    for (auto& [key, p] : plans) {
      dicom_series s;
      s.series_number = series_number++;
      s.series_instance_uid = make_dicom_uid();
      s.description = (scan.protocol_name.empty() ? std::string("larmor") : scan.protocol_name) +
                      opt.series_description_suffix + " " + kind_name(p.kind) +
                      (plans.size() > 1 && p.contrast > 0 ? " echo " + std::to_string(p.contrast + 1) : std::string());
      const std::string folder = (fs::path(directory) / (std::to_string(s.series_number) + "_" + kind_name(p.kind) +
                                                         "_c" + std::to_string(p.contrast) + "_s" +
                                                         std::to_string(p.set)))
                                     .string();
      LARMOR_CHECK_DATA(!fs::exists(folder), "write_dicom: ", folder, " exists (a series of an earlier run?): write "
                        "into another directory");
      fs::create_directories(folder, ec);
      LARMOR_CHECK_DATA(fs::is_directory(folder), "write_dicom: cannot make the directory ", folder);
      // Pixel scaling of the series: value = slope * stored + intercept.
      double slope = 1, intercept = 0;
      bool is_signed = false;
      int bits = 16;
      switch (p.kind) {
        case pixel_kind::magnitude:
          if (p.lo < 0) {  // not a magnitude after all (a caller's own image): signed, nothing clamped
            is_signed = true;
            slope = std::max(-p.lo, p.hi) / 32767.0;
          } else {
            slope = p.hi > 0 ? p.hi / 65535.0 : 1;
          }
          break;
        case pixel_kind::phase:
          bits = 12, slope = 2 * M_PI / 4095.0, intercept = -M_PI;
          break;
        case pixel_kind::real:
        case pixel_kind::imaginary: {
          is_signed = true;
          const double m = std::max(std::abs(p.lo), std::abs(p.hi));
          slope = m > 0 ? m / 32767.0 : 1;
          break;
        }
      }
      // Slice spacing: between neighbouring planes of the series along the normal.
      std::vector<double> along;
      for (const auto& pl : p.planes)
        if (has_geometry(images[pl.image])) {
          const auto g = geometry_of(images[pl.image]);
          const std::array<double, 3> n{g.read[1] * g.phase[2] - g.read[2] * g.phase[1],
                                        g.read[2] * g.phase[0] - g.read[0] * g.phase[2],
                                        g.read[0] * g.phase[1] - g.read[1] * g.phase[0]};
          const auto c = g.pixel(0, 0, static_cast<double>(pl.z));
          along.push_back(c[0] * n[0] + c[1] * n[1] + c[2] * n[2]);
        }
      std::sort(along.begin(), along.end());
      along.erase(std::unique(along.begin(), along.end(), [](double a, double b) { return std::abs(a - b) < 1e-3; }),
                  along.end());
      // Written only when the slices are equally spaced (else the attribute would mislead).
      double spacing = along.size() > 1 ? along[1] - along[0] : 0;
      for (std::size_t j = 2; j < along.size(); ++j)
        if (std::abs((along[j] - along[j - 1]) - spacing) > 0.01) spacing = 0;
      int instance = 0;
      for (const auto& pl : p.planes) {
        const auto& r = images[pl.image];
        ++instance;
        DcmFileFormat file;
        DcmDataset& d = *file.getDataset();
        put(d, DCM_SpecificCharacterSet, "ISO_IR 192");
        put(d, DCM_SOPClassUID, UID_MRImageStorage);
        const std::string sop = make_dicom_uid();
        put(d, DCM_SOPInstanceUID, sop);
        // Patient, study
        put(d, DCM_PatientName, fit(scan.patient_name, 64));
        put(d, DCM_PatientID, fit(scan.patient_id, 64));
        put(d, DCM_PatientBirthDate, dicom_date(scan.patient_birth_date));
        put(d, DCM_PatientSex, scan.patient_sex == "M" || scan.patient_sex == "F" || scan.patient_sex == "O"
                                   ? scan.patient_sex
                                   : std::string());
        if (scan.patient_weight_kg > 0) put(d, DCM_PatientWeight, number(scan.patient_weight_kg));
        put(d, DCM_StudyInstanceUID, study_uid);
        put(d, DCM_StudyDate, dicom_date(scan.study_date));
        put(d, DCM_StudyTime, dicom_time(scan.study_time));
        put(d, DCM_ReferringPhysicianName, fit(scan.referring_physician, 64));
        put(d, DCM_StudyID, fit(scan.study_id, 16));
        put(d, DCM_AccessionNumber, fit(scan.accession_number, 16));
        if (!scan.study_description.empty()) put(d, DCM_StudyDescription, fit(scan.study_description, 64));
        // Series, equipment, frame of reference
        put(d, DCM_Modality, "MR");
        put(d, DCM_SeriesInstanceUID, s.series_instance_uid);
        put(d, DCM_SeriesNumber, std::to_string(s.series_number));
        put(d, DCM_SeriesDescription, fit(s.description, 64));
        if (!scan.protocol_name.empty()) put(d, DCM_ProtocolName, fit(scan.protocol_name, 64));
        const std::string series_date = dicom_date(scan.series_date.empty() ? scan.study_date : scan.series_date);
        const std::string series_time = dicom_time(scan.series_time.empty() ? scan.study_time : scan.series_time);
        if (!series_date.empty()) put(d, DCM_SeriesDate, series_date);
        if (!series_time.empty()) put(d, DCM_SeriesTime, series_time);
        put(d, DCM_PatientPosition, fit(scan.patient_position, 16));
        put(d, DCM_Laterality, "");  // type 2C: unknown (the raw data does not say which side)
        put(d, DCM_FrameOfReferenceUID, frame_uid);
        put(d, DCM_PositionReferenceIndicator, "");
        put(d, DCM_Manufacturer, fit(scan.system_vendor, 64));
        if (!scan.system_model.empty()) put(d, DCM_ManufacturerModelName, fit(scan.system_model, 64));
        if (!scan.institution_name.empty()) put(d, DCM_InstitutionName, fit(scan.institution_name, 64));
        if (!scan.station_name.empty()) put(d, DCM_StationName, fit(scan.station_name, 16));
        if (!scan.device_id.empty()) put(d, DCM_DeviceSerialNumber, fit(scan.device_id, 64));
        put(d, DCM_SoftwareVersions, std::string("larmor ") + version);
        // Image
        put(d, DCM_ImageType, std::string("ORIGINAL\\PRIMARY\\") + kind_code(p.kind) + "\\ND");
        put(d, DCM_InstanceNumber, std::to_string(instance));
        put(d, DCM_AcquisitionNumber, std::to_string(r.repetition + 1));
        // Time: repetitions and, within one, cardiac phases (TemporalPositionIdentifier counts both).
        put(d, DCM_TemporalPositionIdentifier, std::to_string(r.repetition * p.phases + r.phase + 1));
        if (p.phases > 1) put(d, DCM_CardiacNumberOfImages, std::to_string(p.phases));
        // AcquisitionTime from the image's first readout: ISMRMRD's acquisition_time_stamp counts 2.5 ms ticks
        // from midnight (Siemens, and Gadgetron's DICOM writer reads it so); absent when not recorded.
        const std::string acquired = r.acquisition_time_stamp > 0 ? time_of_day(r.acquisition_time_stamp) : "";
        if (!series_date.empty()) put(d, DCM_ContentDate, series_date);
        if (!series_time.empty() || !acquired.empty()) put(d, DCM_ContentTime, acquired.empty() ? series_time : acquired);
        if (!acquired.empty()) {
          put(d, DCM_AcquisitionTime, acquired);
          if (!series_date.empty()) put(d, DCM_AcquisitionDate, series_date);
        }
        // MR
        put(d, DCM_ScanningSequence, scanning_sequence(scan.sequence_type));
        put(d, DCM_SequenceVariant, "NONE");
        put(d, DCM_ScanOptions, "");
        const index_t depth = r.magnitude.size() > 0 ? r.magnitude.shape(0) : r.complex_image.shape(0);
        put(d, DCM_MRAcquisitionType, !scan.acquisition_type.empty() ? scan.acquisition_type
                                      : depth > 1                    ? std::string("3D")
                                                                     : std::string());
        if (!scan.sequence_type.empty()) put(d, DCM_SequenceName, fit(scan.sequence_type, 16));
        const float tr = per_contrast(scan.tr_ms, 0), te = per_contrast(scan.te_ms, r.contrast),
                    ti = per_contrast(scan.ti_ms, 0), flip = per_contrast(scan.flip_angle_deg, 0);
        put(d, DCM_RepetitionTime, tr >= 0 ? number(tr) : std::string());
        put(d, DCM_EchoTime, te >= 0 ? number(te) : std::string());
        if (ti > 0) put(d, DCM_InversionTime, number(ti));
        if (flip >= 0) put(d, DCM_FlipAngle, number(flip));
        put(d, DCM_EchoTrainLength, "");
        put(d, DCM_EchoNumbers, std::to_string(r.contrast + 1));
        if (scan.field_strength_T > 0) put(d, DCM_MagneticFieldStrength, number(scan.field_strength_T));
        if (scan.h1_resonance_frequency_Hz > 0)
          put(d, DCM_ImagingFrequency, number(static_cast<double>(scan.h1_resonance_frequency_Hz) * 1e-6));
        std::string comments = "larmor " + std::string(version) + (opt.method.empty() ? "" : " " + opt.method);
        // Geometry
        if (has_geometry(r)) {
          const auto g = geometry_of(r);
          const auto first = g.pixel(0, 0, static_cast<double>(pl.z));
          put(d, DCM_ImagePositionPatient, ds_list({first[0], first[1], first[2]}));
          put(d, DCM_ImageOrientationPatient,
              ds_list({g.read[0], g.read[1], g.read[2], g.phase[0], g.phase[1], g.phase[2]}));
          put(d, DCM_PixelSpacing, ds_list({g.dy, g.dx}));
          put(d, DCM_SliceThickness, g.dz > 0 ? number(g.dz) : std::string());
          if (spacing > 0) put(d, DCM_SpacingBetweenSlices, number(spacing));
          const std::array<double, 3> n{g.read[1] * g.phase[2] - g.read[2] * g.phase[1],
                                        g.read[2] * g.phase[0] - g.read[0] * g.phase[2],
                                        g.read[0] * g.phase[1] - g.read[1] * g.phase[0]};
          put(d, DCM_SliceLocation, number(first[0] * n[0] + first[1] * n[1] + first[2] * n[2]));
        } else {
          put(d, DCM_SliceThickness, "");
          comments += "; WARNING: no geometry in the raw data: position and orientation unknown";
        }
        put(d, DCM_ImageComments, comments);
        // Pixels
        const index_t ny = r.magnitude.size() > 0 ? r.magnitude.shape(1) : r.complex_image.shape(1);
        const index_t nx = r.magnitude.size() > 0 ? r.magnitude.shape(2) : r.complex_image.shape(2);
        LARMOR_CHECK_ARG(nx <= 65535 && ny <= 65535, "write_dicom: an image of ", nx, " x ", ny, " pixels");
        const auto values = values_of(r, p.kind);
        const std::size_t plane_size = static_cast<std::size_t>(nx * ny), off = plane_size * static_cast<std::size_t>(pl.z);
        std::vector<Uint16> stored(plane_size);
        for (std::size_t j = 0; j < plane_size; ++j) {
          const double q = std::round((values[off + j] - intercept) / slope);
          if (is_signed)
            stored[j] = static_cast<Uint16>(static_cast<Sint16>(std::clamp(q, -32768.0, 32767.0)));
          else
            stored[j] = static_cast<Uint16>(std::clamp(q, 0.0, bits == 16 ? 65535.0 : 4095.0));
        }
        put(d, DCM_SamplesPerPixel, "1");
        put(d, DCM_PhotometricInterpretation, "MONOCHROME2");
        put(d, DCM_Rows, std::to_string(ny));
        put(d, DCM_Columns, std::to_string(nx));
        put(d, DCM_BitsAllocated, "16");
        put(d, DCM_BitsStored, std::to_string(bits));
        put(d, DCM_HighBit, std::to_string(bits - 1));
        put(d, DCM_PixelRepresentation, is_signed ? "1" : "0");
        put(d, DCM_RescaleIntercept, number(intercept));
        put(d, DCM_RescaleSlope, number(slope));
        put(d, DCM_RescaleType, "US");
        // The window (rescaled units): magnitude 0 .. its 99th percentile, phase -pi .. pi, real/imaginary
        // +-99th percentile.
        const double top = p.p99 > 0 ? p.p99 : (p.hi > 0 ? p.hi : 1.0);
        const double width = p.kind == pixel_kind::phase       ? 2 * M_PI
                             : p.kind == pixel_kind::magnitude ? top
                                                               : 2 * top;
        const double centre = p.kind == pixel_kind::magnitude ? top / 2 : 0;
        put(d, DCM_WindowCenter, number(centre));
        put(d, DCM_WindowWidth, number(width));
        // LINEAR_EXACT: the window means exactly centre +- width/2 in rescaled units (LINEAR's -0.5 and (w-1)/2
        // assume widths of many stored units; reconstructed values are often far below 1).
        put(d, DCM_VOILUTFunction, "LINEAR_EXACT");
        const OFCondition c = d.putAndInsertUint16Array(DCM_PixelData, stored.data(), static_cast<unsigned long>(plane_size));
        LARMOR_CHECK_DATA(c.good(), "write_dicom: cannot set the pixel data (", c.text(), ")");
        char name[32];
        std::snprintf(name, sizeof name, "%05d.dcm", instance);
        const std::string final_path = (fs::path(folder) / name).string();
        const std::string tmp = final_path + ".tmp";
        const OFCondition w = file.saveFile(tmp.c_str(), EXS_LittleEndianExplicit);
        staged.stage(final_path, tmp);
        LARMOR_CHECK_DATA(w.good(), "write_dicom: cannot write ", final_path, " (", w.text(), ")");
        s.files.push_back(final_path);
      }
      out.push_back(std::move(s));
    }
    staged.commit();
  }
  return out;
}

}  // namespace larmor::io
