// One ISMRMRD stream conversation, the server's side (larmor/server/stream_conversation.hpp).
#include "larmor/server/stream_conversation.hpp"

#include <ismrmrd/meta.h>
#include <ismrmrd/version.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <new>
#include <sstream>

#include "larmor/core/parallel.hpp"
#include "larmor/io/ismrmrd.hpp"
#include "larmor/recon/recon_session.hpp"
#include "larmor/version.hpp"

namespace larmor::server {

namespace {

constexpr const char* noise_file_prefix = "GadgetronNoiseCovarianceMatrix_";
constexpr std::size_t max_kept_noise_bytes = std::size_t{64} << 20;  // enough for any noise covariance

std::string meta_xml(const ISMRMRD::MetaContainer& m) {
  std::ostringstream s;
  ISMRMRD::serialize(m, s);
  return s.str();
}

// The text between <tag> and </tag> after position `from` of an XML text, or "".
std::string element_after(const std::string& xml, const std::string& tag, std::size_t from) {
  const std::string open = "<" + tag + ">", close = "</" + tag + ">";
  const auto a = xml.find(open, from);
  if (a == std::string::npos) return {};
  const auto b = xml.find(close, a + open.size());
  if (b == std::string::npos) return {};
  std::string v = xml.substr(a + open.size(), b - a - open.size());
  const auto first = v.find_first_not_of(" \t\r\n"), last = v.find_last_not_of(" \t\r\n");
  return first == std::string::npos ? std::string() : v.substr(first, last - first + 1);
}

// The measurement ID a NoiseSummaryGadget configuration asks about (its noise_file property), or "".
std::string noise_summary_id(const std::string& script) {
  const auto p = script.find("<name>noise_file</name>");
  if (p == std::string::npos) return {};
  std::string v = element_after(script, "value", p);
  if (v.compare(0, std::string(noise_file_prefix).size(), noise_file_prefix) == 0)
    v = v.substr(std::string(noise_file_prefix).size());
  return v;
}

// Gadgetron's NoiseSummaryGadget answer: the noise level per channel of a kept measurement.
std::string noise_summary_meta(const noise_store::measurement* m) {
  ISMRMRD::MetaContainer meta;
  if (m == nullptr || m->readouts.empty()) {
    meta.set("status", "failed");
    return meta_xml(meta);
  }
  std::vector<double> power(static_cast<std::size_t>(m->channels), 0.0);
  double samples = 0;
  for (const auto& r : m->readouts) {
    for (index_t c = 0; c < std::min<index_t>(m->channels, r.channels()); ++c)
      for (index_t s = 0; s < r.samples(); ++s) power[static_cast<std::size_t>(c)] += std::norm(r.data(c, s));
    samples += static_cast<double>(r.samples());
  }
  double lo = INFINITY, hi = 0, mean = 0;
  for (double p : power) {
    const double sigma = std::sqrt(p / std::max(samples, 1.0));
    lo = std::min(lo, sigma);
    hi = std::max(hi, sigma);
    mean += sigma / static_cast<double>(power.size());
  }
  meta.set("status", "success");
  meta.set("channels", static_cast<long>(m->channels));
  meta.set("min_sigma", lo);
  meta.set("max_sigma", hi);
  meta.set("mean_sigma", mean);
  meta.set("noise_dwell_time_us", static_cast<double>(m->readouts.front().sample_time_us));
  return meta_xml(meta);
}

std::string dependency_list_meta(const noise_store* store) {
  ISMRMRD::MetaContainer meta;
  const auto ids = store ? store->ids() : std::vector<std::string>{};
  if (ids.empty()) meta.append("NoiseDependencies", "Dummy");
  for (const auto& id : ids) meta.append("NoiseDependencies", (noise_file_prefix + id).c_str());
  return meta_xml(meta);
}

std::string query_answer(const std::string& q) {
  if (q == "ismrmrd::version")
    return std::to_string(ISMRMRD_VERSION_MAJOR) + "." + std::to_string(ISMRMRD_VERSION_MINOR) + "." +
           std::to_string(ISMRMRD_VERSION_PATCH);
  if (q == "larmor::version") return version;
  return "Unknown query";
}

}  // namespace

stream_config config_for_name(const std::string& name) {
  stream_config c;
  if (name == "default.xml" || name == "default_optimized.xml" || name == "auto.xml" || name == "larmor.xml" ||
      name == "larmor_auto.xml")
    return c;
  if (name == "default_measurement_dependencies.xml") {
    c.what = stream_config::kind::noise_measurement;
    return c;
  }
  if (name == "gtquery.xml") {
    c.what = stream_config::kind::dependency_list;
    return c;
  }
  if (name == "Generic_Cartesian_Grappa.xml") {
    c.method = "grappa";
    return c;
  }
  if (name == "Generic_Cartesian_FFT.xml") {
    c.method = "rss";
    return c;
  }
  std::string accepted = "default.xml, auto.xml, Generic_Cartesian_Grappa.xml, Generic_Cartesian_FFT.xml, "
                         "default_measurement_dependencies.xml, gtquery.xml";
  for (const auto& m : recon_methods()) {
    accepted += ", " + m + ".xml";
    if (name == m + ".xml" || name == "larmor_" + m + ".xml") {
      c.method = m;
      return c;
    }
  }
  LARMOR_CHECK_ARG(false, "unknown configuration '", name.substr(0, 100), "' (larmor serves: ", accepted, ")");
  return c;
}

namespace {
double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

void noise_store::keep(std::shared_ptr<measurement> m) {
  m->bytes = 0;
  for (const auto& r : m->readouts) m->bytes += static_cast<std::size_t>(r.data.size()) * sizeof(cfloat);
  m->kept_at_s = seconds_now();
  const std::lock_guard<std::mutex> lock(mutex_);
  kept_.erase(std::remove_if(kept_.begin(), kept_.end(),
                             [&](const auto& k) { return !m->id.empty() && k->id == m->id; }),
              kept_.end());
  kept_.push_back(std::move(m));
  const auto total = [&] {
    std::size_t b = 0;
    for (const auto& k : kept_) b += k->bytes;
    return b;
  };
  while (kept_.size() > capacity_ || (kept_.size() > 1 && total() > max_bytes_)) kept_.erase(kept_.begin());
}

std::shared_ptr<const noise_store::measurement> noise_store::find_id(const std::string& id) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = kept_.rbegin(); it != kept_.rend(); ++it)
    if (!id.empty() && (*it)->id == id) return *it;
  return nullptr;
}

