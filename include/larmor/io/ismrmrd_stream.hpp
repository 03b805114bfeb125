// larmor/io/ismrmrd_stream.hpp — the ISMRMRD / Gadgetron v1 stream protocol: the messages a scanner-side
// converter (siemens_to_ismrmrd), gadgetron_ismrmrd_client or a FIRE/python-ismrmrd-server peer exchange
// on a socket, a pipe or a file (compiled in src/io, target larmor::io).
//
// Framing (little-endian; Gadgetron core/MessageID.h, ISMRMRD doc/mrd_messages.md): every message is a
// uint16 id followed by a body whose size its type defines:
//   1    CONFIG_FILE     char[1024], the name of a configuration, NUL-padded
//   2    CONFIG_SCRIPT   uint32 length, then that many bytes (a configuration's text)
//   3    HEADER          uint32 length, then the ISMRMRD XML header
//   4    CLOSE           nothing: the sender is done
//   5    TEXT            uint32 length, then text (a log line)
//   6    QUERY           uint64 reserved (0), uint64 correlation id, uint64 length, text ("ismrmrd::version")
//   7    RESPONSE        uint64 correlation id, uint64 length, text: the answer to a QUERY
//   1019 DEPENDENCY_QUERY uint64 length, then an ISMRMRD meta XML (server -> client: what it holds of a
//                        noise measurement, or the noise measurements it keeps)
//   1008 ACQUISITION     ISMRMRD_AcquisitionHeader (340 bytes, packed), then trajectory_dimensions x
//                        number_of_samples float32, then active_channels x number_of_samples complex64
//   1022 IMAGE           ISMRMRD_ImageHeader (198 bytes, packed), uint64 attribute length, the attribute
//                        XML, then matrix_size[0..2] x channels samples of the header's data_type
//   1026 WAVEFORM        ISMRMRD_WaveformHeader (40 bytes), then channels x number_of_samples uint32
// Every size is checked against stream_limits before anything is allocated, and large bodies are read into
// memory that is touched only as their bytes arrive, so a message cannot make the reader hold more than its
// limit nor more than was sent; a truncated message is one DataError naming the source.
// (Fuzzed: fuzz/fuzz_stream.cpp.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "larmor/io/acquisition.hpp"
#include "larmor/io/image_record.hpp"

namespace larmor::io {

enum class stream_message : std::uint16_t {
  config_file = 1,
  config_script = 2,
  header = 3,
  close = 4,
  text = 5,
  query = 6,
  response = 7,
  dependency_query = 1019,
  acquisition = 1008,
  image = 1022,
  waveform = 1026,
};

// The wire name of a message id ("ACQUISITION", ...), or "unknown".
const char* stream_message_name(std::uint16_t id);

// Where a stream's bytes come from: read_some fills at most n bytes and returns how many (0: the peer closed
// the stream). It may throw larmor::Error (a socket error, a stalled peer).
class byte_source {
 public:
  virtual ~byte_source() = default;
  virtual std::size_t read_some(void* p, std::size_t n) = 0;
};

// Where a stream's bytes go: write_all writes all n bytes or throws larmor::Error.
class byte_sink {
 public:
  virtual ~byte_sink() = default;
  virtual void write_all(const void* p, std::size_t n) = 0;
};

// The most a reader accepts, checked before it allocates.
struct stream_limits {
  std::size_t max_text_bytes = std::size_t{16} << 20;     // HEADER, CONFIG_SCRIPT, TEXT, QUERY, RESPONSE
  std::size_t max_readout_bytes = std::size_t{256} << 20;  // one ACQUISITION's trajectory + samples
  std::size_t max_image_bytes = std::size_t{2} << 30;      // one IMAGE's attributes + pixels
  std::uint16_t max_channels = 1024;                       // ISMRMRD's channel mask holds 1024
  // A server's reader: IMAGE, RESPONSE and DEPENDENCY_QUERY (what only a server sends) are refused by their
  // id, before their body is read.
  bool server_side = false;
};

// One message read from a stream. `text` holds the body of CONFIG_FILE (the name, up to its first NUL),
// CONFIG_SCRIPT, HEADER, TEXT, QUERY, RESPONSE and DEPENDENCY_QUERY (up to a first NUL: peers differ in
// whether they send one); `readout` an ACQUISITION; `image` an IMAGE (with its attribute XML in `text`).
// WAVEFORM bodies are read and dropped. Compressed acquisitions (flags 53/54) are refused.
struct stream_item {
  stream_message id = stream_message::close;
  std::string text;
  std::uint64_t correlation_id = 0;  // QUERY, RESPONSE
  std::optional<acquisition> readout;
  std::optional<image_record> image;
};

// Reads messages one at a time. next() returns the next message, or nothing at a clean end of the stream
// (the peer closed it between two messages). A message that ends early, an unknown id, a size beyond the
// limits or an inconsistent header is one DataError naming `source` and the message; the reader is not
// usable after an error.
class stream_reader {
 public:
  explicit stream_reader(byte_source& in, std::string source = "stream", stream_limits limits = {})
      : in_(in), source_(std::move(source)), limits_(limits) {}
  std::optional<stream_item> next();
  std::uint64_t bytes_read() const { return bytes_; }

 private:
  // Fills exactly n bytes; what says which part of which message, for the error.
  void read_exact(void* p, std::size_t n, const char* what);
  std::string read_text(std::size_t limit, const char* what);
  byte_source& in_;
  std::string source_;
  stream_limits limits_;
  std::uint64_t bytes_ = 0;
};

// Writers: each writes one whole message.
void write_config_file(byte_sink& out, const std::string& name);  // at most 1023 bytes
void write_text_message(byte_sink& out, stream_message id, const std::string& text);  // HEADER, TEXT, ...
void write_close(byte_sink& out);
void write_response(byte_sink& out, std::uint64_t correlation_id, const std::string& text);
void write_dependency_query(byte_sink& out, const std::string& meta_xml);
// An image as libismrmrd and Gadgetron send it: the ISMRMRD image header of write_ismrmrd_images (ismrmrd.hpp),
// the attribute XML (may be empty), the pixels (float for magnitude/phase/real/imaginary, complex64 for complex).
void write_image_message(byte_sink& out, const image_record& image, const std::string& attributes = {});

// One readout as an ACQUISITION (version 1; the fields acquisition.hpp holds, the others zero; available_channels
// = active channels, every channel's mask bit set).
void write_acquisition_message(byte_sink& out, const acquisition& a);

// The acquisitions of an ISMRMRD raw-data file as a stream: HEADER (its XML as stored), then every
// acquisition byte for byte (each header field as stored), then every waveform when `waveforms` is true.
// Returns the number of acquisitions sent. Errors as read_ismrmrd's (ismrmrd.hpp); a failed write passes
// through. `each` (optional) is called after every acquisition with the count so far (progress, pacing).
std::size_t write_ismrmrd_file_as_stream(const std::string& path, const std::string& group, byte_sink& out,
                                        bool waveforms = true,
                                        const std::function<void(std::size_t)>& each = {});

}  // namespace larmor::io
