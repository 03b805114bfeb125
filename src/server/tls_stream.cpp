// TLS on a connected socket with OpenSSL (larmor/server/tls_stream.hpp).
#include "larmor/server/tls_stream.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cerrno>

#include "larmor/core/error.hpp"

namespace larmor::server {

namespace {

// OpenSSL's reasons for the last failure, one line.
std::string ssl_errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no further detail" : out;
}

// OpenSSL's socket BIO writes with write(2), which raises SIGPIPE (and ends the process) when the peer has
// gone. This BIO sends with MSG_NOSIGNAL instead, so a vanished client is an error, and larmor changes no
// process-wide signal disposition.
int bio_write(BIO* b, const char* p, int n) {
  BIO_clear_retry_flags(b);
  const ssize_t r = ::send(BIO_get_fd(b, nullptr), p, static_cast<std::size_t>(n), MSG_NOSIGNAL);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_write(b);
  return static_cast<int>(r);
}

int bio_read(BIO* b, char* p, int n) {
  BIO_clear_retry_flags(b);
  const ssize_t r = ::recv(BIO_get_fd(b, nullptr), p, static_cast<std::size_t>(n), 0);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_read(b);
  return static_cast<int>(r);
}

const BIO_METHOD* nosignal_socket_bio() {
  static BIO_METHOD* m = [] {
    // A copy of the socket BIO (its ctrl: the fd, flush, close) with our read and write.
    BIO_METHOD* meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                    "larmor socket");
    const BIO_METHOD* sock = BIO_s_socket();
    BIO_meth_set_write(meth, bio_write);
    BIO_meth_set_read(meth, bio_read);
    BIO_meth_set_puts(meth, BIO_meth_get_puts(sock));
    BIO_meth_set_ctrl(meth, BIO_meth_get_ctrl(sock));
    BIO_meth_set_create(meth, BIO_meth_get_create(sock));
    BIO_meth_set_destroy(meth, BIO_meth_get_destroy(sock));
    return meth;
  }();
  return m;
}

SSL_CTX* make_ctx(bool server) {
  SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  LARMOR_CHECK_DATA(ctx != nullptr, "tls: cannot make a context (", ssl_errors(), ")");
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
  return ctx;
}

void load_identity(SSL_CTX* ctx, const std::string& cert, const std::string& key) {
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
    const std::string why = ssl_errors();
    SSL_CTX_free(ctx);
    throw DataError("tls: cannot read the certificate " + cert + " (" + why + ")");
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    const std::string why = ssl_errors();
    SSL_CTX_free(ctx);
    throw DataError("tls: the key " + key + " cannot be read or does not fit " + cert + " (" + why + ")");
  }
}

void load_ca(SSL_CTX* ctx, const std::string& ca) {
  if (SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) != 1) {
    const std::string why = ssl_errors();
    SSL_CTX_free(ctx);
    throw DataError("tls: cannot read the CA certificate " + ca + " (" + why + ")");
  }
}

}  // namespace

std::shared_ptr<tls_context> tls_context::for_server(const std::string& cert, const std::string& key,
                                                     const std::string& client_ca) {
  LARMOR_CHECK_ARG(!cert.empty() && !key.empty(), "tls: a server needs a certificate and its key");
  SSL_CTX* ctx = make_ctx(true);
  load_identity(ctx, cert, key);
  if (!client_ca.empty()) {
    load_ca(ctx, client_ca);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return std::shared_ptr<tls_context>(new tls_context(ctx, true));
}

std::shared_ptr<tls_context> tls_context::for_client(const std::string& ca, const std::string& cert,
                                                     const std::string& key) {
  LARMOR_CHECK_ARG(!ca.empty(), "tls: a client needs the CA certificate that signed the server's certificate");
  SSL_CTX* ctx = make_ctx(false);
  load_ca(ctx, ca);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!cert.empty() || !key.empty()) {
    LARMOR_CHECK_ARG(!cert.empty() && !key.empty(), "tls: a client certificate needs its key, and a key its certificate");
    load_identity(ctx, cert, key);
  }
  return std::shared_ptr<tls_context>(new tls_context(ctx, false));
}

