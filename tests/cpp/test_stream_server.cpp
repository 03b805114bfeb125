// The ISMRMRD / Gadgetron stream protocol (io/ismrmrd_stream.hpp) and `larmor serve` (server/stream_server.hpp):
//  - the message layout against the byte offsets of the protocol (ISMRMRD 1.8 ismrmrd.h, Gadgetron's client),
//    written here by hand, not by larmor's writer;
//  - every truncation, an unknown id, absurd sizes and compressed samples refused with DataError;
//  - a scan through the server on loopback gives the images of the same file reconstructed directly, also
//    with several clients at once; a killed, silent or garbage-sending client ends only its own connection;
//  - a noise measurement kept by the server pre-whitens a later scan that names it.
#include <arpa/inet.h>
#include <ismrmrd/dataset.h>
#include <ismrmrd/xml.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <random>
#include <sstream>
#include <thread>

#include "larmor/io/ismrmrd.hpp"
#include "larmor/io/ismrmrd_stream.hpp"
#include "larmor/recon/recon_file.hpp"
#include "larmor/server/socket_stream.hpp"
#include "larmor/server/stream_client.hpp"
#include "larmor/server/stream_server.hpp"
#include "test_helpers.hpp"

namespace larmor {
namespace {

// Bytes in memory as a stream source / sink.
struct memory_stream : io::byte_source, io::byte_sink {
  std::vector<unsigned char> bytes;
  std::size_t pos = 0, chunk = 7;  // reads come in small pieces, as from a socket
  std::size_t read_some(void* p, std::size_t n) override {
    const std::size_t k = std::min({n, chunk, bytes.size() - pos});
    std::memcpy(p, bytes.data() + pos, k);
    pos += k;
    return k;
  }
  void write_all(const void* p, std::size_t n) override {
    const auto* b = static_cast<const unsigned char*>(p);
    bytes.insert(bytes.end(), b, b + n);
  }
};

template <class T>
void put(std::vector<unsigned char>& b, std::size_t at, T v) {
  if (b.size() < at + sizeof v) b.resize(at + sizeof v);
  std::memcpy(b.data() + at, &v, sizeof v);
}

// An ACQUISITION message laid out from the protocol's offsets (AcquisitionHeader = 340 bytes).
std::vector<unsigned char> acquisition_bytes(std::uint16_t channels, std::uint16_t samples, std::uint16_t line,
                                             std::uint16_t traj_dims = 0, std::uint64_t flags = 0) {
  std::vector<unsigned char> m(2 + 340, 0);
  put<std::uint16_t>(m, 0, 1008);
  const std::size_t h = 2;
  put<std::uint16_t>(m, h + 0, 1);         // version
  put<std::uint64_t>(m, h + 2, flags);     // flags
  put<std::uint32_t>(m, h + 14, 77);       // scan_counter
  put<std::uint16_t>(m, h + 34, samples);  // number_of_samples
  put<std::uint16_t>(m, h + 36, channels); // available_channels
  put<std::uint16_t>(m, h + 38, channels); // active_channels
  put<std::uint16_t>(m, h + 172, static_cast<std::uint16_t>(samples / 2));  // center_sample
  put<std::uint16_t>(m, h + 176, traj_dims);
  put<float>(m, h + 178, 2.5f);            // sample_time_us
  put<float>(m, h + 182 + 8, 12.5f);       // position[2]
  put<float>(m, h + 194, 1.f);             // read_dir[0]
  put<std::uint16_t>(m, h + 242, line);    // idx.kspace_encode_step_1
  put<std::uint16_t>(m, h + 242 + 6, 3);   // idx.slice
  put<std::uint16_t>(m, h + 242 + 12, 2);  // idx.repetition
  for (std::size_t i = 0; i < std::size_t{traj_dims} * samples; ++i) put<float>(m, m.size(), 0.25f * i);
  for (std::size_t c = 0; c < channels; ++c)
    for (std::size_t s = 0; s < samples; ++s) {
      put<float>(m, m.size(), static_cast<float>(100 * c + s));
      put<float>(m, m.size(), -1.f);
    }
  return m;
}

TEST(StreamMessages, AcquisitionLayoutFromTheProtocolOffsets) {
  memory_stream in;
  in.bytes = acquisition_bytes(3, 5, 41, 2);
  io::stream_reader r(in, "test");
  const auto item = r.next();
  ASSERT_TRUE(item && item->readout);
  const auto& a = *item->readout;
  EXPECT_EQ(a.scan_counter, 77u);
  EXPECT_EQ(a.channels(), 3);
  EXPECT_EQ(a.samples(), 5);
  EXPECT_EQ(a.center_sample, 2);
  EXPECT_EQ(a.idx.kspace_encode_step_1, 41);
  EXPECT_EQ(a.idx.slice, 3);
  EXPECT_EQ(a.idx.repetition, 2);
  EXPECT_FLOAT_EQ(a.sample_time_us, 2.5f);
  EXPECT_FLOAT_EQ(a.position[2], 12.5f);
  EXPECT_FLOAT_EQ(a.read_dir[0], 1.f);
  EXPECT_EQ(a.data(2, 4), cfloat(204.f, -1.f));  // data[channel * samples + sample]
  ASSERT_EQ(a.traj.shape(0), 5);
  ASSERT_EQ(a.traj.shape(1), 2);
  EXPECT_FLOAT_EQ(a.traj(4, 1), 0.25f * 9);  // traj[sample * dims + d]
  EXPECT_FALSE(r.next().has_value());        // a clean end between messages
  // larmor's writer lays a readout out the same way.
  memory_stream back;
  io::write_acquisition_message(back, a);
  memory_stream again;
  again.bytes = back.bytes;
  const auto b = io::stream_reader(again, "test").next();
  ASSERT_TRUE(b && b->readout);
  EXPECT_EQ(b->readout->idx.kspace_encode_step_1, 41);
  EXPECT_EQ(b->readout->data(2, 4), a.data(2, 4));
  EXPECT_EQ(back.bytes.size(), in.bytes.size());
}

TEST(StreamMessages, TextConfigAndImageLayouts) {
  memory_stream in;
  // CONFIG_FILE: 1024 NUL-padded bytes; HEADER: uint32 length (a trailing NUL counted or not); CLOSE.
  put<std::uint16_t>(in.bytes, 0, 1);
  const char name[] = "default.xml";
  in.bytes.resize(2 + 1024, 0);
  std::memcpy(in.bytes.data() + 2, name, sizeof name - 1);
  const std::string xml = "<ismrmrdHeader/>";
  put<std::uint16_t>(in.bytes, in.bytes.size(), 3);
  put<std::uint32_t>(in.bytes, in.bytes.size(), static_cast<std::uint32_t>(xml.size() + 1));
  in.bytes.insert(in.bytes.end(), xml.begin(), xml.end());
  in.bytes.push_back(0);
  put<std::uint16_t>(in.bytes, in.bytes.size(), 4);
  io::stream_reader r(in, "test");
  auto a = r.next();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->id, io::stream_message::config_file);
  EXPECT_EQ(a->text, "default.xml");
  a = r.next();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->id, io::stream_message::header);
  EXPECT_EQ(a->text, xml);
  a = r.next();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->id, io::stream_message::close);

  // IMAGE: id 1022, 198-byte header (matrix at 16, data_type at 2, image_type at 124, image_index at 126,
  // series at 128, slice at 98), uint64 attribute length, attributes, float pixels x fastest.
  io::image_record im;
  im.magnitude = array<float, 3>(extents<3>{1, 2, 3});
  for (index_t i = 0; i < 6; ++i) im.magnitude[i] = static_cast<float>(i) + 0.5f;
  im.slice = 4;
  im.image_index = 9;
  im.series_index = 2;
  im.position = {1.f, 2.f, 3.f};
  memory_stream out;
  io::write_image_message(out, im, "<ismrmrdMeta/>");
  const auto& b = out.bytes;
  ASSERT_EQ(b.size(), 2u + 198 + 8 + 14 + 6 * 4);
  std::uint16_t u16 = 0;
  std::memcpy(&u16, b.data(), 2);
  EXPECT_EQ(u16, 1022);
  std::memcpy(&u16, b.data() + 2 + 2, 2);
  EXPECT_EQ(u16, 5);  // ISMRMRD_FLOAT
  std::memcpy(&u16, b.data() + 2 + 16, 2);
  EXPECT_EQ(u16, 3);  // matrix x
  std::memcpy(&u16, b.data() + 2 + 18, 2);
  EXPECT_EQ(u16, 2);  // matrix y
  std::memcpy(&u16, b.data() + 2 + 98, 2);
  EXPECT_EQ(u16, 4);  // slice
  std::memcpy(&u16, b.data() + 2 + 124, 2);
  EXPECT_EQ(u16, 1);  // magnitude
  std::memcpy(&u16, b.data() + 2 + 126, 2);
  EXPECT_EQ(u16, 9);
  std::memcpy(&u16, b.data() + 2 + 128, 2);
  EXPECT_EQ(u16, 2);
  float f = 0;
  std::memcpy(&f, b.data() + 2 + 36 + 4, 4);
  EXPECT_EQ(f, 2.f);  // position[1]
  std::uint64_t attr = 0;
  std::memcpy(&attr, b.data() + 2 + 198, 8);
  EXPECT_EQ(attr, 14u);
  std::memcpy(&f, b.data() + 2 + 198 + 8 + 14 + 5 * 4, 4);
  EXPECT_EQ(f, 5.5f);
}

