// `larmor serve`, `larmor send`, and the stream input of `larmor recon -`: the ISMRMRD / Gadgetron stream
// protocol (larmor/server/).
#include <signal.h>

#include <cstdio>
#include <ctime>
#include <memory>
#include <string>

#include "cli/commands.hpp"
#include "larmor/io/ismrmrd.hpp"
#include "larmor/recon/recon_option_names.hpp"
#include "larmor/server/socket_stream.hpp"
#include "larmor/server/stream_client.hpp"
#include "larmor/server/stream_conversation.hpp"
#include "larmor/server/stream_server.hpp"

namespace larmor::cli {

namespace {

// One log line on stderr, with the local time.
void log_line(const std::string& s) {
  char when[32] = {};
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  std::fprintf(stderr, "%s larmor: %s\n", when, s.c_str());
}

server::stream_server* running_server = nullptr;  // for the signal handler

extern "C" void stop_on_signal(int) {
  if (running_server != nullptr) running_server->stop();  // async-signal-safe: one write to a pipe
}

// The chain's options that serve and recon share, as words.
struct chain_words {
  std::string method = "auto", image_type = "magnitude", partial_fourier = "pocs", noise = "unit", compress = "auto";
  float lambda = 0;
  double budget_mb = 0;
};

void add_chain_options(CLI::App* cmd, chain_words& w) {
  std::string methods = "auto";
  for (const auto& m : recon_methods()) methods += "|" + m;
  cmd->add_option("--method", w.method, "method of default.xml and of streams without a configuration: " + methods)
      ->capture_default_str();
  cmd->add_option("--image-type", w.image_type, "image type sent: magnitude|complex|phase|real|imaginary")
      ->capture_default_str();
  cmd->add_option("--partial-fourier", w.partial_fourier, "pocs|homodyne|zero")->capture_default_str();
  cmd->add_option("--noise-scaling", w.noise, "unit|snr")->capture_default_str();
  cmd->add_option("--compress", w.compress, "coil compression: auto, off, or N virtual coils")->capture_default_str();
  cmd->add_option("--lambda", w.lambda, "regularisation of the cs method (0: default)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--kspace-budget-mb", w.budget_mb,
                  "most k-space one scan may hold at once, MiB (0: the machine's memory / --max-connections)")
      ->check(CLI::NonNegativeNumber);
}

recon_options chain_options(const chain_words& w) {
  recon_options o =
      parse_recon_options({w.method, w.image_type, w.partial_fourier, w.noise, w.compress, w.lambda, {}, "off"});
  o.kspace_budget_bytes = w.budget_mb * 1024.0 * 1024.0;
  return o;
}

}  // namespace

recon_result recon_stream_input(const recon_options& opt) {
  ::signal(SIGPIPE, SIG_IGN);
  server::fd_stream in(0, false, "stdin");
  recon_result res;
  server::conversation_replies replies;
  replies.image = [&](const io::image_record& im, const std::string&) { res.images.push_back(im); };
  replies.text = [](const std::string& t) { std::fprintf(stderr, "larmor: %s", t.c_str()); };
  replies.response = [](std::uint64_t, const std::string&) {};
  replies.dependency = [](const std::string&) {};
  replies.close = [] {};
  server::conversation_options co;
  co.recon = opt;
  co.peer = "stdin";
  co.log = [](const std::string& s) { std::fprintf(stderr, "larmor: %s\n", s.c_str()); };
  const auto sum = server::serve_conversation(in, replies, co);
  LARMOR_CHECK_DATA(sum.ok, "recon: ", sum.error);
  LARMOR_CHECK_DATA(!res.images.empty(), "recon: stdin: the stream made no image");
  res.method = sum.method;
  return res;
}

void add_serve_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "reconstruction server for the ISMRMRD / Gadgetron stream protocol "
                                          "(gadgetron_ismrmrd_client, siemens_to_ismrmrd streams)");
  struct options {
    server::server_options s;
    chain_words chain;
    int threads = 0;
  };
  auto opt = std::make_shared<options>();
  cmd->add_option("--port", opt->s.port, "TCP port (0: any free port, printed)")->capture_default_str();
  cmd->add_option("--listen", opt->s.listen, "IPv4 address to listen on")->capture_default_str();
  cmd->add_option("--max-connections", opt->s.max_connections, "scans reconstructed at once")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--allow", opt->s.allow, "client address allowed besides loopback (repeat for each client)");
  cmd->add_option("--tls-cert", opt->s.tls_cert, "TLS: the server's certificate chain (PEM)");
  cmd->add_option("--tls-key", opt->s.tls_key, "TLS: the certificate's private key (PEM)");
  cmd->add_option("--tls-client-ca", opt->s.tls_client_ca, "TLS: clients must present a certificate this CA signed");
  cmd->add_option("--dicom-dir", opt->s.dicom_dir, "also write each scan's images as DICOM into DIR/<time>_<measurement>/");
  cmd->add_option("--dicom-send", opt->s.dicom_send, "and store them in a PACS by C-STORE: AE@HOST:PORT");
  cmd->add_flag("--plaintext", opt->s.plaintext_off_loopback,
                "listen off loopback without TLS (clients that cannot speak it, on the scanner's own network)");
  cmd->add_option("--idle-timeout", opt->s.idle_timeout_s, "seconds a silent client is waited for")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--grace", opt->s.grace_s, "seconds open scans get to finish after SIGINT/SIGTERM")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  add_chain_options(cmd, opt->chain);
  cmd->add_option("--threads", opt->threads, "worker threads (shared by the connections)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([opt] {
    if (opt->threads > 0) set_num_threads(opt->threads);
    opt->s.recon = chain_options(opt->chain);
    opt->s.log = log_line;
    server::stream_server srv(opt->s);
    running_server = &srv;
    struct sigaction sa {};
    sa.sa_handler = stop_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    // The port on stdout (one line) for scripts that start the server on port 0.
    std::printf("%d\n", srv.port());
    std::fflush(stdout);
    srv.run();
    running_server = nullptr;
  });
}

