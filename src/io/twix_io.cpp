// Siemens twix (VB, VD/VE/XA) raw-data reader (see include/larmor/io/twix.hpp for the layout).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "larmor/core/error.hpp"
#include "larmor/io/twix.hpp"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the twix reader assumes a little-endian host"
#endif

namespace larmor::io {

namespace {

// Sizes of the fixed structures.
constexpr std::size_t raid_header_bytes = 8, raid_entry_bytes = 152, raid_max_entries = 64;
constexpr std::size_t vd_scan_header_bytes = 192, vd_channel_header_bytes = 32, vb_mdh_bytes = 128;
constexpr std::uint32_t dma_length_mask = (1u << 25) - 1;

// Evaluation-info mask bits (bit numbers of aulEvalInfoMask, 64 bits).
namespace eval {
constexpr int acqend = 0, rtfeedback = 1, hpfeedback = 2, syncdata = 5, lastscaninmeas = 11,
              refphasestabscan = 14, phasestabscan = 15, phascor = 21, patrefscan = 22, patrefandimascan = 23,
              reflect = 24, noiseadjscan = 25, firstscaninslice = 28, lastscaninslice = 29;
}
inline bool bit(std::uint64_t mask, int b) { return (mask >> b) & 1u; }

template <class T>
T load(const std::uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Byte offsets of the MDH fields that differ between the VD ScanHeader and the VB MDH.
struct mdh_layout {
  std::size_t header_bytes, eval, samples, channels, counters, cutoff, centre_column, centre_line, centre_partition,
      slice_data;
};
constexpr mdh_layout vd_layout{vd_scan_header_bytes, 40, 48, 50, 52, 80, 84, 96, 98, 100};
constexpr mdh_layout vb_layout{vb_mdh_bytes, 20, 28, 30, 32, 60, 64, 76, 78, 96};

// The raw scan fields the header derivation needs besides the acquisition itself.
struct scan_extra {
  std::uint16_t centre_line = 0, centre_partition = 0;
};

class parser {
 public:
  parser(const std::uint8_t* data, std::size_t size, std::string source)
      : d_(data), n_(size), src_(std::move(source)) {}

  bool is_vd() const { return n_ >= raid_header_bytes && load<std::uint32_t>(d_) < 10000 && raid_count() >= 1 &&
                              raid_count() <= raid_max_entries; }
  std::uint32_t raid_count() const { return load<std::uint32_t>(d_ + 4); }

  std::vector<twix_measurement_entry> entries() const {
    check(n_ >= raid_header_bytes, "file of ", n_, " bytes is too short for a twix header");
    std::vector<twix_measurement_entry> out;
    if (!is_vd()) {
      twix_measurement_entry e;
      e.length = n_;
      out.push_back(e);
      return out;
    }
    const std::size_t count = raid_count();
    check(n_ >= raid_header_bytes + count * raid_entry_bytes, "truncated multi-raid header (", count,
          " measurement entries need ", raid_header_bytes + count * raid_entry_bytes, " bytes, the file has ", n_,
          ")");
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint8_t* p = d_ + raid_header_bytes + i * raid_entry_bytes;
      twix_measurement_entry e;
      e.meas_id = load<std::uint32_t>(p);
      e.file_id = load<std::uint32_t>(p + 4);
      e.offset = load<std::uint64_t>(p + 8);
      e.length = load<std::uint64_t>(p + 16);
      e.protocol_name = c_string(p + 88, 64);
      out.push_back(std::move(e));
    }
    return out;
  }

  raw_dataset parse(int measurement) {
    const auto list = entries();
    const bool vd = is_vd();
    LARMOR_CHECK_ARG(measurement >= -1 && measurement < static_cast<int>(list.size()), "read_twix: ", src_,
                     ": measurement ", measurement, " requested, the file holds ", list.size(),
                     " (use -1 for the last)");
    const auto& e = list[measurement < 0 ? list.size() - 1 : static_cast<std::size_t>(measurement)];
    std::size_t begin = 0, end = n_;
    if (vd) {
      const std::size_t first = raid_header_bytes + list.size() * raid_entry_bytes;
      check(e.offset >= first && e.offset < n_, "measurement offset ", e.offset, " lies outside the file (",
            first, "..", n_, ")");
      begin = static_cast<std::size_t>(e.offset);
      if (e.length != 0) {
        check(e.length <= n_ - begin, "truncated file: the measurement at byte ", begin, " claims ", e.length,
              " bytes, ", n_ - begin, " follow");
        end = begin + static_cast<std::size_t>(e.length);
      }
    }
    raw_dataset raw;
    raw.source = src_;
    const std::size_t scans_begin = read_text_buffers(begin, end);
    std::vector<scan_extra> extra;
    read_scans(vd ? vd_layout : vb_layout, vd, scans_begin, end, raw, extra);
    raw.header = derive_header(raw, extra, e.protocol_name);
    return raw;
  }

 private:
  template <class... Parts>
  void check(bool ok, const Parts&... parts) const {
    if (!ok) throw DataError(detail::concat("read_twix: ", src_, ": ", parts...));
  }

  static std::string c_string(const std::uint8_t* p, std::size_t max) {
    std::size_t len = 0;
    while (len < max && p[len] != 0) ++len;
    return std::string(reinterpret_cast<const char*>(p), len);
  }

  // The measurement header: uint32 length, uint32 buffer count, (name\0, uint32 size, text) per buffer.
  // Returns the byte where the scans start.
  std::size_t read_text_buffers(std::size_t begin, std::size_t end) {
    check(end - begin >= 8, "truncated measurement header at byte ", begin);
    const std::size_t hdr_len = load<std::uint32_t>(d_ + begin), nbuf = load<std::uint32_t>(d_ + begin + 4);
    check(hdr_len >= 8 && hdr_len <= end - begin, "measurement header length ", hdr_len, " at byte ", begin,
          " does not fit the ", end - begin, " bytes of the measurement (truncated file?)");
    const std::size_t hdr_end = begin + hdr_len;
    check(nbuf <= 1024, "measurement header at byte ", begin, " claims ", nbuf, " text buffers");
    std::size_t p = begin + 8;
    for (std::size_t i = 0; i < nbuf; ++i) {
      std::size_t len = 0;
      while (p + len < hdr_end && len < 256 && d_[p + len] != 0) ++len;
      check(p + len < hdr_end && d_[p + len] == 0, "text buffer ", i, " at byte ", p,
            " has no NUL-terminated name inside the measurement header");
      const std::string name(reinterpret_cast<const char*>(d_ + p), len);
      p += len + 1;
      check(hdr_end - p >= 4, "truncated text buffer '", name, "' at byte ", p);
      const std::size_t size = load<std::uint32_t>(d_ + p);
      p += 4;
      check(size <= hdr_end - p, "text buffer '", name, "' at byte ", p, " claims ", size,
            " bytes, the measurement header has ", hdr_end - p, " left");
      buffers_[name] = std::string_view(reinterpret_cast<const char*>(d_ + p), size);
      p += size;
    }
    return hdr_end;
  }

  static std::uint64_t to_ismrmrd_flags(std::uint64_t m) {
    std::uint64_t f = 0;
    auto set = [&](bool on, acq_flag a) {
      if (on) f |= flag_bit(a);
    };
    set(bit(m, eval::noiseadjscan), acq_flag::is_noise_measurement);
    set(bit(m, eval::patrefscan) && !bit(m, eval::patrefandimascan), acq_flag::is_parallel_calibration);
    set(bit(m, eval::patrefandimascan), acq_flag::is_parallel_calibration_and_imaging);
    set(bit(m, eval::reflect), acq_flag::is_reverse);
    set(bit(m, eval::phascor), acq_flag::is_phasecorr_data);
    set(bit(m, eval::rtfeedback), acq_flag::is_rtfeedback_data);
    set(bit(m, eval::hpfeedback), acq_flag::is_hpfeedback_data);
    set(bit(m, eval::refphasestabscan) || bit(m, eval::phasestabscan), acq_flag::is_navigation_data);
    set(bit(m, eval::firstscaninslice), acq_flag::first_in_slice);
    set(bit(m, eval::lastscaninslice), acq_flag::last_in_slice);
    set(bit(m, eval::lastscaninmeas), acq_flag::last_in_measurement);
    return f;
  }

  // Header fields of one readout (the first MDH in VB) into an acquisition without data.
  static acquisition header_fields(const std::uint8_t* h, const mdh_layout& L, scan_extra& x) {
    acquisition a;
    a.scan_counter = load<std::uint32_t>(h + 8);
    // ulTimeStamp and ulPMUTimeStamp (2.5 ms ticks), at the same offsets in the VB MDH and the VD ScanHeader
    a.acquisition_time_stamp = load<std::uint32_t>(h + 12);
    a.physiology_time_stamp[0] = load<std::uint32_t>(h + 16);
    a.flags = to_ismrmrd_flags(load<std::uint64_t>(h + L.eval));
    const std::uint8_t* c = h + L.counters;
    auto counter = [&](int i) { return load<std::uint16_t>(c + 2 * i); };
    a.idx.kspace_encode_step_1 = counter(0);
    a.idx.average = counter(1);
    a.idx.slice = counter(2);
    a.idx.kspace_encode_step_2 = counter(3);
    a.idx.contrast = counter(4);
    a.idx.phase = counter(5);
    a.idx.repetition = counter(6);
    a.idx.set = counter(7);
    a.idx.segment = counter(8);
    a.discard_pre = load<std::uint16_t>(h + L.cutoff);
    a.discard_post = load<std::uint16_t>(h + L.cutoff + 2);
    a.center_sample = load<std::uint16_t>(h + L.centre_column);
    x.centre_line = load<std::uint16_t>(h + L.centre_line);
    x.centre_partition = load<std::uint16_t>(h + L.centre_partition);
    const std::uint8_t* s = h + L.slice_data;
    for (int i = 0; i < 3; ++i) {
      const float v = load<float>(s + 4 * i);
      a.position[static_cast<std::size_t>(i)] = std::isfinite(v) ? v : 0.f;
    }
    // Siemens stores (w, x, y, z); ISMRMRD's quaternion_to_directions takes (x, y, z, w) and, as in
    // siemens_to_ismrmrd, its first column is the phase direction and the second the readout.
    float q[4];
    for (int i = 0; i < 4; ++i) q[i] = load<float>(s + 12 + 4 * i);
    const bool valid = std::isfinite(q[0]) && std::isfinite(q[1]) && std::isfinite(q[2]) && std::isfinite(q[3]) &&
                       std::abs(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3] - 1.f) < 1e-3f;
    if (valid) {
      const float qa = q[1], qb = q[2], qc = q[3], qd = q[0];
      a.phase_dir = {1 - 2 * (qb * qb + qc * qc), 2 * (qa * qb + qc * qd), 2 * (qa * qc - qb * qd)};
      a.read_dir = {2 * (qa * qb - qc * qd), 1 - 2 * (qa * qa + qc * qc), 2 * (qb * qc + qa * qd)};
      a.slice_dir = {2 * (qa * qc + qb * qd), 2 * (qb * qc - qa * qd), 1 - 2 * (qa * qa + qb * qb)};
    }
    return a;
  }