TEST(StreamMessages, EveryTruncationIsOneDataError) {
  memory_stream full;
  io::write_config_file(full, "default.xml");
  io::write_text_message(full, io::stream_message::header, "<x/>");
  const auto acq = acquisition_bytes(2, 4, 1, 1);
  full.bytes.insert(full.bytes.end(), acq.begin(), acq.end());
  io::image_record im;
  im.magnitude = array<float, 3>(extents<3>{1, 2, 2});
  io::write_image_message(full, im, "a");
  const std::size_t n = full.bytes.size();
  for (std::size_t cut = 1; cut < n; ++cut) {
    memory_stream in;
    in.bytes.assign(full.bytes.begin(), full.bytes.begin() + static_cast<std::ptrdiff_t>(cut));
    io::stream_reader r(in, "cut");
    bool threw = false;
    try {
      while (r.next()) {
      }
    } catch (const DataError&) {
      threw = true;
    }
    // A cut between two messages is a clean end; anywhere else one DataError.
    const bool boundary = cut == 2 + 1024 || cut == 2 + 1024 + 2 + 4 + 4 || cut == 2 + 1024 + 10 + acq.size();
    EXPECT_EQ(threw, !boundary) << "cut at " << cut;
  }
}

TEST(StreamMessages, AbsurdSizesUnknownIdsAndCompressionAreRefusedBeforeAllocation) {
  const auto refused = [](std::vector<unsigned char> bytes, const std::string& what) {
    memory_stream in;
    in.bytes = std::move(bytes);
    try {
      io::stream_reader(in, "bad").next();
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
      return;
    }
    ADD_FAILURE() << "not refused: " << what;
  };
  std::vector<unsigned char> b;
  put<std::uint16_t>(b, 0, 3);
  put<std::uint32_t>(b, 2, 0xffffffffu);  // a 4 GiB header: refused, not allocated
  refused(b, "at most");
  refused(acquisition_bytes(2000, 4, 0), "active channels");
  auto big = acquisition_bytes(1, 1, 0);  // 1024 channels x 65535 samples (512 MiB) announced, none sent
  big.resize(2 + 340);
  put<std::uint16_t>(big, 2 + 34, 65535);
  put<std::uint16_t>(big, 2 + 38, 1024);
  refused(big, "bytes");
  refused(acquisition_bytes(2, 4, 0, 9), "trajectory dimensions");
  refused(acquisition_bytes(2, 4, 0, 0, std::uint64_t{1} << 53), "compressed");
  b.clear();
  put<std::uint16_t>(b, 0, 4242);
  refused(b, "unknown message id 4242");
  b.clear();  // QUERY whose reserved word is not 0
  put<std::uint16_t>(b, 0, 6);
  put<std::uint64_t>(b, 2, 1);
  put<std::uint64_t>(b, 10, 0);
  put<std::uint64_t>(b, 18, 0);
  refused(b, "reserved");
}

