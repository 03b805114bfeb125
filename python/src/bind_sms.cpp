// bind_sms.cpp — Python bindings of simultaneous multi-slice separation (pi/sms.hpp): slice-GRAPPA,
// split-slice GRAPPA, SMS-SENSE, and their leakage and g-factor maps.
#include <string>
#include <vector>

#include "bind_common.hpp"
#include "larmor/pi/sms.hpp"

namespace larmor_py {
namespace {

larmor::sms_grappa_options sms_opts(const std::vector<index_t>& kernel, bool split, float reg) {
  if (kernel.size() != 2)
    throw larmor::InvalidArgument("sms_grappa: kernel must be (ky, kx), got " + std::to_string(kernel.size()) +
                                  " values");
  larmor::sms_grappa_options o;
  o.kernel_y = kernel[0];
  o.kernel_x = kernel[1];
  o.split = split;
  o.reg = reg;
  return o;
}

constexpr const char* shapes_doc =
    " Shapes: collapsed (coils, y, x) of one slice group, the sum over its slices with slice s shifted by "
    "s * FOV / caipi_shift along y (np.roll(image, s * ny // caipi_shift, axis=-2)); calibration (slices, coils, y, x) "
    "single-band k-space of the same slices without the shift, zero where not acquired (fully sampled, or on the "
    "collapsed data's in-plane lattice as an SBRef is); sms_grappa also takes a central block of the matrix (an "
    "ACS region (slices, coils, cy, cx) at lines ny//2 - cy//2 ..., columns nx//2 - cx//2 ...).";

void bind_sms(py::module_& m) {
  m.def("sms_grappa", [](const py::object& collapsed, const py::object& calibration, index_t caipi_shift,
                         const std::vector<index_t>& kernel, bool split, float reg) {
    const auto o = sms_opts(kernel, split, reg);
    py::object h1, h2;
    const auto k = complex_view<3>(collapsed, h1, "sms_grappa: collapsed");
    const auto cal = complex_view<4>(calibration, h2, "sms_grappa: calibration");
    larmor::array<cfloat, 4> out;
    {
      py::gil_scoped_release nogil;
      out = larmor::sms_grappa(k, cal, caipi_shift, o);
    }
    return to_numpy(std::move(out));
  }, py::arg("collapsed"), py::arg("calibration"), py::arg("caipi_shift") = 1,
        py::arg("kernel") = std::vector<index_t>{5, 5}, py::arg("split") = true, py::arg("reg") = 5e-4f,
        (std::string("Separates the slices of a multiband group: split-slice GRAPPA (Cauley 2014; split=False: "
                     "slice-GRAPPA, Setsompop 2012) with a kernel of (ky lines Ry apart, kx readout samples), "
                     "ridge reg * tr(A^H A) / n. Returns k-space (slices, coils, y, x), each slice unshifted, on the "
                     "collapsed data's lattice lines (other lines 0: in-plane grappa/sense next).") +
         shapes_doc).c_str());
  m.def("sms_grappa_leakage", [](const py::object& calibration, index_t caipi_shift, index_t R,
                                 const std::vector<index_t>& kernel, bool split, float reg) {
    const auto o = sms_opts(kernel, split, reg);
    py::object h;
    const auto cal = complex_view<4>(calibration, h, "sms_grappa_leakage: calibration");
    larmor::array<float, 3> out;
    {
      py::gil_scoped_release nogil;
      const auto kern = larmor::sms_grappa_calibrate(cal, caipi_shift, R, o);
      out = larmor::sms_grappa_leakage(kern, cal);
    }
    return to_numpy(std::move(out));
  }, py::arg("calibration"), py::arg("caipi_shift") = 1, py::arg("R") = 1,
        py::arg("kernel") = std::vector<index_t>{5, 5}, py::arg("split") = true, py::arg("reg") = 5e-4f,
        "Leakage (L-factor) maps (slices, y, x) of the kernel sms_grappa would calibrate on `calibration` for "
        "in-plane acceleration R: slice s's kernel applied to each other slice's calibration alone, root sum of "
        "squares over coils and those slices, divided by the RMS over the image of those slices' own images "
        "(0.01 = 1 % of their mean signal leaks into this pixel).");
  m.def("sms_grappa_gfactor", [](const py::object& calibration, const py::object& maps, index_t caipi_shift,
                                 index_t R, const std::vector<index_t>& kernel, bool split, float reg,
                                 index_t replicas) {
    const auto o = sms_opts(kernel, split, reg);
    py::object h1, h2;
    const auto cal = complex_view<4>(calibration, h1, "sms_grappa_gfactor: calibration");
    const auto mv = complex_view<4>(maps, h2, "sms_grappa_gfactor: maps");
    larmor::array<float, 3> out;
    {
      py::gil_scoped_release nogil;
      const auto kern = larmor::sms_grappa_calibrate(cal, caipi_shift, R, o);
      out = larmor::sms_grappa_gfactor(kern, mv, replicas);
    }
    return to_numpy(std::move(out));
  }, py::arg("calibration"), py::arg("maps"), py::arg("caipi_shift") = 1, py::arg("R") = 1,
        py::arg("kernel") = std::vector<index_t>{5, 5}, py::arg("split") = true, py::arg("reg") = 5e-4f,
        py::arg("replicas") = 100,
        "g-factor maps (slices, y, x) of the separation sms_grappa would do, by pseudo-replicas (Robson 2008): unit "
        "white noise on every R-th line, separated, combined with conj(S)/sum|S|^2 (maps (slices, coils, y, x)); "
        "its standard deviation over `replicas` divided by that of single-band noise on the same lines "
        "(statistical error about 1/sqrt(2 replicas)).");
  m.def("sms_sense", [](const py::object& collapsed, const py::object& maps, index_t caipi_shift, float reg) {
    py::object h1, h2;
    const auto k = complex_view<3>(collapsed, h1, "sms_sense: collapsed");
    const auto mv = complex_view<4>(maps, h2, "sms_sense: maps");
    larmor::sms_sense_options o;
    o.reg = reg;
    larmor::array<cfloat, 3> out;
    {
      py::gil_scoped_release nogil;
      out = larmor::sms_sense(k, mv, caipi_shift, o);
    }
    return to_numpy(std::move(out));
  }, py::arg("collapsed"), py::arg("maps"), py::arg("caipi_shift") = 1, py::arg("reg") = 0.f,
        "SMS-SENSE: the slices (slices, y, x) of one group from collapsed k-space (coils, y, x) — slice s shifted by "
        "s * FOV / caipi_shift along y, in-plane lattice read from the data — and maps (slices, coils, y, x); the "
        "exact minimiser of ||M (sum_s phase_s fftc(S_s x_s)) - k||^2 + reg ||x||^2 per alias group (reg absolute, "
        "as in sense/cgsense). Whole-pixel shifts (s * ny divisible by caipi_shift) and R dividing ny: solved exactly; "
        "otherwise by sms_cgsense to a relative residual of 1e-6.");
  m.def("sms_cgsense", [](const py::object& collapsed, const py::object& maps, index_t caipi_shift, float reg,
                          int iters, double tol, bool return_residuals) {
    py::object h1, h2;
    const auto k = complex_view<3>(collapsed, h1, "sms_cgsense: collapsed");
    const auto mv = complex_view<4>(maps, h2, "sms_cgsense: maps");
    larmor::sms_cgsense_options o;
    o.reg = reg;
    o.iters = iters;
    o.tol = tol;
    larmor::sms_cgsense_result res;
    {
      py::gil_scoped_release nogil;
      res = larmor::sms_cgsense(k, mv, caipi_shift, o);
    }
    py::object img = to_numpy(std::move(res.image));
    if (!return_residuals) return img;
    return py::object(py::make_tuple(img, res.residuals));
  }, py::arg("collapsed"), py::arg("maps"), py::arg("caipi_shift") = 1, py::arg("reg") = 0.f, py::arg("iters") = 50,
        py::arg("tol") = 1e-6, py::arg("return_residuals") = false,
        "SMS-CG-SENSE: the model and reg of sms_sense for any CAIPI shift (fractional pixels too), by conjugate "
        "gradients on (A^H A + reg I) x = A^H k from 0; stops after `iters` or at ||r|| / ||A^H k|| <= tol. Returns "
        "(slices, y, x), or (image, relative residuals) with return_residuals=True.");
  m.def("sms_sense_gfactor", [](const py::object& maps, index_t caipi_shift, index_t R, float reg) {
    py::object h;
    const auto mv = complex_view<4>(maps, h, "sms_sense_gfactor: maps");
    larmor::sms_sense_options o;
    o.reg = reg;
    larmor::array<float, 3> out;
    {
      py::gil_scoped_release nogil;
      out = larmor::sms_sense_gfactor(mv, caipi_shift, R, o);
    }
    return to_numpy(std::move(out));
  }, py::arg("maps"), py::arg("caipi_shift") = 1, py::arg("R") = 1, py::arg("reg") = 0.f,
        "SMS-SENSE g-factor maps (slices, y, x) for maps (slices, coils, y, x), CAIPI shift FOV/caipi_shift and "
        "in-plane acceleration R (Pruessmann 1999: sqrt([X G X]_ii G_ii), X = (G + reg)^-1).");
}

registrar reg_sms{"sms", bind_sms};

}  // namespace
}  // namespace larmor_py
