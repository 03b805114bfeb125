// `larmor recon` and `larmor info`: ISMRMRD or Siemens twix raw data -> ISMRMRD images (+ PNG preview),
// and a summary of what a raw file holds.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>

#include "cli/commands.hpp"
#include "larmor/coils/noise_statistics.hpp"
#include "larmor/io/dicom.hpp"
#include "larmor/io/dicom_store.hpp"
#include "larmor/io/ismrmrd.hpp"
#include "larmor/io/nifti.hpp"
#include "larmor/io/scan_information.hpp"
#include "larmor/io/twix.hpp"
#include "larmor/larmor.hpp"
#include "larmor/recon/recon.hpp"
#include "larmor/recon/recon_file.hpp"
#include "larmor/recon/recon_option_names.hpp"
#include "preview/png_preview.hpp"

namespace larmor::cli {

namespace {

// The middle partition of an image as a 2D view.
strided_view<const float, 2> middle_slice(const array<float, 3>& m) {
  const index_t z = m.shape(0) / 2;
  return strided_view<const float, 2>(m.data() + z * m.shape(1) * m.shape(2), extents<2>{m.shape(1), m.shape(2)});
}

}  // namespace

recon_result run_recon(const std::string& in, const std::string& out, const std::string& method,
                       const std::string& png, const std::string& noise_scaling_name, const std::string& group,
                       const std::string& output, const std::string& partial_fourier, float lambda,
                       const std::string& compress, double kspace_budget_mb,
                       std::vector<io::image_record>* gfactors, std::vector<io::image_record>* fieldmaps,
                       const std::string& normalize, std::vector<io::image_record>* unnormalized) {
  // The one parser of the chain's options (also Python's and the batch layer's).
  recon_options o =
      parse_recon_options({method, output, partial_fourier, noise_scaling_name, compress, lambda, {}, normalize});
  if (unnormalized) o.unnormalized_sink = [unnormalized](io::image_record&& r) { unnormalized->push_back(std::move(r)); };
  o.kspace_budget_bytes = kspace_budget_mb * 1024.0 * 1024.0;  // 0: the machine's memory
  o.progress = [](const std::string& s) { std::fprintf(stderr, "larmor: %s\n", s.c_str()); };
  if (gfactors) o.gfactor_sink = [gfactors](io::image_record&& r) { gfactors->push_back(std::move(r)); };
  if (fieldmaps) o.fieldmap_sink = [fieldmaps](io::image_record&& r) { fieldmaps->push_back(std::move(r)); };
  // ISMRMRD streamed into the k-space, never held whole; "-": an ISMRMRD stream on stdin.
  auto res = in == "-" ? recon_stream_input(o) : recon_file(in, o, group);
  if (!out.empty()) io::write_ismrmrd_images(out, res.images);
  if (!png.empty()) write_png_preview(png, middle_slice(res.images.front().magnitude));
  return res;
}

void add_recon_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("recon", "reconstruct an ISMRMRD raw-data file into ISMRMRD images");
  struct options {
    std::string in, out, method = "auto", png, noise = "unit", group = "dataset", output = "magnitude",
        partial_fourier = "pocs", compress = "auto", deprecated_output, format = "ismrmrd", dicom_send, gfactor,
        fieldmap, normalize = "off", unnormalized;
    int threads = 0;
    float lambda = 0;
    double budget_mb = 0;
  };
  auto opt = std::make_shared<options>();
  cmd->add_option("input", opt->in, "ISMRMRD raw data (.h5), Siemens twix (.dat), or - (an ISMRMRD stream on stdin)")
      ->required();
  cmd->add_option("-o,--out", opt->out, "ISMRMRD image file, DICOM directory or NIfTI file (.nii/.nii.gz) to write")
      ->required();
  cmd->add_option("--format", opt->format, "output: ismrmrd|dicom (-o DIR/)|nifti (-o out.nii.gz)")
      ->check(CLI::IsMember({"ismrmrd", "dicom", "nifti"}))
      ->capture_default_str();
  cmd->add_option("--dicom-send", opt->dicom_send,
                  "also store the DICOM series in a PACS by C-STORE: AE@HOST:PORT (with --format dicom)");
  std::string methods = "auto";
  for (const auto& m : recon_methods()) methods += "|" + m;
  cmd->add_option("--method", opt->method, "reconstruction: " + methods)->capture_default_str();
  cmd->add_option("--png", opt->png, "also write a PNG preview of the first image");
  cmd->add_option("--gfactor", opt->gfactor,
                  "also write the g-factor maps of grappa/sense/cgsense (one per slice and lattice) to this file or "
                  "directory, in --format");
  cmd->add_option("--normalize", opt->normalize,
                  "receive-field (intensity) normalisation: off|auto|coils|body (body: relative to the scan's body-coil "
                  "channel; coils: from the array alone; auto: body when there is one; docs/snr.md)")
      ->capture_default_str();
  cmd->add_option("--unnormalized", opt->unnormalized,
                  "with --normalize coils: also write the unnormalised images to this file or directory");
  cmd->add_option("--fieldmap", opt->fieldmap,
                  "also write the B0 field maps (Hz) of a multi-echo scan (echo times from the header) to this file "
                  "or directory, in --format");
  cmd->add_option("--noise-scaling", opt->noise,
                  "pre-whitening scale: unit (BART whiten) or snr (Gadgetron, SNR units)")
      ->capture_default_str();
  cmd->add_option("--dataset", opt->group, "HDF5 group of the raw data")->capture_default_str();
  cmd->add_option("--image-type", opt->output, "image type written: magnitude|complex|phase|real|imaginary")
      ->capture_default_str();
  // The old spelling (next to -o, the output *file*, it read as a second output name): still accepted for
  // one release, with a note on stderr.
  cmd->add_option("--output", opt->deprecated_output, "deprecated spelling of --image-type")->group("");
  cmd->add_option("--lambda", opt->lambda, "regularisation of --method cs (l1-wavelet, as BART's -r; 0: default)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--partial-fourier", opt->partial_fourier,
                  "partial Fourier / asymmetric echo: pocs|homodyne|zero (zero filled)")
      ->capture_default_str();
  cmd->add_option("--compress", opt->compress,
                  "coil compression: auto (above 32 coils, for espirit/sense/cgsense/cs), off, or N virtual coils")
      ->capture_default_str();
  cmd->add_option("--threads", opt->threads, "worker threads")->check(CLI::NonNegativeNumber);
  cmd->add_option("--kspace-budget-mb", opt->budget_mb,
                  "most k-space held at once while streaming, MiB (0: the machine's memory); beyond it: one error")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([opt] {
    if (opt->threads > 0) set_num_threads(opt->threads);
    if (!opt->deprecated_output.empty()) {
      std::fprintf(stderr, "larmor: --output is now --image-type (--output will be removed in the next release)\n");
      opt->output = opt->deprecated_output;
    }
    const bool ismrmrd = opt->format == "ismrmrd";
    LARMOR_CHECK_ARG(opt->dicom_send.empty() || opt->format == "dicom", "--dicom-send needs --format dicom");
    const auto destination = opt->dicom_send.empty() ? io::dicom_destination{}
                                                     : io::parse_dicom_destination(opt->dicom_send);
    {  // every output its own file
      const std::vector<std::string> outs{opt->out, opt->gfactor, opt->fieldmap, opt->unnormalized};
      for (std::size_t i = 0; i < outs.size(); ++i)
        for (std::size_t j = i + 1; j < outs.size(); ++j)
          LARMOR_CHECK_ARG(outs[i].empty() || outs[i] != outs[j], "-o, --gfactor, --fieldmap and --unnormalized must "
                           "name different files, got '", outs[i], "' twice");
    }
    LARMOR_CHECK_ARG(opt->unnormalized.empty() || opt->normalize != "off", "--unnormalized needs --normalize");
    std::vector<io::image_record> gfactors, fieldmaps, unnormalized;
    const auto res = run_recon(opt->in, ismrmrd ? opt->out : std::string(), opt->method, opt->png, opt->noise,
                               opt->group, opt->output, opt->partial_fourier, opt->lambda, opt->compress,
                               opt->budget_mb, opt->gfactor.empty() ? nullptr : &gfactors,
                               opt->fieldmap.empty() ? nullptr : &fieldmaps, opt->normalize,
                               opt->unnormalized.empty() ? nullptr : &unnormalized);
    // Patient, study and sequence from the ISMRMRD header (twix and stdin streams: none, the images alone).
    io::scan_information scan;
    if (!ismrmrd && opt->in != "-" && !is_twix_path(opt->in))
      scan = io::parse_scan_information(io::read_ismrmrd_header_xml(opt->in, opt->group), opt->in);
    // The maps derived beside the images, each to its own file in --format.
    const auto write_maps = [&](const std::vector<io::image_record>& maps, const std::string& path, const char* what) {
      if (path.empty()) return;
      if (maps.empty()) {
        std::fprintf(stderr, "larmor: no %s maps (see the messages above); %s not written\n", what, path.c_str());
        return;
      }
      if (ismrmrd) {
        io::write_ismrmrd_images(path, maps);
      } else if (opt->format == "dicom") {
        io::dicom_options d;
        d.method = std::string(what) + " " + res.method;
        io::write_dicom(maps, scan, path, d);
      } else {
        io::write_nifti(maps, scan, path);
      }
      std::fprintf(stderr, "larmor: %zu %s map(s) -> %s\n", maps.size(), what, path.c_str());
    };
    write_maps(gfactors, opt->gfactor, "g-factor");
    write_maps(fieldmaps, opt->fieldmap, "B0 field");
    write_maps(unnormalized, opt->unnormalized, "unnormalised image");
    if (!ismrmrd) {
      if (opt->format == "dicom") {
        io::dicom_options d;
        d.method = res.method;
        const auto series = io::write_dicom(res.images, scan, opt->out, d);
        std::size_t files = 0;
        for (const auto& s : series) files += s.files.size();
        std::fprintf(stderr, "larmor: %zu DICOM series, %zu files\n", series.size(), files);
        // Each series stored as soon as it is written; the files stay in -o whatever the PACS does.
        for (const auto& s : series)
          if (!opt->dicom_send.empty()) {
            io::dicom_store(s.files, destination,
                            [](const std::string& line) { std::fprintf(stderr, "larmor: %s\n", line.c_str()); });
            std::fprintf(stderr, "larmor: series %d stored in %s\n", s.series_number, opt->dicom_send.c_str());
          }
      } else {
        const auto files = io::write_nifti(res.images, scan, opt->out);
        for (const auto& f : files) std::fprintf(stderr, "larmor: NIfTI %s\n", f.c_str());
      }
    }
    std::fprintf(stderr, "larmor: %zu image(s), method %s -> %s\n", res.images.size(), res.method.c_str(),
                 opt->out.c_str());
  });
}

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "describe what an ISMRMRD raw-data file holds (read one readout at a time)");
  struct options {
    std::string in, group = "dataset";
  };
  auto opt = std::make_shared<options>();
  cmd->add_option("input", opt->in, "ISMRMRD raw data (.h5) or Siemens twix (.dat)")->required();
  cmd->add_option("--dataset", opt->group, "HDF5 group of the raw data")->capture_default_str();
  cmd->callback([opt] {
    // ISMRMRD is read one readout at a time and only counted: a 4 GiB scan is described in the memory of
    // one readout (non-Cartesian scans keep each readout's trajectory, not its samples, for the extent).
    io::encoding_header h;
    index_t noise = 0, calib = 0, skipped = 0, imaging = 0, channels = 0, readouts = 0;
    std::set<int> slices, contrasts, reps, sets, phases, averages;
    std::vector<io::acquisition> trajectories;
    noise_statistics_accumulator noise_stats;
    float noise_dwell_us = 0, imaging_dwell_us = 0;
    const auto count = [&](io::acquisition&& a) {
      ++readouts;
      channels = std::max(channels, a.channels());
      if (a.has(io::acq_flag::is_noise_measurement)) {
        ++noise;
        noise_dwell_us = a.sample_time_us;
        if (a.channels() >= 1 && a.samples() >= 1) noise_stats.add(a.data.cview());
        return;
      }
      if (a.is_auxiliary()) {
        ++skipped;
        return;
      }
      if (imaging_dwell_us == 0 && !a.has(io::acq_flag::is_parallel_calibration)) imaging_dwell_us = a.sample_time_us;
      if (a.has(io::acq_flag::is_parallel_calibration) || a.has(io::acq_flag::is_parallel_calibration_and_imaging))
        ++calib;
      if (!a.has(io::acq_flag::is_parallel_calibration) || a.has(io::acq_flag::is_parallel_calibration_and_imaging))
        ++imaging;
      slices.insert(a.idx.slice);
      contrasts.insert(a.idx.contrast);
      reps.insert(a.idx.repetition);
      sets.insert(a.idx.set);
      phases.insert(a.idx.phase);
      averages.insert(a.idx.average);
      if (is_noncartesian(h)) {  // its trajectory kept, its samples replaced by their shape only
        a.data = array<cfloat, 2>(extents<2>{1, a.samples()});
        trajectories.push_back(std::move(a));
      }
    };
    const auto ext = std::filesystem::path(opt->in).extension().string();
    if (ext == ".dat" || io::is_twix_file(opt->in)) {
      auto raw = io::read_twix(opt->in);
      h = raw.header;
      for (auto& a : raw.acquisitions) count(std::move(a));
    } else {
      io::read_ismrmrd(opt->in, opt->group, [&](const io::encoding_header& hh) { h = hh; }, count);
    }
    std::printf("file            %s\n", opt->in.c_str());
    if (!h.protocol_name.empty()) std::printf("protocol        %s\n", h.protocol_name.c_str());
    if (h.system_field_strength_T > 0) std::printf("field strength  %.2f T\n", h.system_field_strength_T);
    if (is_noncartesian(h))  // per-sample k-space positions: kind, extent and their (detected) units
      std::printf("trajectory      %s\n", describe_trajectory(h, trajectories).describe().c_str());
    else
      std::printf("trajectory      %s\n", h.trajectory.c_str());
    std::printf("coils           %td\n", channels);
    std::printf("encoded matrix  %u x %u x %u (FOV %.1f x %.1f x %.1f mm)\n", h.encoded_matrix[0],
                h.encoded_matrix[1], h.encoded_matrix[2], h.encoded_fov_mm[0], h.encoded_fov_mm[1],
                h.encoded_fov_mm[2]);
    std::printf("recon matrix    %u x %u x %u (FOV %.1f x %.1f x %.1f mm)\n", h.recon_matrix[0], h.recon_matrix[1],
                h.recon_matrix[2], h.recon_fov_mm[0], h.recon_fov_mm[1], h.recon_fov_mm[2]);
    if (h.e1)
      std::printf("e1 limits       %u..%u, centre %u\n", h.e1->minimum, h.e1->maximum, h.e1->center);
    if (h.e2) std::printf("e2 limits       %u..%u, centre %u\n", h.e2->minimum, h.e2->maximum, h.e2->center);
    std::printf("acceleration    %u x %u\n", h.accel_e1, h.accel_e2);
    std::printf("calibration     %s, %td lines\n", h.calibration_mode.empty() ? "none" : h.calibration_mode.c_str(),
                calib);
    std::printf("readouts        %td (%td imaging, %td noise, %td skipped)\n", readouts, imaging,
                noise, skipped);
    std::printf("slices %zu, contrasts %zu, phases %zu, repetitions %zu, sets %zu, averages %zu\n", slices.size(),
                contrasts.size(), phases.size(), reps.size(), sets.size(), averages.size());
    // The receive chain's noise (coils/noise_statistics.hpp): level per coil and coupling between coils.
    const auto ns = noise_stats.result();
    if (ns.samples == 0) {
      std::printf("noise           none (no noise scans: no pre-whitening, images not in SNR units)\n");
    } else {
      auto sorted = ns.sigma;
      std::sort(sorted.begin(), sorted.end());
      std::printf("noise           %td samples per coil, dwell %.3g us (imaging %.3g us)\n", ns.samples,
                  double(noise_dwell_us), double(imaging_dwell_us));
      std::printf("noise sigma     min %.4g, median %.4g, max %.4g (max/min %.2f)\n", sorted.front(),
                  sorted[sorted.size() / 2], sorted.back(), sorted.front() > 0 ? sorted.back() / sorted.front() : 0.0);
      if (ns.sigma.size() > 1)
        std::printf("noise coupling  largest |correlation| %.3f (coils %td and %td), mean %.3f\n", ns.max_correlation,
                    ns.max_pair_i, ns.max_pair_j, ns.mean_correlation);
      if (noise_stats.skipped() > 0)
        std::printf("noise skipped   %td samples with NaN/Inf in some coil\n", noise_stats.skipped());
      if (noise_stats.other_coils() > 0)
        std::printf("noise skipped   %td readouts with another coil count than the first\n", noise_stats.other_coils());
    }
  });
}

}  // namespace larmor::cli
