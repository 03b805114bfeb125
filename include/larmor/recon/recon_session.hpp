// larmor/recon/recon_session.hpp — streaming reconstruction: readouts in, in scan order; each image out as
// soon as the readouts of its buffer (slice, contrast, phase, repetition, set) are complete.
//
//   recon_session s(header, options, [](io::image_record&& img) { send(img); });
//   for (each readout the scanner delivers) s.push(std::move(readout));
//   s.finish();                                  // the buffers still open
//
// When a buffer is complete (the scan says so, or its counters moved on):
//   - an imaging readout flagged ACQ_LAST_IN_SLICE closes its buffer and the open buffers of the same
//     slice, repetition and set with a lower or equal contrast and phase (a multi-echo or cine scan flags
//     only the last readout of the slice's last echo / phase; scans that flag every echo close each one);
//   - ACQ_LAST_IN_REPETITION closes every open buffer of that repetition and earlier ones;
//   - an imaging readout of repetition r closes the open buffers of its slice with repetition < r (a time
//     series moved on);
//   - ACQ_LAST_IN_MEASUREMENT and finish() close everything.
// A closed buffer is reconstructed at once (recon.hpp's steps 2-4) unless its result could still change:
//   - calibrationMode "interleaved": the calibration is the union of all repetitions, known at the end;
//   - an accelerated scan (header acceleration > 1) whose slice has no calibration readouts yet: they may
//     still come (a reference scan acquired after the imaging lines);
// such buffers wait for finish(). Non-Cartesian scans (radial, spiral: recon/noncartesian_recon.hpp) are
// gridded and reconstructed (CG-SENSE) at finish(). Noise readouts pre-whiten every image; the prewhitening matrix is made
// when the first image is, and noise readouts after it are not used (counted: noise_readouts_ignored()).
// A slice's calibration is frozen when its first image is made; later calibration readouts of that slice
// are dropped (kspace_assembler::calibration_readouts_dropped()). recon_file and `larmor recon` run on
// this session: a file and a scanner stream give the same images in the same order (image_index counts
// the images in the order they are emitted; buffers closed together, and those left for finish(), in key
// order; after 65,535 images it starts again at 1: io::image_index_for. Nothing in the session depends on
// it being unique).
//
// Memory budget: the open k-space buffers plus those waiting for finish() may hold at most
// recon_options::kspace_budget_bytes (0: this machine's physical memory) at once; a readout that would
// open a buffer beyond it is refused with one DataError. Buffers count while they are held, not after
// their image is made, so a time series of any length streams through.
//
// Memory: the open buffers (k-space as recorded, oversampling included) plus what one reconstruction
// needs; each buffer is freed when its image is made. A sequential multi-slice scan holds one slice. What
// methods keep per slice (maps, GRAPPA weights) is dropped once the slice has made as many images as the
// encoding limits announce (contrasts x phases x repetitions x sets; a limit not given counts 1), and its
// calibration kept as its acquired lines only.
//
// Threads: push(), finish() and take_images() are called from one thread at a time (the feeding thread);
// the image sink and progress callback run on that thread, inside push()/finish(). cancel() may be
// called from any thread at any time: the feeding thread's current or next push()/finish() throws
// larmor::Cancelled within one buffer's step (long 3D steps check between blocks), and the session is
// then unusable. Different sessions are independent and may run concurrently.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "larmor/epi/epi_corrector.hpp"
#include "larmor/recon/noncartesian_recon.hpp"
#include "larmor/recon/chain.hpp"
#include "larmor/recon/multiband_stage.hpp"

namespace larmor {

// Thrown by a recon_session whose cancel() was called.
class Cancelled : public Error {
 public:
  using Error::Error;
};

class recon_session {
 public:
  using image_sink = std::function<void(io::image_record&&)>;

  // header: the scan's encoding (io::parse_ismrmrd_header for an ISMRMRD XML header); sink: receives each
  // image as it is made (none: images are queued for take_images()). source names the data in messages.
  recon_session(const io::encoding_header& header, const recon_options& opt = {}, image_sink sink = {},
                std::string source = "recon_session");

  // One readout, in scan order. Images whose buffers it completes are made before push returns.
  void push(io::acquisition&& a);
  void push(const io::acquisition& a) { push(io::acquisition(a)); }

  // The buffers still open, and those that waited: reconstructed in key order. The session is done after.
  void finish();

  // Stops the work from any thread: the feeding thread's push()/finish() throws larmor::Cancelled.
  void cancel() noexcept { cancelled_.store(true); }
  bool cancelled() const noexcept {
    return cancelled_.load() || (external_cancel_ != nullptr && external_cancel_->load());
  }
  // The same through a flag the caller owns (it must outlive the session): set it to cancel.
  void cancel_when(const std::atomic<bool>* flag) noexcept { external_cancel_ = flag; }