tls_context::~tls_context() { SSL_CTX_free(static_cast<SSL_CTX*>(ctx_)); }

template <class F>
int tls_stream::drive(F&& f, const char* what) {
  SSL* ssl = static_cast<SSL*>(ssl_);
  for (;;) {
    int r = 0, e = SSL_ERROR_NONE;
    {
      // One thread at a time in the session (a client reads replies while it sends); never while waiting.
      const std::lock_guard<std::mutex> lock(mutex_);
      ERR_clear_error();
      r = f(ssl);
      if (r > 0) return r;
      e = SSL_get_error(ssl, r);
    }
    if (e == SSL_ERROR_WANT_READ) {
      socket_->wait_for(POLLIN, what);
    } else if (e == SSL_ERROR_WANT_WRITE) {
      socket_->wait_for(POLLOUT, what);
    } else if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
      return 0;  // the peer closed the connection
    } else {
      const std::string why = ssl_errors();
      throw DataError(detail::concat(socket_->name(), ": TLS ", what, " failed (", why, ")"));
    }
  }
}

tls_stream::tls_stream(std::unique_ptr<fd_stream> socket, const tls_context& ctx, const std::string& peer_host)
    : socket_(std::move(socket)) {
  SSL* ssl = SSL_new(static_cast<SSL_CTX*>(ctx.native()));
  LARMOR_CHECK_DATA(ssl != nullptr, "tls: cannot make a session (", ssl_errors(), ")");
  ssl_ = ssl;
  try {
    handshake(ctx, peer_host);
  } catch (...) {
    SSL_free(ssl);  // with its BIO; the socket itself stays socket_'s
    ssl_ = nullptr;
    throw;
  }
}

void tls_stream::handshake(const tls_context& ctx, const std::string& peer_host) {
  SSL* ssl = static_cast<SSL*>(ssl_);
  // Non-blocking (fd_stream made it so): every wait goes through the socket's poll, with its idle timeout.
  const int fd = socket_->fd();
  BIO* bio = BIO_new(nosignal_socket_bio());
  LARMOR_CHECK_DATA(bio != nullptr, "tls: cannot make a socket BIO (", ssl_errors(), ")");
  BIO_set_fd(bio, fd, BIO_NOCLOSE);
  SSL_set_bio(ssl, bio, bio);  // the session owns the BIO; the socket stays socket_'s
  if (ctx.server_side()) {
    const int r = drive([](SSL* s) { return SSL_accept(s); }, "handshake");
    LARMOR_CHECK_DATA(r > 0, socket_->name(), ": the client closed the connection during the TLS handshake");
    return;
  }
  if (!peer_host.empty()) {
    in_addr ip{};
    if (inet_pton(AF_INET, peer_host.c_str(), &ip) == 1) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), peer_host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl, peer_host.c_str());
      SSL_set1_host(ssl, peer_host.c_str());
    }
  }
  const int r = drive([](SSL* s) { return SSL_connect(s); }, "handshake");
  LARMOR_CHECK_DATA(r > 0, socket_->name(), ": the server closed the connection during the TLS handshake");
}

tls_stream::~tls_stream() {
  SSL* ssl = static_cast<SSL*>(ssl_);
  if (ssl == nullptr) return;
  SSL_shutdown(ssl);  // one close_notify, without waiting for the peer's
  SSL_free(ssl);
}

std::size_t tls_stream::read_some(void* p, std::size_t n) {
  const int want = static_cast<int>(std::min<std::size_t>(n, 1 << 30));
  return static_cast<std::size_t>(drive([&](SSL* s) { return SSL_read(s, p, want); }, "read"));
}

void tls_stream::write_all(const void* p, std::size_t n) {
  const auto* src = static_cast<const unsigned char*>(p);
  while (n > 0) {
    const int chunk = static_cast<int>(std::min<std::size_t>(n, 1 << 30));
    const int w = drive([&](SSL* s) { return SSL_write(s, src, chunk); }, "write");
    LARMOR_CHECK_DATA(w > 0, socket_->name(), ": the peer closed the TLS connection");
    src += w;
    n -= static_cast<std::size_t>(w);
  }
}

}  // namespace larmor::server
