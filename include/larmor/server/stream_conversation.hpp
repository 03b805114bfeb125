// larmor/server/stream_conversation.hpp — one ISMRMRD stream conversation, the server's side: what a
// Gadgetron-protocol client sends (io/ismrmrd_stream.hpp) turned into a recon_session, and the session's
// images sent back as they are made.
//
// The conversation (gadgetron_ismrmrd_client, siemens_to_ismrmrd's stream, python-ismrmrd-server clients):
//   [CONFIG_FILE name | CONFIG_SCRIPT text]  HEADER  (ACQUISITION | WAVEFORM | TEXT | QUERY)*  CLOSE
// A stream may start with its HEADER (no configuration: the auto method). Replies: IMAGE as each image is
// made, TEXT lines, RESPONSE to a QUERY, DEPENDENCY_QUERY to a noise query, and always CLOSE at the end
// (gadgetron_ismrmrd_client aborts on a socket that closes without it).
//
// Configuration names (never opened as paths; matched as strings):
//   default.xml, default_optimized.xml, auto.xml           the server's method (conversation_options::recon
//                                                          .method: auto, recon.hpp's choice per buffer, unless
//                                                          `larmor serve --method` says otherwise); also a
//                                                          stream that starts with its HEADER
//   <method>.xml, larmor_<method>.xml                      that method (rss, walsh, inati, espirit, grappa, ...)
//   Generic_Cartesian_Grappa.xml                           grappa;  Generic_Cartesian_FFT.xml: rss
//   default_measurement_dependencies.xml                   a noise measurement: kept, no image
//   gtquery.xml                                            which noise measurements are kept (DEPENDENCY_QUERY)
// A CONFIG_SCRIPT naming Gadgetron's NoiseSummaryGadget (the client's noise pre-flight) is answered with the
// kept noise measurement's statistics (status, channels, min/max/mean sigma, noise_dwell_time_us); any other
// CONFIG_SCRIPT (a Gadgetron pipeline) is refused: larmor does not run Gadgetron's gadgets.
//
// Noise dependency (Gadgetron's NoiseAdjustGadget): the noise readouts of a scan (at most 64 MiB of them) are
// kept under its measurementID and its scanner's deviceID. A later scan without noise readouts of its own is
// pre-whitened with them when it names the ID in measurementDependency (type Noise) and has the same coil
// count; a scan that names no noise measurement takes the latest one of its device with its coil count kept
// in the last 12 hours; a scan that names one that is not kept is made without pre-whitening (as Gadgetron).
// The log and each image's attributes (larmor.noise) say which noise was used.
//
// Memory: besides the session's own k-space budget, a conversation refuses more than max_noise_bytes (256 MiB)
// of noise readouts and, for non-Cartesian scans (held whole until CLOSE), more readout bytes than recon.kspace_budget_bytes.
//
// Nothing the peer sends can throw out of serve_conversation: a malformed message, an unknown id, a size
// beyond the limits, a header that does not parse, data the session refuses, a peer that disconnects or
// stalls -- each ends the conversation with one TEXT line and CLOSE (when the peer can still hear them), the
// session's memory freed, and the reason in the summary. When the messages themselves are intact (the data or
// the configuration was refused), the rest of the client's messages are read and dropped until its CLOSE
// before the TEXT and CLOSE go back, as Gadgetron does: its client aborts when the server stops reading
// while it still sends.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "larmor/io/ismrmrd_stream.hpp"
#include "larmor/recon/chain.hpp"

namespace larmor::server {

// What a configuration name asks for.
struct stream_config {
  enum class kind { recon, noise_measurement, dependency_list } what = kind::recon;
  std::string method = "auto";
};
// The configuration a name stands for; InvalidArgument naming the accepted names for any other.
stream_config config_for_name(const std::string& name);

// Noise measurements kept between conversations (thread-safe; at most `capacity` measurements, the oldest
// dropped first).
class noise_store {
 public:
  struct measurement {
    std::string id, device;
    index_t channels = 0;
    std::vector<io::acquisition> readouts;
    std::size_t bytes = 0;
    double kept_at_s = 0;  // steady clock, set by keep()
  };
  // At most `capacity` measurements and `max_bytes` of noise samples; the oldest go first.
  explicit noise_store(std::size_t capacity = 16, std::size_t max_bytes = std::size_t{256} << 20)
      : capacity_(capacity), max_bytes_(max_bytes) {}
  void keep(std::shared_ptr<measurement> m);
  // The noise for a scan: by measurement ID (dependency_ids in order, same channel count) when the scan names
  // any; else the latest of the device with the channel count, kept within max_age_s; null when none fits.
  std::shared_ptr<const measurement> find(const std::vector<std::string>& dependency_ids, const std::string& device,
                                          index_t channels, double max_age_s = 12 * 3600.0) const;
  std::shared_ptr<const measurement> find_id(const std::string& id) const;
  std::vector<std::string> ids() const;

 private:
  mutable std::mutex mutex_;
  std::size_t capacity_, max_bytes_;
  std::vector<std::shared_ptr<const measurement>> kept_;  // oldest first
};

// Where a conversation's replies go (each may throw: a peer that went away).
struct conversation_replies {
  std::function<void(const io::image_record&, const std::string& attributes)> image;
  std::function<void(const std::string&)> text;
  std::function<void(std::uint64_t correlation_id, const std::string&)> response;
  std::function<void(const std::string& meta_xml)> dependency;
  std::function<void()> close;
};
// The replies as protocol messages on `out`.
conversation_replies message_replies(io::byte_sink& out);

struct conversation_options {
  recon_options recon;                  // the chain's options; a configuration naming a method overrides .method
  noise_store* noise = nullptr;         // kept noise measurements (none: no noise dependency)
  std::function<void(const std::string&)> log;  // one line per event (the server's log)
  const std::atomic<bool>* cancel = nullptr;    // set: the session stops (larmor::Cancelled) within a buffer
  io::stream_limits limits;
  std::string peer = "stream";           // names the peer in messages
  // Threads for the session's work, asked before each readout (a server's share of the cores); none: as set.
  std::function<int()> threads;
  double skip_to_close_s = 1800;         // after a refusal, how long the client's remaining messages are read
  bool keep_images = false;              // copies of the images sent, in the summary (DICOM export afterwards)
  std::size_t max_noise_bytes = std::size_t{256} << 20;  // noise readouts one scan may send
};

struct conversation_summary {
  bool ok = false;              // ended by the peer's CLOSE with every image sent
  std::string error;            // why not, in one line
  std::string config, method, noise;
  index_t readouts = 0, images = 0;
  std::uint64_t bytes_in = 0;
  std::string header_xml;                       // the scan's ISMRMRD header
  std::vector<io::image_record> kept_images;    // with keep_images: the images sent, in order
};

// Runs one conversation to its end; never throws for what the peer sends (see above).
conversation_summary serve_conversation(io::byte_source& in, const conversation_replies& out,
                                        const conversation_options& opt);

}  // namespace larmor::server
