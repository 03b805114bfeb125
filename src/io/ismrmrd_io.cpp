// ISMRMRD raw-data reader and image writer (see include/larmor/io/ismrmrd.hpp).
#include <hdf5.h>
#include <ismrmrd/dataset.h>
#include <ismrmrd/ismrmrd.h>
#include <ismrmrd/xml.h>

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
  if (h.measurementInformation && h.measurementInformation->protocolName)
    out.protocol_name = *h.measurementInformation->protocolName;
  return out;
}

// Three elements of a member array of a packed ISMRMRD header, read by value.
#define LARMOR_VEC3(a) (std::array<float, 3>{(a)[0], (a)[1], (a)[2]})

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
    struct close_in_scope {  // the dataset's destructor closes HDF5 handles: inside a scope, also on errors
      std::unique_ptr<ISMRMRD::Dataset>& d;
      ~close_in_scope() {
        if (!d) return;
        const hdf5_scope s(false);
        d.reset();
      }
    } closer{d};
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
      // ISMRMRD's headers are packed structs: read members by value from the struct, never through the
      // accessors that return references (those would be misaligned).
      const ISMRMRD::AcquisitionHeader& hd = a.getHead();
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
      q.position = LARMOR_VEC3(hd.position);
      q.read_dir = LARMOR_VEC3(hd.read_dir);
      q.phase_dir = LARMOR_VEC3(hd.phase_dir);
      q.slice_dir = LARMOR_VEC3(hd.slice_dir);
      q.patient_table_position = LARMOR_VEC3(hd.patient_table_position);
      const index_t nc = hd.active_channels, ns = hd.number_of_samples;
      q.data = array<cfloat, 2>(extents<2>{nc, ns}, uninitialized);
      // ISMRMRD stores data[channel * samples + sample].
      const auto* src = reinterpret_cast<const cfloat*>(a.getDataPtr());
      std::copy(src, src + nc * ns, q.data.data());
      const index_t dims = hd.trajectory_dimensions;
      if (dims > 0 && ns > 0) {  // traj[sample * dims + d]
        q.traj = array<float, 2>(extents<2>{ns, dims}, uninitialized);
        std::copy(a.getTrajPtr(), a.getTrajPtr() + ns * dims, q.traj.data());
      }
      each(std::move(q));
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw DataError("read_ismrmrd: " + path + ": cannot read the raw data (" + e.what() + ")");
  }
}

raw_dataset read_ismrmrd(const std::string& path, const std::string& group) {
  raw_dataset out;
  out.source = path;
  read_ismrmrd(
      path, group, [&](const encoding_header& h) { out.header = h; },
      [&](acquisition&& a) { out.acquisitions.push_back(std::move(a)); });
  return out;
}

namespace {

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
}

}  // namespace

void write_ismrmrd_images(const std::string& path, const std::vector<image_record>& images, const std::string& group) {
  const hdf5_scope hdf5{};
  std::random_device rd;
  const std::string tmp = path + ".tmp" + std::to_string(rd() % 1000000);
  try {
    {
      ISMRMRD::Dataset d(tmp.c_str(), group.c_str(), true);
      for (const auto& r : images) {
        if (r.type == image_type::complex) {
          LARMOR_CHECK_ARG(r.complex_image.size() > 0, "write_ismrmrd_images: a complex image record without its "
                           "complex image");
          const index_t nz = r.complex_image.shape(0), ny = r.complex_image.shape(1), nx = r.complex_image.shape(2);
          ISMRMRD::Image<std::complex<float>> im(static_cast<uint16_t>(nx), static_cast<uint16_t>(ny),
                                                 static_cast<uint16_t>(nz), 1);
          std::copy(r.complex_image.begin(), r.complex_image.end(), im.getDataPtr());
          im.setImageType(ISMRMRD::ISMRMRD_IMTYPE_COMPLEX);
          set_image_header(im, r);
          d.appendImage("image_0", im);
          continue;
        }
        const index_t nz = r.magnitude.shape(0), ny = r.magnitude.shape(1), nx = r.magnitude.shape(2);
        ISMRMRD::Image<float> im(static_cast<uint16_t>(nx), static_cast<uint16_t>(ny), static_cast<uint16_t>(nz), 1);
        if (r.type == image_type::magnitude) {
          std::copy(r.magnitude.begin(), r.magnitude.end(), im.getDataPtr());
        } else {
          LARMOR_CHECK_ARG(r.complex_image.size() == r.magnitude.size(), "write_ismrmrd_images: a ",
                           image_type_name(r.type), " image record without its complex image");
          float* dst = im.getDataPtr();
          const cfloat* src = r.complex_image.data();
          for (index_t i = 0; i < r.magnitude.size(); ++i)
            dst[i] = r.type == image_type::phase ? std::arg(src[i])
                     : r.type == image_type::real ? src[i].real()
                                                  : src[i].imag();
        }
        im.setImageType(static_cast<ISMRMRD::ISMRMRD_ImageTypes>(r.type));
        set_image_header(im, r);
        d.appendImage("image_0", im);
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
      r.type = static_cast<image_type>(h.image_type);
      r.fov_mm = LARMOR_VEC3(h.field_of_view);
      r.position = LARMOR_VEC3(h.position);
      r.read_dir = LARMOR_VEC3(h.read_dir);
      r.phase_dir = LARMOR_VEC3(h.phase_dir);
      r.slice_dir = LARMOR_VEC3(h.slice_dir);
      r.slice = h.slice;
      r.contrast = h.contrast;
      r.phase = h.phase;
      r.repetition = h.repetition;
      r.set = h.set;
      r.image_index = h.image_index;
      r.series_index = h.image_series_index;
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
