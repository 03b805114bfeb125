// DICOM C-STORE to a PACS with DCMTK's DcmSCU (larmor/io/dicom_store.hpp).
#include "larmor/io/dicom_store.hpp"

#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmnet/scu.h>

#include <chrono>
#include <thread>

#include "larmor/core/error.hpp"

namespace larmor::io {

dicom_destination parse_dicom_destination(const std::string& text) {
  const auto at = text.find('@'), colon = text.rfind(':');
  LARMOR_CHECK_ARG(at != std::string::npos && colon != std::string::npos && at > 0 && colon > at + 1 &&
                       colon + 1 < text.size(),
                   "DICOM destination '", text, "': expected AE@HOST:PORT (e.g. ORTHANC@127.0.0.1:4242)");
  dicom_destination d;
  d.called_ae = text.substr(0, at);
  d.host = text.substr(at + 1, colon - at - 1);
  LARMOR_CHECK_ARG(d.called_ae.size() <= 16, "DICOM destination: an AE title has at most 16 characters, got '",
                   d.called_ae, "'");
  std::size_t used = 0;
  int port = 0;
  try {
    port = std::stoi(text.substr(colon + 1), &used);
  } catch (const std::exception&) {
    used = 0;
  }
  LARMOR_CHECK_ARG(used == text.size() - colon - 1 && port > 0 && port <= 65535, "DICOM destination '", text,
                   "': the port must be 1..65535");
  d.port = port;
  return d;
}

namespace {

// C-STORE response statuses (PS3.4 B.2.3): success 0x0000; warnings (stored) 0x0001, 0x0107, 0x0116, 0xB000,
// 0xB006, 0xB007; out of resources 0xA7xx (worth another attempt); every other failure is permanent
// (0xA9xx data set does not match the SOP class, 0xCxxx cannot understand, 0x0122 SOP class not supported, ...).
bool stored_status(Uint16 s) {
  return s == 0x0000 || s == 0x0001 || s == 0x0107 || s == 0x0116 || s == 0xB000 || s == 0xB006 || s == 0xB007;
}

// One association: stores files[from..] in order; returns how many were stored, and why it stopped (empty: all);
// `permanent` when the PACS refused a file in a way another attempt cannot change.
std::size_t store_once(const std::vector<std::string>& files, std::size_t from, const dicom_destination& to,
                       std::string& why, bool& permanent) {
  DcmSCU scu;
  scu.setAETitle(to.calling_ae.c_str());
  scu.setPeerHostName(to.host.c_str());
  scu.setPeerPort(static_cast<Uint16>(to.port));
  scu.setPeerAETitle(to.called_ae.c_str());
  const auto t = static_cast<Uint32>(std::max(1.0, to.timeout_s));
  scu.setConnectionTimeout(static_cast<Sint32>(t));
  scu.setACSETimeout(t);
  scu.setDIMSETimeout(t);
  scu.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  OFList<OFString> syntaxes;
  syntaxes.push_back(UID_LittleEndianExplicitTransferSyntax);
  syntaxes.push_back(UID_LittleEndianImplicitTransferSyntax);
  scu.addPresentationContext(UID_MRImageStorage, syntaxes);
  OFCondition c = scu.initNetwork();
  if (c.bad()) {
    why = std::string("cannot start the network (") + c.text() + ")";
    return 0;
  }
  c = scu.negotiateAssociation();
  if (c.bad()) {
    why = std::string("association refused or no answer (") + c.text() + ")";
    return 0;
  }
  const T_ASC_PresentationContextID pc = scu.findPresentationContextID(UID_MRImageStorage, "");
  if (pc == 0) {
    why = "the PACS does not accept MR Image Storage";
    permanent = true;
    scu.releaseAssociation();
    return 0;
  }
  std::size_t stored = 0;
  for (std::size_t i = from; i < files.size(); ++i) {
    Uint16 status = 0;
    c = scu.sendSTORERequest(pc, files[i].c_str(), nullptr, status);
    if (c.bad()) {  // a lost connection or no answer in time: the association is of no further use
      why = "storing " + files[i] + " failed (" + c.text() + ")";
      if (scu.isConnected()) scu.abortAssociation();
      return stored;
    }
    if (!stored_status(status)) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "%04X", status);
      why = "the PACS refused " + files[i] + " (status 0x" + buf + ")";
      permanent = (status & 0xFF00) != 0xA700;
      break;
    }
    ++stored;
  }
  if (scu.isConnected()) scu.releaseAssociation();
  return stored;
}

}  // namespace

std::size_t dicom_store(const std::vector<std::string>& files, const dicom_destination& to,
                        const std::function<void(const std::string&)>& log) {
  LARMOR_CHECK_ARG(to.attempts >= 1, "dicom_store: attempts must be >= 1");
  std::size_t done = 0;
  std::string why;
  int attempt = 1;
  for (; attempt <= to.attempts && done < files.size(); ++attempt) {
    why.clear();
    bool permanent = false;
    done += store_once(files, done, to, why, permanent);
    if (done == files.size()) break;
    if (permanent) break;  // another attempt would be refused the same way
    if (log)
      log("C-STORE to " + to.called_ae + "@" + to.host + ":" + std::to_string(to.port) + ": " + why + " (attempt " +
          std::to_string(attempt) + " of " + std::to_string(to.attempts) + ")");
    if (attempt < to.attempts) std::this_thread::sleep_for(std::chrono::seconds(1 << (attempt - 1)));
  }
  LARMOR_CHECK_DATA(done == files.size(), "C-STORE to ", to.called_ae, "@", to.host, ":", to.port, ": ", why, "; ",
                    done, " of ", files.size(), " files stored after ", std::min(attempt, to.attempts),
                    " attempt(s) (the files are kept where they were written)");
  return done;
}

}  // namespace larmor::io
