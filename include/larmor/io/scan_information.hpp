// larmor/io/scan_information.hpp — who and what a scan is, as the ISMRMRD XML header says: the patient, the
// study, the measurement, the scanner and the sequence timing. What DICOM and NIfTI files carry besides the
// pixels and their geometry (image_geometry.hpp). Every field is optional in ISMRMRD: empty strings and zero
// numbers mean "not in the header", and writers leave such attributes empty rather than invent them.
#pragma once

#include <string>
#include <vector>

namespace larmor::io {

struct scan_information {
  // subjectInformation
  std::string patient_name, patient_id, patient_birth_date, patient_sex;  // birth date as in the XML (YYYY-MM-DD)
  float patient_weight_kg = 0;
  // studyInformation
  std::string study_date, study_time, study_id, study_description, study_instance_uid, referring_physician;
  std::string accession_number;
  // measurementInformation
  std::string measurement_id, series_date, series_time, patient_position, protocol_name, series_description;
  std::string series_instance_uid_root, frame_of_reference_uid;
  long initial_series_number = 0;
  // acquisitionSystemInformation, experimentalConditions
  std::string system_vendor, system_model, institution_name, station_name, device_id;
  float field_strength_T = 0;
  long h1_resonance_frequency_Hz = 0;
  // sequenceParameters (ms, degrees), one value per contrast when the sequence has several
  std::vector<float> tr_ms, te_ms, ti_ms, flip_angle_deg, echo_spacing_ms;
  std::string sequence_type;
  // encoding: "2D" (one partition: a slice per image) or "3D", and the trajectory ("cartesian", "epi", ...)
  std::string acquisition_type, trajectory;
  // What identifies the scan for UIDs that must be the same on every run (study, frame of reference): the
  // measurementID when the header has one, else the whole XML text; empty without a header.
  std::string identity;
};

// From an ISMRMRD XML header; DataError for XML that does not parse. (Compiled in src/io, larmor::io.)
scan_information parse_scan_information(const std::string& xml, const std::string& source = "header");

// The XML header of an ISMRMRD raw-data file (<group>/xml), as stored; DataError when the file has none.
std::string read_ismrmrd_header_xml(const std::string& path, const std::string& group = "dataset");

}  // namespace larmor::io