// The XML header of the demo file with measurement information added.
std::string demo_header_with(const std::string& measurement_id, const std::string& noise_dependency) {
  ISMRMRD::Dataset d(LARMOR_DEMO_DATA, "dataset", false);
  std::string xml;
  d.readHeader(xml);
  ISMRMRD::IsmrmrdHeader h;
  ISMRMRD::deserialize(xml.c_str(), h);
  ISMRMRD::MeasurementInformation m;
  if (h.measurementInformation) m = *h.measurementInformation;
  m.patientPosition = "HFS";
  m.measurementID = measurement_id;
  m.measurementDependency.clear();
  if (!noise_dependency.empty()) m.measurementDependency.push_back({"Noise", noise_dependency});
  h.measurementInformation = m;
  std::ostringstream s;
  ISMRMRD::serialize(h, s);
  return s.str();
}

// ---- the server on loopback ----------------------------------------------------------------------------

struct running_server {
  std::unique_ptr<server::stream_server> srv;
  std::thread thread;
  std::vector<std::string> log;
  std::mutex log_mutex;
  explicit running_server(server::server_options o = {}) {
    o.port = 0;
    o.listen = "127.0.0.1";
    o.log = [this](const std::string& s) {
      const std::lock_guard<std::mutex> lock(log_mutex);
      log.push_back(s);
    };
    srv = std::make_unique<server::stream_server>(o);
    thread = std::thread([this] { srv->run(); });
  }
  ~running_server() {
    srv->stop();
    thread.join();
  }
  int port() const { return srv->port(); }
  bool logged(const std::string& what) {
    const std::lock_guard<std::mutex> lock(log_mutex);
    for (const auto& l : log)
      if (l.find(what) != std::string::npos) return true;
    return false;
  }
  // Waits (bounded) until no connection is open.
  bool idle(double seconds = 20) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      if (srv->connections_open() == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
};

void expect_same_images(const std::vector<io::image_record>& got, const std::vector<io::image_record>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(got[i].magnitude.size(), want[i].magnitude.size());
    for (index_t p = 0; p < want[i].magnitude.size(); ++p)
      ASSERT_EQ(got[i].magnitude[p], want[i].magnitude[p]) << "image " << i << " pixel " << p;
    EXPECT_EQ(got[i].slice, want[i].slice);
    EXPECT_EQ(got[i].image_index, want[i].image_index);
    EXPECT_EQ(got[i].series_index, want[i].series_index);
    EXPECT_EQ(got[i].position, want[i].position);
    EXPECT_EQ(got[i].read_dir, want[i].read_dir);
    EXPECT_EQ(got[i].fov_mm, want[i].fov_mm);
  }
}

