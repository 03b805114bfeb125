// Images as NIfTI-1 with niftilib (larmor/io/nifti.hpp).
#include "larmor/io/nifti.hpp"

#include <nifti1_io.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "larmor/io/image_geometry.hpp"
#include "staged_files.hpp"

namespace larmor::io {

namespace fs = std::filesystem;
using detail::staged_files;

namespace {

using vec3 = std::array<double, 3>;
double dot(const vec3& a, const vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
vec3 sub(const vec3& a, const vec3& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
double norm(const vec3& a) { return std::sqrt(dot(a, a)); }

// One plane of a stack: image i, partition z, the centre of its first pixel.
struct plane {
  std::size_t image;
  index_t z;
  vec3 first;
};

struct stack {
  std::vector<std::size_t> images;
  image_type type = image_type::magnitude;
  std::uint16_t contrast = 0, set = 0, phase = 0;
};

std::string with_suffix(const std::string& path, const std::string& suffix) {
  for (const char* ext : {".nii.gz", ".nii"}) {
    const std::string e = ext;
    if (path.size() > e.size() && path.compare(path.size() - e.size(), e.size(), e) == 0)
      return path.substr(0, path.size() - e.size()) + suffix + e;
  }
  return path + suffix + ".nii.gz";
}

}  // namespace

std::vector<std::string> write_nifti(const std::vector<image_record>& images, const scan_information& scan,
                                     const std::string& path) {
  LARMOR_CHECK_ARG(!images.empty(), "write_nifti: no images");
  LARMOR_CHECK_ARG(path.size() > 4 && (path.find(".nii") != std::string::npos), "write_nifti: '", path,
                   "' does not end in .nii or .nii.gz");
  nifti_set_debug_level(0);  // niftilib prints nothing; errors are checked here
  std::map<std::tuple<int, int, int, int>, stack> stacks;
  for (std::size_t i = 0; i < images.size(); ++i) {
    const auto& r = images[i];
    auto& s = stacks[{static_cast<int>(r.type), r.contrast, r.set, r.phase}];
    s.images.push_back(i);
    s.type = r.type, s.contrast = r.contrast, s.set = r.set, s.phase = r.phase;
  }
  std::vector<std::string> written;
  staged_files staged;  // every file removed again unless all are written
  std::error_code ec;
  {
    for (const auto& [key, s] : stacks) {
      // Repetitions in order; each must hold the same planes.
      std::map<std::uint16_t, std::vector<plane>> by_rep;
      const auto g0 = geometry_of(images[s.images.front()]);
      for (const std::size_t i : s.images) {
        const auto& r = images[i];
        LARMOR_CHECK_ARG(has_geometry(r), "write_nifti: image ", i, " has no geometry (NIfTI cannot say where it is); "
                         "write DICOM or ISMRMRD instead");
        const auto g = geometry_of(r);
        LARMOR_CHECK_ARG(g.nx == g0.nx && g.ny == g0.ny && std::abs(g.dx - g0.dx) < 1e-4 * g0.dx &&
                             std::abs(g.dy - g0.dy) < 1e-4 * g0.dy && norm(sub(g.read, g0.read)) < 1e-4 &&
                             norm(sub(g.phase, g0.phase)) < 1e-4,
                         "write_nifti: the images of one stack differ in matrix, pixel size or orientation");
        for (index_t z = 0; z < g.nz; ++z) by_rep[r.repetition].push_back({i, z, g.pixel(0, 0, static_cast<double>(z))});
      }
      // Order each repetition's planes along the stack direction: the line through them, or (one plane) the
      // image's slice direction.
      auto& first_rep = by_rep.begin()->second;
      vec3 dir = g0.slice;
      if (first_rep.size() > 1) {
        // the direction between the two planes farthest apart
        vec3 a = first_rep.front().first, b = a;
        double best = -1;
        for (const auto& p : first_rep)
          if (const double d = norm(sub(p.first, first_rep.front().first)); d > best) best = d, b = p.first;
        const double n = norm(sub(b, a));
        LARMOR_CHECK_ARG(n > 1e-6, "write_nifti: two planes of a stack lie at the same position (several images of "
                         "one slice: averages?)");
        dir = sub(b, a);
        for (auto& v : dir) v /= n;
        if (dot(dir, g0.slice) < 0)
          for (auto& v : dir) v = -v;
      }
      double spacing = g0.dz;
      for (auto& [rep, planes] : by_rep) {
        std::sort(planes.begin(), planes.end(),
                  [&](const plane& p, const plane& q) { return dot(p.first, dir) < dot(q.first, dir); });
        LARMOR_CHECK_ARG(planes.size() == first_rep.size(), "write_nifti: repetition ", rep, " has ", planes.size(),
                         " slices, repetition ", by_rep.begin()->first, " ", first_rep.size());
      }
      const auto& ref = by_rep.begin()->second;
      if (ref.size() > 1) spacing = dot(sub(ref[1].first, ref[0].first), dir);
      for (const auto& [rep, planes] : by_rep)
        for (std::size_t k = 0; k < planes.size(); ++k) {
          // every plane on the line first + k * spacing * dir, within 0.01 mm
          vec3 expect = ref.front().first;
          for (int a = 0; a < 3; ++a) expect[a] += static_cast<double>(k) * spacing * dir[a];
          LARMOR_CHECK_ARG(norm(sub(planes[k].first, expect)) < 0.01,
                           "write_nifti: the slices are not equally spaced along one line (slice ", k, " of repetition ",
                           rep, " is ", norm(sub(planes[k].first, expect)),
                           " mm off); NIfTI needs a regular grid: write DICOM instead");
        }
      // The image.
      const index_t nx = g0.nx, ny = g0.ny, nz = static_cast<index_t>(ref.size()),
                    nt = static_cast<index_t>(by_rep.size());
      const bool cplx = s.type == image_type::complex;
      int dims[8] = {nt > 1 ? 4 : 3, static_cast<int>(nx), static_cast<int>(ny), static_cast<int>(nz),
                     static_cast<int>(nt), 1, 1, 1};
      std::unique_ptr<nifti_image, void (*)(nifti_image*)> nim(
          nifti_make_new_nim(dims, cplx ? NIFTI_TYPE_COMPLEX64 : NIFTI_TYPE_FLOAT32, 1), nifti_image_free);
      LARMOR_CHECK_DATA(nim != nullptr, "write_nifti: cannot make a NIfTI image of ", nx, " x ", ny, " x ", nz, " x ", nt);
      const std::size_t plane_size = static_cast<std::size_t>(nx * ny);
      std::size_t t = 0;
      for (const auto& [rep, planes] : by_rep) {
        for (std::size_t k = 0; k < planes.size(); ++k) {
          const auto& r = images[planes[k].image];
          const std::size_t dst = (t * planes.size() + k) * plane_size, src = static_cast<std::size_t>(planes[k].z) * plane_size;
          if (cplx) {
            auto* out = static_cast<cfloat*>(nim->data) + dst;
            std::copy(r.complex_image.data() + src, r.complex_image.data() + src + plane_size, out);
            for (std::size_t j = 0; j < plane_size; ++j)
              LARMOR_CHECK_DATA(std::isfinite(out[j].real()) && std::isfinite(out[j].imag()), "write_nifti: image ",
                                planes[k].image, " holds NaN or Inf; nothing written");
          } else {
            auto* out = static_cast<float*>(nim->data) + dst;
            if (s.type == image_type::magnitude) {
              std::copy(r.magnitude.data() + src, r.magnitude.data() + src + plane_size, out);
            } else {
              const cfloat* c = r.complex_image.data() + src;
              for (std::size_t j = 0; j < plane_size; ++j)
                out[j] = s.type == image_type::phase ? std::arg(c[j])
                         : s.type == image_type::real ? c[j].real()
                                                      : c[j].imag();
            }
            for (std::size_t j = 0; j < plane_size; ++j)
              LARMOR_CHECK_DATA(std::isfinite(out[j]), "write_nifti: image ", planes[k].image,
                                " holds NaN or Inf; nothing written");
          }
        }
        ++t;
      }
      // Geometry: voxel (i, j, k) -> RAS = F (first + i dx read + j dy phase + k spacing dir), F = diag(-1, -1, 1).
      LARMOR_CHECK_ARG(ref.size() > 1 || g0.dz > 0, "write_nifti: one slice whose thickness the raw data does not give "
                       "(z field of view 0): NIfTI needs a voxel size; write DICOM instead");
      const double dk = ref.size() > 1 ? spacing : g0.dz;
      mat44 m{};
      const vec3 cols[3] = {{g0.read[0] * g0.dx, g0.read[1] * g0.dx, g0.read[2] * g0.dx},
                            {g0.phase[0] * g0.dy, g0.phase[1] * g0.dy, g0.phase[2] * g0.dy},
                            {dir[0] * dk, dir[1] * dk, dir[2] * dk}};
      const double flip[3] = {-1, -1, 1};
      for (int row = 0; row < 3; ++row) {
        for (int c = 0; c < 3; ++c) m.m[row][c] = static_cast<float>(flip[row] * cols[c][row]);
        m.m[row][3] = static_cast<float>(flip[row] * ref.front().first[row]);
      }
      m.m[3][3] = 1;
      nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
      nim->sto_xyz = m;
      nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
      float dx, dy, dz;
      nifti_mat44_to_quatern(m, &nim->quatern_b, &nim->quatern_c, &nim->quatern_d, &nim->qoffset_x, &nim->qoffset_y,
                             &nim->qoffset_z, &dx, &dy, &dz, &nim->qfac);
      nim->qto_xyz = nifti_quatern_to_mat44(nim->quatern_b, nim->quatern_c, nim->quatern_d, nim->qoffset_x,
                                            nim->qoffset_y, nim->qoffset_z, dx, dy, dz, nim->qfac);
      nim->dx = nim->pixdim[1] = static_cast<float>(g0.dx);
      nim->dy = nim->pixdim[2] = static_cast<float>(g0.dy);
      nim->dz = nim->pixdim[3] = static_cast<float>(dk);
      // The time between volumes: measured, the median difference of the repetitions' first time stamps (2.5 ms
      // ticks) when the readouts carry them; else TR for single-shot acquisitions (EPI: one excitation per slice
      // per volume); else 0 (unknown: for segmented sequences it is TR times the shots, which ISMRMRD does not
      // state).
      float volume_s = 0;
      if (nt > 1) {
        std::vector<double> starts;
        for (const auto& [rep, planes] : by_rep) {
          std::uint32_t first = 0;
          for (const auto& pl : planes) {
            const std::uint32_t t = images[pl.image].acquisition_time_stamp;
            if (t > 0 && (first == 0 || t < first)) first = t;
          }
          starts.push_back(first);
        }
        std::vector<double> gaps;
        for (std::size_t j = 1; j < starts.size(); ++j)
          if (starts[j] > 0 && starts[j - 1] > 0 && starts[j] > starts[j - 1]) gaps.push_back((starts[j] - starts[j - 1]) * 0.0025);
        if (gaps.size() + 1 == starts.size()) {
          std::nth_element(gaps.begin(), gaps.begin() + static_cast<std::ptrdiff_t>(gaps.size() / 2), gaps.end());
          volume_s = static_cast<float>(gaps[gaps.size() / 2]);
        } else if (scan.trajectory == "epi" && !scan.tr_ms.empty()) {
          volume_s = scan.tr_ms.front() * 1e-3f;
        }
      }
      nim->dt = nim->pixdim[4] = volume_s;
      nim->xyz_units = NIFTI_UNITS_MM;
      nim->time_units = NIFTI_UNITS_SEC;
      nim->freq_dim = 1, nim->phase_dim = 2, nim->slice_dim = 3;
      std::snprintf(nim->descrip, sizeof nim->descrip, "larmor %s %s", image_type_name(s.type),
                    scan.protocol_name.substr(0, 40).c_str());
      const std::string final_path = stacks.size() == 1 ? path
                                     : with_suffix(path, std::string("_") + image_type_name(s.type) + "_c" +
                                                             std::to_string(s.contrast) + "_s" + std::to_string(s.set) +
                                                             "_p" + std::to_string(s.phase));
      // niftilib names the file from the prefix; the temporary keeps the extension that selects compression.
      const bool gz = final_path.size() > 7 && final_path.compare(final_path.size() - 7, 7, ".nii.gz") == 0;
      const std::string tmp = with_suffix(final_path, ".larmor-tmp");
      staged.stage(final_path, tmp);
      LARMOR_CHECK_DATA(nifti_set_filenames(nim.get(), tmp.c_str(), 0, 1) == 0, "write_nifti: cannot name ", tmp);
      nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
      LARMOR_CHECK_DATA(!fs::exists(tmp), "write_nifti: ", tmp, " is in the way");
      nifti_image_write(nim.get());
      // niftilib reports no failure: the file must be a regular file holding the whole image (uncompressed: its
      // exact size; compressed: read back).
      const std::uintmax_t expect = 352 + static_cast<std::uintmax_t>(nim->nvox) * static_cast<std::uintmax_t>(nim->nbyper);
      bool ok = fs::is_regular_file(tmp, ec);
      if (ok && !gz) ok = fs::file_size(tmp, ec) == expect;
      if (ok && gz) {
        std::unique_ptr<nifti_image, void (*)(nifti_image*)> back(nifti_image_read(tmp.c_str(), 1), nifti_image_free);
        ok = back != nullptr && back->nvox == nim->nvox && back->data != nullptr;
      }
      LARMOR_CHECK_DATA(ok, "write_nifti: cannot write ", final_path, " (disk full or not writable?)");
      written.push_back(final_path);
    }
    staged.commit();
  }
  return written;
}

}  // namespace larmor::io
