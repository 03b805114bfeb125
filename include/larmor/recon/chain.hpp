// larmor/recon/chain.hpp — the Cartesian reconstruction chain: raw data -> images.
//
//   1. assemble_kspace (kspace_assembly.hpp): readouts -> k-space buffers per slice/contrast/phase/
//      repetition/set, calibration buffers, noise matrix; readout oversampling removed.
//   2. Noise pre-whitening (coils/noise.hpp) of every buffer when noise scans are present
//      (recon_options::prewhiten; scale convention recon_options::noise).
//   3. A reconstruction method per buffer, chosen by name from a registry: it takes the buffer's
//      k-space (coils, z, y, x), its calibration buffer (the buffer's own loop indices, else the slice's
//      first calibration buffer: one ACS scan serves all contrasts of a slice) and the header, and returns
//      the complex image (z, y, x). Each method is described once where it is registered
//      (method_description: its function, where partial Fourier runs for it, whether automatic coil
//      compression suits it, what it needs): the built-in "rss", "walsh", "inati", "espirit", the
//      parallel-imaging methods "grappa", "sense", "cgsense" (recon/pi_methods.hpp) and compressed sensing
//      "cs" (recon/cs_method.hpp) in src/recon/builtin_methods.cpp; further methods with
//      register_recon_method. No layer below recon/ knows a method's name. Methods keep state (maps, GRAPPA kernels and weights) in method_input::state,
//      one per slice + calibration buffer + method: estimated once, reused by every contrast, phase,
//      repetition and set of the slice.
//      "auto" decides per buffer (detail::auto_method): fully sampled -> "espirit"; a regular lattice with
//      ACS -> "grappa"; an irregular mask (variable density, Poisson disc) -> "cs"; each new choice is
//      reported once. Long steps of 3D buffers report their progress in quarters. Coil compression
//      (coils/chain_compression.hpp) to virtual coils, one per slice + calibration, runs before the
//      method: automatic above 32 coils for the methods that combine with maps (their description says
//      so), a fixed count for every method, or off (recon_options::compression, `--compress`).
//      Partial Fourier (y, z, and the readout for an asymmetric echo), detected per buffer from the data
//      (partial_fourier_request.hpp), is reconstructed with recon_options::partial_fourier (POCS by
//      default) where the method's description puts it: on the coils' k-space before the method, inside
//      it (GRAPPA: after its fill), or on its image.
//   4. The recon matrix per axis: central crop, or zero-padding interpolation when it is larger than the
//      encoded one (recon_matrix.hpp); the magnitude, and the complex image when the output type is
//      not magnitude; geometry from the buffer's first readout -> io::image_record.
//   g-factor maps (recon_options::gfactor_sink): the methods that know their noise amplification in closed
//      form write it once per slice + calibration + method + lattice (grappa: from its unmixing weights and
//      maps, Breuer 2009; sense and cgsense: Pruessmann 1999's formula on their maps, the limit CG-SENSE
//      converges to), brought to the recon matrix like the images, series_index 2, the loop indices of the
//      first image made with it. cs (non-linear) has none: recon/pseudo_replica.hpp measures it.
//   Intensity normalisation (recon_options::normalize): the receive field of coils/receive_field.hpp,
//      estimated once per slice + calibration from the pre-whitened k-space centre (the calibration buffer when
//      there is one), divides the method's image; the unnormalised image goes to unnormalized_sink when set
//      (series_index 4). "body": relative to the scan's body-coil channel (io::body_coil_channel: a coil
//      label naming the body coil), which is then left out of the array's reconstruction; refused without
//      one. "coils": from the array alone. "auto": body when the scan has one, else coils.
//   B0 field maps (recon_options::fieldmap_sink): a scan with two or more echoes (contrasts) and their echo
//      times in the header (sequenceParameters TE) gets, per slice/phase/repetition/set, the field map in Hz
//      of fieldmap/b0_map.hpp from its echoes' complex images (combined with the same maps, so the coils'
//      phase cancels), once its last echo is made; series_index 3, image type real (Hz, signed).
// recon_session (recon_session.hpp) runs the four steps as readouts arrive, each buffer as soon as it is
// complete; recon(raw) and recon_file run through it. recon(assembled_kspace&&, header) here starts at
// step 2 on buffers a kspace_assembler has finished. Pre-whitening is in place, and each buffer is freed
// once its image is made.
// Progress is reported through an optional callback (the CLI prints it); the library never prints.
// The non-template parts (built-in methods, buffer_reconstructor::reconstruct, recon) are compiled once in
// src/recon/ (library larmor_recon, linked by larmor::larmor): they reach every algorithm of the library.
#pragma once

