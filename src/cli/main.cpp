// larmor — command line front end.
// Exit status: 0 success, 1 bad data (one line on stderr), 2 usage error.
#include <cstdio>
#include <exception>

#include <malloc.h>

#include "cli/commands.hpp"
#include "larmor/larmor.hpp"

int main(int argc, char** argv) {
  // The program (not the library) fixes glibc's mmap threshold at 4 MiB: buffers of a slice or more go
  // straight to mmap and back to the system when freed. With glibc's default dynamic threshold (raised to
  // the size of each large block freed) they were recycled through the heap and its per-thread arenas,
  // and a streamed 40-slice 32-coil 256^2 ESPIRiT recon peaked at 663 MiB instead of ~100 MiB. Not lower:
  // libhdf5 allocates and frees a 1 MiB type-conversion buffer for every readout it reads, and at a 1 MiB
  // threshold each of them was a fresh mapping whose pages faulted in and were unmapped again -- most of
  // the time spent reading a 64-coil 3D scan (5044 readouts: 5 GB of page faults).
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  CLI::App app{"larmor: multi-coil MRI reconstruction"};
  app.require_subcommand(1);
  app.set_version_flag("--version", larmor::version);
  int threads = 0;
  // Applied as soon as it is parsed (it stands before the subcommand), so every subcommand runs with it.
  app.add_option("--threads", threads, "worker threads (default: OMP_NUM_THREADS or all cores)")
      ->check(CLI::NonNegativeNumber)
      ->trigger_on_parse()
      ->each([](const std::string& v) {
        const int n = std::stoi(v);
        if (n > 0) larmor::set_num_threads(n);
      });
  larmor::cli::add_demo_command(app);
  larmor::cli::add_recon_command(app);
  larmor::cli::add_info_command(app);
  larmor::cli::add_serve_command(app);
  larmor::cli::add_send_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const larmor::InvalidArgument& e) {
    std::fprintf(stderr, "larmor: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "larmor: %s\n", e.what());
    return 1;
  }
  return 0;
}