server::send_options to(const running_server& s) {
  server::send_options o;
  o.port = s.port();
  return o;
}

TEST(StreamServer, AScanThroughTheServerEqualsTheFileReconstructedDirectly) {
  set_fft_planner_effort(fft_planner_effort::estimate);
  const auto want = recon_file(LARMOR_DEMO_DATA).images;
  running_server s;
  const auto got = server::send_ismrmrd_file(LARMOR_DEMO_DATA, to(s));
  EXPECT_TRUE(got.closed);
  EXPECT_EQ(got.error, "");
  expect_same_images(got.images, want);
  // A configuration naming a method runs it.
  auto o = to(s);
  o.config = "rss.xml";
  recon_options ro;
  ro.method = "rss";
  expect_same_images(server::send_ismrmrd_file(LARMOR_DEMO_DATA, o).images, recon_file(LARMOR_DEMO_DATA, ro).images);
}

TEST(StreamServer, SeveralClientsAtOnce) {
  set_fft_planner_effort(fft_planner_effort::estimate);
  const auto want = recon_file(LARMOR_DEMO_DATA).images;
  running_server s;
  std::vector<server::send_result> got(4);
  std::vector<std::thread> clients;
  for (std::size_t i = 0; i < got.size(); ++i)
    clients.emplace_back([&, i] { got[i] = server::send_ismrmrd_file(LARMOR_DEMO_DATA, to(s)); });
  for (auto& t : clients) t.join();
  for (const auto& g : got) {
    EXPECT_EQ(g.error, "");
    expect_same_images(g.images, want);
  }
  EXPECT_TRUE(s.idle());
  EXPECT_EQ(s.srv->connections_served(), 4);
}

// A raw client: connects, sends bytes, reads what comes back until the server closes.
std::vector<unsigned char> raw_exchange(int port, const std::vector<unsigned char>& send, bool half_close = true) {
  server::fd_stream c(server::tcp_connect("127.0.0.1", port), true, "raw", 20);
  if (!send.empty()) c.write_all(send.data(), send.size());
  if (half_close) ::shutdown(c.fd(), SHUT_WR);
  std::vector<unsigned char> back;
  unsigned char buf[4096];
  for (;;) {
    std::size_t n = 0;
    try {
      n = c.read_some(buf, sizeof buf);
    } catch (const DataError&) {
      break;
    }
    if (n == 0) break;
    back.insert(back.end(), buf, buf + n);
  }
  return back;
}

// The messages of a server's reply: the TEXT lines and whether it ended with CLOSE.
struct reply {
  std::vector<std::string> texts;
  index_t images = 0;
  bool closed = false;
};
reply parse_reply(const std::vector<unsigned char>& bytes) {
  memory_stream in;
  in.bytes = bytes;
  io::stream_reader r(in, "reply");
  reply out;
  while (auto m = r.next()) {
    if (m->id == io::stream_message::text) out.texts.push_back(m->text);
    if (m->id == io::stream_message::image) ++out.images;
    if (m->id == io::stream_message::close) out.closed = true;
  }
  return out;
}

std::vector<unsigned char> file_stream_bytes(const std::string& config, std::size_t max_readouts = 1u << 30) {
  memory_stream m;
  io::write_config_file(m, config);
  try {
    io::write_ismrmrd_file_as_stream(LARMOR_DEMO_DATA, "dataset", m, true, [&](std::size_t n) {
      if (n >= max_readouts) throw std::runtime_error("enough");  // a client that stops part way
    });
  } catch (const std::runtime_error&) {
  }
  return m.bytes;
}