#include <any>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "larmor/coils/chain_compression.hpp"
#include "larmor/coils/noise.hpp"
#include "larmor/io/image_record.hpp"
#include "larmor/assembly/kspace_assembly.hpp"
#include "larmor/recon/partial_fourier_request.hpp"

namespace larmor {

// What a method sees of one buffer.
struct method_input {
  const array<cfloat, 4>& kspace;            // (coils, z, y, x), pre-whitened
  const array<cfloat, 4>* calibration;       // separate/interleaved calibration, same shape, or nullptr
  const io::encoding_header& header;
  index_t acceleration_y, acceleration_z;
  std::any* state = nullptr;  // per slice and calibration and method: what a method wants to reuse
  // Partial Fourier to be handled inside the method (grappa: after the k-space fill, before the
  // combination), or nullptr. The chain handles it for every other method (partial_fourier_request.hpp).
  const partial_fourier_request* partial_fourier = nullptr;
  float lambda = 0;  // regularisation of methods that take one ("cs": l1-wavelet lambda); 0: the method's default
  // Progress of a long step (3D maps, GRAPPA weights): progress_for("what") gives the callback for it,
  // or an empty one when nobody listens.
  std::function<progress_fn(const std::string&)> progress_for;
  // Called at most once by a method that has read all it needs of `calibration` in this call (grappa:
  // after its kernel and ESPIRiT's calibration block, before the maps): the owner may free the buffer then
  // (recon_session does for a slice's last image: a 3D recon's peak holds one coil k-space less). Empty
  // when the owner keeps it.
  std::function<void()> release_calibration;
  // Non-null when the chain wants this buffer's g-factor map (z, y, x) on the encoded matrix: a method that
  // knows it fills it (see step "g-factor maps" above); others leave it empty.
  array<float, 3>* gfactor = nullptr;
};
using recon_method = std::function<array<cfloat, 3>(const method_input&)>;

// Where the chain runs partial Fourier (partial_fourier_request.hpp) for a method.
enum class partial_fourier_stage {
  coil_kspace,  // on the coils' k-space before the method: methods that combine coil images of full k-space
  inside,       // handed to the method (method_input::partial_fourier): GRAPPA, after its fill
  image,        // on the method's complex image: model-based methods (SENSE, CG-SENSE, CS)
};

// One reconstruction method, described once: its function and what the chain must know of it.
struct method_description {
  recon_method run;
  partial_fourier_stage partial_fourier = partial_fourier_stage::image;
  bool combines_with_maps = false;  // automatic coil compression suits it (coils/chain_compression.hpp)
  std::string needs;                // what it needs of the data and its defaults, in words (docs, `--help`)
};

namespace detail {

inline std::map<std::string, method_description>& method_registry() {
  static std::map<std::string, method_description> r;
  return r;
}
inline std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

// Fills the registry with the built-in methods (once). Compiled in src/recon/builtin_methods.cpp (the
// larmor_recon library): it is where every method's code is instantiated, once for the whole program,
// instead of in every translation unit that includes this header.
void register_builtin_methods();

}  // namespace detail

// Adds (or replaces) a reconstruction method under `name`.
inline void register_recon_method(const std::string& name, method_description d) {
  LARMOR_CHECK_ARG(static_cast<bool>(d.run), "register_recon_method: method '", name, "' has no function");
  LARMOR_CHECK_ARG(!name.empty() && name != "auto", "register_recon_method: '", name, "' cannot name a method");
  std::lock_guard<std::mutex> lock(detail::registry_mutex());
  detail::register_builtin_methods();
  detail::method_registry()[name] = std::move(d);
}
// A method that returns its image from the buffer alone: partial Fourier on its image, no automatic compression.
inline void register_recon_method(const std::string& name, recon_method m) {
  method_description d;
  d.run = std::move(m);
  register_recon_method(name, std::move(d));
}

// The description of a registered method (InvalidArgument for an unknown name).
inline method_description recon_method_description(const std::string& name) {
  std::lock_guard<std::mutex> lock(detail::registry_mutex());
  detail::register_builtin_methods();
  const auto& r = detail::method_registry();
  const auto it = r.find(name);
  LARMOR_CHECK_ARG(it != r.end(), "recon: unknown method '", name, "'");
  return it->second;
}

// The names accepted by recon (besides "auto").
inline std::vector<std::string> recon_methods() {
  std::lock_guard<std::mutex> lock(detail::registry_mutex());
  detail::register_builtin_methods();
  std::vector<std::string> names;
  for (const auto& [n, m] : detail::method_registry()) names.push_back(n);
  return names;
}

struct recon_options {
  std::string method = "auto";
  bool prewhiten = true;                 // when noise scans are present
  prewhitener_options noise;             // scale convention (BART's unit variance by default)
  partial_fourier_options partial_fourier;  // POCS by default; method zero = zero filled
  io::image_type output = io::image_type::magnitude;  // what image_record::type says (complex kept if not magnitude)
  float lambda = 0;                      // regularisation of "cs" (l1-wavelet, BART's -r); 0: its default
  // Coil compression after pre-whitening (coils/chain_compression.hpp): automatic (more than 32 coils, the
  // methods that combine with maps: espirit, sense, cgsense, cs), a fixed count for every method, or off.
  coil_compression_options compression;
  // Only these slices (their imaging and calibration readouts; noise scans always): one task of a file
  // split per slice (larmor.batch). Empty: every slice.
  std::vector<std::uint16_t> slices;
  // The most bytes of k-space a streaming session holds at once (open buffers and those waiting for the
  // end of the scan); 0 = this machine's physical memory. Beyond it a readout is refused (DataError).
  double kspace_budget_bytes = 0;
  std::function<void(const std::string&)> progress;  // optional progress messages
  // g-factor maps of the parallel-imaging methods, as they are made (see the top of the file); none when empty.
  std::function<void(io::image_record&&)> gfactor_sink;
  // B0 field maps (Hz) of multi-echo scans, as each completes (see the top of the file); none when empty.
  std::function<void(io::image_record&&)> fieldmap_sink;
  // Receive-field (intensity) normalisation: "off", "auto", "coils" or "body" (see the top of the file), and
  // where the unnormalised images go meanwhile (none when empty).
  std::string normalize = "off";
  std::function<void(io::image_record&&)> unnormalized_sink;
};

struct recon_result {
  std::vector<io::image_record> images;
  std::string method;  // the method that ran ("auto" resolved; several joined by "+" when auto chose per buffer)
};

namespace detail {

inline void check_recon_method(const std::string& method) {
  const auto names = recon_methods();
  LARMOR_CHECK_ARG(method == "auto" || std::find(names.begin(), names.end(), method) != names.end(),
                   "recon: unknown method '", method, "'");
}

// Whether the chain takes readout a under recon_options::slices (noise scans serve every slice).
inline bool selected_readout(const recon_options& opt, const io::acquisition& a) {
  return opt.slices.empty() || a.has(io::acq_flag::is_noise_measurement) ||
         std::find(opt.slices.begin(), opt.slices.end(), a.idx.slice) != opt.slices.end();
}

}  // namespace detail

namespace detail {

// The prewhitening matrix of the chain from the noise readouts (coils, samples), with the dwell times
// for the SNR-unit scale.
inline array<cfloat, 2> chain_prewhitener(const array<cfloat, 2>& noise, const assembled_kspace& kd,
                                          const recon_options& opt) {
  prewhitener_options po = opt.noise;
  if (po.scaling == noise_scaling::snr_units && kd.noise_dwell_us > 0 && kd.acquisition_dwell_us > 0) {
    po.noise_dwell = kd.noise_dwell_us;
    po.acquisition_dwell = kd.acquisition_dwell_us;
  }
  return noise_prewhitener(noise.cview(), po);
}

// Steps 3-4 for one buffer after another: the method per buffer ("auto" decides per buffer and says each
// new choice once), what methods keep per slice + calibration (maps, GRAPPA kernels and unmixing weights:
// estimated once, reused by every contrast and repetition of the slice), partial Fourier, the recon matrix,
// the image record. Used by recon(assembled_kspace&&) and by recon_session.
class buffer_reconstructor {
 public:
  buffer_reconstructor(const io::encoding_header& h, const recon_options& opt) : h_(h), opt_(opt) {
    check_recon_method(opt.method);
  }