std::shared_ptr<const noise_store::measurement> noise_store::find(const std::vector<std::string>& dependency_ids,
                                                                 const std::string& device, index_t channels,
                                                                 double max_age_s) const {
  if (!dependency_ids.empty()) {  // a scan that names its noise gets that one or none
    for (const auto& id : dependency_ids)
      if (auto m = find_id(id); m && m->channels == channels) return m;
    return nullptr;
  }
  if (device.empty()) return nullptr;
  const double now = seconds_now();
  const std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = kept_.rbegin(); it != kept_.rend(); ++it)
    if ((*it)->device == device && (*it)->channels == channels && now - (*it)->kept_at_s <= max_age_s) return *it;
  return nullptr;
}

std::vector<std::string> noise_store::ids() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> out;
  for (const auto& k : kept_)
    if (!k->id.empty()) out.push_back(k->id);
  return out;
}

conversation_replies message_replies(io::byte_sink& out) {
  conversation_replies r;
  r.image = [&out](const io::image_record& im, const std::string& attributes) {
    io::write_image_message(out, im, attributes);
  };
  r.text = [&out](const std::string& t) { io::write_text_message(out, io::stream_message::text, t); };
  r.response = [&out](std::uint64_t id, const std::string& t) { io::write_response(out, id, t); };
  r.dependency = [&out](const std::string& meta) { io::write_dependency_query(out, meta); };
  r.close = [&out] { io::write_close(out); };
  return r;
}