TEST(StreamServer, BadClientsEndOnlyTheirOwnConnection) {
  set_fft_planner_effort(fft_planner_effort::estimate);
  server::server_options o;
  o.idle_timeout_s = 2;
  running_server s(o);
  // Garbage bytes: one TEXT line, then CLOSE.
  std::mt19937 rng(3);
  std::vector<unsigned char> garbage(5000);
  for (auto& g : garbage) g = static_cast<unsigned char>(rng());
  garbage[0] = 0x39, garbage[1] = 0x30;  // id 12345
  auto r = parse_reply(raw_exchange(s.port(), garbage));
  EXPECT_TRUE(r.closed);
  ASSERT_EQ(r.texts.size(), 1u);
  EXPECT_NE(r.texts[0].find("unknown message id 12345"), std::string::npos) << r.texts[0];
  // A second HEADER.
  auto b = file_stream_bytes("default.xml", 3);
  memory_stream again;
  io::write_text_message(again, io::stream_message::header, demo_header_with("", ""));
  b.insert(b.end(), again.bytes.begin(), again.bytes.end());
  r = parse_reply(raw_exchange(s.port(), b));
  EXPECT_TRUE(r.closed);
  ASSERT_EQ(r.texts.size(), 1u);
  EXPECT_NE(r.texts[0].find("second HEADER"), std::string::npos) << r.texts[0];
  // An oversized length.
  memory_stream big;
  io::write_config_file(big, "default.xml");
  put<std::uint16_t>(big.bytes, big.bytes.size(), 3);
  put<std::uint32_t>(big.bytes, big.bytes.size(), 0xfffffff0u);
  r = parse_reply(raw_exchange(s.port(), big.bytes));
  EXPECT_TRUE(r.closed);
  ASSERT_EQ(r.texts.size(), 1u);
  EXPECT_NE(r.texts[0].find("at most"), std::string::npos) << r.texts[0];
  // An unknown configuration name (never opened as a path).
  memory_stream bad_cfg;
  io::write_config_file(bad_cfg, "../../etc/passwd");
  r = parse_reply(raw_exchange(s.port(), bad_cfg.bytes));
  ASSERT_EQ(r.texts.size(), 1u);
  EXPECT_NE(r.texts[0].find("unknown configuration"), std::string::npos) << r.texts[0];
  // A client that disconnects mid-scan (half its readouts sent, no CLOSE).
  r = parse_reply(raw_exchange(s.port(), file_stream_bytes("default.xml", 40)));
  EXPECT_EQ(r.images, 0);
  // A client that stalls mid-scan: dropped after the idle timeout, the socket left open by the client.
  {
    server::fd_stream c(server::tcp_connect("127.0.0.1", s.port()), true, "stall", 20);
    const auto part = file_stream_bytes("default.xml", 10);
    c.write_all(part.data(), part.size());
    std::vector<unsigned char> back;
    unsigned char buf[1024];
    for (std::size_t n; (n = c.read_some(buf, sizeof buf)) > 0;) back.insert(back.end(), buf, buf + n);
    r = parse_reply(back);
    EXPECT_TRUE(r.closed);
    ASSERT_EQ(r.texts.size(), 1u);
    EXPECT_NE(r.texts[0].find("did nothing for"), std::string::npos) << r.texts[0];
  }
  EXPECT_TRUE(s.idle());
  EXPECT_TRUE(s.logged("without CLOSE after 40 readouts"));
  // And the server goes on serving.
  const auto good = server::send_ismrmrd_file(LARMOR_DEMO_DATA, to(s));
  EXPECT_EQ(good.error, "");
  EXPECT_EQ(good.images.size(), recon_file(LARMOR_DEMO_DATA).images.size());
}

