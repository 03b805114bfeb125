// larmor/recon/recon_file.hpp — recon of a raw-data file: an ISMRMRD or Siemens twix file (.dat, or
// recognised by its content) in, images out. Needs the compiled readers: link larmor::io.
//
// Both go through a recon_session (recon_session.hpp): ISMRMRD files are streamed, every readout pushed
// as it is read and freed right after, and each image made as soon as its buffer is complete, so the peak
// memory holds the open buffers and one reconstruction, not the file. Twix files are read whole first.
#pragma once

#include <memory>
#include <string>

#include "larmor/io/ismrmrd.hpp"
#include "larmor/io/twix.hpp"
#include "larmor/recon/recon_session.hpp"

namespace larmor {

inline bool is_twix_path(const std::string& path) {
  return (path.size() >= 4 && path.compare(path.size() - 4, 4, ".dat") == 0) || io::is_twix_file(path);
}

// Streams the file at `path` through a session; each image goes to `sink` as it is made. cancel: an optional
// flag another thread may set to stop the work (larmor::Cancelled is thrown). Returns the methods that ran.
inline std::string recon_file_stream(const std::string& path, const recon_options& opt,
                                     const recon_session::image_sink& sink, const std::string& group = "dataset",
                                     const std::atomic<bool>* cancel = nullptr) {
  detail::check_recon_method(opt.method);
  if (is_twix_path(path)) {
    const auto raw = io::read_twix(path);
    if (opt.progress) opt.progress("sorting " + std::to_string(raw.acquisitions.size()) + " readouts");
    recon_session s(raw.header, opt, sink, path);
    s.cancel_when(cancel);
    for (const auto& a : raw.acquisitions) s.push(a);
    s.finish();
    return s.method();
  }
  if (opt.progress) opt.progress("reading the readouts of " + path);
  std::unique_ptr<recon_session> s;
  io::read_ismrmrd(
      path, group,
      [&](const io::encoding_header& h) {
        s = std::make_unique<recon_session>(h, opt, sink, path);
        s->cancel_when(cancel);
      },
      [&](io::acquisition&& a) { s->push(std::move(a)); });
  LARMOR_CHECK_DATA(s != nullptr, "recon: ", path, ": no header");
  s->finish();
  if (opt.progress) opt.progress(std::to_string(s->readouts_pushed()) + " readouts");
  return s->method();
}

inline recon_result recon_file(const std::string& path, const recon_options& opt = {},
                               const std::string& group = "dataset") {
  recon_result res;
  res.method = recon_file_stream(path, opt, [&](io::image_record&& r) { res.images.push_back(std::move(r)); }, group);
  return res;
}

inline recon_result recon(const std::string& path, const std::string& method = "auto") {
  recon_options o;
  o.method = method;
  return recon_file(path, o);
}

}  // namespace larmor