namespace {

io::stream_limits server_limits(io::stream_limits l) {
  l.server_side = true;  // IMAGE and the other server messages refused by their id, before their body
  return l;
}

// The state of one conversation: the steps of serve_conversation in order.
class conversation {
 public:
  conversation(io::byte_source& in, const conversation_replies& out, const conversation_options& opt)
      : reader_(in, opt.peer, server_limits(opt.limits)), out_(out), opt_(opt) {}

  conversation_summary run() {
    bool framing_intact = true;
    try {
      while (!done_) {
        std::optional<io::stream_item> item;
        try {
          item = reader_.next();
        } catch (...) {
          framing_intact = false;
          throw;
        }
        if (!item) {
          framing_intact = false;
          throw DataError("the client closed the connection without CLOSE" + describe_progress());
        }
        handle(std::move(*item));
      }
      sum_.ok = true;
    } catch (const Cancelled&) {
      session_.reset();
      framing_intact = false;  // the server is stopping: the goodbye now
      sum_.error = "cancelled (the server is stopping)" + describe_progress();
    } catch (const std::bad_alloc&) {
      session_.reset();  // its buffers freed before anything else is allocated
      sum_.error = "out of memory" + describe_progress();
    } catch (const std::exception& e) {
      session_.reset();
      sum_.error = e.what();
    }
    session_.reset();  // its buffers freed before the replies below
    kept_noise_.clear();
    sum_.bytes_in = reader_.bytes_read();
    if (!sum_.ok) {
      if (framing_intact && !done_) skip_to_close();
      say_error();
    }
    return sum_;
  }

  std::string describe_progress() const {
    return sum_.readouts > 0 ? " after " + std::to_string(sum_.readouts) + " readouts" : std::string();
  }
  void log(const std::string& s) const {
    if (opt_.log) opt_.log(opt_.peer + ": " + s);
  }
  // After a refusal with the messages intact: the client's remaining messages read and dropped until its
  // CLOSE (or the end of its stream, or skip_to_close_s), so that it is not cut off while it still sends.
  void skip_to_close() noexcept {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(opt_.skip_to_close_s);
    try {
      while (std::chrono::steady_clock::now() < end) {
        const auto item = reader_.next();
        if (!item || item->id == io::stream_message::close) return;
      }
    } catch (...) {
      // broken or gone: the goodbye is attempted all the same
    }
  }

  // The error as one TEXT line and CLOSE, when the peer can still hear them.
  void say_error() noexcept {
    try {
      if (out_.text) out_.text("larmor: ERROR: " + sum_.error + "\n");
      if (out_.close) out_.close();
    } catch (...) {
      // the peer is gone: nothing left to tell it
    }
  }

  void handle(io::stream_item&& item) {
    using m = io::stream_message;
    switch (item.id) {
      case m::config_file: return configure_by_name(item.text);
      case m::config_script: return configure_by_script(item.text);
      case m::header: return start(item.text);
      case m::acquisition: return readout(std::move(*item.readout));
      case m::waveform: return;  // physiological waveforms: accepted, not used
      case m::text: log("says: " + item.text.substr(0, 200)); return;
      case m::query: out_.response(item.correlation_id, query_answer(item.text)); return;
      case m::close: return finish();
      default:
        LARMOR_CHECK_DATA(false, "a client does not send ", io::stream_message_name(static_cast<std::uint16_t>(item.id)),
                          " (message id ", static_cast<int>(item.id), ")");
    }
  }

  void configure_by_name(const std::string& name) {
    LARMOR_CHECK_DATA(!configured_ && !header_, "a second configuration (", name.substr(0, 100), "); one is allowed, "
                      "before the header");
    configured_ = true;
    sum_.config = name;
    try {
      config_ = config_for_name(name);
    } catch (const InvalidArgument& e) {
      throw DataError(e.what());
    }
    log("configuration " + name);
  }

