// ISMRMRD files end to end: data from ismrmrd_generate_cartesian_shepp_logan (which stores the true
// phantom and coil maps beside the raw data) reconstructed against that truth; accelerated and
// interleaved files placed line by line; images written and read back with their geometry; broken
// files each raising one clear DataError.
#include <hdf5.h>
#include <ismrmrd/dataset.h>

#include <filesystem>
#include <fstream>

#include "larmor/io/ismrmrd.hpp"
#include "larmor/io/ismrmrd_kspace.hpp"
#include "larmor/recon/recon.hpp"
#include "larmor/recon/recon_file.hpp"
#include "test_helpers.hpp"

namespace larmor {
namespace {

bool have_generator() { return std::string(LARMOR_ISMRMRD_GENERATOR).size() > 0; }

std::string generate(const std::string& name, const std::string& args) {
  const std::string path = test::tmp_path(name);
  std::filesystem::remove(path);  // the generator appends to an existing file
  const std::string cmd = std::string(LARMOR_ISMRMRD_GENERATOR) + " " + args + " -o '" + path + "' >/dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return path;
}

// NRMSE of a magnitude image against a reference after the best real scale factor.
double scaled_nrmse(const array<float, 2>& img, const array<float, 2>& ref) {
  double ab = 0, bb = 0;
  for (index_t i = 0; i < ref.size(); ++i) ab += double(img[i]) * ref[i], bb += double(ref[i]) * ref[i];
  const double s = ab / bb;
  double e = 0;
  for (index_t i = 0; i < ref.size(); ++i) e += (img[i] - s * ref[i]) * (img[i] - s * ref[i]);
  return std::sqrt(e / (s * s * bb));
}

TEST(Ismrmrd, FullySampledWithNoiseAndOversamplingMatchesStoredPhantom) {
  if (!have_generator()) GTEST_SKIP() << "ismrmrd-tools not installed";
  const auto path = generate("fs.h5", "-m 64 -c 8 -C -n 0.01");
  const auto raw = io::read_ismrmrd(path);
  EXPECT_EQ(raw.header.encoded_matrix[0], 128);
  EXPECT_EQ(raw.header.recon_matrix[0], 64);
  const auto k = assemble_kspace(raw);
  EXPECT_EQ(k.noise_scans, 1);
  EXPECT_EQ(k.imaging[0].kspace.shape(), (extents<4>{8, 1, 64, 64}));
  // Truth: |phantom| x rss(csm) for RSS, |phantom| x ||csm|| as well for ESPIRiT/Walsh (unit-norm maps).
  const auto ph = io::read_hdf5_complex(path, "dataset/phantom");
  const auto csm = io::read_hdf5_complex(path, "dataset/csm");
  ASSERT_EQ(csm.dims, (std::vector<index_t>{1, 8, 64, 64}));
  array<float, 2> truth(extents<2>{64, 64});
  for (index_t p = 0; p < 64 * 64; ++p) {
    double n2 = 0;
    for (index_t c = 0; c < 8; ++c) n2 += std::norm(csm.samples[c * 64 * 64 + p]);
    truth[p] = static_cast<float>(std::abs(ph.samples[p]) * std::sqrt(n2));
  }
  EXPECT_EQ(recon(raw).method, "espirit");  // auto on fully sampled data
  for (const std::string method : {"rss", "walsh", "espirit", "inati"}) {
    recon_options o;
    o.method = method;
    const auto res = recon(raw, o);
    ASSERT_EQ(res.images.size(), 1u);
    const array<float, 2> img = array<float, 3>(res.images[0].magnitude).reshape(extents<2>{64, 64});
    EXPECT_LT(scaled_nrmse(img, truth), 0.08) << method;
  }
}

TEST(Ismrmrd, AcceleratedInterleavedLinesArePlaced) {
  if (!have_generator()) GTEST_SKIP() << "ismrmrd-tools not installed";
  for (const std::string args : {"-m 64 -c 4 -a 2 -r 2", "-m 64 -c 4 -a 3 -w 16", "-m 64 -c 4 -a 2"}) {
    const auto raw = io::read_ismrmrd(generate("acc.h5", args));
    const auto k = assemble_kspace(raw);
    const index_t r = raw.header.accel_e1;
    EXPECT_GE(r, 2);
    EXPECT_EQ(raw.header.calibration_mode, "interleaved");
    // Exactly the lines each repetition's readouts name (e1 + 32 - centre) hold data.
    for (const auto& b : k.imaging) {
      std::vector<bool> named(64, false);
      for (const auto& a : raw.acquisitions)
        if (a.idx.repetition == b.key.repetition && !a.has(io::acq_flag::is_parallel_calibration))
          named[static_cast<std::size_t>(a.idx.kspace_encode_step_1 + 32 - raw.header.e1->center)] = true;
      index_t acquired = 0;
      for (index_t y = 0; y < 64; ++y) {
        const bool has = b.kspace(0, 0, y, 32) != cfloat(0.f, 0.f);
        acquired += has;
        EXPECT_EQ(has, named[static_cast<std::size_t>(y)]) << args << " rep " << b.key.repetition << " y " << y;
      }
      EXPECT_LT(acquired, 64) << args;
      EXPECT_GE(acquired, 64 / r) << args;
    }
    // The union of the repetitions is fully sampled.
    const auto& cal = k.calibration.begin()->second;
    for (index_t y = 0; y < 64; ++y) EXPECT_NE(cal(0, 0, y, 32), cfloat(0.f, 0.f)) << args << " y " << y;
  }
}

// Accelerated generator data through the whole chain (`-a R -w 24` and interleaved repetitions without
// ACS): every parallel-imaging method against the stored phantom; auto picks GRAPPA.
TEST(Ismrmrd, AcceleratedParallelImagingMatchesStoredPhantom) {
  if (!have_generator()) GTEST_SKIP() << "ismrmrd-tools not installed";
  for (const std::string args : {"-m 64 -c 8 -n 0.01 -a 2 -w 24", "-m 64 -c 8 -n 0.01 -a 3 -w 24", "-m 64 -c 8 -n 0.01 -a 2 -r 2"}) {
    const auto path = generate("pi.h5", args);
    const auto raw = io::read_ismrmrd(path);
    const auto ph = io::read_hdf5_complex(path, "dataset/phantom");
    const auto csm = io::read_hdf5_complex(path, "dataset/csm");
    array<float, 2> truth(extents<2>{64, 64});
    for (index_t p = 0; p < 64 * 64; ++p) {
      double n2 = 0;
      for (index_t c = 0; c < 8; ++c) n2 += std::norm(csm.samples[c * 64 * 64 + p]);
      truth[p] = static_cast<float>(std::abs(ph.samples[p]) * std::sqrt(n2));
    }
    for (const std::string method : {"auto", "grappa", "sense", "cgsense"}) {
      recon_options o;
      o.method = method;
      if (method == "sense" && 64 % raw.header.accel_e1 != 0) {  // R = 3 does not divide 64 lines
        EXPECT_THROW(recon(raw, o), InvalidArgument);
        continue;
      }
      const auto res = recon(raw, o);
      if (method == "auto") {
        EXPECT_EQ(res.method, "grappa") << args;
      }
      ASSERT_GE(res.images.size(), 1u);
      for (const auto& im : res.images) {
        const array<float, 2> img = array<float, 3>(im.magnitude).reshape(extents<2>{64, 64});
        const double e = scaled_nrmse(img, truth);
        std::printf("%s %s rep %d: NRMSE %.4f\n", args.c_str(), method.c_str(), im.repetition, e);
        // The fully sampled chain gives ~0.03 at this noise; R = 3 at 8 coils costs g * sqrt(3).
        EXPECT_LT(e, raw.header.accel_e1 == 2 ? 0.08 : 0.2) << args << " " << method;
      }
    }
  }
}

// recon_file streams the readouts into the assembler (the list of acquisitions never exists): the same
// images, bit for bit, as the in-memory chain on the same file — fully sampled with noise scans and 2x
// readout oversampling, accelerated with embedded ACS, and interleaved repetitions.
TEST(Ismrmrd, StreamedReconEqualsInMemoryRecon) {
  if (!have_generator()) GTEST_SKIP() << "ismrmrd-tools not installed";
  for (const std::string args : {"-m 64 -c 8 -C -n 0.01", "-m 64 -c 8 -n 0.01 -a 2 -w 24", "-m 64 -c 8 -n 0.01 -a 2 -r 2"}) {
    const auto path = generate("stream.h5", args);
    const auto raw = io::read_ismrmrd(path);
    index_t streamed = 0;
    io::read_ismrmrd(
        path, "dataset", [&](const io::encoding_header& h) { EXPECT_EQ(h.encoded_matrix, raw.header.encoded_matrix); },
        [&](io::acquisition&& a) {
          ASSERT_LT(streamed, static_cast<index_t>(raw.acquisitions.size()));
          const auto& b = raw.acquisitions[static_cast<std::size_t>(streamed++)];
          EXPECT_EQ(a.flags, b.flags);
          EXPECT_EQ(test::relative_error(a.data, b.data), 0.0);
        });
    EXPECT_EQ(streamed, static_cast<index_t>(raw.acquisitions.size())) << args;
    for (const std::string method : {"rss", "grappa"}) {
      recon_options o;
      o.method = raw.header.accel_e1 > 1 ? method : "rss";
      const auto mem = recon(raw, o), file = recon_file(path, o);
      ASSERT_EQ(mem.images.size(), file.images.size()) << args;
      for (std::size_t i = 0; i < mem.images.size(); ++i) {
        EXPECT_EQ(test::relative_error(file.images[i].magnitude, mem.images[i].magnitude), 0.0) << args << " " << method;
        EXPECT_EQ(file.images[i].position, mem.images[i].position);
        EXPECT_EQ(file.images[i].read_dir, mem.images[i].read_dir);
        EXPECT_EQ(file.images[i].repetition, mem.images[i].repetition);
      }
    }
  }
}

TEST(Ismrmrd, ImagesRoundTripWithGeometry) {
  io::image_record r;
  r.magnitude = array<float, 3>(extents<3>{2, 5, 7});
  for (index_t i = 0; i < r.magnitude.size(); ++i) r.magnitude[i] = static_cast<float>(i);
  r.fov_mm = {220.f, 200.f, 8.f};
  r.position = {1.f, -2.f, 30.f};
  r.read_dir = {1.f, 0.f, 0.f};
  r.phase_dir = {0.f, 1.f, 0.f};
  r.slice_dir = {0.f, 0.f, 1.f};
  r.slice = 3;
  r.repetition = 2;
  r.image_index = 4;
  const auto path = test::tmp_path("img.h5");
  std::filesystem::remove(path);
  io::write_ismrmrd_images(path, {r});
  const auto back = io::read_ismrmrd_images(path);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].magnitude.shape(), r.magnitude.shape());
  EXPECT_EQ(test::relative_error(back[0].magnitude, r.magnitude), 0.0);
  EXPECT_EQ(back[0].fov_mm, r.fov_mm);
  EXPECT_EQ(back[0].position, r.position);
  EXPECT_EQ(back[0].slice, 3);
  EXPECT_EQ(back[0].repetition, 2);
  EXPECT_EQ(back[0].image_index, 4);
  // No temporary file left behind.
  for (const auto& e : std::filesystem::directory_iterator(test::tmp_path("")))
    EXPECT_EQ(e.path().filename().string().find("img.h5.tmp"), std::string::npos);
}

