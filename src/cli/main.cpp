// larmor — command line front end.
// Exit status: 0 success, 1 bad data (one line on stderr), 2 usage error.
#include <cstdio>
#include <exception>

#include "cli/commands.hpp"
#include "larmor/larmor.hpp"

int main(int argc, char** argv) {
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