TEST(StreamServer, QueriesAndTheBusyAnswer) {
  server::server_options o;
  o.max_connections = 1;
  running_server s(o);
  // QUERY ismrmrd::version -> RESPONSE with the same correlation id.
  std::vector<unsigned char> q;
  put<std::uint16_t>(q, 0, 6);
  put<std::uint64_t>(q, 2, 0);
  put<std::uint64_t>(q, 10, 42);
  const std::string what = "ismrmrd::version";
  put<std::uint64_t>(q, 18, what.size());
  q.insert(q.end(), what.begin(), what.end());
  put<std::uint16_t>(q, q.size(), 4);
  const auto back = raw_exchange(s.port(), q);
  memory_stream in;
  in.bytes = back;
  io::stream_reader r(in, "reply");
  const auto m = r.next();
  ASSERT_TRUE(m);
  ASSERT_EQ(m->id, io::stream_message::response);
  EXPECT_EQ(m->correlation_id, 42u);
  EXPECT_EQ(m->text, "1.8.0");
  EXPECT_EQ(r.next()->id, io::stream_message::close);
  // One connection held open: the next is told the server is busy.
  ASSERT_TRUE(s.idle());
  server::fd_stream hold(server::tcp_connect("127.0.0.1", s.port()), true, "hold", 20);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (s.srv->connections_open() == 0 && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const auto busy = parse_reply(raw_exchange(s.port(), {}));
  ASSERT_EQ(busy.texts.size(), 1u);
  EXPECT_NE(busy.texts[0].find("busy"), std::string::npos);
  EXPECT_TRUE(busy.closed);
}

TEST(StreamServer, AKeptNoiseMeasurementPrewhitensTheScanThatNamesIt) {
  set_fft_planner_effort(fft_planner_effort::estimate);
  auto raw = io::read_ismrmrd(LARMOR_DEMO_DATA);  // without the noise readouts the file has
  raw.acquisitions.erase(std::remove_if(raw.acquisitions.begin(), raw.acquisitions.end(),
                                        [](const io::acquisition& a) { return a.has(io::acq_flag::is_noise_measurement); }),
                         raw.acquisitions.end());
  const index_t coils = raw.acquisitions.front().channels();
  // Correlated noise: n = L z with a fixed lower-triangular L.
  std::mt19937 rng(11);
  std::normal_distribution<float> z(0.f, 1.f);
  std::vector<io::acquisition> noise;
  for (int r = 0; r < 64; ++r) {
    io::acquisition a;
    a.flags = io::flag_bit(io::acq_flag::is_noise_measurement);
    a.sample_time_us = raw.acquisitions.front().sample_time_us;
    a.data = array<cfloat, 2>(extents<2>{coils, 128});
    for (index_t s = 0; s < 128; ++s) {
      std::vector<cfloat> w(static_cast<std::size_t>(coils));
      for (auto& v : w) v = cfloat(z(rng), z(rng));
      for (index_t c = 0; c < coils; ++c) {
        cfloat acc = 0;
        for (index_t k = 0; k <= c; ++k) acc += w[static_cast<std::size_t>(k)] * (k == c ? 1.f : 0.6f);
        a.data(c, s) = acc * 1e-3f;
      }
    }
    noise.push_back(std::move(a));
  }
  // The reference: the same scan with the noise readouts in its own stream.
  io::raw_dataset with_noise = raw;
  with_noise.acquisitions.insert(with_noise.acquisitions.begin(), noise.begin(), noise.end());
  const auto want = recon(with_noise).images;
  const auto unwhitened = recon(raw).images;

  running_server s;
  // 1. The noise measurement on its own connection (gadgetron's dependency configuration).
  memory_stream first;
  io::write_config_file(first, "default_measurement_dependencies.xml");
  io::write_text_message(first, io::stream_message::header, demo_header_with("noise-7", ""));
  for (const auto& a : noise) io::write_acquisition_message(first, a);
  io::write_close(first);
  auto r = parse_reply(raw_exchange(s.port(), first.bytes));
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.images, 0);
  EXPECT_TRUE(s.logged("noise measurement noise-7 kept (64 readouts"));
  // 2. The scan that names it.
  memory_stream second;
  io::write_config_file(second, "default.xml");
  io::write_text_message(second, io::stream_message::header, demo_header_with("scan-8", "noise-7"));
  for (const auto& a : raw.acquisitions) io::write_acquisition_message(second, a);
  io::write_close(second);
  const auto back = raw_exchange(s.port(), second.bytes);
  memory_stream in;
  in.bytes = back;
  io::stream_reader rd(in, "reply");
  std::vector<io::image_record> got;
  std::vector<std::string> attributes;
  while (auto m = rd.next())
    if (m->id == io::stream_message::image) {
      got.push_back(std::move(*m->image));
      attributes.push_back(m->text);
    }
  expect_same_images(got, want);
  ASSERT_FALSE(attributes.empty());
  EXPECT_NE(attributes[0].find("measurement noise-7"), std::string::npos) << attributes[0];
  // The noise mattered (else the comparison above would not tell).
  double diff = 0;
  for (index_t p = 0; p < want[0].magnitude.size(); ++p)
    diff = std::max<double>(diff, std::abs(want[0].magnitude[p] / want[0].magnitude.size() -
                                           unwhitened[0].magnitude[p] / unwhitened[0].magnitude.size()));
  EXPECT_GT(diff, 0);
  // 3. Gadgetron's client pre-flight (NoiseSummaryGadget): the kept measurement's statistics.
  memory_stream pre;
  io::write_text_message(pre, io::stream_message::config_script,
                         "<gadgetronStreamConfiguration><gadget><name>NoiseSummary</name><classname>NoiseSummaryGadget"
                         "</classname><property><name>noise_file</name><value>GadgetronNoiseCovarianceMatrix_noise-7"
                         "</value></property></gadget></gadgetronStreamConfiguration>");
  io::write_close(pre);
  memory_stream pin;
  pin.bytes = raw_exchange(s.port(), pre.bytes);
  io::stream_reader pr(pin, "pre");
  const auto dep = pr.next();
  ASSERT_TRUE(dep);
  ASSERT_EQ(dep->id, io::stream_message::dependency_query);
  EXPECT_NE(dep->text.find("success"), std::string::npos) << dep->text;
  EXPECT_NE(dep->text.find("<value>" + std::to_string(coils) + "</value>"), std::string::npos) << dep->text;
  EXPECT_EQ(pr.next()->id, io::stream_message::close);
}