  void configure_by_script(const std::string& script) {
    LARMOR_CHECK_DATA(!configured_ && !header_, "a second configuration; one is allowed, before the header");
    configured_ = true;
    sum_.config = "(script)";
    if (script.find("NoiseSummaryGadget") != std::string::npos) {  // gadgetron_ismrmrd_client's noise pre-flight
      noise_summary_ = noise_summary_id(script);
      sum_.config = "noise summary of " + *noise_summary_;
      log("noise query for measurement " + *noise_summary_);
      return;
    }
    if (script.find("DependencyQueryGadget") != std::string::npos) {
      config_.what = stream_config::kind::dependency_list;
      return;
    }
    LARMOR_CHECK_DATA(false, "larmor does not run Gadgetron stream configurations (CONFIG_SCRIPT); send a "
                      "configuration name such as default.xml (see docs/server.md)");
  }

  void start(const std::string& xml) {
    LARMOR_CHECK_DATA(!header_, "a second HEADER; one is allowed per connection");
    LARMOR_CHECK_DATA(!noise_summary_ && config_.what != stream_config::kind::dependency_list,
                      "a HEADER in a dependency query");
    header_ = io::parse_ismrmrd_header(xml, opt_.peer);
    sum_.header_xml = xml;
    noncartesian_ = header_->trajectory != "cartesian" && header_->trajectory != "epi";
    if (config_.what == stream_config::kind::noise_measurement) return;  // noise readouts kept, no session
    recon_options o = opt_.recon;
    // default.xml (and a stream without a configuration) runs the server's method (`serve --method`; auto).
    if (config_.method != "auto") o.method = config_.method;
    o.progress = {};
    sum_.method = o.method;
    session_ = std::make_unique<recon_session>(
        *header_, o, [this](io::image_record&& im) { send_image(im); }, opt_.peer);
    session_->cancel_when(opt_.cancel);
    log("header: " + std::string(header_->trajectory) + " " + std::to_string(header_->encoded_matrix[0]) + "x" +
        std::to_string(header_->encoded_matrix[1]) + "x" + std::to_string(header_->encoded_matrix[2]) +
        (header_->measurement_id.empty() ? std::string() : ", measurement " + header_->measurement_id) +
        ", method " + o.method);
  }

  void send_image(const io::image_record& im) {
    ISMRMRD::MetaContainer meta;
    meta.set("larmor.method", session_ ? session_->method().c_str() : "");
    meta.set("larmor.noise", noise_used_.empty() ? "none" : noise_used_.c_str());
    out_.image(im, meta_xml(meta));
    ++sum_.images;
    if (opt_.keep_images) sum_.kept_images.push_back(im);
  }

  void readout(io::acquisition&& a) {
    LARMOR_CHECK_DATA(header_.has_value(), "an ACQUISITION before the HEADER");
    LARMOR_CHECK_DATA(!noise_summary_, "an ACQUISITION in a noise query");
    ++sum_.readouts;
    const bool noise = a.has(io::acq_flag::is_noise_measurement);
    const auto bytes = static_cast<std::size_t>(a.data.size()) * sizeof(cfloat);
    if (noise) {
      noise_bytes_ += bytes;
      LARMOR_CHECK_DATA(noise_bytes_ <= opt_.max_noise_bytes, "more than ", opt_.max_noise_bytes >> 20,
                        " MiB of noise readouts (a noise measurement needs a few MiB)");
    } else if (noncartesian_ && opt_.recon.kspace_budget_bytes > 0) {
      readout_bytes_ += bytes;  // a non-Cartesian scan is held whole until CLOSE
      LARMOR_CHECK_DATA(static_cast<double>(readout_bytes_) <= opt_.recon.kspace_budget_bytes, "the non-Cartesian ",
                        "scan's readouts exceed the k-space budget of ", opt_.recon.kspace_budget_bytes / (1 << 20),
                        " MiB (larmor serve --kspace-budget-mb)");
    }
    if (noise && !saw_other_) {
      saw_noise_ = true;
      if (kept_noise_bytes_ < max_kept_noise_bytes) {
        kept_noise_bytes_ += static_cast<std::size_t>(a.data.size()) * sizeof(cfloat);
        kept_noise_.push_back(a);
      }
    }
    if (!session_) return;  // a noise measurement: kept at CLOSE
    if (!noise && !saw_other_) {
      saw_other_ = true;
      if (saw_noise_) {
        noise_used_ = "this scan's noise readouts";
        keep_noise();
      } else {
        use_kept_noise(a.channels());
      }
    }
    const thread_count_scope threads(opt_.threads ? opt_.threads() : 0);
    session_->push(std::move(a));
  }

