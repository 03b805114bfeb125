// larmor/version.hpp — library version.
#pragma once

#define LARMOR_VERSION_MAJOR 0
#define LARMOR_VERSION_MINOR 1
#define LARMOR_VERSION_PATCH 0

namespace larmor {
inline constexpr const char* version = "0.1.0";
}
