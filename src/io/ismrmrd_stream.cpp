// The ISMRMRD / Gadgetron v1 stream protocol (larmor/io/ismrmrd_stream.hpp): message framing on any byte
// source or sink, with every size checked before allocation.
#include <ismrmrd/dataset.h>
#include <ismrmrd/ismrmrd.h>
#include <ismrmrd/waveform.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "ismrmrd_convert.hpp"
#include "larmor/io/ismrmrd_stream.hpp"

namespace larmor::io {

// The wire carries libismrmrd's packed C structs in little-endian byte order, as the peers (x86 and ARM
// scanners' hosts, Gadgetron) lay them out in memory.
static_assert(sizeof(ISMRMRD::ISMRMRD_AcquisitionHeader) == 340, "ISMRMRD acquisition header is 340 bytes");
static_assert(sizeof(ISMRMRD::ISMRMRD_ImageHeader) == 198, "ISMRMRD image header is 198 bytes");
static_assert(sizeof(ISMRMRD::ISMRMRD_WaveformHeader) == 40, "ISMRMRD waveform header is 40 bytes");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ISMRMRD stream is little-endian; this reader copies it as it is"
#endif

const char* stream_message_name(std::uint16_t id) {
  switch (id) {
    case 1: return "CONFIG_FILE";
    case 2: return "CONFIG_SCRIPT";
    case 3: return "HEADER";
    case 4: return "CLOSE";
    case 5: return "TEXT";
    case 6: return "QUERY";
    case 7: return "RESPONSE";
    case 1019: return "DEPENDENCY_QUERY";
    case 1008: return "ACQUISITION";
    case 1022: return "IMAGE";
    case 1026: return "WAVEFORM";
    default: return "unknown";
  }
}

void stream_reader::read_exact(void* p, std::size_t n, const char* what) {
  auto* dst = static_cast<unsigned char*>(p);
  std::size_t got = 0;
  while (got < n) {
    const std::size_t r = in_.read_some(dst + got, n - got);
    LARMOR_CHECK_DATA(r > 0, "stream: ", source_, ": the stream ends inside ", what, " (", got, " of ", n,
                      " bytes, after ", bytes_, " bytes)");
    got += r;
  }
  bytes_ += n;
}

std::string stream_reader::read_text(std::size_t limit, const char* what) {
  std::uint32_t len = 0;
  read_exact(&len, sizeof len, what);
  LARMOR_CHECK_DATA(len <= limit, "stream: ", source_, ": ", what, " of ", len, " bytes (at most ", limit,
                    " accepted)");
  std::string s(len, '\0');
  if (len > 0) read_exact(s.data(), len, what);
  // Peers send C strings with or without their NUL: the text ends at the first NUL.
  const auto nul = s.find('\0');
  if (nul != std::string::npos) s.resize(nul);
  return s;
}

std::optional<stream_item> stream_reader::next() {
  std::uint16_t raw_id = 0;
  {
    // A clean end of stream is one that ends between two messages.
    auto* dst = reinterpret_cast<unsigned char*>(&raw_id);
    std::size_t got = 0;
    while (got < sizeof raw_id) {
      const std::size_t r = in_.read_some(dst + got, sizeof raw_id - got);
      if (r == 0) {
        LARMOR_CHECK_DATA(got == 0, "stream: ", source_, ": the stream ends inside a message id");
        return std::nullopt;
      }
      got += r;
    }
    bytes_ += sizeof raw_id;
  }
  stream_item item;
  item.id = static_cast<stream_message>(raw_id);
  if (limits_.server_side)
    LARMOR_CHECK_DATA(item.id != stream_message::image && item.id != stream_message::response &&
                          item.id != stream_message::dependency_query,
                      "stream: ", source_, ": a client does not send ", stream_message_name(raw_id), " (message id ",
                      raw_id, ")");
  switch (item.id) {
    case stream_message::config_file: {
      char name[1024];
      read_exact(name, sizeof name, "a CONFIG_FILE message");
      item.text.assign(name, strnlen(name, sizeof name));
      return item;
    }
    case stream_message::config_script:
    case stream_message::header:
    case stream_message::text:
      item.text = read_text(limits_.max_text_bytes, stream_message_name(raw_id));
      return item;
    case stream_message::query:
    case stream_message::response: {
      // QUERY: uint64 reserved (0), uint64 correlation id, uint64 length, text; RESPONSE: the same without
      // the reserved word.
      std::uint64_t words[3] = {0, 0, 0};
      const bool query = item.id == stream_message::query;
      read_exact(query ? words : words + 1, (query ? 3 : 2) * sizeof(std::uint64_t), stream_message_name(raw_id));
      LARMOR_CHECK_DATA(words[0] == 0, "stream: ", source_, ": QUERY with reserved word ", words[0], " (must be 0)");
      LARMOR_CHECK_DATA(words[2] <= limits_.max_text_bytes, "stream: ", source_, ": ", stream_message_name(raw_id),
                        " of ", words[2], " bytes (at most ", limits_.max_text_bytes, ")");
      item.correlation_id = words[1];
      item.text.assign(static_cast<std::size_t>(words[2]), '\0');
      if (!item.text.empty()) read_exact(item.text.data(), item.text.size(), stream_message_name(raw_id));
      return item;
    }
    case stream_message::dependency_query: {
      std::uint64_t len = 0;
      read_exact(&len, sizeof len, "a DEPENDENCY_QUERY message");
      LARMOR_CHECK_DATA(len <= limits_.max_text_bytes, "stream: ", source_, ": DEPENDENCY_QUERY of ", len,
                        " bytes (at most ", limits_.max_text_bytes, ")");
      item.text.assign(static_cast<std::size_t>(len), '\0');
      if (len > 0) read_exact(item.text.data(), item.text.size(), "a DEPENDENCY_QUERY message");
      return item;
    }
    case stream_message::close:
      return item;
    case stream_message::acquisition: {
      ISMRMRD::AcquisitionHeader h;
      read_exact(static_cast<ISMRMRD::ISMRMRD_AcquisitionHeader*>(&h), sizeof(ISMRMRD::ISMRMRD_AcquisitionHeader),
                 "an ACQUISITION header");
      // Members of the packed header are copied out before use (a reference to one would be misaligned).
      const std::uint16_t channels = h.active_channels, samples = h.number_of_samples, dims = h.trajectory_dimensions;
      const std::uint32_t scan = h.scan_counter;
      // Flags 53/54 (ZFP, NHLBI compression, gadgetron_ismrmrd_client -Z/-P/-T): the samples follow as a
      // compressed blob, not as complex floats.
      const std::uint64_t compressed = (std::uint64_t{1} << 52) | (std::uint64_t{1} << 53);
      LARMOR_CHECK_DATA((h.flags & compressed) == 0, "stream: ", source_, ": ACQUISITION ", scan,
                        " carries compressed samples (ISMRMRD flags 53/54: the client's -P/-T/-Z); larmor takes "
                        "uncompressed acquisitions");
      LARMOR_CHECK_DATA(channels <= limits_.max_channels, "stream: ", source_, ": ACQUISITION ", scan,
                        " has ", channels, " active channels (at most ", limits_.max_channels, ")");
      LARMOR_CHECK_DATA(dims <= 4, "stream: ", source_, ": ACQUISITION ", scan, " has ", dims,
                        " trajectory dimensions (at most 4)");
      const std::size_t traj_values = std::size_t{dims} * samples, data_values = std::size_t{channels} * samples;
      const std::size_t bytes = traj_values * sizeof(float) + data_values * sizeof(cfloat);
      LARMOR_CHECK_DATA(bytes <= limits_.max_readout_bytes, "stream: ", source_, ": ACQUISITION ", scan,
                        " of ", bytes, " bytes (", channels, " channels x ", samples, " samples; at most ",
                        limits_.max_readout_bytes, " accepted)");
      // Read straight into the readout, whose pages are touched only as the bytes arrive.
      acquisition q = detail::acquisition_fields(h);
      q.data = array<cfloat, 2>(extents<2>{channels, samples}, uninitialized);
      if (traj_values > 0) {
        q.traj = array<float, 2>(extents<2>{samples, dims}, uninitialized);
        read_exact(q.traj.data(), traj_values * sizeof(float), "an ACQUISITION's trajectory");
      }
      if (data_values > 0) read_exact(q.data.data(), data_values * sizeof(cfloat), "an ACQUISITION's samples");
      item.readout = std::move(q);
      return item;
    }
    case stream_message::image: {
      ISMRMRD::ImageHeader h;
      read_exact(static_cast<ISMRMRD::ISMRMRD_ImageHeader*>(&h), sizeof(ISMRMRD::ISMRMRD_ImageHeader),
                 "an IMAGE header");
      std::uint64_t attr_len = 0;
      read_exact(&attr_len, sizeof attr_len, "an IMAGE's attribute length");
      LARMOR_CHECK_DATA(attr_len <= limits_.max_text_bytes, "stream: ", source_, ": IMAGE attributes of ", attr_len,
                        " bytes (at most ", limits_.max_text_bytes, ")");
      item.text.assign(static_cast<std::size_t>(attr_len), '\0');
      if (attr_len > 0) read_exact(item.text.data(), item.text.size(), "an IMAGE's attributes");
      const auto nul = item.text.find('\0');
      if (nul != std::string::npos) item.text.resize(nul);
      const std::uint16_t data_type = h.data_type;
      LARMOR_CHECK_DATA(data_type == ISMRMRD::ISMRMRD_FLOAT || data_type == ISMRMRD::ISMRMRD_CXFLOAT, "stream: ",
                        source_, ": IMAGE of ISMRMRD data type ", data_type, " (larmor reads float and complex float)");
      const std::uint16_t nx = h.matrix_size[0], ny = h.matrix_size[1], nz = h.matrix_size[2], nc = h.channels;
      LARMOR_CHECK_DATA(nc == 1, "stream: ", source_, ": IMAGE with ", nc, " channels (larmor reads one)");
      const std::size_t pixels = std::size_t{nx} * ny * nz;
      const std::size_t value_bytes = data_type == ISMRMRD::ISMRMRD_CXFLOAT ? sizeof(cfloat) : sizeof(float);
      LARMOR_CHECK_DATA(pixels * value_bytes <= limits_.max_image_bytes, "stream: ", source_, ": IMAGE of ",
                        pixels * value_bytes, " bytes (at most ", limits_.max_image_bytes, ")");
      image_record r;
      const extents<3> shape{nz, ny, nx};
      if (data_type == ISMRMRD::ISMRMRD_CXFLOAT) {
        r.complex_image = array<cfloat, 3>(shape, uninitialized);
        if (pixels > 0) read_exact(r.complex_image.data(), pixels * sizeof(cfloat), "an IMAGE's pixels");
        r.magnitude = array<float, 3>(shape, uninitialized);
        for (index_t p = 0; p < r.magnitude.size(); ++p) r.magnitude[p] = std::abs(r.complex_image[p]);
      } else {
        r.magnitude = array<float, 3>(shape, uninitialized);
        if (pixels > 0) read_exact(r.magnitude.data(), pixels * sizeof(float), "an IMAGE's pixels");
      }
      detail::set_record_header(r, h);
      item.image = std::move(r);
      return item;
    }
    case stream_message::waveform: {
      ISMRMRD::ISMRMRD_WaveformHeader h;
      read_exact(&h, sizeof h, "a WAVEFORM header");
      const std::size_t bytes = std::size_t{h.channels} * h.number_of_samples * sizeof(std::uint32_t);
      LARMOR_CHECK_DATA(bytes <= limits_.max_readout_bytes, "stream: ", source_, ": WAVEFORM of ", bytes,
                        " bytes (at most ", limits_.max_readout_bytes, ")");
      std::vector<unsigned char> skip(std::min<std::size_t>(bytes, 1 << 16));
      for (std::size_t left = bytes; left > 0;) {
        const std::size_t n = std::min(left, skip.size());
        read_exact(skip.data(), n, "a WAVEFORM's samples");
        left -= n;
      }
      return item;
    }
  }
  throw DataError(::larmor::detail::concat("stream: ", source_, ": unknown message id ", raw_id, " after ", bytes_ - 2,
                                 " bytes (not an ISMRMRD stream, or a message larmor does not know)"));
}

void write_config_file(byte_sink& out, const std::string& name) {
  LARMOR_CHECK_ARG(name.size() < 1024, "stream: a configuration name of ", name.size(), " bytes (at most 1023)");
  const std::uint16_t id = static_cast<std::uint16_t>(stream_message::config_file);
  char body[1024] = {};
  std::memcpy(body, name.data(), name.size());
  out.write_all(&id, sizeof id);
  out.write_all(body, sizeof body);
}

void write_text_message(byte_sink& out, stream_message id, const std::string& text) {
  LARMOR_CHECK_ARG(text.size() <= std::numeric_limits<std::uint32_t>::max(), "stream: text of ", text.size(),
                   " bytes");
  const auto raw = static_cast<std::uint16_t>(id);
  const auto len = static_cast<std::uint32_t>(text.size());
  std::vector<unsigned char> msg(sizeof raw + sizeof len + text.size());
  std::memcpy(msg.data(), &raw, sizeof raw);
  std::memcpy(msg.data() + sizeof raw, &len, sizeof len);
  std::memcpy(msg.data() + sizeof raw + sizeof len, text.data(), text.size());
  out.write_all(msg.data(), msg.size());
}

void write_response(byte_sink& out, std::uint64_t correlation_id, const std::string& text) {
  const auto id = static_cast<std::uint16_t>(stream_message::response);
  const std::uint64_t len = text.size();
  out.write_all(&id, sizeof id);
  out.write_all(&correlation_id, sizeof correlation_id);
  out.write_all(&len, sizeof len);
  out.write_all(text.data(), text.size());
}

void write_dependency_query(byte_sink& out, const std::string& meta_xml) {
  const auto id = static_cast<std::uint16_t>(stream_message::dependency_query);
  const std::uint64_t len = meta_xml.size();
  out.write_all(&id, sizeof id);
  out.write_all(&len, sizeof len);
  out.write_all(meta_xml.data(), meta_xml.size());
}

void write_close(byte_sink& out) {
  const auto id = static_cast<std::uint16_t>(stream_message::close);
  out.write_all(&id, sizeof id);
}

void write_acquisition_message(byte_sink& out, const acquisition& a) {
  const index_t channels = a.channels(), samples = a.samples();
  LARMOR_CHECK_ARG(channels <= 1024 && samples <= 65535, "stream: a readout of ", channels, " channels x ", samples,
                   " samples does not fit an ISMRMRD acquisition");
  const index_t dims = a.traj.size() > 0 ? a.traj.shape(1) : 0;
  LARMOR_CHECK_ARG(dims == 0 || a.traj.shape(0) == samples, "stream: trajectory of ", a.traj.shape(0),
                   " points for ", samples, " samples");
  ISMRMRD::AcquisitionHeader h;  // version 1, the rest zero
  h.flags = a.flags;
  h.scan_counter = a.scan_counter;
  h.acquisition_time_stamp = a.acquisition_time_stamp;
  for (int i = 0; i < 3; ++i) h.physiology_time_stamp[i] = a.physiology_time_stamp[static_cast<std::size_t>(i)];
  h.number_of_samples = static_cast<std::uint16_t>(samples);
  h.available_channels = h.active_channels = static_cast<std::uint16_t>(channels);
  for (index_t c = 0; c < channels; ++c) h.channel_mask[c / 64] |= std::uint64_t{1} << (c % 64);
  h.discard_pre = a.discard_pre;
  h.discard_post = a.discard_post;
  h.center_sample = a.center_sample;
  h.trajectory_dimensions = static_cast<std::uint16_t>(dims);
  h.sample_time_us = a.sample_time_us;
  for (int i = 0; i < 3; ++i) {
    h.position[i] = a.position[static_cast<std::size_t>(i)];
    h.read_dir[i] = a.read_dir[static_cast<std::size_t>(i)];
    h.phase_dir[i] = a.phase_dir[static_cast<std::size_t>(i)];
    h.slice_dir[i] = a.slice_dir[static_cast<std::size_t>(i)];
    h.patient_table_position[i] = a.patient_table_position[static_cast<std::size_t>(i)];
  }
  h.idx.kspace_encode_step_1 = a.idx.kspace_encode_step_1;
  h.idx.kspace_encode_step_2 = a.idx.kspace_encode_step_2;
  h.idx.average = a.idx.average;
  h.idx.slice = a.idx.slice;
  h.idx.contrast = a.idx.contrast;
  h.idx.phase = a.idx.phase;
  h.idx.repetition = a.idx.repetition;
  h.idx.set = a.idx.set;
  h.idx.segment = a.idx.segment;
  const auto id = static_cast<std::uint16_t>(stream_message::acquisition);
  const ISMRMRD::ISMRMRD_AcquisitionHeader raw = h;
  out.write_all(&id, sizeof id);
  out.write_all(&raw, sizeof raw);
  if (dims > 0) out.write_all(a.traj.data(), static_cast<std::size_t>(a.traj.size()) * sizeof(float));
  out.write_all(a.data.data(), static_cast<std::size_t>(a.data.size()) * sizeof(cfloat));
}

namespace {

template <class Image>
void write_image(byte_sink& out, Image& im, const std::string& attributes) {
  im.setAttributeString(attributes);
  const auto id = static_cast<std::uint16_t>(stream_message::image);
  const ISMRMRD::ISMRMRD_ImageHeader h = im.getHead();
  const std::uint64_t attr_len = attributes.size();
  out.write_all(&id, sizeof id);
  out.write_all(&h, sizeof h);
  out.write_all(&attr_len, sizeof attr_len);
  if (attr_len > 0) out.write_all(attributes.data(), attributes.size());
  out.write_all(im.getDataPtr(), im.getDataSize());
}

}  // namespace

void write_image_message(byte_sink& out, const image_record& image, const std::string& attributes) {
  if (image.type == image_type::complex) {
    auto im = detail::complex_ismrmrd_image(image);
    write_image(out, im, attributes);
  } else {
    auto im = detail::real_ismrmrd_image(image);
    write_image(out, im, attributes);
  }
}

}  // namespace larmor::io