TEST(StreamServer, StopCancelsOpenScansAfterTheGraceAndTellsThem) {
  server::server_options o;
  o.grace_s = 0.2;
  auto s = std::make_unique<running_server>(o);
  server::fd_stream c(server::tcp_connect("127.0.0.1", s->port()), true, "open", 20);
  const auto part = file_stream_bytes("default.xml", 10);
  c.write_all(part.data(), part.size());
  // The server must have taken the connection before it is stopped (under a loaded ctest -j2 the stop could
  // come first, and a connection the server never accepted is not one it can tell): wait for it, bounded.
  for (int i = 0; i < 500 && !s->logged("connected"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(s->logged("connected"));
  const auto start = std::chrono::steady_clock::now();
  s.reset();  // stop() + run() returns
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0);
  // The open client was told (gadgetron_ismrmrd_client aborts on a connection that ends without CLOSE).
  std::vector<unsigned char> back;
  unsigned char buf[1024];
  for (std::size_t n; (n = c.read_some(buf, sizeof buf)) > 0;) back.insert(back.end(), buf, buf + n);
  const auto r = parse_reply(back);
  EXPECT_TRUE(r.closed);
  ASSERT_EQ(r.texts.size(), 1u);
  EXPECT_NE(r.texts[0].find("stopping"), std::string::npos) << r.texts[0];
}

TEST(StreamServer, ServerMessagesFromAClientAreRefusedBeforeTheirBody) {
  running_server s;
  // An IMAGE announcing 1 GiB of complex pixels: refused by its id, nothing allocated.
  memory_stream m;
  io::write_config_file(m, "default.xml");
  std::vector<unsigned char> image(2 + 198 + 8, 0);
  put<std::uint16_t>(image, 0, 1022);
  put<std::uint16_t>(image, 2 + 2, 7);  // complex float
  put<std::uint16_t>(image, 2 + 16, 16384);
  put<std::uint16_t>(image, 2 + 18, 8192);
  put<std::uint16_t>(image, 2 + 20, 1);
  put<std::uint16_t>(image, 2 + 34, 1);
  m.bytes.insert(m.bytes.end(), image.begin(), image.end());
  const auto r = parse_reply(raw_exchange(s.port(), m.bytes));
  EXPECT_TRUE(r.closed);
  ASSERT_EQ(r.texts.size(), 1u);
  EXPECT_NE(r.texts[0].find("a client does not send IMAGE"), std::string::npos) << r.texts[0];
}

TEST(StreamConversation, NoiseFloodsAndNonCartesianScansBeyondTheBudgetAreRefused) {
  const auto run = [](const std::vector<unsigned char>& bytes, server::conversation_options co) {
    memory_stream in, out;
    in.bytes = bytes;
    in.chunk = 1 << 20;
    const auto sum = server::serve_conversation(in, server::message_replies(out), co);
    EXPECT_FALSE(sum.ok);
    return sum.error;
  };
  memory_stream noise;
  io::write_config_file(noise, "default.xml");
  io::write_text_message(noise, io::stream_message::header, demo_header_with("", ""));
  io::acquisition a;
  a.flags = io::flag_bit(io::acq_flag::is_noise_measurement);
  a.data = array<cfloat, 2>(extents<2>{8, 256});  // 16 KiB each
  for (int i = 0; i < 100; ++i) io::write_acquisition_message(noise, a);
  io::write_close(noise);
  server::conversation_options co;
  co.max_noise_bytes = 1 << 20;  // 64 readouts
  EXPECT_NE(run(noise.bytes, co).find("MiB of noise readouts"), std::string::npos);
  // A radial scan is held whole until CLOSE: its readouts count against the k-space budget as they come.
  std::string xml = demo_header_with("", "");
  const auto t = xml.find("<trajectory>cartesian</trajectory>");
  ASSERT_NE(t, std::string::npos);
  xml.replace(t, std::string("<trajectory>cartesian</trajectory>").size(), "<trajectory>radial</trajectory>");
  memory_stream radial;
  io::write_config_file(radial, "default.xml");
  io::write_text_message(radial, io::stream_message::header, xml);
  io::acquisition line;
  line.data = array<cfloat, 2>(extents<2>{8, 256});
  line.traj = array<float, 2>(extents<2>{256, 2});
  for (int i = 0; i < 100; ++i) io::write_acquisition_message(radial, line);
  io::write_close(radial);
  co.recon.kspace_budget_bytes = 1 << 20;
  EXPECT_NE(run(radial.bytes, co).find("exceed the k-space budget"), std::string::npos);
}

}  // namespace
}  // namespace larmor

