// src/io/staged_files.hpp (private to src/io) — files written under temporary names and renamed together at the
// end, so that a failure part way leaves none of them behind (the DICOM and NIfTI writers).
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace larmor::io::detail {

class staged_files {
 public:
  // The temporary name to write `final_path` under (registered: removed unless commit() runs).
  std::string stage(const std::string& final_path, const std::string& temporary) {
    files_.emplace_back(temporary, final_path);
    return temporary;
  }
  // Every staged file under its final name.
  void commit() {
    for (const auto& [tmp, final_path] : files_) std::filesystem::rename(tmp, final_path);
    files_.clear();
  }
  ~staged_files() {
    std::error_code ec;
    for (const auto& [tmp, final_path] : files_) {
      std::filesystem::remove(tmp, ec);
      std::filesystem::remove(final_path, ec);
    }
  }

 private:
  std::vector<std::pair<std::string, std::string>> files_;  // temporary, final
};

}  // namespace larmor::io::detail
