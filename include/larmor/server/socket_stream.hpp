// larmor/server/socket_stream.hpp — file descriptors (TCP sockets, pipes, stdin/stdout) as the byte source and
// sink of the ISMRMRD stream protocol (io/ismrmrd_stream.hpp), with the timeouts and the stop flag a server
// needs; and the few socket calls larmor makes (POSIX; IPv4, as Gadgetron's client).
#pragma once

#include <atomic>
#include <string>

#include "larmor/io/ismrmrd_stream.hpp"

namespace larmor::server {

// Reads and writes one file descriptor (sockets are made non-blocking: every wait is a poll). A read or write
// that waits longer than idle_timeout_s seconds for the peer (0: no limit) throws DataError ("... did nothing
// for N s"); so does a read once *stop is set (checked at least every 0.2 s while waiting; writes go on, so a
// last word still reaches the peer). Writes to a socket whose peer has gone throw DataError, never SIGPIPE.
// The descriptor is closed by the destructor when owned.
class fd_stream : public io::byte_source, public io::byte_sink {
 public:
  fd_stream(int fd, bool owned, std::string name, double idle_timeout_s = 0,
            const std::atomic<bool>* stop = nullptr);
  ~fd_stream() override;
  fd_stream(const fd_stream&) = delete;
  fd_stream& operator=(const fd_stream&) = delete;

  std::size_t read_some(void* p, std::size_t n) override;
  void write_all(const void* p, std::size_t n) override;
  // Ends both directions of a socket (a blocked peer sees the end of the stream); no-op for other fds.
  void shutdown() noexcept;
  int fd() const { return fd_; }
  const std::string& name() const { return name_; }
  // Waits until the descriptor is ready for `events` (POLLIN, POLLOUT); throws DataError on the idle timeout
  // or the stop flag. (tls_stream waits on the socket with it.)
  void wait_for(short events, const char* what);

 private:
  int fd_;
  bool owned_, is_socket_;
  std::string name_;
  double idle_timeout_s_;
  const std::atomic<bool>* stop_;
};

// A listening IPv4 TCP socket on address:port (port 0: the system picks one; see bound_port). Throws
// InvalidArgument for an address that is not a dotted IPv4 address, DataError when the port is taken.
int tcp_listen(const std::string& address, int port, int backlog = 64);
int bound_port(int fd);
// Connects to host:port (a name or an IPv4 address) within timeout_s; DataError with one line when it cannot.
int tcp_connect(const std::string& host, int port, double timeout_s = 10);
// "a.b.c.d:port" of a connected socket's peer, and whether an IPv4 address is a loopback one (127/8).
std::string peer_name(int fd);
std::string peer_address(int fd);
bool is_loopback_address(const std::string& address);

}  // namespace larmor::server