  void read_scans(const mdh_layout& L, bool vd, std::size_t pos, std::size_t end, raw_dataset& raw,
                  std::vector<scan_extra>& extra) {
    for (;;) {
      check(pos != end, "the measurement ends at byte ", pos, " without an ACQEND scan (truncated file?)");
      check(end - pos >= L.header_bytes, "truncated scan header at byte ", pos, " (", L.header_bytes,
            " bytes needed, ", end - pos, " left)");
      const std::uint8_t* h = d_ + pos;
      const std::uint64_t mask = load<std::uint64_t>(h + L.eval);
      if (bit(mask, eval::acqend)) return;
      if (bit(mask, eval::syncdata)) {
        const std::size_t dma = load<std::uint32_t>(h) & dma_length_mask;
        check(dma >= L.header_bytes && dma <= end - pos, "sync data at byte ", pos, " has length ", dma,
              ", outside ", L.header_bytes, "..", end - pos, " (truncated file?)");
        pos += dma;
        continue;
      }
      const std::size_t ns = load<std::uint16_t>(h + L.samples), nc = load<std::uint16_t>(h + L.channels);
      const std::size_t sample_bytes = 8 * ns;
      const std::size_t per_channel = (vd ? vd_channel_header_bytes : vb_mdh_bytes) + sample_bytes;
      const std::size_t total = vd ? L.header_bytes + nc * per_channel : nc * per_channel;
      check(vd || nc >= 1, "scan at byte ", pos, " has no channels");
      check(total <= end - pos, "truncated scan at byte ", pos, " (", total, " bytes needed for ", nc,
            " channels x ", ns, " samples, ", end - pos, " left)");
      scan_extra x;
      acquisition a = header_fields(h, L, x);
      a.data = array<cfloat, 2>(extents<2>{static_cast<index_t>(nc), static_cast<index_t>(ns)}, uninitialized);
      const std::size_t first = vd ? L.header_bytes + vd_channel_header_bytes : vb_mdh_bytes;
      for (std::size_t c = 0; c < nc; ++c)
        std::memcpy(a.data.data() + c * ns, h + first + c * per_channel, sample_bytes);
      raw.acquisitions.push_back(std::move(a));
      extra.push_back(x);
      pos += total;
    }
  }

