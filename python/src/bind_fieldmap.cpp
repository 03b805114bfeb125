// bind_fieldmap.cpp — Python bindings of B0 field mapping (include/larmor/fieldmap/b0_map.hpp,
// reversed_pe.hpp).
#include "bind_common.hpp"
#include "larmor/fieldmap/b0_map.hpp"
#include "larmor/fieldmap/reversed_pe.hpp"

namespace larmor_py {
namespace {

template <class T, std::size_t R>
py::array owned(larmor::array<T, R>&& a) { return to_numpy(std::move(a)); }

void bind_fieldmap(py::module_& m) {
  m.def(
      "reversed_pe_fieldmap",
      [](const py::object& up, const py::object& down, double echo_spacing, index_t lines, float mask_threshold,
         float smooth) -> py::object {
        using farr = py::array_t<float, py::array::c_style | py::array::forcecast>;
        farr u = farr::ensure(up), d = farr::ensure(down);
        if (!u || !d || (u.ndim() != 2 && u.ndim() != 3) || u.ndim() != d.ndim())
          throw larmor::InvalidArgument("reversed_pe_fieldmap: up and down must be real (y, x) or (z, y, x) images");
        const bool two = u.ndim() == 2;
        const larmor::extents<3> sh{two ? 1 : u.shape(0), u.shape(two ? 0 : 1), u.shape(two ? 1 : 2)};
        const larmor::extents<3> shd{two ? 1 : d.shape(0), d.shape(two ? 0 : 1), d.shape(two ? 1 : 2)};
        larmor::reversed_pe_options o;
        o.echo_spacing = echo_spacing, o.lines = lines, o.mask_threshold = mask_threshold, o.smooth = smooth;
        larmor::array<float, 3> hz;
        {
          py::gil_scoped_release nogil;
          hz = larmor::reversed_pe_fieldmap(larmor::strided_view<const float, 3>(u.data(), sh),
                                            larmor::strided_view<const float, 3>(d.data(), shd), o);
        }
        if (two) return owned(std::move(hz).reshape(larmor::extents<2>{sh[1], sh[2]}));
        return owned(std::move(hz));
      },
      py::arg("up"), py::arg("down"), py::arg("echo_spacing"), py::arg("lines") = 0, py::arg("mask_threshold") = 0.1f,
      py::arg("smooth") = 2.0f,
      "B0 field map (Hz, the undistorted frame, 0 outside the object) from EPI magnitudes (y, x) or (z, y, x) read "
      "with opposite phase-encode directions: up traversed k_y from low to high line index, down the reverse; "
      "echo_spacing in seconds, lines: the echo train's lines (0: y size; after in-plane acceleration, Ny / R). "
      "Chang & Fitzpatrick 1992 (intensity-conserving line matching); f > 0 moves the object towards -y in "
      "the up image. Feed it to larmor.cgsense(..., fieldmap=, sample_times=larmor.epi_sample_times(...)). "
      "docs/offresonance.md.");
  m.def(
      "b0_map",
      [](const py::object& echoes, const std::vector<double>& echo_times, const py::object& combined,
         float mask_threshold, float smooth, bool return_mask) -> py::object {
        const auto nd = ndim_of(echoes);
        bool comb = false;
        if (nd == 3 || nd == 5) {
          comb = nd == 3;
          if (!combined.is_none() && combined.cast<bool>() != comb)
            throw larmor::InvalidArgument(std::string("b0_map: echoes with ") + std::to_string(nd) + " axes are " +
                                          (comb ? "(echoes, y, x) combined images" : "(echoes, coils, z, y, x)") +
                                          ", but combined=" + (comb ? "False" : "True") + " was given");
        } else if (nd == 4) {  // (echoes, coils, y, x) unless combined=True says (echoes, z, y, x)
          comb = !combined.is_none() && combined.cast<bool>();
        } else {
          throw larmor::InvalidArgument("b0_map: echoes must be (echoes, coils, [z,] y, x) or (echoes, [z,] y, x), got " +
                                        std::to_string(nd) + " axes");
        }
        larmor::b0_map_options o;
        o.mask_threshold = mask_threshold;
        o.smooth = smooth;
        // As (echoes, coils, [z,] y, x): combined images get a coil axis of length 1.
        const bool is3d = comb ? nd == 4 : nd == 5;
        auto run = [&](auto d) -> py::object {
          constexpr std::size_t D = decltype(d)::value;
          py::object hold;
          larmor::b0_map_result<D> r;
          if (comb) {
            const auto v = complex_view<D + 1>(echoes, hold, "b0_map: echoes");
            extents<D + 2> sh{}, st{};
            sh[0] = v.shape(0), st[0] = v.stride(0), sh[1] = 1, st[1] = 0;
            for (std::size_t a = 0; a < D; ++a) sh[a + 2] = v.shape(a + 1), st[a + 2] = v.stride(a + 1);
            const larmor::strided_view<const cfloat, D + 2> w(v.data(), sh, st);
            py::gil_scoped_release nogil;
            r = larmor::b0_map<D>(w, echo_times, o);
          } else {
            const auto v = complex_view<D + 2>(echoes, hold, "b0_map: echoes");
            py::gil_scoped_release nogil;
            r = larmor::b0_map<D>(v, echo_times, o);
          }
          py::array hz = owned(std::move(r.hz));
          if (!return_mask) return hz;
          return py::make_tuple(hz, owned(std::move(r.mask)).attr("astype")("bool"));
        };
        return is3d ? run(std::integral_constant<std::size_t, 3>{}) : run(std::integral_constant<std::size_t, 2>{});
      },
      py::arg("echoes"), py::arg("echo_times"), py::arg("combined") = py::none(), py::arg("mask_threshold") = 0.1f,
      py::arg("smooth") = 1.0f, py::arg("return_mask") = false,
      "B0 field map in Hz ([z,] y, x) from multi-echo gradient-echo images: echoes (echoes, coils, [z,] y, x) coil "
      "images or (echoes, [z,] y, x) combined images (4 axes are read as 2D coil images; combined=True reads them as "
      "(echoes, z, y, x)), echo_times in "
      "seconds (increasing). f > 0 where the phase grows with echo time. Coil-combined Hermitian product of "
      "consecutive echoes, quality-guided spatial unwrapping of the first difference, temporal unwrapping and a "
      "least-squares fit over 3+ echoes, a mask (first echo's magnitude > mask_threshold x its 99th percentile; "
      "0 outside), Gaussian smoothing of `smooth` pixels normalised over the mask (0: none). return_mask=True "
      "returns (hz, mask). See docs/fieldmap.md.");
}

registrar reg_fieldmap{"fieldmap", bind_fieldmap};

}  // namespace
}  // namespace larmor_py
