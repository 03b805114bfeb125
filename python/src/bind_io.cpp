// bind_io.cpp — Python bindings of ISMRMRD reading (include/larmor/io/ismrmrd_kspace.hpp).
#include <array>
#include <string>
#include <utility>

#include "bind_common.hpp"
#include "larmor/io/ismrmrd.hpp"
#include "larmor/io/ismrmrd_kspace.hpp"

namespace larmor_py {
namespace {

py::dict header_dict(const larmor::io::encoding_header& h) {
  py::dict d;
  d["encoded_matrix"] = h.encoded_matrix;
  d["recon_matrix"] = h.recon_matrix;
  d["encoded_fov_mm"] = h.encoded_fov_mm;
  d["recon_fov_mm"] = h.recon_fov_mm;
  d["acceleration"] = std::array<int, 2>{h.accel_e1, h.accel_e2};
  d["calibration_mode"] = h.calibration_mode;
  d["trajectory"] = h.trajectory;
  d["receiver_channels"] = h.receiver_channels;
  d["field_strength_T"] = h.system_field_strength_T;
  d["protocol_name"] = h.protocol_name;
  if (h.e1) d["e1_limits"] = std::array<int, 3>{h.e1->minimum, h.e1->maximum, h.e1->center};
  if (h.e2) d["e2_limits"] = std::array<int, 3>{h.e2->minimum, h.e2->maximum, h.e2->center};
  return d;
}

void bind_io(py::module_& m) {
  const auto read_kspace = [](const std::string& path, const std::string& group) {
    larmor::io::ismrmrd_kspace r;
    {
      py::gil_scoped_release nogil;
      r = larmor::io::read_ismrmrd_kspace(path, group);  // io/ismrmrd_kspace.hpp: the same call in C++
    }
    auto& k = r.kspace;
    py::dict d;
    d["header"] = header_dict(r.header);
    py::list buffers, keys;
    for (auto& b : k.imaging) {
      py::dict key;
      key["slice"] = b.key.slice;
      key["contrast"] = b.key.contrast;
      key["phase"] = b.key.phase;
      key["repetition"] = b.key.repetition;
      key["set"] = b.key.set;
      keys.append(key);
      buffers.append(to_numpy(std::move(b.kspace)));
    }
    d["kspace"] = buffers;
    d["indices"] = keys;
    d["noise"] = k.noise.size() > 0 ? py::object(to_numpy(std::move(k.noise))) : py::none();
    py::list cal;
    for (auto& [key, c] : k.calibration) cal.append(to_numpy(std::move(c)));
    d["calibration"] = cal;
    return d;
  };
  const char* read_doc =
      "Reads an ISMRMRD file into assembled k-space (C++: larmor::io::read_ismrmrd_kspace): dict with 'header', "
      "'kspace' (list of (coils, z, y, x), one per slice/contrast/phase/repetition/set, averages divided out, "
      "oversampling removed), 'indices' (the keys of 'kspace', same order), 'noise' (coils, samples) or None, "
      "'calibration' (separate calibration buffers). Readouts are assembled as they are read (the raw list "
      "never exists). DataError (RuntimeError) for unreadable or non-Cartesian files.";
  m.def("read_ismrmrd", read_kspace, py::arg("path"), py::arg("dataset") = "dataset", read_doc);
  m.def("read_ismrmrd_kspace", read_kspace, py::arg("path"), py::arg("dataset") = "dataset", read_doc);
}

registrar reg_io{"io", bind_io};

}  // namespace
}  // namespace larmor_py
