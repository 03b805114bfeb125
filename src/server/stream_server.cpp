// `larmor serve`: the ISMRMRD / Gadgetron stream protocol on TCP (larmor/server/stream_server.hpp).
#include "larmor/server/stream_server.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <system_error>
#include <thread>

#include "larmor/core/parallel.hpp"
#include "larmor/io/dicom.hpp"
#include "larmor/io/dicom_store.hpp"
#include "larmor/io/scan_information.hpp"
#include "larmor/server/socket_stream.hpp"

namespace larmor::server {

struct stream_server::connection {
  // The descriptor is the connection's, closed when the connection is destroyed, after its thread has been
  // joined: shutdown() from the accepting thread never reaches a descriptor number reused by a newer client.
  int fd = -1;
  std::unique_ptr<fd_stream> plain;   // the socket (not owning the descriptor), until TLS takes it over
  std::unique_ptr<tls_stream> tls;
  std::thread thread;
  std::atomic<bool> done{false};
  std::string peer;
  ~connection() {
    tls.reset();
    plain.reset();
    if (fd >= 0) ::close(fd);
  }
};

stream_server::stream_server(server_options opt) : opt_(std::move(opt)) {
  LARMOR_CHECK_ARG(opt_.max_connections >= 1, "serve: --max-connections must be >= 1, got ", opt_.max_connections);
  LARMOR_CHECK_ARG(opt_.idle_timeout_s >= 0 && opt_.grace_s >= 0, "serve: timeouts must be >= 0");
  const bool loopback = is_loopback_address(opt_.listen);
  LARMOR_CHECK_ARG(loopback || !opt_.allow.empty(), "serve: listening on ", opt_.listen,
                   " reaches other machines, and raw data carries patients' names: give the client addresses "
                   "allowed (--allow ADDRESS, one per client), or listen on 127.0.0.1");
  LARMOR_CHECK_ARG(loopback || !opt_.tls_cert.empty() || opt_.plaintext_off_loopback, "serve: listening on ",
                   opt_.listen, " needs TLS (--tls-cert and --tls-key), or --plaintext for clients that cannot "
                   "speak it on a network that is the scanner's own");
  if (!opt_.dicom_send.empty()) {
    LARMOR_CHECK_ARG(!opt_.dicom_dir.empty(), "serve: --dicom-send needs --dicom-dir (the files are kept there)");
    (void)io::parse_dicom_destination(opt_.dicom_send);  // a malformed destination refused at start
  }
  if (!opt_.tls_cert.empty() || !opt_.tls_key.empty())
    tls_ = tls_context::for_server(opt_.tls_cert, opt_.tls_key, opt_.tls_client_ca);
  if (opt_.recon.kspace_budget_bytes <= 0) {
    // Half the machine's memory shared by the connections: the other half for what each reconstruction
    // needs beside its k-space (maps, one coil image set) and for the rest of the machine.
    const double phys = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGESIZE));
    opt_.recon.kspace_budget_bytes = 0.5 * phys / opt_.max_connections;
  }
  LARMOR_CHECK_DATA(pipe2(wake_, O_CLOEXEC | O_NONBLOCK) == 0, "serve: cannot make a pipe");
  try {
    listen_fd_ = tcp_listen(opt_.listen, opt_.port);
  } catch (...) {
    ::close(wake_[0]);
    ::close(wake_[1]);
    throw;
  }
  port_ = bound_port(listen_fd_);
}