void expect_data_error(const std::string& path, const std::string& fragment, const std::string& group = "dataset") {
  try {
    const auto raw = io::read_ismrmrd(path, group);
    assemble_kspace(raw);
    ADD_FAILURE() << path << ": expected DataError containing '" << fragment << "'";
  } catch (const DataError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(fragment), std::string::npos) << "expected '" << fragment << "' in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
  }
}

// A valid header + the given acquisitions, written with libismrmrd.
std::string write_file(const std::string& name, const std::vector<ISMRMRD::Acquisition>& acqs,
                       bool valid_header = true) {
  const auto path = test::tmp_path(name);
  std::filesystem::remove(path);
  ISMRMRD::Dataset d(path.c_str(), "dataset", true);
  d.writeHeader(
      std::string("<?xml version=\"1.0\"?><ismrmrdHeader xmlns=\"http://www.ismrm.org/ISMRMRD\">") +
      (valid_header ? "<experimentalConditions><H1resonanceFrequency_Hz>63500000</H1resonanceFrequency_Hz>"
                      "</experimentalConditions>"
                    : "") +
      "<encoding><encodedSpace>"
      "<matrixSize><x>16</x><y>8</y><z>1</z></matrixSize><fieldOfView_mm><x>200</x><y>200</y><z>5</z>"
      "</fieldOfView_mm></encodedSpace><reconSpace><matrixSize><x>16</x><y>8</y><z>1</z></matrixSize>"
      "<fieldOfView_mm><x>200</x><y>200</y><z>5</z></fieldOfView_mm></reconSpace><encodingLimits>"
      "<kspace_encoding_step_1><minimum>0</minimum><maximum>7</maximum><center>4</center>"
      "</kspace_encoding_step_1></encodingLimits><trajectory>cartesian</trajectory></encoding></ismrmrdHeader>");
  for (const auto& a : acqs) d.appendAcquisition(a);
  return path;
}
ISMRMRD::Acquisition line(int y, int channels = 2) {
  ISMRMRD::Acquisition a(16, static_cast<uint16_t>(channels));
  a.center_sample() = 8;
  a.idx().kspace_encode_step_1 = static_cast<uint16_t>(y);
  for (auto* p = a.data_begin(); p != a.data_end(); ++p) *p = std::complex<float>(1.f, 0.5f);
  return a;
}

