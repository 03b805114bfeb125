// larmor_scanner_stream — plays a raw-data file as a scanner would: readouts are pushed into a
// larmor::recon_session one at a time, with a pause between them (the repetition time), and each image
// is reported the moment the session makes it — not after the last readout.
//
//   larmor_scanner_stream RAW.h5|RAW.dat [--method M] [--tr-ms T] [--out IMAGES.h5]
//
// Prints one line per image: its number, slice/contrast/repetition, the method, how many readouts had been
// pushed and the time since the first readout. --tr-ms (default 0) sleeps T ms after every imaging readout.
// A second thread would call session.cancel() to stop (see recon_session.hpp); here Ctrl-C ends the program.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "larmor/io/ismrmrd.hpp"
#include "larmor/io/twix.hpp"
#include "larmor/recon/recon_file.hpp"

namespace {

struct player {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  double tr_ms = 0;
  long pushed = 0;
  std::vector<larmor::io::image_record> images;
  std::unique_ptr<larmor::recon_session> session;

  double elapsed_ms() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  }

  void open(const larmor::io::encoding_header& h, const larmor::recon_options& o, const std::string& source) {
    session = std::make_unique<larmor::recon_session>(
        h, o,
        [this](larmor::io::image_record&& r) {
          std::printf("image %u ready: slice %u contrast %u repetition %u, %td x %td x %td, after %ld readouts, "
                      "%.1f ms\n",
                      r.image_index, r.slice, r.contrast, r.repetition, r.magnitude.shape(0), r.magnitude.shape(1),
                      r.magnitude.shape(2), pushed, elapsed_ms());
          std::fflush(stdout);
          images.push_back(std::move(r));
        },
        source);
  }

  void push(larmor::io::acquisition&& a) {
    const bool noise = a.has(larmor::io::acq_flag::is_noise_measurement);
    ++pushed;
    session->push(std::move(a));
    if (tr_ms > 0 && !noise) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(tr_ms));
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string in, out, method = "auto";
  player p;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--method" && has_value) method = argv[++i];
    else if (a == "--tr-ms" && has_value) p.tr_ms = std::atof(argv[++i]);
    else if (a == "--out" && has_value) out = argv[++i];
    else if (!a.empty() && a[0] != '-' && in.empty()) in = a;
    else {
      std::fprintf(stderr, "usage: larmor_scanner_stream RAW.h5|RAW.dat [--method M] [--tr-ms T] [--out IMAGES.h5]\n");
      return 2;
    }
  }
  if (in.empty()) {
    std::fprintf(stderr, "usage: larmor_scanner_stream RAW.h5|RAW.dat [--method M] [--tr-ms T] [--out IMAGES.h5]\n");
    return 2;
  }
  try {
    larmor::recon_options o;
    o.method = method;
    if (larmor::is_twix_path(in)) {  // twix files are read whole, then played readout by readout
      auto raw = larmor::io::read_twix(in);
      p.open(raw.header, o, in);
      for (auto& a : raw.acquisitions) p.push(std::move(a));
    } else {  // ISMRMRD: each readout pushed as it is read
      larmor::io::read_ismrmrd(
          in, "dataset", [&](const larmor::io::encoding_header& h) { p.open(h, o, in); },
          [&](larmor::io::acquisition&& a) { p.push(std::move(a)); });
    }
    p.session->finish();
    std::printf("%ld readouts, %zu images (%s) in %.1f ms\n", p.pushed, p.images.size(), p.session->method().c_str(),
                p.elapsed_ms());
    if (!out.empty()) larmor::io::write_ismrmrd_images(out, p.images);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "larmor_scanner_stream: %s\n", e.what());
    return 1;
  }
  return 0;
}