stream_server::~stream_server() {
  stop();
  cancel_.store(true);
  reap(true);
  if (listen_fd_ >= 0) ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

void stream_server::stop() noexcept {
  const char b = 1;
  [[maybe_unused]] const ssize_t r = ::write(wake_[1], &b, 1);  // async-signal-safe
}

void stream_server::say(const std::string& line) {
  if (!opt_.log) return;
  const std::lock_guard<std::mutex> lock(log_mutex_);
  opt_.log(line);
}

void stream_server::reap(bool all) {
  std::list<std::shared_ptr<connection>> ended;
  {
    const std::lock_guard<std::mutex> lock(connections_mutex_);
    for (auto it = connections_.begin(); it != connections_.end();) {
      if (all || (*it)->done.load()) {
        ended.push_back(*it);
        it = connections_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& c : ended) {
    if (all && !c->done.load()) ::shutdown(c->fd, SHUT_RDWR);
    if (c->thread.joinable()) c->thread.join();
  }
}

namespace {

// Ends a connection so that the client reads everything sent to it: closing a socket with unread input makes
// the kernel reset the connection, and the client may lose the last TEXT and CLOSE (a client cut off after an
// error usually has more on its way). So: no more output, then the client's remaining input read and dropped
// until it closes (at most `wait`), then the socket shut.
void drain_and_shut(int fd, std::chrono::milliseconds wait = std::chrono::seconds(2)) {
  ::shutdown(fd, SHUT_WR);
  const auto end = std::chrono::steady_clock::now() + wait;
  char buf[1 << 14];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    const ssize_t r = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) break;
  }
  ::shutdown(fd, SHUT_RDWR);
}

}  // namespace

void stream_server::export_dicom(const std::string& peer, conversation_summary& sum) {
  try {
    const auto scan = io::parse_scan_information(sum.header_xml, peer);
    char when[32] = {};
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    std::strftime(when, sizeof when, "%Y%m%d-%H%M%S", &tm);
    std::string name = std::string(when) + "_" + (scan.measurement_id.empty() ? "scan" : scan.measurement_id) + "_" +
                       std::to_string(++exports_);
    for (auto& ch : name)
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_') ch = '_';  // never a path
    const std::string dir = (std::filesystem::path(opt_.dicom_dir) / name).string();
    io::dicom_options d;
    d.method = sum.method;
    const auto series = io::write_dicom(sum.kept_images, scan, dir, d);
    sum.kept_images.clear();
    say(peer + ": DICOM: " + std::to_string(series.size()) + " series in " + dir);
    if (opt_.dicom_send.empty()) return;
    const auto to = io::parse_dicom_destination(opt_.dicom_send);
    for (const auto& s : series) {
      io::dicom_store(s.files, to, [&](const std::string& line) { say(peer + ": " + line); });
      say(peer + ": series " + std::to_string(s.series_number) + " stored in " + opt_.dicom_send);
    }
  } catch (const std::exception& e) {
    say(peer + ": DICOM export failed: " + e.what());
  }
}

void stream_server::serve(const std::shared_ptr<connection>& c) {
  try {
    conversation_options co;
    co.recon = opt_.recon;
    co.noise = &noise_;
    co.log = [this](const std::string& s) { say(s); };
    co.cancel = &cancel_;
    co.peer = c->peer;
    co.keep_images = !opt_.dicom_dir.empty();
    // The cores shared by the connections open now (asked again before each readout).
    const int cores = std::max(1, num_threads());
    co.threads = [this, cores] {
      return std::max(1, cores / static_cast<int>(std::max<index_t>(1, open_.load())));
    };
    if (tls_) {
      try {
        c->tls = std::make_unique<tls_stream>(std::move(c->plain), *tls_);
      } catch (const std::exception& e) {
        ++refused_;
        say("refused " + c->peer + ": " + e.what());
      }
    }
    if (c->plain || c->tls) {
      io::byte_source& in = c->tls ? static_cast<io::byte_source&>(*c->tls) : *c->plain;
      io::byte_sink& out = c->tls ? static_cast<io::byte_sink&>(*c->tls) : *c->plain;
      auto sum = serve_conversation(in, message_replies(out), co);
      if (sum.ok)
        say(c->peer + ": done (" + std::to_string(sum.readouts) + " readouts, " + std::to_string(sum.images) +
            " images)");
      else
        say(c->peer + ": ended: " + sum.error);
      if (sum.ok && !sum.kept_images.empty()) export_dicom(c->peer, sum);
    }
  } catch (const std::exception& e) {  // the log itself, or TLS set-up, failed: the connection ends all the same
    try {
      say(c->peer + ": ended: " + e.what());
    } catch (...) {
    }
  } catch (...) {
  }
  drain_and_shut(c->fd);
  ++served_;
  --open_;
  malloc_trim(0);  // the session's buffers back to the system, not kept in this thread's arena
  c->done.store(true);
}

void stream_server::run() {
  say("larmor serve: listening on " + opt_.listen + ":" + std::to_string(port_) + (tls_ ? " (TLS" : " (") +
      (tls_ ? ", " : "") + "max " + std::to_string(opt_.max_connections) + " connections)");
  if (!is_loopback_address(opt_.listen) && !tls_)
    say("warning: listening on " + opt_.listen + " without TLS: raw data crosses the network unencrypted");
  for (;;) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    const int r = ::poll(p, 2, 500);
    reap(false);
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    if (p[1].revents != 0) break;  // stop()
    if ((p[0].revents & POLLIN) == 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;  // the client gave up already, or out of descriptors: keep serving
    const std::string address = peer_address(fd), peer = peer_name(fd);
    if (!is_loopback_address(address) &&
        std::find(opt_.allow.begin(), opt_.allow.end(), address) == opt_.allow.end()) {
      ++refused_;
      say("refused a connection from " + peer + " (not on the allow list)");
      ::close(fd);
      continue;
    }
    if (open_.load() >= opt_.max_connections) {
      ++refused_;
      say("refused a connection from " + peer + ": " + std::to_string(opt_.max_connections) + " scans running");
      try {
        // The reason as TEXT, except to gadgetron_ismrmrd_client's noise pre-flight (a CONFIG_SCRIPT first),
        // which aborts on TEXT: it gets CLOSE alone. The first message is waited for 0.2 s at most.
        fd_stream busy(fd, false, peer, 0.2);
        bool script = false;
        try {
          io::stream_limits small;
          small.max_text_bytes = 1 << 16;
          const auto first = io::stream_reader(busy, peer, small).next();
          script = first && first->id == io::stream_message::config_script;
        } catch (const std::exception&) {
        }
        if (!script)
          io::write_text_message(busy, io::stream_message::text,
                                 "larmor: ERROR: the server is busy (" + std::to_string(opt_.max_connections) +
                                     " scans running); try again later\n");
        io::write_close(busy);
      } catch (const std::exception&) {
      }
      drain_and_shut(fd, std::chrono::milliseconds(200));  // short: the accepting thread waits meanwhile
      ::close(fd);
      continue;
    }
    auto c = std::make_shared<connection>();
    c->peer = peer;
    c->fd = fd;
    c->plain = std::make_unique<fd_stream>(fd, false, peer, opt_.idle_timeout_s, &cancel_);
    ++open_;
    say(peer + ": connected");
    try {
      c->thread = std::thread([this, c] { serve(c); });
    } catch (const std::system_error& e) {  // no thread to be had: this client is refused, the server goes on
      --open_;
      ++refused_;
      say("refused " + peer + ": cannot start a thread (" + e.what() + ")");
      continue;  // c (and its descriptor) is released here
    }
    const std::lock_guard<std::mutex> lock(connections_mutex_);
    connections_.push_back(c);
  }
  ::close(listen_fd_);
  listen_fd_ = -1;
  // Open scans get grace_s to finish; then their sessions are cancelled and their sockets shut.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(opt_.grace_s);
  if (open_.load() > 0) say("stopping: " + std::to_string(open_.load()) + " scan(s) still open");
  while (open_.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (open_.load() > 0) say("stopping: cancelling " + std::to_string(open_.load()) + " scan(s)");
  cancel_.store(true);
  // Cancelled sessions stop within a buffer's step and say so (TEXT + CLOSE); then what is left is shut.
  const auto last = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (open_.load() > 0 && std::chrono::steady_clock::now() < last)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  reap(true);
  say("larmor serve: stopped (" + std::to_string(served_.load()) + " connections served, " +
      std::to_string(refused_.load()) + " refused)");
}

}  // namespace larmor::server