  // ASCCONV "key = value" of the MeasYaps buffer (the value string as written, quotes stripped).
  std::optional<std::string> yaps(const std::string& key) {
    if (!yaps_parsed_) {
      yaps_parsed_ = true;
      const auto it = buffers_.find("MeasYaps");
      if (it != buffers_.end()) {
        std::string_view t = it->second;
        while (!t.empty()) {
          const std::size_t nl = t.find('\n');
          std::string_view line = t.substr(0, nl);
          t = nl == std::string_view::npos ? std::string_view() : t.substr(nl + 1);
          const std::size_t eq = line.find('=');
          if (eq == std::string_view::npos || line.empty() || line.front() == '#') continue;
          yaps_.emplace(std::string(trim(line.substr(0, eq))), std::string(trim(line.substr(eq + 1))));
        }
      }
    }
    const auto it = yaps_.find(key);
    if (it == yaps_.end()) return std::nullopt;
    std::string v = it->second;
    if (!v.empty() && v.front() == '"') {
      const std::size_t last = v.find_last_of('"');
      v = v.substr(0, last == 0 ? v.size() : last);
      while (!v.empty() && v.front() == '"') v.erase(0, 1);
      while (!v.empty() && v.back() == '"') v.pop_back();
    }
    return v;
  }

  std::optional<double> yaps_number(const std::string& key) {
    const auto v = yaps(key);
    if (!v) return std::nullopt;
    return number(*v);
  }