  // The images made so far that no sink took, in the order made; the queue is emptied.
  std::vector<io::image_record> take_images() { return std::exchange(queue_, {}); }

  // The methods that ran ("auto" resolved, several joined by "+").
  std::string method() const { return noncartesian_ ? std::string("cgsense (non-Cartesian)") : chain_->methods(); }
  const io::encoding_header& header() const { return header_; }
  index_t readouts_pushed() const { return pushed_; }
  // Buffers held: open (still receiving readouts) and complete ones waiting for finish().
  index_t open_buffer_count() const {
    if (!assembler_) return 0;
    return static_cast<index_t>(assembler_->open_buffers().size() + waiting_.size());
  }
  index_t images_made() const { return images_made_; }
  index_t noise_readouts_ignored() const { return ignored_noise_; }

 private:
  void check_cancelled() const {
    if (cancelled()) throw Cancelled("recon: " + source_ + ": cancelled");
  }
  void check_usable() const {
    check_cancelled();
    LARMOR_CHECK_ARG(!finished_, "recon_session: ", source_, ": push or finish after finish()");
  }

  static bool is_imaging(const io::acquisition& a) {
    using io::acq_flag;
    return !a.has(acq_flag::is_noise_measurement) && !a.is_auxiliary() &&
           (!a.has(acq_flag::is_parallel_calibration) || a.has(acq_flag::is_parallel_calibration_and_imaging));
  }

  void place(io::acquisition&& a);
  // A complete buffer: its image now, or at finish() when its calibration may still change.
  void close(const buffer_key& k);
  void hold_or_make(kspace_buffer&& b);
  // A multiband buffer's slices (multiband_stage), or the buffer itself.
  std::vector<kspace_buffer> separated(kspace_buffer&& b);
  bool has_calibration(const buffer_key& k) const;
  // The calibration of buffer k, frozen (finished, pre-whitened) the first time it is needed.
  const array<cfloat, 4>* calibration_for(const buffer_key& k);
  void freeze(const buffer_key& c);
  void make_image(kspace_buffer& b);
  // A slice with all its buffers made: its maps, kernels and weights are dropped and its calibration kept
  // only as its acquired lines, so a many-slice scan does not accumulate them. Should a buffer of the slice
  // still come (encoding limits that undercount), the calibration is restored and the maps recomputed: the
  // same image, later.
  void release_slice(std::uint16_t slice);

  // k (coils, z, y, x) -> its acquired (z, y) lines and their indices; restore() puts them back.
  struct compact_calibration {
    extents<4> shape{};
    std::vector<index_t> lines;  // z * ny + y
    std::vector<cfloat> samples; // (line, coil, x)
  };
  static compact_calibration compact_lines(const array<cfloat, 4>& k);
  static array<cfloat, 4> restore(const compact_calibration& c);

  recon_options opt_;
  image_sink sink_;
  std::string source_;
  io::encoding_header header_;
  std::optional<epi::epi_corrector> epi_;  // EPI: ramp regridding + Nyquist ghost correction before assembly
  std::optional<kspace_assembler> assembler_;
  std::optional<multiband_stage> multiband_;  // multiband scans: reference kept, slice groups separated
  std::optional<noncartesian_assembler> noncartesian_;  // radial, spiral: the whole scan, images at finish()
  std::optional<detail::buffer_reconstructor> chain_;
  std::map<buffer_key, array<cfloat, 4>> calibration_;  // frozen, pre-whitened; node addresses stable
  std::map<buffer_key, compact_calibration> released_calibration_;  // of slices with all buffers made
  std::map<std::uint16_t, index_t> made_per_slice_;
  index_t buffers_per_slice_ = 1;
  std::vector<kspace_buffer> waiting_;                  // complete, reconstructed at finish()
  double waiting_bytes_ = 0;                            // their k-space
  std::vector<io::image_record> queue_;
  array<cfloat, 2> whitener_;
  bool interleaved_ = false, accelerated_ = false, whitening_decided_ = false, finished_ = false;
  index_t pushed_ = 0, images_made_ = 0, ignored_noise_ = 0;
  std::atomic<bool> cancelled_{false};
  const std::atomic<bool>* external_cancel_ = nullptr;
};

// recon of a raw_dataset in memory through a session: the images in the order the session makes them.
recon_result recon(const io::raw_dataset& raw, const recon_options& opt = {});

}  // namespace larmor
