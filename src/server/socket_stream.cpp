// File descriptors as stream endpoints (larmor/server/socket_stream.hpp).
#include "larmor/server/socket_stream.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "larmor/core/error.hpp"

namespace larmor::server {

namespace {

std::string errno_text() { return std::strerror(errno); }

bool fd_is_socket(int fd) {
  struct stat st {};
  return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

}  // namespace

fd_stream::fd_stream(int fd, bool owned, std::string name, double idle_timeout_s, const std::atomic<bool>* stop)
    : fd_(fd), owned_(owned), is_socket_(fd_is_socket(fd)), name_(std::move(name)), idle_timeout_s_(idle_timeout_s),
      stop_(stop) {
  LARMOR_CHECK_ARG(fd >= 0, "fd_stream: invalid file descriptor");
  LARMOR_CHECK_ARG(idle_timeout_s >= 0, "fd_stream: idle timeout must be >= 0");
  // A blocking send can wait forever once poll said "some room" and the peer stops reading: sockets are made
  // non-blocking (every wait is wait_for's poll, with its timeout). Pipes and files are left as they are.
  if (is_socket_) fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL, 0) | O_NONBLOCK);
}

fd_stream::~fd_stream() {
  if (owned_ && fd_ >= 0) ::close(fd_);
}

void fd_stream::shutdown() noexcept {
  if (is_socket_) ::shutdown(fd_, SHUT_RDWR);
}

void fd_stream::wait_for(short events, const char* what) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  for (;;) {
    if (stop_ != nullptr && stop_->load() && (events & POLLIN) != 0)
      throw DataError(detail::concat(name_, ": the server is stopping (while waiting to ", what, ")"));
    pollfd p{fd_, events, 0};
    const int r = ::poll(&p, 1, 200);
    if (r > 0) return;  // ready, or an error/hang-up the read or write reports
    if (r < 0 && errno != EINTR) throw DataError(detail::concat(name_, ": poll failed (", errno_text(), ")"));
    if (idle_timeout_s_ > 0 &&
        std::chrono::duration<double>(clock::now() - start).count() > idle_timeout_s_)
      throw DataError(detail::concat(name_, ": the peer did nothing for ", idle_timeout_s_, " s while larmor waited to ",
                                     what, " (stalled client?)"));
  }
}

std::size_t fd_stream::read_some(void* p, std::size_t n) {
  for (;;) {
    wait_for(POLLIN, "read");
    const ssize_t r = ::read(fd_, p, n);
    if (r >= 0) return static_cast<std::size_t>(r);
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
    if (errno == ECONNRESET) return 0;  // the peer went away: the end of its stream
    throw DataError(detail::concat(name_, ": read failed (", errno_text(), ")"));
  }
}

void fd_stream::write_all(const void* p, std::size_t n) {
  const auto* src = static_cast<const unsigned char*>(p);
  while (n > 0) {
    wait_for(POLLOUT, "write");
    const ssize_t r = is_socket_ ? ::send(fd_, src, n, MSG_NOSIGNAL) : ::write(fd_, src, n);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      throw DataError(detail::concat(name_, ": write failed (", errno_text(), ")"));
    }
    src += r;
    n -= static_cast<std::size_t>(r);
  }
}

int tcp_listen(const std::string& address, int port, int backlog) {
  LARMOR_CHECK_ARG(port >= 0 && port <= 65535, "listen: port ", port, " out of range 0..65535");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  LARMOR_CHECK_ARG(inet_pton(AF_INET, address.c_str(), &a.sin_addr) == 1, "listen: '", address,
                   "' is not an IPv4 address (e.g. 127.0.0.1 or 0.0.0.0)");
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  LARMOR_CHECK_DATA(fd >= 0, "listen: cannot make a socket (", errno_text(), ")");
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, backlog) != 0) {
    const std::string why = errno_text();
    ::close(fd);
    throw DataError(detail::concat("listen: cannot listen on ", address, ":", port, " (", why, ")"));
  }
  return fd;
}

int bound_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  LARMOR_CHECK_DATA(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0, "getsockname failed (", errno_text(),
                    ")");
  return ntohs(a.sin_port);
}

int tcp_connect(const std::string& host, int port, double timeout_s) {
  LARMOR_CHECK_ARG(port > 0 && port <= 65535, "connect: port ", port, " out of range 1..65535");
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  LARMOR_CHECK_DATA(rc == 0 && res != nullptr, "connect: cannot resolve '", host, "' (", gai_strerror(rc), ")");
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(res);
    throw DataError("connect: cannot make a socket (" + errno_text() + ")");
  }
  // Non-blocking connect, bounded by timeout_s, then back to blocking.
  const int flags = fcntl(fd, F_GETFL, 0);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  int err = ::connect(fd, res->ai_addr, res->ai_addrlen) == 0 ? 0 : errno;
  freeaddrinfo(res);
  if (err == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    const int r = ::poll(&p, 1, static_cast<int>(timeout_s * 1000));
    socklen_t len = sizeof err;
    if (r <= 0)
      err = ETIMEDOUT;
    else
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  }
  if (err != 0) {
    ::close(fd);
    throw DataError(detail::concat("connect: cannot connect to ", host, ":", port, " (", std::strerror(err), ")"));
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

std::string peer_address(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return "?";
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
  return buf;
}

std::string peer_name(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return "?";
  return peer_address(fd) + ":" + std::to_string(ntohs(a.sin_port));
}

bool is_loopback_address(const std::string& address) {
  in_addr a{};
  return inet_pton(AF_INET, address.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

}  // namespace larmor::server
