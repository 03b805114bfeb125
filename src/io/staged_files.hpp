// src/io/staged_files.hpp (private to src/io) — files written under temporary names and renamed together at the
// end, so that a failure part way leaves none of the new files behind and never touches what was there before
// (the DICOM and NIfTI writers).
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "larmor/core/error.hpp"

namespace larmor::io::detail {

class staged_files {
 public:
  // Registers `temporary` as the file that will become `final_path`; returns it.
  std::string stage(const std::string& final_path, const std::string& temporary) {
    files_.emplace_back(temporary, final_path);
    return temporary;
  }
  // Every staged file under its final name; DataError (and the temporaries left removed) when a rename fails.
  void commit() {
    for (std::size_t i = 0; i < files_.size(); ++i) {
      std::error_code ec;
      std::filesystem::rename(files_[i].first, files_[i].second, ec);
      if (ec) {
        files_.erase(files_.begin(), files_.begin() + static_cast<std::ptrdiff_t>(i));
        throw DataError("cannot rename " + files_.front().first + " to " + files_.front().second + " (" +
                        ec.message() + ")");
      }
    }
    files_.clear();
  }
  // Only temporaries are removed: a final name may hold an earlier run's good file.
  ~staged_files() {
    std::error_code ec;
    for (const auto& f : files_) std::filesystem::remove(f.first, ec);
  }

 private:
  std::vector<std::pair<std::string, std::string>> files_;  // temporary, final
};

}  // namespace larmor::io::detail
