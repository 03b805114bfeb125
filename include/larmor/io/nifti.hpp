// larmor/io/nifti.hpp — images as NIfTI-1 (niftilib, Debian libnifti2-dev; compiled in src/io, target larmor::io)
// for FSL, SPM, AFNI, nibabel.
//
// One file per stack: the images of one (image type, contrast, set, cardiac phase). A stack's slices (2D images) or
// partitions (a 3D image) are ordered by their position along the stack direction, not by acquisition (interleaved
// multi-slice scans are common); its repetitions are the 4th dimension (a time series: pixdim[4] = TR in s,
// xyzt_units mm and s). Voxel (i, j, k) is pixel x (read), y (phase) of slice k; the qform and the sform
// (both NIFTI_XFORM_SCANNER_ANAT) map it to RAS+ mm: the LPS geometry of image_geometry.hpp with x and y negated.
// Pixels: float32 for magnitude, phase (rad), real and imaginary images; complex64 for complex image records.
// Refused (InvalidArgument, one line): a stack whose slices differ in matrix, pixel size or orientation, are not
// equally spaced along one line, or whose repetitions do not repeat the same slices; images without geometry
// (NIfTI has no way to say "unknown").
// Files: `path` when there is one stack, else path with "_<type>_c<contrast>_s<set>_p<phase>" before ".nii[.gz]";
// ".gz" compresses. Written under a temporary name and renamed at the end.
#pragma once

#include <string>
#include <vector>

#include "larmor/io/image_record.hpp"
#include "larmor/io/scan_information.hpp"

namespace larmor::io {

// Writes the stacks; returns the files written.
std::vector<std::string> write_nifti(const std::vector<image_record>& images, const scan_information& scan,
                                     const std::string& path);

}  // namespace larmor::io
