// larmor/io/dicom_store.hpp — DICOM files sent to a PACS by C-STORE (DCMTK's DcmSCU; compiled in src/io,
// target larmor_image_files): `larmor recon --dicom-send AE@HOST:PORT`.
//
// One association per attempt carries every file (MR Image Storage, explicit or implicit little endian). A
// refused association, a lost connection or a store the PACS answers with a failure status is retried, after
// 1, 2, 4 ... s, up to `attempts` times in all (files already stored are not sent again); then one DataError with
// the reason. The files are never changed or removed: nothing is lost when the PACS is away.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace larmor::io {

struct dicom_destination {
  std::string called_ae;            // the PACS's AE title
  std::string host;
  int port = 104;
  std::string calling_ae = "LARMOR";
  int attempts = 3;
  double timeout_s = 30;            // connection, association and each response
};

// "AE@HOST:PORT" -> destination; InvalidArgument naming the expected form otherwise.
dicom_destination parse_dicom_destination(const std::string& text);

// Stores the files; returns how many were stored. `log` (optional) receives one line per retry.
std::size_t dicom_store(const std::vector<std::string>& files, const dicom_destination& to,
                        const std::function<void(const std::string&)>& log = {});

}  // namespace larmor::io
