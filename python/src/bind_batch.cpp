// bind_batch.cpp — larmor.recon_to_file: one raw-data file in, one ISMRMRD image file out, by the same
// code as the command line `larmor recon IN -o OUT --method M` (src/cli/recon.cpp run_recon:
// recon_file, then io::write_ismrmrd_images), so that python/larmor/batch.py, which runs it on Dask
// workers, writes exactly what `larmor recon` writes.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bind_common.hpp"
#include "larmor/io/ismrmrd.hpp"
#include "larmor/recon/recon_file.hpp"
#include "larmor/recon/recon_option_names.hpp"

namespace larmor_py {
namespace {

void bind_batch(py::module_& m) {
  m.def("recon_methods", [] { return larmor::recon_methods(); },
        "Names accepted by recon(..., method=...), recon_to_file and `larmor recon --method` (besides 'auto').");
  m.def(
      "recon_to_file",
      [](const std::string& path, const std::string& out, const std::string& method,
         const std::string& noise_scaling, const std::string& dataset,
         const std::optional<std::vector<long long>>& slices, const std::string& output,
         const std::string& partial_fourier, float lam, const std::string& compress, const std::string& normalize) {
        LARMOR_CHECK_ARG(!out.empty(), "recon_to_file: empty output path");
        // The chain's one option parser (also the CLI's and larmor.recon's). slices: None, every slice; a
        // list, only those (one part of a file split per slice).
        const auto o =
            larmor::parse_recon_options({method, output, partial_fourier, noise_scaling, compress, lam, slices, normalize});
        larmor::recon_result res;
        {
          py::gil_scoped_release nogil;
          res = larmor::recon_file(path, o, dataset);
          larmor::io::write_ismrmrd_images(out, res.images);
        }
        py::dict d;
        d["method"] = res.method;
        d["images"] = res.images.size();
        return d;
      },
      py::arg("path"), py::arg("out"), py::arg("method") = "auto", py::arg("noise_scaling") = "unit",
      py::arg("dataset") = "dataset", py::kw_only(), py::arg("slices") = py::none(),
      py::arg("output") = "magnitude", py::arg("partial_fourier") = "pocs", py::arg("lam") = 0.f,
      py::arg("compress") = "auto", py::arg("normalize") = "off",
      "Reconstructs the raw-data file `path` (ISMRMRD or Siemens twix) and writes its images to the "
      "ISMRMRD file `out` (written under a temporary name and renamed), exactly as `larmor recon path -o out "
      "--method M --noise-scaling S --dataset D --image-type T --partial-fourier P --lambda L --compress C "
      "--normalize N` does, with the same option parser (larmor/recon/recon_option_names.hpp): output, "
      "partial_fourier, lam, compress and normalize take the values of larmor.recon. slices: None (every slice) or a list of slice indices: only "
      "their imaging and calibration readouts are reconstructed (noise scans of the whole file still serve "
      "them), the unit of work of a file split per slice (larmor.batch); image_index then counts 1..n within "
      "this output. Returns {'method': the method that ran, 'images': count}. "
      "ValueError for bad arguments (unknown method), RuntimeError for unreadable or bad data.");
}

registrar reg_batch{"batch", bind_batch};

}  // namespace
}  // namespace larmor_py