  // The noise readouts of this scan, kept for later scans that depend on them.
  void keep_noise() {
    if (kept_noise_.empty() || !header_) return;
    if (!opt_.noise || (header_->measurement_id.empty() && header_->device_id.empty())) {
      log("noise readouts not kept (the header has no measurementID or deviceID to find them by)");
      kept_noise_.clear();
      return;
    }
    auto m = std::make_shared<noise_store::measurement>();
    m->id = header_->measurement_id;
    m->device = header_->device_id;
    m->channels = kept_noise_.front().channels();
    m->readouts = std::move(kept_noise_);
    kept_noise_.clear();
    log("noise measurement " + (m->id.empty() ? "of device " + m->device : m->id) + " kept (" +
        std::to_string(m->readouts.size()) + " readouts, " + std::to_string(m->channels) + " coils)");
    opt_.noise->keep(std::move(m));
  }

  void use_kept_noise(index_t channels) {
    if (!opt_.noise || !header_) return;
    const auto m = opt_.noise->find(header_->noise_dependency_ids, header_->device_id, channels);
    if (!m) {
      if (!header_->noise_dependency_ids.empty())
        log("no kept noise measurement " + header_->noise_dependency_ids.front() + " with " +
            std::to_string(channels) + " coils: images without pre-whitening");
      return;
    }
    const thread_count_scope threads(opt_.threads ? opt_.threads() : 0);
    noise_used_ = "measurement " + (m->id.empty() ? "of device " + m->device : m->id);
    sum_.noise = noise_used_;
    log("pre-whitened with the noise of " + noise_used_);
    for (const auto& r : m->readouts) session_->push(r);
  }

  void finish() {
    done_ = true;
    if (noise_summary_) {
      const auto m = opt_.noise ? opt_.noise->find_id(*noise_summary_) : nullptr;
      out_.dependency(noise_summary_meta(m.get()));
    } else if (config_.what == stream_config::kind::dependency_list) {
      out_.dependency(dependency_list_meta(opt_.noise));
    } else if (session_ && saw_other_) {
      const thread_count_scope threads(opt_.threads ? opt_.threads() : 0);
      session_->finish();
      log(std::to_string(sum_.readouts) + " readouts, " + std::to_string(sum_.images) + " images, method " +
          session_->method());
      sum_.method = session_->method();
    } else if (saw_noise_) {  // a noise measurement (by configuration, or a scan of noise readouts only)
      keep_noise();
      if (out_.text && config_.what != stream_config::kind::noise_measurement)
        out_.text("larmor: a noise measurement only: kept, no image\n");
    } else if (header_) {
      LARMOR_CHECK_DATA(false, "CLOSE without imaging readouts");
    }
    sum_.noise = noise_used_;
    out_.close();
  }

  io::stream_reader reader_;
  const conversation_replies& out_;
  const conversation_options& opt_;
  conversation_summary sum_;
  stream_config config_;
  bool configured_ = false, done_ = false, saw_noise_ = false, saw_other_ = false;
  std::optional<std::string> noise_summary_;
  std::optional<io::encoding_header> header_;
  std::unique_ptr<recon_session> session_;
  std::vector<io::acquisition> kept_noise_;
  std::size_t kept_noise_bytes_ = 0, noise_bytes_ = 0, readout_bytes_ = 0;
  bool noncartesian_ = false;
  std::string noise_used_;
};

}  // namespace

conversation_summary serve_conversation(io::byte_source& in, const conversation_replies& out,
                                        const conversation_options& opt) {
  return conversation(in, out, opt).run();
}

}  // namespace larmor::server