  // Called before every long step and between quarters of it; may throw to stop the work (cancel).
  std::function<void()> checkpoint;

  // The image of buffer b (its k-space is freed), numbered image_index. cal: its calibration (or none),
  // whose loop indices cal_key says (what the kept maps, kernels and compression are made from, so they
  // are found again for the slice's other buffers; never the buffer's address, which a later buffer may
  // reuse). release_calibration: see method_input (passed on to the method).
  io::image_record reconstruct(kspace_buffer& b, const array<cfloat, 4>* cal, std::optional<buffer_key> cal_key,
                               index_t acceleration_y, index_t acceleration_z, std::uint16_t image_index,
                               std::function<void()> release_calibration = {});

  // Drops what methods, coil compression and the normalisation keep for `slice` (maps, kernels, weights, the
  // receive field): the slice is done.
  void forget_slice(std::uint16_t slice) {
    for (auto it = states_.begin(); it != states_.end();)
      it = std::get<0>(it->first) == slice ? states_.erase(it) : std::next(it);
    for (auto it = compressions_.begin(); it != compressions_.end();)
      it = std::get<0>(it->first) == slice ? compressions_.erase(it) : std::next(it);
    for (auto it = fields_.begin(); it != fields_.end();)
      it = std::get<0>(it->first) == slice ? fields_.erase(it) : std::next(it);
  }