  // The (last) number inside the braces of an XProtocol parameter <ParamXxx."name"> { ... } in a buffer.
  std::optional<double> xprotocol_number(const std::string& buffer, const std::string& name) const {
    const auto it = buffers_.find(buffer);
    if (it == buffers_.end()) return std::nullopt;
    const std::string_view t = it->second;
    const std::string tag = ".\"" + name + "\">";
    const std::size_t at = t.find(tag);
    if (at == std::string_view::npos) return std::nullopt;
    const std::size_t open = t.find('{', at + tag.size());
    if (open == std::string_view::npos) return std::nullopt;
    const std::size_t close = t.find('}', open);
    if (close == std::string_view::npos) return std::nullopt;
    std::optional<double> last;
    std::string_view body = t.substr(open + 1, close - open - 1);
    while (!body.empty()) {
      const std::size_t b = body.find_first_not_of(" \t\r\n");
      if (b == std::string_view::npos) break;
      body = body.substr(b);
      const std::size_t e = std::min(body.find_first_of(" \t\r\n"), body.size());
      if (const auto v = number(body.substr(0, e))) last = v;
      body = body.substr(e);
    }
    return last;
  }

  // The numbers inside the braces of an XProtocol parameter (a <Precision> n attribute skipped), in order.
  std::vector<double> xprotocol_numbers(const std::string& buffer, const std::string& name) const {
    std::vector<double> out;
    const auto it = buffers_.find(buffer);
    if (it == buffers_.end()) return out;
    const std::string_view t = it->second;
    const std::string tag = ".\"" + name + "\">";
    const std::size_t at = t.find(tag);
    if (at == std::string_view::npos) return out;
    const std::size_t open = t.find('{', at + tag.size());
    if (open == std::string_view::npos) return out;
    const std::size_t close = t.find('}', open);
    if (close == std::string_view::npos) return out;
    std::string_view body = t.substr(open + 1, close - open - 1);
    bool skip_next = false;
    while (!body.empty()) {
      const std::size_t b = body.find_first_not_of(" \t\r\n");
      if (b == std::string_view::npos) break;
      body = body.substr(b);
      const std::size_t e = std::min(body.find_first_of(" \t\r\n"), body.size());
      const std::string_view tok = body.substr(0, e);
      if (tok == "<Precision>") skip_next = true;
      else if (skip_next) skip_next = false;
      else if (const auto v = number(tok)) out.push_back(*v);
      body = body.substr(e);
    }
    return out;
  }