void add_send_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("send", "stream an ISMRMRD raw-data file to a reconstruction server "
                                         "(larmor serve, Gadgetron) and write the images it sends back");
  struct options {
    std::string in, out;
    server::send_options s;
  };
  auto opt = std::make_shared<options>();
  cmd->add_option("input", opt->in, "ISMRMRD raw data (.h5)")->required();
  cmd->add_option("-o,--out", opt->out, "ISMRMRD image file to write")->required();
  cmd->add_option("--host", opt->s.host, "server address")->capture_default_str();
  cmd->add_option("--port", opt->s.port, "server port")->capture_default_str();
  cmd->add_option("--config", opt->s.config, "configuration name the server runs")->capture_default_str();
  cmd->add_option("--dataset", opt->s.group, "HDF5 group of the raw data")->capture_default_str();
  cmd->add_option("--tls-ca", opt->s.tls_ca, "TLS: the CA certificate that signed the server's (turns TLS on)");
  cmd->add_option("--tls-cert", opt->s.tls_cert, "TLS: this client's certificate, for a server that asks");
  cmd->add_option("--tls-key", opt->s.tls_key, "TLS: this client's private key");
  cmd->add_option("--timeout", opt->s.idle_timeout_s, "seconds a silent server is waited for")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->callback([opt] {
    ::signal(SIGPIPE, SIG_IGN);
    opt->s.log = [](const std::string& t) { std::fprintf(stderr, "server: %s%s", t.c_str(),
                                                         !t.empty() && t.back() == '\n' ? "" : "\n"); };
    const auto res = server::send_ismrmrd_file(opt->in, opt->s);
    LARMOR_CHECK_DATA(res.error.empty(), "send: ", opt->s.host, ":", opt->s.port, ": ", res.error);
    if (opt->s.config == "default_measurement_dependencies.xml" || opt->s.config == "gtquery.xml") {
      // A noise measurement or a dependency query: no image comes back.
      std::fprintf(stderr, "larmor: %zu readouts sent\n", res.readouts_sent);
      if (!res.dependency.empty()) std::printf("%s\n", res.dependency.c_str());
      return;
    }
    LARMOR_CHECK_DATA(!res.images.empty(), "send: ", opt->s.host, ":", opt->s.port, ": the server sent no image");
    io::write_ismrmrd_images(opt->out, res.images);
    std::fprintf(stderr, "larmor: %zu readouts sent, %zu image(s) back -> %s\n", res.readouts_sent, res.images.size(),
                 opt->out.c_str());
  });
}

}  // namespace larmor::cli
