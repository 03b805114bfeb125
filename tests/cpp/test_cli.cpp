// The `larmor` command line: exit codes 0 / 1 (bad data) / 2 (usage), one line on stderr, no output file
// left behind on failure, and the demo data reconstructed through `recon` and read back.
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "larmor/io/ismrmrd.hpp"
#include "test_helpers.hpp"

namespace larmor {
namespace {

struct run_result {
  int code;
  std::string err, out;
};

run_result run_cli(const std::string& args) {
  // Per-test file names: ctest runs the tests of this program in parallel processes.
  const std::string tag = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  const auto out = test::tmp_path("cli_stdout_" + tag + ".txt"), err = test::tmp_path("cli_stderr_" + tag + ".txt");
  const std::string cmd = std::string("'") + LARMOR_CLI + "' " + args + " >'" + out + "' 2>'" + err + "'";
  const int status = std::system(cmd.c_str());
  auto slurp = [](const std::string& p) {
    std::ifstream f(p);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  };
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(err), slurp(out)};
}

std::string last_line(const std::string& s) {
  auto t = s;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  return t.substr(t.rfind('\n') == std::string::npos ? 0 : t.rfind('\n') + 1);
}

TEST(Cli, ReconWritesImagesAndPreview) {
  const auto out = test::tmp_path("cli_recon.h5"), png = test::tmp_path("cli_recon.png");
  std::filesystem::remove(out);
  std::filesystem::remove(png);
  const auto r = run_cli("recon '" + std::string(LARMOR_DEMO_DATA) + "' -o '" + out + "' --method walsh --png '" + png +
                         "' --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto images = io::read_ismrmrd_images(out);
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].magnitude.shape(), (extents<3>{1, 96, 96}));
  EXPECT_FLOAT_EQ(images[0].fov_mm[0], 300.f);
  EXPECT_GT(std::filesystem::file_size(png), 100u);
}

// --image-type names what is written; the old spelling --output still works, with a note on stderr.
TEST(Cli, ImageTypeAndItsOldSpelling) {
  for (const std::string flag : {"--image-type", "--output"}) {
    const auto out = test::tmp_path("cli_type" + flag + ".h5");
    std::filesystem::remove(out);
    const auto r = run_cli("recon '" + std::string(LARMOR_DEMO_DATA) + "' -o '" + out + "' --method walsh " + flag +
                           " phase --threads 1");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto images = io::read_ismrmrd_images(out);
    ASSERT_EQ(images.size(), 1u);
    EXPECT_EQ(images[0].type, io::image_type::phase) << flag;
    const bool noted = r.err.find("--output is now --image-type") != std::string::npos;
    EXPECT_EQ(noted, flag == "--output") << r.err;
  }
}

// Accelerated generator data (-a 3 -w 24) through `larmor recon` with auto: GRAPPA, one image per repetition.
TEST(Cli, ReconAutoOnAcceleratedDataRunsGrappa) {
  if (std::string(LARMOR_ISMRMRD_GENERATOR).empty()) GTEST_SKIP() << "ismrmrd-tools not installed";
  const auto in = test::tmp_path("cli_acc_in.h5"), out = test::tmp_path("cli_acc_out.h5");
  std::filesystem::remove(in);  // the generator appends
  std::filesystem::remove(out);
  const std::string gen = std::string(LARMOR_ISMRMRD_GENERATOR) + " -m 64 -c 8 -n 0.01 -a 3 -w 24 -o '" + in + "' >/dev/null 2>&1";
  ASSERT_EQ(std::system(gen.c_str()), 0);
  const auto r = run_cli("recon '" + in + "' -o '" + out + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("method grappa"), std::string::npos) << r.err;
  const auto images = io::read_ismrmrd_images(out);
  ASSERT_EQ(images.size(), 3u);  // the generator writes R repetitions with shifted lines
  EXPECT_EQ(images[0].magnitude.shape(), (extents<3>{1, 64, 64}));
}

TEST(Cli, InfoDescribesTheFile) {
  const auto r = run_cli("info '" + std::string(LARMOR_DEMO_DATA) + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("coils           8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("192 x 96 x 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 noise"), std::string::npos) << r.out;
}

TEST(Cli, FailuresGiveExitCodeOneLineAndNoOutputFile) {
  const auto out = test::tmp_path("cli_fail.h5");
  std::filesystem::remove(out);
  const auto junk = test::tmp_path("cli_junk.h5");
  {
    std::ofstream f(junk);
    f << "this is not HDF5";
  }
  struct c {
    std::string args;
    int code;
    std::string fragment;
  };
  const std::string demo = std::string("'") + LARMOR_DEMO_DATA + "'";
  for (const auto& k : {c{"recon " + demo + " -o '" + out + "' --method no-such", 2, "unknown method"},
                        c{"recon '" + test::tmp_path("missing.h5") + "' -o '" + out + "'", 1, "no such file"},
                        c{"recon '" + junk + "' -o '" + out + "'", 1, "not an HDF5 file"},
                        c{"recon scan.dat -o '" + out + "'", 1, "twix"},
                        c{"recon " + demo + " -o '" + out + "' --noise-scaling loud", 2, "noise-scaling"},
                        // the demo's one 8-coil 96^2 buffer is 0.56 MiB of k-space
                        c{"recon " + demo + " -o '" + out + "' --kspace-budget-mb 0.25", 1, "budget"},
                        c{"recon " + demo + " -o '" + out + "' --format dicom --dicom-send nowhere", 2, "AE@HOST:PORT"},
                        c{"recon " + demo + " -o '" + out + "' --dicom-send A@127.0.0.1:104", 2, "--format dicom"},
                        c{"info", 2, ""},
                        c{"no-such-command", 2, ""}}) {
    const auto r = run_cli(k.args);
    EXPECT_EQ(r.code, k.code) << k.args << "\n" << r.err;
    EXPECT_NE(last_line(r.err).find(k.fragment), std::string::npos) << k.args << "\n" << r.err;
    EXPECT_FALSE(std::filesystem::exists(out)) << k.args;
  }
}

}  // namespace
}  // namespace larmor
