// bind_image_files.cpp — larmor.write_dicom and larmor.write_nifti: the (image, meta) pairs of larmor.recon /
// recon_stream written as the CLI's --format dicom / nifti writes them (larmor/io/dicom.hpp, nifti.hpp).
#include <pybind11/stl.h>

#include <array>
#include <string>
#include <vector>

#include "bind_common.hpp"
#include "larmor/io/dicom.hpp"
#include "larmor/io/nifti.hpp"
#include "larmor/io/scan_information.hpp"

namespace larmor_py {

namespace {

using larmor::io::image_record;
using larmor::io::image_type;

template <class T>
T meta_get(const py::dict& m, const char* key, T fallback) {
  return m.contains(key) ? m[key].cast<T>() : fallback;
}

// (image, meta) -> the image record recon made it from: the geometry and indices from meta, the pixels as
// their type says (magnitude float; phase, real, imaginary float kept as a complex value with that phase, real or
// imaginary part; complex complex64).
image_record record_of(const py::handle& image, const py::dict& meta) {
  image_record r;
  r.type = larmor::io::parse_image_type(meta_get<std::string>(meta, "image_type", "magnitude"));
  using v3 = std::array<float, 3>;
  r.fov_mm = meta_get<v3>(meta, "fov_mm", v3{});
  r.position = meta_get<v3>(meta, "position", v3{});
  r.read_dir = meta_get<v3>(meta, "read_dir", v3{});
  r.phase_dir = meta_get<v3>(meta, "phase_dir", v3{});
  r.slice_dir = meta_get<v3>(meta, "slice_dir", v3{});
  r.patient_table_position = meta_get<v3>(meta, "patient_table_position", v3{});
  r.slice = meta_get<std::uint16_t>(meta, "slice", 0);
  r.contrast = meta_get<std::uint16_t>(meta, "contrast", 0);
  r.phase = meta_get<std::uint16_t>(meta, "phase", 0);
  r.repetition = meta_get<std::uint16_t>(meta, "repetition", 0);
  r.set = meta_get<std::uint16_t>(meta, "set", 0);
  r.image_index = meta_get<std::uint16_t>(meta, "image_index", 0);
  r.acquisition_time_stamp = meta_get<std::uint32_t>(meta, "acquisition_time_stamp", 0);
  py::array a = py::array::ensure(image);
  if (!a) throw larmor::InvalidArgument("write_dicom/write_nifti: an image is not a numpy array");
  if (a.ndim() == 2) a = a.attr("reshape")(py::make_tuple(1, a.shape(0), a.shape(1)));
  if (a.ndim() != 3) throw larmor::InvalidArgument("write_dicom/write_nifti: images are (z, y, x) or (y, x)");
  const extents<3> shape{a.shape(0), a.shape(1), a.shape(2)};
  if (r.type == image_type::complex) {
    auto c = py::array_t<cfloat, py::array::c_style | py::array::forcecast>::ensure(a);
    r.complex_image = larmor::array<cfloat, 3>(shape, larmor::uninitialized);
    std::copy(c.data(), c.data() + r.complex_image.size(), r.complex_image.data());
    r.magnitude = larmor::array<float, 3>(shape, larmor::uninitialized);
    for (index_t i = 0; i < r.magnitude.size(); ++i) r.magnitude[i] = std::abs(r.complex_image[i]);
    return r;
  }
  auto f = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a);
  r.magnitude = larmor::array<float, 3>(shape, larmor::uninitialized);
  std::copy(f.data(), f.data() + r.magnitude.size(), r.magnitude.data());
  if (r.type != image_type::magnitude) {
    r.complex_image = larmor::array<cfloat, 3>(shape, larmor::uninitialized);
    for (index_t i = 0; i < r.magnitude.size(); ++i) {
      const float v = r.magnitude[i];
      r.complex_image[i] = r.type == image_type::phase ? std::polar(1.f, v)
                           : r.type == image_type::real ? cfloat(v, 0.f)
                                                        : cfloat(0.f, v);
      r.magnitude[i] = std::abs(r.complex_image[i]);
    }
  }
  return r;
}

std::vector<image_record> records_of(const py::object& images, const py::object& metas) {
  std::vector<image_record> out;
  if (metas.is_none()) {  // a list of (image, meta) pairs
    for (const auto& pair : images) {
      const auto t = pair.cast<py::tuple>();
      if (t.size() != 2) throw larmor::InvalidArgument("write_dicom/write_nifti: expected (image, meta) pairs");
      out.push_back(record_of(t[0], t[1].cast<py::dict>()));
    }
  } else {
    const auto im = images.cast<py::list>();
    const auto md = metas.cast<py::list>();
    if (im.size() != md.size()) throw larmor::InvalidArgument("write_dicom/write_nifti: images and metas differ in length");
    for (std::size_t i = 0; i < im.size(); ++i) out.push_back(record_of(im[i], md[i].cast<py::dict>()));
  }
  return out;
}

// The scan's identity and timing: an ISMRMRD raw-data file's header, an ISMRMRD XML text, or nothing.
larmor::io::scan_information scan_of(const std::string& header) {
  if (header.empty()) return {};
  if (header.find('<') != std::string::npos) return larmor::io::parse_scan_information(header);
  return larmor::io::parse_scan_information(larmor::io::read_ismrmrd_header_xml(header), header);
}

void bind_image_files(py::module_& m) {
  m.def(
      "write_dicom",
      [](const py::object& images, const py::object& metas, const std::string& directory, const std::string& header) {
        const auto records = records_of(images, metas);
        const auto scan = scan_of(header);
        std::vector<larmor::io::dicom_series> series;
        {
          py::gil_scoped_release nogil;
          series = larmor::io::write_dicom(records, scan, directory);
        }
        py::list out;
        for (const auto& s : series) {
          py::dict d;
          d["series_instance_uid"] = s.series_instance_uid;
          d["series_number"] = s.series_number;
          d["description"] = s.description;
          d["files"] = s.files;
          out.append(d);
        }
        return out;
      },
      py::arg("images"), py::arg("metas"), py::arg("directory"), py::arg("header") = "",
      "Writes images and their metas (two lists; or the (image, meta) pairs of larmor.recon / recon_stream with metas=None) as DICOM MR "
      "images into directory, one series per image type / contrast / set (docs/output.md). header: the raw-data "
      "file (ISMRMRD .h5) or its XML header, for the patient, study and sequence attributes. Returns the series "
      "written: [{'series_instance_uid', 'series_number', 'description', 'files'}].");
  m.def(
      "write_nifti",
      [](const py::object& images, const py::object& metas, const std::string& path, const std::string& header) {
        const auto records = records_of(images, metas);
        const auto scan = scan_of(header);
        py::gil_scoped_release nogil;
        return larmor::io::write_nifti(records, scan, path);
      },
      py::arg("images"), py::arg("metas"), py::arg("path"), py::arg("header") = "",
      "Writes the (image, meta) pairs of larmor.recon / recon_stream as NIfTI-1 (path ending in .nii or .nii.gz): "
      "one file per stack, slices ordered by position, repetitions as the 4th dimension, qform = sform in RAS "
      "(docs/output.md). Returns the files written.");
}

registrar reg_image_files{"image_files", bind_image_files};

}  // namespace

}  // namespace larmor_py
