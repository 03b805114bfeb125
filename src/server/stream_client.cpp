// `larmor send` (larmor/server/stream_client.hpp).
#include "larmor/server/stream_client.hpp"

#include <sys/socket.h>

#include <exception>
#include <memory>
#include <thread>

#include "larmor/io/ismrmrd_stream.hpp"
#include "larmor/server/socket_stream.hpp"
#include "larmor/server/tls_stream.hpp"

namespace larmor::server {

send_result send_ismrmrd_file(const std::string& path, const send_options& opt) {
  const std::string name = opt.host + ":" + std::to_string(opt.port);
  auto socket = std::make_unique<fd_stream>(tcp_connect(opt.host, opt.port, opt.connect_timeout_s), true, name,
                                            opt.idle_timeout_s);
  const int fd = socket->fd();
  std::unique_ptr<tls_stream> tls;
  if (!opt.tls_ca.empty())
    tls = std::make_unique<tls_stream>(std::move(socket), *tls_context::for_client(opt.tls_ca, opt.tls_cert, opt.tls_key),
                                       opt.host);
  io::byte_source& conn_in = tls ? static_cast<io::byte_source&>(*tls) : *socket;
  io::byte_sink& conn = tls ? static_cast<io::byte_sink&>(*tls) : *socket;
  send_result res;
  std::string reader_error;
  // The replies, read while the file is sent.
  std::thread reader([&] {
    try {
      io::stream_reader in(conn_in, name);
      for (;;) {
        auto item = in.next();
        if (!item) {
          reader_error = "the server closed the connection without CLOSE";
          return;
        }
        switch (item->id) {
          case io::stream_message::close: res.closed = true; return;
          case io::stream_message::image: res.images.push_back(std::move(*item->image)); break;
          case io::stream_message::text:
            if (opt.log) opt.log(item->text);
            if (res.error.empty() && item->text.find("ERROR") != std::string::npos) res.error = item->text;
            res.texts.push_back(std::move(item->text));
            break;
          case io::stream_message::dependency_query: res.dependency = std::move(item->text); break;
          case io::stream_message::response: res.texts.push_back(std::move(item->text)); break;
          default:
            reader_error = std::string("the server sent ") +
                           io::stream_message_name(static_cast<std::uint16_t>(item->id)) + ", which a client does not take";
            return;
        }
      }
    } catch (const std::exception& e) {
      reader_error = e.what();
    }
  });
  std::string writer_error, local_error;
  try {
    io::write_config_file(conn, opt.config);
    res.readouts_sent = io::write_ismrmrd_file_as_stream(path, opt.group, conn, true);
    io::write_close(conn);
  } catch (const std::exception& e) {
    writer_error = e.what();
    if (writer_error.rfind("send: ", 0) == 0) local_error = writer_error;  // the file, not the connection
    // Nothing more will be sent: the server ends (and says why, when it can); unblock the reader if it does not.
    ::shutdown(fd, SHUT_WR);
  }
  reader.join();
  if (!local_error.empty()) throw DataError(local_error);
  while (!res.error.empty() && (res.error.back() == '\n' || res.error.back() == '\r')) res.error.pop_back();
  if (res.error.empty() && !writer_error.empty()) res.error = writer_error;
  if (res.error.empty() && !reader_error.empty()) res.error = reader_error;
  if (res.error.empty() && !res.closed) res.error = "the server did not end with CLOSE";
  return res;
}

}  // namespace larmor::server