  // The first element of a protocol array: "name[0]" in MeasYaps (VB), else the XProtocol array "name" of the
  // Meas, Phoenix or Config buffer (VD/VE).
  std::optional<double> protocol_first(const std::string& name) {
    if (const auto v = yaps_number(name + "[0]")) return v;
    for (const char* buffer : {"Meas", "Phoenix", "Config"}) {
      const auto v = xprotocol_numbers(buffer, name);
      if (!v.empty()) return v.front();
    }
    return std::nullopt;
  }

  // EPI (twix has no trajectory field): echoes read with alternating polarity (REFLECT imaging lines) together
  // with PHASCOR navigators or the ramp-sampling regrid parameters of the protocol. The trapezoid is
  // alRegridRampupTime, alRegridFlattopTime, alRegridRampdownTime, alRegridDelaySamplesTime (us) and
  // sRXSPEC.alDwellTime (ns); an EPI without them gets trajectory "epi" and no trapezoid (refused downstream).
  void derive_epi(const raw_dataset& raw, encoding_header& h) {
    bool reflect = false, phascor = false;
    std::uint32_t samples = 0;
    for (const auto& a : raw.acquisitions) {
      if (a.has(acq_flag::is_phasecorr_data)) {
        phascor = true;
        continue;
      }
      if (a.has(acq_flag::is_noise_measurement) || !a.has(acq_flag::is_reverse)) continue;
      reflect = true;
      if (samples == 0) samples = static_cast<std::uint32_t>(a.samples());
    }
    const auto up = protocol_first("alRegridRampupTime"), flat = protocol_first("alRegridFlattopTime"),
               down = protocol_first("alRegridRampdownTime"), delay = protocol_first("alRegridDelaySamplesTime");
    const bool have = up && flat && down && *up >= 0 && *flat >= 0 && *down >= 0 && *up + *flat + *down > 0 &&
                      *up + *flat + *down < 1e6;
    if (!reflect || (!phascor && !have)) return;
    h.trajectory = "epi";
    if (!have) return;
    epi_trapezoid g;
    g.ramp_up_us = static_cast<float>(*up);
    g.flat_top_us = static_cast<float>(*flat);
    g.ramp_down_us = static_cast<float>(*down);
    g.acq_delay_us = static_cast<float>(delay && *delay >= 0 && *delay < 1e6 ? *delay : 0);
    if (const auto dwell = in_range(yaps_number("sRXSPEC.alDwellTime[0]"), 1, 100000000))
      g.dwell_us = static_cast<float>(static_cast<double>(*dwell) / 1000.0);
    else if (const auto adc = protocol_first("aflRegridADCDuration"); adc && *adc > 0 && samples > 0)
      g.dwell_us = static_cast<float>(*adc / samples);
    g.samples = samples;
    if (const auto mode = protocol_first("alRegridMode")) g.regrid_mode = static_cast<std::int32_t>(*mode);
    if (const auto es = yaps_number("sFastImaging.lEchoSpacing"); es && *es > 0 && *es < 1e6)
      g.echo_spacing_us = static_cast<float>(*es);
    h.epi = g;
  }

  static std::string_view trim(std::string_view s) {
    const std::size_t b = s.find_first_not_of(" \t\r");
    if (b == std::string_view::npos) return {};
    const std::size_t e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
  }

  static std::optional<double> number(std::string_view s) {
    s = trim(s);
    if (s.empty() || s.size() > 64) return std::nullopt;
    const std::string str(s);
    char* stop = nullptr;
    const bool hex = str.size() > 2 && str[0] == '0' && (str[1] == 'x' || str[1] == 'X');
    const double v = hex ? static_cast<double>(std::strtoll(str.c_str(), &stop, 16)) : std::strtod(str.c_str(), &stop);
    if (stop == str.c_str() || !std::isfinite(v)) return std::nullopt;
    return v;
  }

