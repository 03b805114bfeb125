// bind_session.cpp — streaming reconstruction from Python: larmor.ReconSession (readouts pushed one at a
// time, images returned as their buffers complete) and the engine of larmor.recon_stream (a file played
// through a session on a C++ thread, its images handed over one by one; python/larmor/__init__.py wraps
// it as a generator). The GIL is released while readouts are placed and images reconstructed.
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bind_common.hpp"
#include "larmor/io/ismrmrd.hpp"
#include "larmor/recon/recon_file.hpp"
#include "larmor/recon/recon_option_names.hpp"

namespace larmor_py {
namespace {

using larmor::io::image_record;

larmor::recon_options session_options(const std::string& method, const std::string& output,
                                      const std::string& partial_fourier, const std::string& noise_scaling,
                                      const std::optional<std::vector<long long>>& slices, float lambda,
                                      const std::string& compress = "auto", const std::string& normalize = "off") {
  // The chain's one option parser (also the CLI's and recon_to_file's).
  return larmor::parse_recon_options({method, output, partial_fourier, noise_scaling, compress, lambda, slices, normalize});
}

// (image, meta): the image as its record's type says (float32 (z, y, x), complex64 for 'complex'), meta its
// loop indices, number and geometry.
py::tuple image_and_meta(image_record&& r) {
  py::dict md;
  md["image_index"] = r.image_index;
  md["slice"] = r.slice;
  md["contrast"] = r.contrast;
  md["phase"] = r.phase;
  md["repetition"] = r.repetition;
  md["set"] = r.set;
  md["fov_mm"] = r.fov_mm;
  md["position"] = r.position;
  md["read_dir"] = r.read_dir;
  md["phase_dir"] = r.phase_dir;
  md["slice_dir"] = r.slice_dir;
  md["patient_table_position"] = r.patient_table_position;
  md["acquisition_time_stamp"] = r.acquisition_time_stamp;
  md["image_type"] = larmor::io::image_type_name(r.type);
  py::object img;
  switch (r.type) {
    case larmor::io::image_type::magnitude: img = to_numpy(std::move(r.magnitude)); break;
    case larmor::io::image_type::complex: img = to_numpy(std::move(r.complex_image)); break;
    default: {
      larmor::array<float, 3> v(r.complex_image.shape(), larmor::uninitialized);
      const auto t = r.type;
      std::transform(r.complex_image.begin(), r.complex_image.end(), v.begin(), [t](const larmor::cfloat& c) {
        return t == larmor::io::image_type::phase ? std::arg(c)
               : t == larmor::io::image_type::real ? c.real()
                                                   : c.imag();
      });
      img = to_numpy(std::move(v));
    }
  }
  return py::make_tuple(img, md);
}

py::list to_list(std::vector<image_record>&& images) {
  py::list out;
  for (auto& r : images) out.append(image_and_meta(std::move(r)));
  return out;
}

template <class T>
T field(const py::dict& f, const char* name, T fallback) {
  return f.contains(name) ? f[name].cast<T>() : fallback;
}

// One readout from Python: data (channels, samples) complex, the rest ISMRMRD acquisition header fields.
larmor::io::acquisition acquisition_from(const py::object& data, const py::dict& f) {
  static const char* known[] = {"flags", "scan_counter", "discard_pre", "discard_post", "center_sample",
                                "sample_time_us", "kspace_encode_step_1", "kspace_encode_step_2", "average",
                                "slice", "contrast", "phase", "repetition", "set", "segment", "position",
                                "read_dir", "phase_dir", "slice_dir", "patient_table_position",
                                "acquisition_time_stamp"};
  for (const auto& kv : f) {
    const auto k = kv.first.cast<std::string>();
    bool ok = false;
    for (const char* n : known) ok = ok || k == n;
    LARMOR_CHECK_ARG(ok, "ReconSession.push: unknown readout field '", k, "'");
  }
  larmor::io::acquisition a;
  LARMOR_CHECK_ARG(ndim_of(data) == 2, "ReconSession.push: data must be (channels, samples), got ", ndim_of(data),
                   " dimensions");
  py::object hold;
  const auto v = complex_view<2>(data, hold, "ReconSession.push: data");
  a.data = larmor::array<larmor::cfloat, 2>(v.shape(), larmor::uninitialized);
  for (larmor::index_t c = 0; c < v.shape(0); ++c)
    for (larmor::index_t s = 0; s < v.shape(1); ++s) a.data(c, s) = v(c, s);
  a.flags = field<std::uint64_t>(f, "flags", 0);
  a.scan_counter = field<std::uint32_t>(f, "scan_counter", 0);
  a.acquisition_time_stamp = field<std::uint32_t>(f, "acquisition_time_stamp", 0);
  a.discard_pre = field<std::uint16_t>(f, "discard_pre", 0);
  a.discard_post = field<std::uint16_t>(f, "discard_post", 0);
  a.center_sample = field<std::uint16_t>(f, "center_sample", 0);
  a.sample_time_us = field<float>(f, "sample_time_us", 0.f);
  auto& i = a.idx;
  i.kspace_encode_step_1 = field<std::uint16_t>(f, "kspace_encode_step_1", 0);
  i.kspace_encode_step_2 = field<std::uint16_t>(f, "kspace_encode_step_2", 0);
  i.average = field<std::uint16_t>(f, "average", 0);
  i.slice = field<std::uint16_t>(f, "slice", 0);
  i.contrast = field<std::uint16_t>(f, "contrast", 0);
  i.phase = field<std::uint16_t>(f, "phase", 0);
  i.repetition = field<std::uint16_t>(f, "repetition", 0);
  i.set = field<std::uint16_t>(f, "set", 0);
  i.segment = field<std::uint16_t>(f, "segment", 0);
  using v3 = std::array<float, 3>;
  a.position = field<v3>(f, "position", v3{});
  a.read_dir = field<v3>(f, "read_dir", v3{});
  a.phase_dir = field<v3>(f, "phase_dir", v3{});
  a.slice_dir = field<v3>(f, "slice_dir", v3{});
  a.patient_table_position = field<v3>(f, "patient_table_position", v3{});
  return a;
}

// A file reconstructed on a C++ thread through a recon_session; next() waits (without the GIL) for the
// next image. Destroying it cancels the work and joins the thread.
class file_stream {
 public:
  file_stream(std::string path, larmor::recon_options opt, std::string dataset) {
    worker_ = std::thread([this, path = std::move(path), opt = std::move(opt), dataset = std::move(dataset)] {
      std::string method;
      std::exception_ptr err;
      try {
        method = larmor::recon_file_stream(
            path, opt,
            [this](image_record&& r) {
              std::lock_guard<std::mutex> lock(m_);
              queue_.push_back(std::move(r));
              cv_.notify_all();
            },
            dataset, &cancel_);
      } catch (...) {
        err = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(m_);
      method_ = method;
      error_ = err;
      done_ = true;
      cv_.notify_all();
    });
  }
  ~file_stream() { close(); }

  // The next (image, meta), or None when the file is done; the worker's error is raised here.
  py::object next() {
    std::optional<image_record> r;
    {
      py::gil_scoped_release nogil;
      std::unique_lock<std::mutex> lock(m_);
      cv_.wait(lock, [this] { return !queue_.empty() || done_; });
      if (!queue_.empty()) {
        r = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    if (r) return image_and_meta(std::move(*r));
    if (error_) {
      auto e = error_;
      error_ = nullptr;
      std::rethrow_exception(e);
    }
    return py::none();
  }

  void close() {
    cancel_.store(true);
    if (worker_.joinable()) {
      py::gil_scoped_release nogil;
      worker_.join();
    }
  }
  std::string method() {
    std::lock_guard<std::mutex> lock(m_);
    return method_;
  }

 private:
  std::atomic<bool> cancel_{false};
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<image_record> queue_;
  bool done_ = false;
  std::exception_ptr error_;
  std::string method_;
  std::thread worker_;
};

void bind_session(py::module_& m) {
  py::register_exception<larmor::Cancelled>(m, "Cancelled", PyExc_RuntimeError);

  m.def("recon", [](const std::string& path, const std::string& method, const std::string& output,
                    const std::string& partial_fourier, const std::string& noise_scaling,
                    const std::optional<std::vector<long long>>& slices, float lambda, const std::string& compress,
                    const std::string& dataset, bool gfactor, bool b0_map, const std::string& normalize) {
    auto o = session_options(method, output, partial_fourier, noise_scaling, slices, lambda, compress, normalize);
    std::vector<image_record> gfactors, fieldmaps, unnormalized;
    const bool normalized = o.normalize != "off";
    if (normalized) o.unnormalized_sink = [&unnormalized](image_record&& r) { unnormalized.push_back(std::move(r)); };
    if (gfactor) o.gfactor_sink = [&gfactors](image_record&& r) { gfactors.push_back(std::move(r)); };
    if (b0_map) o.fieldmap_sink = [&fieldmaps](image_record&& r) { fieldmaps.push_back(std::move(r)); };
    larmor::recon_result res;
    {
      py::gil_scoped_release nogil;
      res = larmor::recon_file(path, o, dataset);
    }
    py::list images, meta;
    for (auto& r : res.images) {
      auto t = image_and_meta(std::move(r));
      images.append(t[0]);
      meta.append(t[1]);
    }
    if (!gfactor && !b0_map && !normalized) return py::make_tuple(images, meta, res.method);
    py::dict derived;
    if (normalized) derived["unnormalized"] = to_list(std::move(unnormalized));
    if (gfactor) derived["gfactor"] = to_list(std::move(gfactors));
    if (b0_map) derived["b0_map"] = to_list(std::move(fieldmaps));
    return py::make_tuple(images, meta, res.method, derived);
  }, py::arg("path"), py::arg("method") = "auto", py::arg("output") = "magnitude",
        py::arg("partial_fourier") = "pocs", py::arg("noise_scaling") = "unit", py::arg("slices") = py::none(),
        py::arg("lam") = 0.f, py::arg("compress") = "auto", py::arg("dataset") = "dataset", py::arg("gfactor") = false,
        py::arg("b0_map") = false, py::arg("normalize") = "off",
        "Reconstructs a raw-data file (ISMRMRD .h5 or Siemens twix .dat), the chain of `larmor recon` (a "
        "recon_session: the images in the order they complete, equal to larmor.recon_stream's): (images, "
        "metadata dicts, method). output: 'magnitude' | 'phase' | 'real' | 'imaginary' (float32 (z, y, x)) or "
        "'complex' (complex64 (z, y, x)); partial_fourier: 'pocs' | 'homodyne' | 'zero'; noise_scaling: 'unit' | "
        "'snr'; slices: only these slices; lam: the cs lambda; compress: 'auto' | 'off' | N virtual coils. "
        "gfactor=True and/or b0_map=True: a fourth element, a dict of the maps derived beside the images as "
        "(map (z, y, x), meta) pairs: 'gfactor' (grappa/sense/cgsense, one per slice and sampling lattice; "
        "docs/snr.md), 'b0_map' (Hz, signed, per slice of a scan with 2+ echoes and their TEs in the header; "
        "docs/fieldmap.md). normalize='auto' | 'coils' | 'body': receive-field (intensity) normalisation, the "
        "unnormalised images in the dict's 'unnormalized' (docs/snr.md).");

  py::class_<larmor::recon_session>(m, "ReconSession",
      "Streaming reconstruction: push readouts in scan order; push() and finish() return the (image, meta) "
      "pairs that became complete (ACQ_LAST_IN_SLICE / LAST_IN_REPETITION / LAST_IN_MEASUREMENT, a time "
      "series moving on; see larmor/recon/recon_session.hpp). header: the ISMRMRD XML header. cancel() may be "
      "called from another thread; push/finish then raise larmor.Cancelled.")
      .def(py::init([](const std::string& header_xml, const std::string& method, const std::string& output,
                       const std::string& partial_fourier, const std::string& noise_scaling,
                       const std::optional<std::vector<long long>>& slices, float lambda, const std::string& compress) {
             const auto h = larmor::io::parse_ismrmrd_header(header_xml, "ReconSession");
             return std::make_unique<larmor::recon_session>(
                 h, session_options(method, output, partial_fourier, noise_scaling, slices, lambda, compress),
                 larmor::recon_session::image_sink{}, "ReconSession");
           }),
           py::arg("header"), py::arg("method") = "auto", py::arg("output") = "magnitude",
           py::arg("partial_fourier") = "pocs", py::arg("noise_scaling") = "unit", py::arg("slices") = py::none(),
           py::arg("lam") = 0.f, py::arg("compress") = "auto")
      .def("push", [](larmor::recon_session& s, const py::object& data, const py::kwargs& fields) {
             auto a = acquisition_from(data, py::dict(fields));
             std::vector<image_record> done;
             {
               py::gil_scoped_release nogil;
               s.push(std::move(a));
               done = s.take_images();
             }
             return to_list(std::move(done));
           }, py::arg("data"),
           "One readout: data (channels, samples) complex; keywords: flags (ISMRMRD bits), kspace_encode_step_1/2, "
           "slice, contrast, phase, repetition, set, average, segment, center_sample, discard_pre, discard_post, "
           "sample_time_us, position, read_dir, phase_dir, slice_dir, patient_table_position, scan_counter, "
           "acquisition_time_stamp (2.5 ms ticks since midnight on Siemens scanners). "
           "Returns the list of (image, meta) it completed.")
      .def("finish", [](larmor::recon_session& s) {
             std::vector<image_record> done;
             {
               py::gil_scoped_release nogil;
               s.finish();
               done = s.take_images();
             }
             return to_list(std::move(done));
           }, "Reconstructs what is still open; returns the list of (image, meta).")
      .def("cancel", &larmor::recon_session::cancel, "Stops the work (thread-safe).")
      .def_property_readonly("method", &larmor::recon_session::method, "The methods that ran ('+'-joined).")
      .def_property_readonly("images_made", &larmor::recon_session::images_made)
      .def_property_readonly("open_buffers", &larmor::recon_session::open_buffer_count,
                             "Buffers held: still receiving readouts, or complete and waiting for finish().");

  py::class_<file_stream>(m, "_FileStream")
      .def(py::init([](const std::string& path, const std::string& method, const std::string& output,
                       const std::string& partial_fourier, const std::string& noise_scaling,
                       const std::optional<std::vector<long long>>& slices, float lambda, const std::string& compress,
                       const std::string& dataset) {
             return std::make_unique<file_stream>(
                 path, session_options(method, output, partial_fourier, noise_scaling, slices, lambda, compress),
                 dataset);
           }),
           py::arg("path"), py::arg("method") = "auto", py::arg("output") = "magnitude",
           py::arg("partial_fourier") = "pocs", py::arg("noise_scaling") = "unit", py::arg("slices") = py::none(),
           py::arg("lam") = 0.f, py::arg("compress") = "auto", py::arg("dataset") = "dataset")
      .def("next", &file_stream::next)
      .def("close", &file_stream::close)
      .def_property_readonly("method", &file_stream::method);
}

registrar reg_session{"session", bind_session};

}  // namespace
}  // namespace larmor_py
