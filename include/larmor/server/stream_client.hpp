// larmor/server/stream_client.hpp — `larmor send`: an ISMRMRD raw-data file streamed to a server of the ISMRMRD /
// Gadgetron protocol (larmor serve, Gadgetron, a FIRE server) and the images it sends back.
//
// As gadgetron_ismrmrd_client does: CONFIG_FILE (the configuration name), HEADER, every acquisition (and
// waveform) as stored in the file, CLOSE; the server's replies are read on a second thread while the file is
// sent (a server sends images while the scan is still arriving, and both sides would block otherwise).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "larmor/io/image_record.hpp"

namespace larmor::server {

struct send_options {
  std::string host = "127.0.0.1";
  int port = 9002;
  std::string config = "default.xml";   // the configuration name the server runs
  std::string group = "dataset";        // HDF5 group of the raw data
  double connect_timeout_s = 10;
  double idle_timeout_s = 600;          // the server silent this long while larmor waits: give up
  std::function<void(const std::string&)> log;  // the server's TEXT lines and progress
  // TLS (tls_stream.hpp): the CA that signed the server's certificate turns it on; a client certificate and
  // key for a server that asks for one.
  std::string tls_ca, tls_cert, tls_key;
};

struct send_result {
  std::vector<io::image_record> images;   // in the order they arrived
  std::vector<std::string> texts;         // the server's TEXT messages
  std::string dependency;                 // a DEPENDENCY_QUERY answer, if any
  std::size_t readouts_sent = 0;
  bool closed = false;                    // the server ended with CLOSE
  std::string error;                      // the first server TEXT with "ERROR", or why the exchange failed
};

// Sends the file and waits for the server's CLOSE. Errors of the local file (missing, not ISMRMRD) and of the
// connection are thrown (DataError); what the server says is in the result.
send_result send_ismrmrd_file(const std::string& path, const send_options& opt = {});

}  // namespace larmor::server