  // A protocol value as an integer in [lo, hi], or nothing.
  static std::optional<long> in_range(std::optional<double> v, long lo, long hi) {
    if (!v || *v < static_cast<double>(lo) || *v > static_cast<double>(hi)) return std::nullopt;
    return static_cast<long>(std::lround(*v));
  }

  encoding_header derive_header(raw_dataset& raw, const std::vector<scan_extra>& extra,
                                const std::string& entry_protocol) {
    encoding_header h;
    h.protocol_name = yaps("tProtocolName").value_or(entry_protocol);
    if (const auto b0 = yaps_number("sProtConsistencyInfo.flNominalB0"); b0 && *b0 > 0 && *b0 < 100)
      h.system_field_strength_T = static_cast<float>(*b0);
    h.accel_e1 = static_cast<std::uint16_t>(in_range(yaps_number("sPat.lAccelFactPE"), 1, 64).value_or(1));
    h.accel_e2 = static_cast<std::uint16_t>(in_range(yaps_number("sPat.lAccelFact3D"), 1, 64).value_or(1));
    const float dwell_us = static_cast<float>(
        in_range(yaps_number("sRXSPEC.alDwellTime[0]"), 1, 100000000).value_or(0) / 1000.0);
    // Multiband (docs/sms.md): the product sequences' sSliceAcceleration; the CMRR MB sequences leave it at 1 and
    // keep the factor in NMBSliceBands / alICEProgramPara[11] (shift [14]) -- read only for a CMRR sequence,
    // whose ICE parameters mean this; elsewhere the array means other things.
    h.multiband_factor =
        static_cast<std::uint16_t>(in_range(yaps_number("sSliceAcceleration.lMultiBandFactor"), 1, 64).value_or(1));
    h.multiband_fov_shift =
        static_cast<std::uint16_t>(in_range(yaps_number("sSliceAcceleration.lFOVShiftFactor"), 1, 64).value_or(1));
    if (h.multiband_factor == 1) {
      std::string seq = yaps("tSequenceFileName").value_or("");
      for (auto& ch : seq) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (seq.find("cmrr") != std::string::npos) {
        std::vector<double> ice;
        for (const char* buffer : {"Meas", "Phoenix", "Config"})
          if (ice.empty()) ice = xprotocol_numbers(buffer, "alICEProgramPara");
        const auto at = [&](std::size_t i) { return i < ice.size() ? std::optional<double>(ice[i]) : std::nullopt; };
        auto mb = in_range(xprotocol_number("Meas", "NMBSliceBands"), 1, 64);
        if (!mb) mb = in_range(at(11), 1, 64);
        h.multiband_factor = static_cast<std::uint16_t>(mb.value_or(1));
        if (h.multiband_factor > 1)
          h.multiband_fov_shift = static_cast<std::uint16_t>(in_range(at(14), 1, 64).value_or(1));
      }
    }

    // Matrix and limits from the k-space readouts (not noise, navigator, phase-correction or feedback).
    long nx = 0, max_lin = -1, min_lin = 65535, max_par = -1, min_par = 65535;
    long centre_line = 0, centre_par = 0, channels = 0;
    bool separate_ref = false, embedded_ref = false;
    std::set<std::tuple<int, int, int, int, int>> keys;
    std::array<std::pair<long, long>, 6> range;  // slice, contrast, phase, repetition, set, average
    range.fill({65535, -1});
    long max_segment = -1;
    double total_samples = 0;
    for (std::size_t i = 0; i < raw.acquisitions.size(); ++i) {
      auto& a = raw.acquisitions[i];
      a.sample_time_us = dwell_us;
      channels = std::max<long>(channels, a.channels());
      total_samples += static_cast<double>(a.data.size());
      if (a.has(acq_flag::is_noise_measurement) || a.is_auxiliary()) continue;
      const long ns = static_cast<long>(a.samples()) - a.discard_pre - a.discard_post;
      if (ns <= 0) continue;  // assemble_kspace names such a readout
      const long c = static_cast<long>(a.center_sample) - (a.has(acq_flag::is_reverse) ? a.discard_post : a.discard_pre);
      nx = std::max(nx, a.center_sample == 0 || c < 0 ? ns : 2 * std::max(c, ns - c));
      max_lin = std::max<long>(max_lin, a.idx.kspace_encode_step_1);
      min_lin = std::min<long>(min_lin, a.idx.kspace_encode_step_1);
      max_par = std::max<long>(max_par, a.idx.kspace_encode_step_2);
      min_par = std::min<long>(min_par, a.idx.kspace_encode_step_2);
      if (centre_line == 0) centre_line = extra[i].centre_line;
      if (centre_par == 0) centre_par = extra[i].centre_partition;
      separate_ref |= a.has(acq_flag::is_parallel_calibration);
      embedded_ref |= a.has(acq_flag::is_parallel_calibration_and_imaging);
      keys.emplace(a.idx.slice, a.idx.contrast, a.idx.phase, a.idx.repetition, a.idx.set);
      const long v[6] = {a.idx.slice, a.idx.contrast, a.idx.phase, a.idx.repetition, a.idx.set, a.idx.average};
      for (std::size_t k = 0; k < 6; ++k) range[k] = {std::min(range[k].first, v[k]), std::max(range[k].second, v[k])};
      max_segment = std::max<long>(max_segment, a.idx.segment);
    }
    h.receiver_channels = static_cast<std::uint16_t>(channels);
    h.calibration_mode = embedded_ref ? "embedded" : separate_ref ? "separate" : "";
    derive_epi(raw, h);
    if (max_lin < 0) {  // no k-space readouts at all (noise only): a header that names no matrix
      h.encoded_matrix = h.recon_matrix = {1, 1, 1};
      return h;
    }
    long ny = max_lin + 1;
    if (centre_line > 0) ny = std::max(ny, 2 * centre_line);
    else centre_line = ny / 2;
    long nz = 1;
    if (max_par > 0 || centre_par > 0) {
      nz = max_par + 1;
      if (centre_par > 0) nz = std::max(nz, 2 * centre_par);
      else centre_par = nz / 2;
    }
    check(nx <= 65535 && ny <= 65535 && nz <= 65535, "encoded matrix ", nx, " x ", ny, " x ", nz,
          " from the scan counters exceeds 65535");
    // Corrupt counters must not make the Cartesian chain allocate far more than the data present.
    const double buffer_points = static_cast<double>(keys.size()) * static_cast<double>(std::max<long>(channels, 1)) *
                                 static_cast<double>(nx) * static_cast<double>(ny) * static_cast<double>(nz);
    check(buffer_points <= std::max(double(1 << 20), 64 * total_samples), "encoded matrix ", nx, " x ", ny, " x ",
          nz, " with ", channels, " channels in ", keys.size(),
          " image(s) is implausibly large for the data present (corrupt scan counters?)");
    h.encoded_matrix = {static_cast<std::uint16_t>(nx), static_cast<std::uint16_t>(ny), static_cast<std::uint16_t>(nz)};
    h.e1 = limit{static_cast<std::uint16_t>(min_lin), static_cast<std::uint16_t>(max_lin),
                 static_cast<std::uint16_t>(centre_line)};
    if (nz > 1)
      h.e2 = limit{static_cast<std::uint16_t>(min_par), static_cast<std::uint16_t>(max_par),
                   static_cast<std::uint16_t>(centre_par)};
    auto lim = [](const std::pair<long, long>& r) {
      return limit{static_cast<std::uint16_t>(r.first), static_cast<std::uint16_t>(r.second), 0};
    };
    h.slice = lim(range[0]);
    h.contrast = lim(range[1]);
    h.phase = lim(range[2]);
    h.repetition = lim(range[3]);
    h.set = lim(range[4]);
    h.average = lim(range[5]);
    h.segment = limit{0, static_cast<std::uint16_t>(max_segment), 0};

    // Readout oversampling as the ISMRMRD converters describe it: encoded FOV = OS x readout FOV.
    double os = 1;
    for (const char* buffer : {"Meas", "Config"})
      if (const auto v = xprotocol_number(buffer, "flReadoutOSFactor")) {
        if (*v >= 1 && *v <= 8) os = *v;
        break;
      }
    const long rx = std::max<long>(1, std::lround(static_cast<double>(nx) / os));
    const auto fov = [&](const std::string& key, double fallback) {
      const auto v = yaps_number(key);
      return static_cast<float>(v && *v > 0 && *v < 1e5 ? *v : fallback);
    };
    const float fov_x = fov("sSliceArray.asSlice[0].dReadoutFOV", static_cast<double>(rx));
    const float fov_y = fov("sSliceArray.asSlice[0].dPhaseFOV", static_cast<double>(ny));
    const float fov_z = fov("sSliceArray.asSlice[0].dThickness", static_cast<double>(nz));
    h.encoded_fov_mm = {static_cast<float>(fov_x * static_cast<double>(nx) / static_cast<double>(rx)), fov_y, fov_z};
    h.recon_fov_mm = {fov_x, fov_y, fov_z};
    h.recon_matrix = {static_cast<std::uint16_t>(rx), static_cast<std::uint16_t>(ny), static_cast<std::uint16_t>(nz)};
    return h;
  }

