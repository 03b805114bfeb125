// larmor/server/tls_stream.hpp — TLS (OpenSSL) on a connected socket, for `larmor serve` off loopback and
// `larmor send` to such a server. OpenSSL stays in src/server: this header declares only larmor types.
//
// Server: a certificate chain and its key (PEM); with a client CA, clients must present a certificate it signed
// (mutual TLS). Client: the CA that signed the server's certificate (the server's name or address is checked
// against it); optionally its own certificate and key for a server that asks. TLS 1.2 or newer.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "larmor/server/socket_stream.hpp"

namespace larmor::server {

class tls_context {
 public:
  // PEM files; DataError naming the file when one cannot be read or the key does not fit the certificate.
  static std::shared_ptr<tls_context> for_server(const std::string& cert, const std::string& key,
                                                 const std::string& client_ca = {});
  static std::shared_ptr<tls_context> for_client(const std::string& ca, const std::string& cert = {},
                                                 const std::string& key = {});
  ~tls_context();
  tls_context(const tls_context&) = delete;
  tls_context& operator=(const tls_context&) = delete;
  void* native() const { return ctx_; }  // SSL_CTX*
  bool server_side() const { return server_; }

 private:
  tls_context(void* ctx, bool server) : ctx_(ctx), server_(server) {}
  void* ctx_;
  bool server_;
};

// A TLS session over `socket` (which it owns): the handshake runs in the constructor, bounded by the socket's
// idle timeout; DataError with OpenSSL's reason when it fails (wrong certificate, a peer that does not speak
// TLS). `peer_host` is the name the server's certificate must carry (client side only).
class tls_stream : public io::byte_source, public io::byte_sink {
 public:
  tls_stream(std::unique_ptr<fd_stream> socket, const tls_context& ctx, const std::string& peer_host = {});
  ~tls_stream() override;
  tls_stream(const tls_stream&) = delete;
  tls_stream& operator=(const tls_stream&) = delete;

  std::size_t read_some(void* p, std::size_t n) override;
  void write_all(const void* p, std::size_t n) override;
  void shutdown() noexcept { socket_->shutdown(); }
  fd_stream& socket() { return *socket_; }

 private:
  // Runs one OpenSSL call until it completes, waiting on the socket when it wants to read or write.
  template <class F>
  int drive(F&& f, const char* what);
  void handshake(const tls_context& ctx, const std::string& peer_host);
  std::unique_ptr<fd_stream> socket_;
  void* ssl_ = nullptr;  // SSL*
  std::mutex mutex_;     // reads and writes may come from two threads; OpenSSL takes one at a time
};

}  // namespace larmor::server