// ---- TLS -----------------------------------------------------------------------------------------------

namespace larmor {
namespace {

// A CA, a server certificate for 127.0.0.1 and a client certificate, made with the openssl command in
// tmp/<dir> (one per test: ctest runs tests in parallel processes).
bool make_test_certificates(const std::string& dir) {
  const std::string d = test::tmp_path(dir);
  const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::string cmd =
      "mkdir -p " + d + " && cd " + d + " && printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && "
      "openssl req -x509" + key + " -keyout ca.key -out ca.pem -days 2 -subj /CN=larmor-test-ca && "
      "openssl req" + key + " -keyout server.key -out server.csr -subj /CN=127.0.0.1 && "
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
      "-extfile san.ext && "
      "openssl req" + key + " -keyout client.key -out client.csr -subj /CN=larmor-test-client && "
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 && "
      "openssl req -x509" + key + " -keyout other.key -out other.pem -days 2 -subj /CN=other-ca";
  return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
}

TEST(StreamServerTls, ImagesOverTlsAndRefusedHandshakes) {
  if (!make_test_certificates("tls-images")) GTEST_SKIP() << "the openssl command is not installed (scripts/install-deps.sh)";
  set_fft_planner_effort(fft_planner_effort::estimate);
  const std::string d = test::tmp_path("tls-images") + "/";
  server::server_options o;
  o.tls_cert = d + "server.pem";
  o.tls_key = d + "server.key";
  o.idle_timeout_s = 5;
  running_server s(o);
  auto c = to(s);
  c.tls_ca = d + "ca.pem";
  const auto got = server::send_ismrmrd_file(LARMOR_DEMO_DATA, c);
  EXPECT_EQ(got.error, "");
  expect_same_images(got.images, recon_file(LARMOR_DEMO_DATA).images);
  // A plain client: its bytes are not a TLS handshake; the server refuses it and logs the address.
  EXPECT_NE(server::send_ismrmrd_file(LARMOR_DEMO_DATA, to(s)).error, "");
  // A client that trusts another CA refuses the server.
  c.tls_ca = d + "other.pem";
  EXPECT_THROW(server::send_ismrmrd_file(LARMOR_DEMO_DATA, c), DataError);
  EXPECT_TRUE(s.idle());
  EXPECT_TRUE(s.logged("refused 127.0.0.1:"));
}

TEST(StreamServerTls, MutualTlsNeedsTheClientsCertificate) {
  if (!make_test_certificates("tls-mutual")) GTEST_SKIP() << "the openssl command is not installed (scripts/install-deps.sh)";
  const std::string d = test::tmp_path("tls-mutual") + "/";
  server::server_options o;
  o.tls_cert = d + "server.pem";
  o.tls_key = d + "server.key";
  o.tls_client_ca = d + "ca.pem";
  o.idle_timeout_s = 5;
  running_server s(o);
  auto c = to(s);
  c.tls_ca = d + "ca.pem";
  // Without a certificate: TLS 1.3 reports the refusal on the first read, so either the handshake throws or the
  // exchange ends with an error; never images.
  try {
    const auto r = server::send_ismrmrd_file(LARMOR_DEMO_DATA, c);
    EXPECT_NE(r.error, "");
    EXPECT_TRUE(r.images.empty());
  } catch (const DataError&) {
  }
  c.tls_cert = d + "client.pem";
  c.tls_key = d + "client.key";
  const auto got = server::send_ismrmrd_file(LARMOR_DEMO_DATA, c);
  EXPECT_EQ(got.error, "");
  EXPECT_FALSE(got.images.empty());
  // Off loopback without TLS or an allow-list: the server does not start.
  server::server_options open;
  open.listen = "0.0.0.0";
  open.port = 0;
  EXPECT_THROW(server::stream_server{open}, InvalidArgument);
  open.allow = {"10.0.0.2"};
  EXPECT_THROW(server::stream_server{open}, InvalidArgument);
  open.plaintext_off_loopback = true;
  EXPECT_NO_THROW(server::stream_server{open});
}

}  // namespace
}  // namespace larmor