  const std::uint8_t* d_;
  std::size_t n_;
  std::string src_;
  std::map<std::string, std::string_view> buffers_;
  std::map<std::string, std::string> yaps_;
  bool yaps_parsed_ = false;
};

std::vector<std::uint8_t> read_file(const std::string& path) {
  std::error_code ec;
  LARMOR_CHECK_DATA(std::filesystem::exists(path, ec), "read_twix: ", path, ": no such file");
  LARMOR_CHECK_DATA(!std::filesystem::is_directory(path, ec), "read_twix: ", path, ": is a directory");
  std::ifstream f(path, std::ios::binary);
  LARMOR_CHECK_DATA(f.good(), "read_twix: ", path, ": cannot open the file");
  f.seekg(0, std::ios::end);
  const std::streamoff size = f.tellg();
  LARMOR_CHECK_DATA(size >= 0, "read_twix: ", path, ": cannot determine the file size");
  f.seekg(0, std::ios::beg);
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  if (size > 0) f.read(reinterpret_cast<char*>(bytes.data()), size);
  LARMOR_CHECK_DATA(f.good() || size == 0, "read_twix: ", path, ": read error");
  return bytes;
}

}  // namespace

raw_dataset parse_twix(const std::uint8_t* data, std::size_t size, int measurement, const std::string& source) {
  LARMOR_CHECK_ARG(data != nullptr || size == 0, "parse_twix: null data pointer with size ", size);
  LARMOR_CHECK_DATA(size > 0, "read_twix: ", source, ": the file is empty");
  return parser(data, size, source).parse(measurement);
}

