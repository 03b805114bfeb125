// larmor/server/stream_server.hpp — `larmor serve`: a TCP server for the ISMRMRD / Gadgetron stream protocol.
// Each connection is one conversation (stream_conversation.hpp) on its own thread, with its own recon_session:
// its images go back on its socket as they are made.
//
//   server_options o;  o.port = 9002;                 // o.listen = "127.0.0.1" (loopback) by default
//   stream_server s(o);                               // binds and listens (port 0: a free port, see port())
//   s.run();                                          // until stop() (from any thread or a signal handler)
//
// Connections: at most max_connections at once; one more is told so (TEXT + CLOSE) and closed. The cores are
// shared: a conversation runs its reconstruction on max(1, cores / open connections) threads, counted when
// its header arrives. Memory: each session holds at most kspace_budget_bytes of k-space (0: the machine's
// memory / max_connections).
//
// Safety: it listens on loopback unless told otherwise. Raw data carries patients' names, so an address that
// is not loopback needs an allow-list of client addresses (`allow`) and TLS (tls_stream.hpp; or, said
// explicitly, plaintext_off_loopback); a connection from an address not on the list is refused and logged
// with its address, as is a failed TLS handshake. A client that sends nothing for idle_timeout_s seconds while
// larmor waits for it is dropped.
//
// Stopping: stop() closes the listening socket; open conversations have grace_s seconds to finish, then their
// sessions are cancelled and their sockets shut; run() returns when every connection thread has ended.
// stop() is async-signal-safe (it writes one byte to a pipe), so SIGINT/SIGTERM handlers may call it.
#pragma once

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "larmor/server/stream_conversation.hpp"
#include "larmor/server/tls_stream.hpp"

namespace larmor::server {

struct server_options {
  std::string listen = "127.0.0.1";       // IPv4 address to listen on
  int port = 9002;                        // 0: any free port
  int max_connections = 8;
  std::vector<std::string> allow;         // client addresses accepted besides loopback ones
  // TLS: the server's certificate chain and key (PEM); with tls_client_ca, clients must present a certificate
  // signed by it. Listening off loopback needs TLS unless plaintext_off_loopback (clients that cannot speak
  // TLS, such as gadgetron_ismrmrd_client, on a network that is the scanner's own).
  std::string tls_cert, tls_key, tls_client_ca;
  bool plaintext_off_loopback = false;
  // Each scan's images also as DICOM in dicom_dir/<date-time>_<measurement>/ (io/dicom.hpp), and stored in the PACS
  // dicom_send ("AE@HOST:PORT", io/dicom_store.hpp) when given; a failure is logged, the scan's reply is unchanged.
  std::string dicom_dir, dicom_send;
  double idle_timeout_s = 300;            // a client silent this long while larmor waits is dropped
  double grace_s = 30;                    // after stop(): time for open scans to finish before they are cancelled
  recon_options recon;                    // the chain's options (the method comes from each configuration)
  std::function<void(const std::string&)> log;  // one line per event; called from connection threads (serialised)
};

class stream_server {
 public:
  explicit stream_server(server_options opt);
  ~stream_server();
  stream_server(const stream_server&) = delete;
  stream_server& operator=(const stream_server&) = delete;

  int port() const { return port_; }
  // Accepts connections until stop(); returns when every connection has ended.
  void run();
  // Async-signal-safe: asks run() to stop.
  void stop() noexcept;

  // Counters for tests and the log.
  index_t connections_served() const { return served_.load(); }
  index_t connections_refused() const { return refused_.load(); }
  index_t connections_open() const { return open_.load(); }

 private:
  struct connection;
  void serve(const std::shared_ptr<connection>& c);
  void say(const std::string& line);
  void reap(bool all);
  void export_dicom(const std::string& peer, conversation_summary& sum);

  server_options opt_;
  int listen_fd_ = -1, port_ = 0;
  int wake_[2] = {-1, -1};  // self-pipe: stop() writes, run() polls
  std::atomic<bool> cancel_{false};
  std::atomic<index_t> served_{0}, refused_{0}, open_{0}, exports_{0};
  noise_store noise_;
  std::shared_ptr<tls_context> tls_;
  std::mutex log_mutex_, connections_mutex_;
  std::list<std::shared_ptr<connection>> connections_;
};

}  // namespace larmor::server
