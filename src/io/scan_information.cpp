// The ISMRMRD header's patient, study, measurement, system and sequence information (larmor/io/scan_information.hpp).
#include "larmor/io/scan_information.hpp"

#include <ismrmrd/xml.h>

#include "larmor/core/error.hpp"

namespace larmor::io {

namespace {

template <class T>
void take(const ISMRMRD::Optional<T>& from, T& to) {
  if (from) to = *from;
}

}  // namespace

scan_information parse_scan_information(const std::string& xml, const std::string& source) {
  ISMRMRD::IsmrmrdHeader h;
  try {
    ISMRMRD::deserialize(xml.c_str(), h);
  } catch (const std::exception& e) {
    throw DataError("scan information: " + source + ": malformed XML header (" + e.what() + ")");
  }
  scan_information s;
  if (h.subjectInformation) {
    const auto& p = *h.subjectInformation;
    take(p.patientName, s.patient_name);
    take(p.patientID, s.patient_id);
    take(p.patientBirthdate, s.patient_birth_date);
    take(p.patientGender, s.patient_sex);
    take(p.patientWeight_kg, s.patient_weight_kg);
  }
  if (h.studyInformation) {
    const auto& st = *h.studyInformation;
    take(st.studyDate, s.study_date);
    take(st.studyTime, s.study_time);
    take(st.studyID, s.study_id);
    take(st.studyDescription, s.study_description);
    take(st.studyInstanceUID, s.study_instance_uid);
    take(st.referringPhysicianName, s.referring_physician);
    if (st.accessionNumber) s.accession_number = std::to_string(*st.accessionNumber);
  }
  if (h.measurementInformation) {
    const auto& m = *h.measurementInformation;
    take(m.measurementID, s.measurement_id);
    take(m.seriesDate, s.series_date);
    take(m.seriesTime, s.series_time);
    s.patient_position = m.patientPosition;
    take(m.protocolName, s.protocol_name);
    take(m.seriesDescription, s.series_description);
    take(m.seriesInstanceUIDRoot, s.series_instance_uid_root);
    take(m.frameOfReferenceUID, s.frame_of_reference_uid);
    take(m.initialSeriesNumber, s.initial_series_number);
  }
  if (h.acquisitionSystemInformation) {
    const auto& a = *h.acquisitionSystemInformation;
    take(a.systemVendor, s.system_vendor);
    take(a.systemModel, s.system_model);
    take(a.institutionName, s.institution_name);
    take(a.stationName, s.station_name);
    take(a.deviceID, s.device_id);
    take(a.systemFieldStrength_T, s.field_strength_T);
  }
  s.h1_resonance_frequency_Hz = h.experimentalConditions.H1resonanceFrequency_Hz;
  if (h.sequenceParameters) {
    const auto& q = *h.sequenceParameters;
    take(q.TR, s.tr_ms);
    take(q.TE, s.te_ms);
    take(q.TI, s.ti_ms);
    take(q.flipAngle_deg, s.flip_angle_deg);
    take(q.echo_spacing, s.echo_spacing_ms);
    take(q.sequence_type, s.sequence_type);
  }
  if (!h.encoding.empty()) {
    s.acquisition_type = h.encoding[0].encodedSpace.matrixSize.z > 1 ? "3D" : "2D";
    s.trajectory = h.encoding[0].trajectory == ISMRMRD::TrajectoryType::EPI ? "epi"
                   : h.encoding[0].trajectory == ISMRMRD::TrajectoryType::CARTESIAN ? "cartesian"
                                                                                    : "non-cartesian";
  }
  s.identity = s.measurement_id.empty() ? xml : "measurement " + s.measurement_id + " " + s.study_instance_uid;
  return s;
}

}  // namespace larmor::io