raw_dataset read_twix(const std::string& path, int measurement) {
  const auto bytes = read_file(path);
  return parse_twix(bytes.data(), bytes.size(), measurement, path);
}

std::vector<twix_measurement_entry> list_twix_measurements(const std::uint8_t* data, std::size_t size,
                                                           const std::string& source) {
  LARMOR_CHECK_DATA(data != nullptr && size > 0, "read_twix: ", source, ": the file is empty");
  return parser(data, size, source).entries();
}

bool looks_like_twix(const std::uint8_t* data, std::size_t size) {
  if (data == nullptr || size < 16) return false;
  const std::uint32_t a = load<std::uint32_t>(data), b = load<std::uint32_t>(data + 4);
  if (a < 10000 && b >= 1 && b <= raid_max_entries) {  // VD multi-raid: the first entry's offset is past the table
    if (size < raid_header_bytes + raid_entry_bytes) return false;
    const std::uint64_t off = load<std::uint64_t>(data + raid_header_bytes + 8);
    return off >= raid_header_bytes + b * raid_entry_bytes;
  }
  // VB: header length, buffer count, then a printable NUL-terminated buffer name ("Config", "Meas", ...).
  if (a < 8 || b < 1 || b > 1024) return false;
  std::size_t len = 0;
  while (8 + len < size && len < 64 && data[8 + len] >= 0x20 && data[8 + len] < 0x7f) ++len;
  return len >= 1 && 8 + len < size && data[8 + len] == 0;
}

bool is_twix_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::uint8_t head[256] = {};
  f.read(reinterpret_cast<char*>(head), sizeof(head));
  return looks_like_twix(head, static_cast<std::size_t>(f.gcount()));
}

}  // namespace larmor::io