TEST(Ismrmrd, BadFilesGiveOneLineErrors) {
  expect_data_error(test::tmp_path("missing.h5"), "no such file");
  const auto empty = test::tmp_path("empty.h5");
  { std::ofstream(empty).flush(); }
  expect_data_error(empty, "not an HDF5 file");
  const auto junk = test::tmp_path("junk.h5");
  {
    std::ofstream f(junk, std::ios::binary);
    for (int i = 0; i < 5000; ++i) f.put(static_cast<char>((i * 7919) & 0xff));
  }
  expect_data_error(junk, "not an HDF5 file");
  std::vector<ISMRMRD::Acquisition> good;
  for (int y = 0; y < 8; ++y) good.push_back(line(y));
  const auto ok = write_file("ok.h5", good);
  try {
    assemble_kspace(io::read_ismrmrd(ok));
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
  expect_data_error(ok, "no dataset group 'other'", "other");
  // Truncated copies of a valid file.
  const auto size = std::filesystem::file_size(ok);
  for (double frac : {0.2, 0.5, 0.9}) {
    const auto cut = test::tmp_path("cut.h5");
    std::filesystem::copy_file(ok, cut, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(cut, static_cast<std::uintmax_t>(frac * static_cast<double>(size)));
    try {
      assemble_kspace(io::read_ismrmrd(cut));
      ADD_FAILURE() << "truncated file accepted at " << frac;
    } catch (const DataError&) {
    }
  }
  expect_data_error(write_file("none.h5", {}), "holds no acquisitions");
  expect_data_error(write_file("badxml.h5", good, false), "malformed XML header");
  auto changing = good;
  changing[5] = line(5, 3);
  expect_data_error(write_file("chan.h5", changing), "channels");
  auto beyond = good;
  beyond[2] = line(12);
  expect_data_error(write_file("beyond.h5", beyond), "beyond the encoding limits");
  auto nan = good;
  nan[1].data(3, 1) = std::complex<float>(std::nanf(""), 0.f);
  expect_data_error(write_file("nan.h5", nan), "NaN");
}

// A negative matrix size in the XML (found by fuzz/fuzz_ismrmrd.cpp: <z>-1</z>) reaches larmor as 65535 through
// ISMRMRD's unsigned 16-bit field and made the assembler ask for a 15 GB buffer: refused at parsing.
TEST(Ismrmrd, NegativeMatrixSizeIsRefusedBeforeAllocating) {
  const auto xml = [](const std::string& z) {
    return "<?xml version=\"1.0\"?><ismrmrdHeader xmlns=\"http://www.ismrm.org/ISMRMRD\">"
           "<experimentalConditions><H1resonanceFrequency_Hz>63500000</H1resonanceFrequency_Hz>"
           "</experimentalConditions><encoding><encodedSpace><matrixSize><x>310</x><y>96</y><z>" + z +
           "</z></matrixSize><fieldOfView_mm><x>600</x><y>300</y><z>6</z></fieldOfView_mm></encodedSpace>"
           "<reconSpace><matrixSize><x>96</x><y>96</y><z>1</z></matrixSize><fieldOfView_mm><x>300</x><y>300</y>"
           "<z>6</z></fieldOfView_mm></reconSpace><encodingLimits></encodingLimits><trajectory>cartesian"
           "</trajectory></encoding></ismrmrdHeader>";
  };
  const auto h = io::parse_ismrmrd_header(xml("1"), "ok.xml");
  EXPECT_EQ(h.encoded_matrix[0], 310);
  EXPECT_EQ(h.encoded_matrix[2], 1);
  try {
    (void)io::parse_ismrmrd_header(xml("-1"), "neg.xml");
    ADD_FAILURE() << "a matrix size of -1 was accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("matrix size z = 65535"), std::string::npos) << e.what();
  }
}

// read_ismrmrd_kspace (the call Python's read_ismrmrd makes) is read_ismrmrd + assemble_kspace, buffer for
// buffer and sample for sample.
TEST(Ismrmrd, ReadKspaceEqualsReadThenAssemble) {
  const std::string path = LARMOR_DEMO_DATA;
  const auto r = io::read_ismrmrd_kspace(path);
  const auto ref = assemble_kspace(io::read_ismrmrd(path));
  EXPECT_EQ(r.header.encoded_matrix, io::read_ismrmrd(path).header.encoded_matrix);
  ASSERT_EQ(r.kspace.imaging.size(), ref.imaging.size());
  ASSERT_GE(r.kspace.imaging.size(), 1u);
  for (std::size_t i = 0; i < ref.imaging.size(); ++i) {
    ASSERT_EQ(r.kspace.imaging[i].kspace.shape(), ref.imaging[i].kspace.shape());
    EXPECT_TRUE(r.kspace.imaging[i].key == ref.imaging[i].key);
    EXPECT_TRUE(std::equal(r.kspace.imaging[i].kspace.begin(), r.kspace.imaging[i].kspace.end(),
                           ref.imaging[i].kspace.begin()));
  }
  EXPECT_EQ(r.kspace.noise.size(), ref.noise.size());
  EXPECT_EQ(r.kspace.coils, ref.coils);
  EXPECT_THROW(io::read_ismrmrd_kspace(test::tmp_path("missing.h5")), DataError);
}

// No process-wide trace: the host's HDF5 error handler is back after every call (failed ones too), and
// HDF5_USE_FILE_LOCKING is neither left set nor overwritten.
int host_handler_calls = 0;
herr_t host_handler(hid_t, void*) {
  ++host_handler_calls;
  return 0;
}
TEST(Ismrmrd, HostHdf5HandlerAndEnvironmentAreLeftAlone) {
  H5E_auto2_t f0 = nullptr;
  void* d0 = nullptr;
  H5Eget_auto2(H5E_DEFAULT, &f0, &d0);
  int tag = 0;
  H5Eset_auto2(H5E_DEFAULT, host_handler, &tag);
  unsetenv("HDF5_USE_FILE_LOCKING");
  const std::string path = LARMOR_DEMO_DATA;
  (void)io::read_ismrmrd(path);
  const auto junk = test::tmp_path("junk_handler.h5");
  {
    std::ofstream f(junk, std::ios::binary);
    for (int i = 0; i < 5000; ++i) f.put(static_cast<char>((i * 7919) & 0xff));
  }
  EXPECT_THROW(io::read_ismrmrd(junk), DataError);
  EXPECT_THROW(io::read_ismrmrd(path, "no_such_group"), DataError);
  EXPECT_THROW(io::read_hdf5_complex(path, "dataset/no_such_array"), DataError);
  H5E_auto2_t f1 = nullptr;
  void* d1 = nullptr;
  H5Eget_auto2(H5E_DEFAULT, &f1, &d1);
  EXPECT_EQ(reinterpret_cast<void*>(f1), reinterpret_cast<void*>(&host_handler));
  EXPECT_EQ(d1, &tag);
  EXPECT_EQ(host_handler_calls, 0);  // silenced inside larmor's calls
  EXPECT_EQ(std::getenv("HDF5_USE_FILE_LOCKING"), nullptr);
  // A failing call of the host's own reaches the host's handler again.
  EXPECT_LT(H5Fopen(junk.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), 0);
  EXPECT_GT(host_handler_calls, 0);
  // A user's own setting survives (a private copy: with locks on, another test process reading the shared
  // file would make this one fail).
  const auto own = test::tmp_path("locking_copy.h5");
  std::filesystem::copy_file(path, own, std::filesystem::copy_options::overwrite_existing);
  setenv("HDF5_USE_FILE_LOCKING", "TRUE", 1);
  (void)io::read_ismrmrd(own);
  ASSERT_NE(std::getenv("HDF5_USE_FILE_LOCKING"), nullptr);
  EXPECT_EQ(std::string(std::getenv("HDF5_USE_FILE_LOCKING")), "TRUE");
  unsetenv("HDF5_USE_FILE_LOCKING");
  H5Eset_auto2(H5E_DEFAULT, f0, d0);
}


// The multiband factor and CAIPI shift come from the userParameters of the converters' parameter maps
// (docs/sms.md); a header without them is single-band. A multiband layout the session cannot separate (here:
// one slice in the encoding limits at MB 4) is refused with one line, never reconstructed as collapsed slices.
TEST(Ismrmrd, MultibandParametersAreReadAndUnseparableLayoutsRefused) {
  const auto xml = [](const std::string& user) {
    return "<?xml version=\"1.0\"?><ismrmrdHeader xmlns=\"http://www.ismrm.org/ISMRMRD\">"
           "<experimentalConditions><H1resonanceFrequency_Hz>123000000</H1resonanceFrequency_Hz>"
           "</experimentalConditions><encoding><encodedSpace><matrixSize><x>96</x><y>96</y><z>1</z></matrixSize>"
           "<fieldOfView_mm><x>220</x><y>220</y><z>3</z></fieldOfView_mm></encodedSpace>"
           "<reconSpace><matrixSize><x>96</x><y>96</y><z>1</z></matrixSize><fieldOfView_mm><x>220</x><y>220</y>"
           "<z>3</z></fieldOfView_mm></reconSpace><encodingLimits></encodingLimits><trajectory>cartesian"
           "</trajectory></encoding>" + user + "</ismrmrdHeader>";
  };
  const auto single = io::parse_ismrmrd_header(xml(""), "sb.xml");
  EXPECT_EQ(single.multiband_factor, 1);
  EXPECT_NO_THROW(recon_session(single, recon_options{}, [](io::image_record&&) {}, "sb.xml"));
  // ISMRMRD 1.9's parallelImaging.multiband element, read from the text by the 1.8 library.
  const std::string with_element = xml("");
  const auto pi = with_element.find("</trajectory>") + 13;
  const auto h19 = io::parse_ismrmrd_header(
      with_element.substr(0, pi) +
          "<parallelImaging><accelerationFactor><kspace_encoding_step_1>1</kspace_encoding_step_1>"
          "<kspace_encoding_step_2>1</kspace_encoding_step_2></accelerationFactor><multiband><spacing><dZ>20</dZ>"
          "</spacing><deltaKz>0.5</deltaKz><multiband_factor>2</multiband_factor><calibration>separable2D"
          "</calibration><calibration_encoding>0</calibration_encoding></multiband></parallelImaging>" +
          with_element.substr(pi),
      "mb19.xml");
  EXPECT_EQ(h19.multiband_factor, 2);
  for (const char* names : {"MB_factor|Blipped_CAIPI", "NMBSliceBands|BlipFactorSL"}) {
    const std::string n(names), mb = n.substr(0, n.find('|')), shift = n.substr(n.find('|') + 1);
    const auto h = io::parse_ismrmrd_header(
        xml("<userParameters><userParameterLong><name>" + mb + "</name><value>4</value></userParameterLong>"
            "<userParameterDouble><name>" + shift + "</name><value>3</value></userParameterDouble></userParameters>"),
        "mb.xml");
    EXPECT_EQ(h.multiband_factor, 4) << mb;
    EXPECT_EQ(h.multiband_fov_shift, 3) << shift;
    try {
      recon_session s(h, recon_options{}, [](io::image_record&&) {}, "mb.xml");
      ADD_FAILURE() << "a multiband scan was accepted";
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find("a multiband scan of 1 slices (encoding limits) at MB 4 is not a whole number"),
                std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace larmor