  // The methods that ran, joined by "+" in the order first used.
  std::string methods() const {
    std::string m;
    for (const auto& c : chosen_) m += (m.empty() ? "" : "+") + c;
    return m;
  }

  void say(const std::string& s) const {
    if (opt_.progress) opt_.progress(s);
  }

 private:
  io::encoding_header h_;
  recon_options opt_;
  // Kept per (slice, calibration loop indices (none: made from the slice's first buffer), method).
  std::map<std::tuple<std::uint16_t, std::optional<buffer_key>, std::string>, std::any> states_;
  std::vector<std::string> chosen_;
  std::string said_pf_, said_cc_;
  std::map<std::tuple<std::uint16_t, std::optional<buffer_key>>, std::optional<chain_compression>> compressions_;
  // g-factor maps written: (slice, calibration, method, ry, rz, shift)
  std::set<std::tuple<std::uint16_t, std::optional<buffer_key>, std::string, index_t, index_t, index_t>> gfactors_;
  bool said_gfactor_ = false;
  // The echoes' complex images waiting for the field map: (slice, phase, repetition, set) -> per contrast.
  std::map<std::tuple<std::uint16_t, std::uint16_t, std::uint16_t, std::uint16_t>, std::map<std::uint16_t, array<cfloat, 3>>>
      echoes_;
  bool said_fieldmap_ = false;
  // Receive fields per (slice, calibration loop indices): the intensity normalisation's divisor.
  std::map<std::tuple<std::uint16_t, std::optional<buffer_key>>, array<float, 3>> fields_;
  // Field map step on one made image (complex, (z, y, x) on the encoded matrix).
  void collect_echo(const kspace_buffer& b, const array<cfloat, 3>& img, const std::string& method, bool volume,
                    std::uint16_t image_index);
};

// The loop indices under which `cal` is stored in `calibration` (none when cal is null or not there).
template <class Map>
std::optional<buffer_key> calibration_key_of(const Map& calibration, const array<cfloat, 4>* cal) {
  if (cal == nullptr) return std::nullopt;
  for (const auto& [k, c] : calibration)
    if (&c == cal) return k;
  return std::nullopt;
}

// A buffer's calibration: the exact loop indices (repetition 0), else the slice's first calibration
// buffer (one ACS scan serves every contrast, phase and set of its slice), else none.
template <class Map>
auto find_calibration(Map& calibration, const buffer_key& key) -> decltype(&calibration.begin()->second) {
  buffer_key ck = key;
  ck.repetition = 0;
  auto it = calibration.find(ck);
  if (it != calibration.end()) return &it->second;
  for (auto& [k, c] : calibration)
    if (k.slice == key.slice) return &c;
  return nullptr;
}

}  // namespace detail

// Steps 2-4 on k-space already assembled (kspace_assembler); the buffers are pre-whitened in place and
// released as soon as their image is made. h: the header they came from. recon_session (recon_session.hpp)
// runs the same steps on each buffer as soon as its readouts are complete.
recon_result recon(assembled_kspace&& kd, const io::encoding_header& h, const recon_options& opt = {});

}  // namespace larmor
