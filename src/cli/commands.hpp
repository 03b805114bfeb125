// commands.hpp — the subcommands of the `larmor` command line tool.
#pragma once

#include <CLI/CLI.hpp>

namespace larmor::cli {

// Registers `larmor demo` on app; the callback runs the demo reconstruction.
void add_demo_command(CLI::App& app);

}  // namespace larmor::cli
