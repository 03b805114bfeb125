// ISMRMRD raw-data reader and image writer (see include/larmor/io/ismrmrd.hpp).
#include <hdf5.h>
#include <ismrmrd/dataset.h>
#include <ismrmrd/ismrmrd.h>
#include <ismrmrd/waveform.h>
#include <ismrmrd/xml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "larmor/io/ismrmrd.hpp"
#include "larmor/io/ismrmrd_stream.hpp"
#include "larmor/io/scan_information.hpp"
#include "ismrmrd_convert.hpp"

namespace larmor::io {

namespace {

// Every HDF5 call of this file runs inside one hdf5_scope, which leaves no process-wide trace behind:
//  * The HDF5 library prints an error stack to stderr on every failed call, and the library must not print:
//    the automatic error handler of the default stack is saved, turned off, and restored at scope exit
//    (H5Eget_auto2 / H5Eset_auto2), so a host program's own handler is back when larmor returns.
//  * libismrmrd opens raw-data files read-write, and HDF5's file locks then make a second process reading
//    the same scan fail. HDF5 1.10 reads HDF5_USE_FILE_LOCKING when it opens a file (there is no
//    H5Pset_file_locking before 1.12.1), so when the user has not set it, it is set to FALSE for the
//    scope and removed again at its end. A user's own setting is never touched.
//  * The scopes are serialised by one process-wide (recursive) mutex: HDF5 builds without thread safety
//    must not be entered from two threads, and the environment is only changed under it. (A host thread
//    that calls getenv/setenv while larmor reads a file races with it, as with any setenv; POSIX rule.)
class hdf5_scope {
 public:
  // opens_file = false for steps on an open file (reads, close): the environment is left alone then.
  explicit hdf5_scope(bool opens_file = true) : lock_(mutex()) {
    if (depth()++ > 0) return;
    H5Eget_auto2(H5E_DEFAULT, &saved_func_, &saved_data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    set_locking_ = opens_file && std::getenv("HDF5_USE_FILE_LOCKING") == nullptr;
    if (set_locking_) setenv("HDF5_USE_FILE_LOCKING", "FALSE", 0);
  }
  ~hdf5_scope() {
    if (--depth() > 0) return;
    if (set_locking_) unsetenv("HDF5_USE_FILE_LOCKING");
    H5Eset_auto2(H5E_DEFAULT, saved_func_, saved_data_);
  }
  hdf5_scope(const hdf5_scope&) = delete;
  hdf5_scope& operator=(const hdf5_scope&) = delete;

 private:
  static std::recursive_mutex& mutex() {
    static std::recursive_mutex m;
    return m;
  }
  static int& depth() {
    static int d = 0;  // guarded by mutex()
    return d;
  }
  std::lock_guard<std::recursive_mutex> lock_;
  H5E_auto2_t saved_func_ = nullptr;
  void* saved_data_ = nullptr;
  bool set_locking_ = false;
};

// Closes an open dataset inside an HDF5 scope (its destructor closes HDF5 handles), also on errors.
struct close_in_scope {
  std::unique_ptr<ISMRMRD::Dataset>& d;
  ~close_in_scope() {
    if (!d) return;
    const hdf5_scope s(false);
    d.reset();
  }
};

std::optional<limit> convert(const ISMRMRD::Optional<ISMRMRD::Limit>& l) {
  if (!l) return std::nullopt;
  return limit{l->minimum, l->maximum, l->center};
}

encoding_header parse_header(const std::string& xml, const std::string& path) {
  ISMRMRD::IsmrmrdHeader h;
  try {
    ISMRMRD::deserialize(xml.c_str(), h);
  } catch (const std::exception& e) {
    throw DataError("read_ismrmrd: " + path + ": malformed XML header (" + e.what() + ")");
  }
  LARMOR_CHECK_DATA(!h.encoding.empty(), "read_ismrmrd: ", path, ": the header has no <encoding>");
  const auto& e = h.encoding[0];
  encoding_header out;
  out.encoded_matrix = {e.encodedSpace.matrixSize.x, e.encodedSpace.matrixSize.y, e.encodedSpace.matrixSize.z};
  out.recon_matrix = {e.reconSpace.matrixSize.x, e.reconSpace.matrixSize.y, e.reconSpace.matrixSize.z};
  // ISMRMRD reads matrixSize into unsigned 16-bit fields: a negative number in the XML (<z>-1</z>) arrives as
  // 65536 - n. No scanner encodes 32768 or more points along an axis; such a size would make the k-space
  // buffer tens of GiB, so it is refused here, before anything is allocated.
  for (int a = 0; a < 3; ++a)
    LARMOR_CHECK_DATA(out.encoded_matrix[a] < 32768 && out.recon_matrix[a] < 32768, "read_ismrmrd: ", path,
                      ": matrix size ", "xyz"[a], " = ", out.encoded_matrix[a], " (encoded) / ", out.recon_matrix[a],
                      " (recon) is not a plausible matrix (a negative number in the XML header?)");
  out.encoded_fov_mm = {e.encodedSpace.fieldOfView_mm.x, e.encodedSpace.fieldOfView_mm.y,
                        e.encodedSpace.fieldOfView_mm.z};
  out.recon_fov_mm = {e.reconSpace.fieldOfView_mm.x, e.reconSpace.fieldOfView_mm.y, e.reconSpace.fieldOfView_mm.z};
  const auto& lim = e.encodingLimits;
  out.e1 = convert(lim.kspace_encoding_step_1);
  out.e2 = convert(lim.kspace_encoding_step_2);
  out.slice = convert(lim.slice);
  out.contrast = convert(lim.contrast);
  out.phase = convert(lim.phase);
  out.repetition = convert(lim.repetition);
  out.set = convert(lim.set);
  out.average = convert(lim.average);
  out.segment = convert(lim.segment);
  if (e.parallelImaging) {
    out.accel_e1 = e.parallelImaging->accelerationFactor.kspace_encoding_step_1;
    out.accel_e2 = e.parallelImaging->accelerationFactor.kspace_encoding_step_2;
    if (e.parallelImaging->calibrationMode) out.calibration_mode = *e.parallelImaging->calibrationMode;
  }
  switch (e.trajectory) {
    case ISMRMRD::TrajectoryType::CARTESIAN: out.trajectory = "cartesian"; break;
    case ISMRMRD::TrajectoryType::EPI: out.trajectory = "epi"; break;
    case ISMRMRD::TrajectoryType::RADIAL: out.trajectory = "radial"; break;
    case ISMRMRD::TrajectoryType::GOLDENANGLE: out.trajectory = "goldenangle"; break;
    case ISMRMRD::TrajectoryType::SPIRAL: out.trajectory = "spiral"; break;
    default: out.trajectory = "other"; break;
  }
  if (e.trajectoryDescription) {
    // EPI: Gadgetron's "ConventionalEPI" user parameters (times in us; dwellTime a double in us).
    const auto& d = *e.trajectoryDescription;
    out.trajectory_identifier = d.identifier;
    std::map<std::string, double> p;
    for (const auto& u : d.userParameterLong) p[u.name] = static_cast<double>(u.value);
    for (const auto& u : d.userParameterDouble) p[u.name] = u.value;
    const auto get = [&](const char* name) -> std::optional<double> {
      const auto it = p.find(name);
      if (it == p.end() || !std::isfinite(it->second)) return std::nullopt;
      return it->second;
    };
    if (out.trajectory == "epi" && get("rampUpTime") && get("flatTopTime") && get("rampDownTime")) {
      epi_trapezoid g;
      g.ramp_up_us = static_cast<float>(*get("rampUpTime"));
      g.flat_top_us = static_cast<float>(*get("flatTopTime"));
      g.ramp_down_us = static_cast<float>(*get("rampDownTime"));
      g.acq_delay_us = static_cast<float>(get("acqDelayTime").value_or(0));
      g.dwell_us = static_cast<float>(get("dwellTime").value_or(0));
      const auto count = [&](const char* name) {
        const double v = get(name).value_or(0);
        return static_cast<std::uint32_t>(v > 0 && v < 1e9 ? v : 0);
      };
      g.samples = count("numSamples");
      g.echo_train_length = count("etl");
      g.navigators = count("numberOfNavigators");
      g.echo_spacing_us = static_cast<float>(get("echoSpacing").value_or(0));
      out.epi = g;
    }
  }
  if (h.acquisitionSystemInformation) {
    if (h.acquisitionSystemInformation->receiverChannels)
      out.receiver_channels = *h.acquisitionSystemInformation->receiverChannels;
    if (h.acquisitionSystemInformation->systemFieldStrength_T)
      out.system_field_strength_T = *h.acquisitionSystemInformation->systemFieldStrength_T;
  }
  if (h.measurementInformation) {
    const auto& m = *h.measurementInformation;
    if (m.protocolName) out.protocol_name = *m.protocolName;
    if (m.measurementID) out.measurement_id = *m.measurementID;
    for (const auto& d : m.measurementDependency)
      if (d.dependencyType == "Noise" || d.dependencyType == "NoiseMeasurement")
        out.noise_dependency_ids.push_back(d.measurementID);
  }
  if (h.acquisitionSystemInformation && h.acquisitionSystemInformation->deviceID)
    out.device_id = *h.acquisitionSystemInformation->deviceID;
  if (h.acquisitionSystemInformation)
    for (const auto& l : h.acquisitionSystemInformation->coilLabel)
      if (l.coilNumber < 4096) {
        if (out.coil_labels.size() <= l.coilNumber) out.coil_labels.resize(l.coilNumber + 1u);
        out.coil_labels[l.coilNumber] = l.coilName;
      }
  if (h.sequenceParameters && h.sequenceParameters->TE) {
    // one per contrast, in order: a non-finite entry makes the list unusable (dropping it would shift the rest)
    const auto& tes = *h.sequenceParameters->TE;
    if (std::all_of(tes.begin(), tes.end(), [](float te) { return std::isfinite(te); }))
      out.echo_times_ms.assign(tes.begin(), tes.end());
  }
  if (h.userParameters) {
    // Multiband: the names parameter maps in use write (docs/sms.md); the first one present wins.
    std::map<std::string, double> p;
    for (const auto& u : h.userParameters->userParameterLong) p.emplace(u.name, static_cast<double>(u.value));
    for (const auto& u : h.userParameters->userParameterDouble) p.emplace(u.name, u.value);
    const auto first = [&](std::initializer_list<const char*> names) -> std::optional<std::uint16_t> {
      for (const char* n : names) {
        const auto it = p.find(n);
        if (it != p.end() && std::isfinite(it->second) && it->second >= 1 && it->second <= 64)
          return static_cast<std::uint16_t>(std::lround(it->second));
      }
      return std::nullopt;
    };
    out.multiband_factor = first({"MB_factor", "NMBSliceBands", "MultiBandFactor", "MultibandFactor",
                                  "multiband_factor", "sSliceAcceleration.lMultiBandFactor"})
                               .value_or(1);
    out.multiband_fov_shift = first({"Blipped_CAIPI", "BlipFactorSL", "FOVShiftFactor", "MultiBandFOVShift",
                                     "sSliceAcceleration.lFOVShiftFactor"})
                                  .value_or(1);
  }
  if (out.multiband_factor == 1) {
    // ISMRMRD >= 1.9 (schema PR #209) has <parallelImaging><multiband><multiband_factor>; the 1.8 library Debian
    // ships does not read it, so it is found in the text (no shift there: the data decide, multiband_stage.hpp).
    const auto at = xml.find("<multiband_factor>");
    if (at != std::string::npos) {
      const long v = std::strtol(xml.c_str() + at + 18, nullptr, 10);
      if (v >= 1 && v <= 64) out.multiband_factor = static_cast<std::uint16_t>(v);
    }
  }
  return out;
}


}  // namespace

void read_ismrmrd(const std::string& path, const std::string& group,
                  const std::function<void(const encoding_header&)>& header,
                  const std::function<void(acquisition&&)>& each) {
  // The callbacks run outside the HDF5 scope (a callback may itself read or write files, or wait for a
  // thread that does): the scope is taken per HDF5 step, the dataset is opened and closed inside one.
  std::optional<hdf5_scope> hdf5(std::in_place, true);
  LARMOR_CHECK_DATA(std::filesystem::exists(path), "read_ismrmrd: ", path, ": no such file");
  LARMOR_CHECK_DATA(H5Fis_hdf5(path.c_str()) > 0, "read_ismrmrd: ", path, ": not an HDF5 file (or truncated)");
  {
    // Check the group and its data before libismrmrd opens them (it would create a missing group).
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    LARMOR_CHECK_DATA(f >= 0, "read_ismrmrd: ", path, ": cannot open the HDF5 file (truncated or damaged?)");
    const bool has_group = H5Lexists(f, group.c_str(), H5P_DEFAULT) > 0;
    const bool has_xml = has_group && H5Lexists(f, (group + "/xml").c_str(), H5P_DEFAULT) > 0;
    const bool has_data = has_group && H5Lexists(f, (group + "/data").c_str(), H5P_DEFAULT) > 0;
    H5Fclose(f);
    LARMOR_CHECK_DATA(has_group, "read_ismrmrd: ", path, ": no dataset group '", group, "'");
    LARMOR_CHECK_DATA(has_xml, "read_ismrmrd: ", path, ": '", group, "' has no XML header ('", group, "/xml')");
    LARMOR_CHECK_DATA(has_data, "read_ismrmrd: ", path, ": '", group, "' holds no acquisitions ('", group, "/data')");
  }
  try {
    std::unique_ptr<ISMRMRD::Dataset> d;
    const close_in_scope closer{d};
    d = std::make_unique<ISMRMRD::Dataset>(path.c_str(), group.c_str(), false);
    std::string xml;
    d->readHeader(xml);
    const uint32_t n = d->getNumberOfAcquisitions();
    hdf5.reset();
    const auto parsed = parse_header(xml, path);
    LARMOR_CHECK_DATA(n > 0, "read_ismrmrd: ", path, ": zero acquisitions");
    header(parsed);
    ISMRMRD::Acquisition a;
    for (uint32_t i = 0; i < n; ++i) {
      {
        const hdf5_scope s(false);
        d->readAcquisition(i, a);
      }
      each(detail::from_ismrmrd(a.getHead(), reinterpret_cast<const cfloat*>(a.getDataPtr()),
                                a.getHead().trajectory_dimensions > 0 ? a.getTrajPtr() : nullptr));
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw DataError("read_ismrmrd: " + path + ": cannot read the raw data (" + e.what() + ")");
  }
}

std::string read_ismrmrd_header_xml(const std::string& path, const std::string& group) {
  const hdf5_scope hdf5{};
  LARMOR_CHECK_DATA(std::filesystem::exists(path) && H5Fis_hdf5(path.c_str()) > 0, "read_ismrmrd: ", path,
                    ": no such HDF5 file (or truncated)");
  {
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    LARMOR_CHECK_DATA(f >= 0, "read_ismrmrd: ", path, ": cannot open the HDF5 file");
    const bool ok = H5Lexists(f, group.c_str(), H5P_DEFAULT) > 0 &&
                    H5Lexists(f, (group + "/xml").c_str(), H5P_DEFAULT) > 0;
    H5Fclose(f);
    LARMOR_CHECK_DATA(ok, "read_ismrmrd: ", path, ": no XML header ('", group, "/xml')");
  }
  try {
    ISMRMRD::Dataset d(path.c_str(), group.c_str(), false);
    std::string xml;
    d.readHeader(xml);
    return xml;
  } catch (const std::exception& e) {
    throw DataError("read_ismrmrd: " + path + ": cannot read the XML header (" + e.what() + ")");
  }
}

std::size_t write_ismrmrd_file_as_stream(const std::string& path, const std::string& group, byte_sink& out,
                                        bool waveforms, const std::function<void(std::size_t)>& each) {
  // The same checks as read_ismrmrd (a missing group is never created), then the stored bytes as they are.
  std::size_t sent = 0;
  std::string xml;
  std::uint32_t acquisitions = 0, waves = 0;
  std::unique_ptr<ISMRMRD::Dataset> d;
  const close_in_scope closer{d};
  {
    const hdf5_scope hdf5{};
    LARMOR_CHECK_DATA(std::filesystem::exists(path) && H5Fis_hdf5(path.c_str()) > 0, "send: ", path,
                      ": no such HDF5 file (or truncated)");
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    LARMOR_CHECK_DATA(f >= 0, "send: ", path, ": cannot open the HDF5 file");
    const bool ok = H5Lexists(f, group.c_str(), H5P_DEFAULT) > 0 &&
                    H5Lexists(f, (group + "/xml").c_str(), H5P_DEFAULT) > 0 &&
                    H5Lexists(f, (group + "/data").c_str(), H5P_DEFAULT) > 0;
    const bool has_waveforms = ok && H5Lexists(f, (group + "/waveforms").c_str(), H5P_DEFAULT) > 0;
    H5Fclose(f);
    LARMOR_CHECK_DATA(ok, "send: ", path, ": no raw data in group '", group, "' (needs ", group, "/xml and ", group,
                      "/data)");
    try {
      d = std::make_unique<ISMRMRD::Dataset>(path.c_str(), group.c_str(), false);
      d->readHeader(xml);
      acquisitions = d->getNumberOfAcquisitions();
      if (waveforms && has_waveforms) waves = d->getNumberOfWaveforms();
    } catch (const std::exception& e) {
      throw DataError("send: " + path + ": cannot read the raw data (" + e.what() + ")");
    }
  }
  write_text_message(out, stream_message::header, xml);
  // Acquisitions in file order; waveforms before the first acquisition stamped after them (Gadgetron's client
  // interleaves them the same way), the rest at the end.
  ISMRMRD::Acquisition a;
  ISMRMRD::Waveform w;
  std::uint32_t next_wave = 0;
  bool have_wave = false;
  const auto read_wave = [&] {
    have_wave = next_wave < waves;
    if (!have_wave) return;
    const hdf5_scope s(false);
    try {
      d->readWaveform(next_wave++, w);
    } catch (const std::exception& e) {
      throw DataError("send: " + path + ": cannot read waveform " + std::to_string(next_wave - 1) + " (" + e.what() + ")");
    }
  };
  const auto send_wave = [&] {
    const auto id = static_cast<std::uint16_t>(stream_message::waveform);
    const ISMRMRD::ISMRMRD_WaveformHeader h = w.head;
    out.write_all(&id, sizeof id);
    out.write_all(&h, sizeof h);
    out.write_all(w.begin_data(), std::size_t{h.channels} * h.number_of_samples * sizeof(std::uint32_t));
  };
  read_wave();
  for (std::uint32_t i = 0; i < acquisitions; ++i) {
    try {
      const hdf5_scope s(false);
      d->readAcquisition(i, a);
    } catch (const std::exception& e) {
      throw DataError("send: " + path + ": cannot read acquisition " + std::to_string(i) + " (" + e.what() + ")");
    }
    const ISMRMRD::ISMRMRD_AcquisitionHeader h = a.getHead();
    while (have_wave && w.head.time_stamp < h.acquisition_time_stamp) {
      send_wave();
      read_wave();
    }
    const auto id = static_cast<std::uint16_t>(stream_message::acquisition);
    out.write_all(&id, sizeof id);
    out.write_all(&h, sizeof h);
    const std::size_t traj = std::size_t{h.trajectory_dimensions} * h.number_of_samples;
    if (traj > 0) out.write_all(a.getTrajPtr(), traj * sizeof(float));
    out.write_all(a.getDataPtr(), std::size_t{h.active_channels} * h.number_of_samples * sizeof(cfloat));
    ++sent;
    if (each) each(sent);
  }
  while (have_wave) {
    send_wave();
    read_wave();
  }
  return sent;
}

raw_dataset read_ismrmrd(const std::string& path, const std::string& group) {
  raw_dataset out;
  out.source = path;
  read_ismrmrd(
      path, group, [&](const encoding_header& h) { out.header = h; },
      [&](acquisition&& a) { out.acquisitions.push_back(std::move(a)); });
  return out;
}


void write_ismrmrd_images(const std::string& path, const std::vector<image_record>& images, const std::string& group) {
  const hdf5_scope hdf5{};
  std::random_device rd;
  const std::string tmp = path + ".tmp" + std::to_string(rd() % 1000000);
  try {
    {
      ISMRMRD::Dataset d(tmp.c_str(), group.c_str(), true);
      for (const auto& r : images) {
        if (r.type == image_type::complex)
          d.appendImage("image_0", detail::complex_ismrmrd_image(r));
        else
          d.appendImage("image_0", detail::real_ismrmrd_image(r));
      }
    }
    std::filesystem::rename(tmp, path);
  } catch (const std::exception& e) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw DataError("write_ismrmrd_images: cannot write " + path + " (" + e.what() + ")");
  }
}


std::vector<image_record> read_ismrmrd_images(const std::string& path, const std::string& group) {
  const hdf5_scope hdf5{};
  LARMOR_CHECK_DATA(std::filesystem::exists(path) && H5Fis_hdf5(path.c_str()) > 0, "read_ismrmrd_images: ", path,
                    ": no such HDF5 file");
  std::vector<image_record> out;
  try {
    ISMRMRD::Dataset d(path.c_str(), group.c_str(), false);
    const uint32_t n = d.getNumberOfImages("image_0");
    for (uint32_t i = 0; i < n; ++i) {
      image_record r;
      ISMRMRD::ImageHeader h;
      ISMRMRD::Image<float> fim;  // libismrmrd reads the stored data type whatever the template says
      d.readImage("image_0", i, fim);
      h = fim.getHead();
      if (h.data_type == ISMRMRD::ISMRMRD_FLOAT) {  // magnitude, phase, real, imaginary
        r.magnitude = array<float, 3>(extents<3>{fim.getMatrixSizeZ(), fim.getMatrixSizeY(), fim.getMatrixSizeX()});
        std::copy(fim.getDataPtr(), fim.getDataPtr() + r.magnitude.size(), r.magnitude.data());
      } else {  // complex images (read again as such); their |.| fills `magnitude`
        LARMOR_CHECK_DATA(h.data_type == ISMRMRD::ISMRMRD_CXFLOAT, "read_ismrmrd_images: ", path, ": image ", i,
                          " has ISMRMRD data type ", h.data_type, ", expected float or complex float");
        ISMRMRD::Image<std::complex<float>> im;
        d.readImage("image_0", i, im);
        const extents<3> sh{im.getMatrixSizeZ(), im.getMatrixSizeY(), im.getMatrixSizeX()};
        r.complex_image = array<cfloat, 3>(sh);
        std::copy(im.getDataPtr(), im.getDataPtr() + r.complex_image.size(), r.complex_image.data());
        r.magnitude = array<float, 3>(sh);
        for (index_t p = 0; p < r.magnitude.size(); ++p) r.magnitude[p] = std::abs(r.complex_image[p]);
        h = im.getHead();
      }
      detail::set_record_header(r, h);
      out.push_back(std::move(r));
    }
  } catch (const std::exception& e) {
    throw DataError("read_ismrmrd_images: " + path + ": " + e.what());
  }
  return out;
}

hdf5_complex_array read_hdf5_complex(const std::string& path, const std::string& dataset) {
  const hdf5_scope hdf5{};
  LARMOR_CHECK_DATA(std::filesystem::exists(path) && H5Fis_hdf5(path.c_str()) > 0, "read_hdf5_complex: ", path,
                    ": no such HDF5 file");
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  LARMOR_CHECK_DATA(f >= 0, "read_hdf5_complex: cannot open ", path);
  hdf5_complex_array out;
  hid_t d = -1, space = -1, mem = -1;
  std::string error;
  if (H5Lexists(f, dataset.c_str(), H5P_DEFAULT) <= 0 || (d = H5Dopen2(f, dataset.c_str(), H5P_DEFAULT)) < 0) {
    error = "no dataset '" + dataset + "'";
  } else {
    space = H5Dget_space(d);
    const int rank = H5Sget_simple_extent_ndims(space);
    std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
    H5Sget_simple_extent_dims(space, dims.data(), nullptr);
    index_t n = 1;
    for (auto v : dims) {
      out.dims.push_back(static_cast<index_t>(v));
      n *= static_cast<index_t>(v);
    }
    mem = H5Tcreate(H5T_COMPOUND, sizeof(cfloat));
    H5Tinsert(mem, "real", 0, H5T_NATIVE_FLOAT);
    H5Tinsert(mem, "imag", sizeof(float), H5T_NATIVE_FLOAT);
    out.samples = array<cfloat, 1>(extents<1>{n});
    if (H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.samples.data()) < 0)
      error = "'" + dataset + "' is not a complex {real, imag} float array";
  }
  if (mem >= 0) H5Tclose(mem);
  if (space >= 0) H5Sclose(space);
  if (d >= 0) H5Dclose(d);
  H5Fclose(f);
  LARMOR_CHECK_DATA(error.empty(), "read_hdf5_complex: ", path, ": ", error);
  return out;
}

encoding_header parse_ismrmrd_header(const std::string& xml, const std::string& source) {
  return parse_header(xml, source);
}

}  // namespace larmor::io
