// Coil compression: SVD and GCC against BART `cc -S` / `cc -G` on the same k-space (compared through
// quantities a unitary rotation of the virtual coils leaves unchanged), image quality after compression,
// maps estimated on compressed data and expanded back, energy targets, bad input.
#include "coil_phantom.hpp"
#include "larmor/coils/coil_compress.hpp"
#include "larmor/coils/combine.hpp"
#include "larmor/coils/espirit.hpp"
#include "test_helpers.hpp"

namespace larmor {
namespace {

// sqrt(sum_v |x_v|^2) per sample: invariant under a unitary mixing of the coils.
array<float, 2> coil_norm(const array<cfloat, 3>& x) { return rss(x.cview()); }

double rel_err(const array<float, 2>& a, const array<float, 2>& b) {
  double n = 0, d = 0;
  for (index_t i = 0; i < a.size(); ++i) {
    n += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    d += double(b[i]) * b[i];
  }
  return std::sqrt(n / d);
}

TEST(CoilCompress, SvdMatchesBartCc) {
  if (!test::have_bart()) GTEST_SKIP() << "bart not installed";
  const auto p = test::make_coil_phantom(12, 64, 72, 2e-3);
  write_cfl(test::tmp_path("cc_k"), array<cfloat, 3>(p.kspace).reshape(extents<4>{12, 1, 64, 72}).cview());
  ASSERT_EQ(test::run_bart("cc -p 5 -S cc_k cc_bart"), 0);
  const auto bart = read_cfl<3>(test::tmp_path("cc_bart"));
  const auto ours = coil_compress(p.kspace, 5, compression_method::svd);
  ASSERT_EQ(ours.shape(), (extents<3>{5, 64, 72}));
  EXPECT_LT(rel_err(coil_norm(ours), coil_norm(bart)), 1e-3);
}

TEST(CoilCompress, GccMatchesBartCcInHybridSpace) {
  if (!test::have_bart()) GTEST_SKIP() << "bart not installed";
  const auto p = test::make_coil_phantom(12, 64, 72, 2e-3);
  write_cfl(test::tmp_path("gcc_k"), array<cfloat, 3>(p.kspace).reshape(extents<4>{12, 1, 64, 72}).cview());
  ASSERT_EQ(test::run_bart("cc -p 5 -G gcc_k gcc_bart"), 0);
  const auto bart = read_cfl<3>(test::tmp_path("gcc_bart"));
  const auto ours = coil_compress(p.kspace, 5, compression_method::gcc);
  // Per readout position the virtual coils may differ by a unitary rotation: compare after the x-IFFT.
  const auto hb = ifftc(bart.cview(), {-1}), ho = ifftc(ours.cview(), {-1});
  EXPECT_LT(rel_err(coil_norm(ho), coil_norm(hb)), 2e-2);
}

TEST(CoilCompress, CompressedEspiritImageKeepsQuality) {
  const auto p = test::make_coil_phantom(20, 96, 96, 5e-3);
  // Reference: object x ||S_true|| (ESPIRiT maps are unit-norm).
  const auto true_norm = rss(p.maps.cview());
  auto nrmse = [&](const array<cfloat, 3>& k) {
    const auto maps = espirit_maps(k.cview());
    const auto img = combine(ifftc(k.cview()).cview(), maps.cview());
    double n = 0, d = 0;
    for (index_t y = 0; y < 96; ++y)
      for (index_t x = 0; x < 96; ++x) {
        const double ref = double(p.object(y, x)) * true_norm(y, x);
        n += (std::abs(img(0, y, x)) - ref) * (std::abs(img(0, y, x)) - ref);
        d += ref * ref;
      }
    return std::sqrt(n / d);
  };
  const double full = nrmse(p.kspace);
  const double svd = nrmse(coil_compress(p.kspace, 8, compression_method::svd));
  const double gcc = nrmse(coil_compress(p.kspace, 8, compression_method::gcc));
  EXPECT_LT(full, 0.1);
  EXPECT_LE(svd, full * 1.02 + 1e-3) << "full " << full << " svd " << svd;
  EXPECT_LE(gcc, full * 1.02 + 1e-3) << "full " << full << " gcc " << gcc;
}

TEST(CoilCompress, MapsOnCompressedDataExpandBack) {
  const auto p = test::make_coil_phantom(16, 80, 80, 2e-3);
  coil_compress_options o;
  o.ncoils = 8;
  const auto cc = coil_compression_matrices(p.kspace.cview(), o);
  const auto kv = cc.apply(p.kspace.cview());
  const auto mv = espirit_maps(kv.cview());
  const auto expanded = expand_maps(mv.cview(), cc);
  ASSERT_EQ(expanded.shape(), (extents<4>{1, 16, 80, 80}));
  const auto direct = espirit_maps(p.kspace.cview());
  const auto px = test::object_pixels(p.object);
  const auto [lo, mean] = test::cosine_stats(expanded.view().slice(0), direct.view().slice(0), px);
  EXPECT_GT(mean, 0.999);
  EXPECT_GT(lo, 0.99);
}

TEST(CoilCompress, EnergyTargetAndReuseOnAnotherScan) {
  const auto p = test::make_coil_phantom(16, 64, 64, 1e-2);
  coil_compress_options o;
  o.energy = 0.99;
  const auto cc = coil_compression_matrices(p.kspace.cview(), o);
  EXPECT_GE(cc.retained_energy(), 0.99);
  EXPECT_LT(cc.virtual_coils, 16);
  coil_compress_options fewer = o;
  fewer.energy = 0;
  fewer.ncoils = cc.virtual_coils - 1;
  EXPECT_LT(coil_compression_matrices(p.kspace.cview(), fewer).retained_energy(), 0.99);
  // The same matrices applied twice give the same data; the rows are orthonormal (A A^H = I).
  EXPECT_EQ(test::relative_error(cc.apply(p.kspace.cview()), coil_compress(p.kspace, cc.virtual_coils)), 0.0);
  for (index_t a = 0; a < cc.virtual_coils; ++a)
    for (index_t b = 0; b < cc.virtual_coils; ++b) {
      std::complex<double> s = 0;
      for (index_t c = 0; c < 16; ++c) s += std::complex<double>(cc.matrix(a, c)) * std::conj(std::complex<double>(cc.matrix(b, c)));
      EXPECT_NEAR(std::abs(s - (a == b ? 1.0 : 0.0)), 0.0, 1e-5);
    }
}

TEST(CoilCompress, RejectsBadArguments) {
  const auto p = test::make_coil_phantom(4, 32, 32);
  EXPECT_THROW(coil_compress(p.kspace, 5), InvalidArgument);
  EXPECT_THROW(coil_compress(p.kspace, 0), InvalidArgument);
  EXPECT_THROW(parse_compression_method("pca"), InvalidArgument);
  array<cfloat, 3> zero(extents<3>{4, 32, 32});
  EXPECT_THROW(coil_compress(zero, 2), DataError);
  const auto cc = coil_compression_matrices(p.kspace.cview(), coil_compress_options{2, 0.0, compression_method::svd, 24});
  array<cfloat, 3> other(extents<3>{3, 32, 32});
  EXPECT_THROW(cc.apply(other.cview()), InvalidArgument);
}

}  // namespace
}  // namespace larmor
