// larmor/io/twix.hpp — Siemens raw data ("twix", meas_*.dat) in, the scanner-independent raw_dataset out
// (compiled in src/io, target larmor::io). Software lines VB (single measurement) and VD/VE/XA (multi-raid).
//
// File layout (all integers little-endian; samples are interleaved complex float32):
//
//   VD/VE/XA  MrParcRaidFileHeader   uint32 hdSize (< 10000), uint32 count (1..64)
//             MrParcRaidFileEntry x64 (152 bytes each): uint32 measId, uint32 fileId, uint64 offset,
//                                     uint64 length (0: up to the end of the file), char patName[64],
//                                     char protName[64]
//             each measurement, at its offset:
//               uint32 header length, uint32 number of text buffers, then per buffer a NUL-terminated name
//               ("Config", "Dicom", "Meas", "MeasYaps", "Phoenix", "Spice", ...), uint32 length and the
//               text (XProtocol; "MeasYaps" is the ASCCONV "key = value" list of the protocol).
//               At offset + header length the scans follow, each
//                 ScanHeader (192 bytes): uint32 flags|DMA length (low 25 bits), int32 measUID,
//                   uint32 scanCounter, uint32 timeStamp, uint32 pmuTimeStamp, uint16 systemType,
//                   uint16 ptabPosDelay, int32 ptabPos x/y/z, uint32 reserved, uint64 evalInfoMask @40,
//                   uint16 samplesInScan @48, uint16 usedChannels @50, uint16 loop counters @52
//                   (Lin Ave Sli Par Eco Phs Rep Set Seg Ida Idb Idc Idd Ide), uint16 cutOff pre/post @80,
//                   uint16 kSpaceCentreColumn @84, uint16 coilSelect, float readOutOffcentre,
//                   uint32 timeSinceLastRF, uint16 kSpaceCentreLineNo @96, uint16 kSpaceCentrePartitionNo,
//                   sliceData @100 (float position sag/cor/tra, float quaternion[4]),
//                   uint16 iceProgramPara[24], uint16 reservedPara[4], uint16 applicationCounter/Mask,
//                   uint32 CRC
//                 then per channel a 32-byte ChannelHeader (uint32 type|length, int32 measUID,
//                   uint32 scanCounter, uint32 reserved, uint32 sequenceTime, uint32 unused,
//                   uint16 channelId @24, uint16 unused, uint32 CRC) and samplesInScan complex samples.
//   VB        one measurement from byte 0: the same header length + text buffers, then per readout and
//             per channel a 128-byte MDH (uint32 flags|DMA length, int32 measUID, uint32 scanCounter,
//             uint32 timeStamp, uint32 pmuTimeStamp, uint64 evalInfoMask @20, uint16 samplesInScan @28,
//             uint16 usedChannels @30, loop counters @32, cutOff @60, kSpaceCentreColumn @64,
//             kSpaceCentreLineNo @76, kSpaceCentrePartitionNo @78, sliceData @96, channelId @124) followed
//             by samplesInScan complex samples.
//
// Scans flagged SYNCDATA (physiological/sync blocks) are skipped by their DMA length; the ACQEND scan
// ends the measurement (a measurement without one is reported as truncated). Evaluation-info bits map to
// ISMRMRD flags (acquisition.hpp): NOISEADJSCAN -> is_noise_measurement, PATREFSCAN ->
// is_parallel_calibration (with PATREFANDIMASCAN -> is_parallel_calibration_and_imaging), REFLECT ->
// is_reverse, PHASCOR -> is_phasecorr_data, RTFEEDBACK / HPFEEDBACK -> is_rt/hpfeedback_data,
// (REF)PHASESTABSCAN -> is_navigation_data, FIRST/LASTSCANINSLICE -> first/last_in_slice, LASTSCANINMEAS ->
// last_in_measurement. Counters: Lin -> kspace_encode_step_1, Par -> kspace_encode_step_2, Sli, Ave,
// Eco -> contrast, Phs -> phase, Rep, Set, Seg; kSpaceCentreColumn -> center_sample; cutOff ->
// discard_pre/post; slice position and quaternion -> position and read/phase/slice directions (the
// siemens_to_ismrmrd convention).
//
// The encoding_header is filled from the MeasYaps protocol (FOV sSliceArray.asSlice[0].dReadoutFOV /
// dPhaseFOV / dThickness, sPat.lAccelFactPE / lAccelFact3D, sProtConsistencyInfo.flNominalB0,
// tProtocolName, sRXSPEC.alDwellTime[0]) and the Meas XProtocol (flReadoutOSFactor), while the matrix is
// taken from the scans themselves, because sequences such as Pulseq do not keep the protocol in step with
// what they acquire: x holds the longest readout around kSpaceCentreColumn (oversampled samples included),
// y and z reach the largest Lin / Par counter or twice the centre line / partition. Readout oversampling is
// described as the ISMRMRD converters do (encoded FOV x = readout FOV * OS factor, recon FOV x = readout
// FOV), so the Cartesian chain crops it exactly as for ISMRMRD input.
//
// Every length and offset is checked against the bytes present before anything is read or allocated; a
// malformed or truncated file raises larmor::DataError with one line, e.g.
// "read_twix: scan.dat: truncated scan at byte 1234 (17600 bytes needed, 800 left)". Corrupt counters are
// rejected the same way when the k-space buffers they imply (images x channels x matrix) exceed both 2^20
// points and 64 times the samples present.
// Little-endian hosts only (as is every scanner and x86/ARM workstation).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "larmor/io/acquisition.hpp"

namespace larmor::io {

// Reads measurement `measurement` (0-based; -1 = the last one, the imaging scan in a multi-raid file whose
// earlier measurements are adjustments) of a twix file. A VB file holds one measurement (0 or -1).
raw_dataset read_twix(const std::string& path, int measurement = -1);

// The same on a file image in memory (what read_twix and the fuzzer share); `source` names it in messages.
raw_dataset parse_twix(const std::uint8_t* data, std::size_t size, int measurement = -1,
                       const std::string& source = "<memory>");

// One entry of a multi-raid file header (a VB file reports a single entry with offset 0).
struct twix_measurement_entry {
  std::uint32_t meas_id = 0, file_id = 0;
  std::uint64_t offset = 0, length = 0;  // length as stored (0: to the end of the file)
  std::string protocol_name;
};
std::vector<twix_measurement_entry> list_twix_measurements(const std::uint8_t* data, std::size_t size,
                                                           const std::string& source = "<memory>");

// True if the bytes look like the start of a twix file (VD multi-raid header or VB header with a named
// text buffer); is_twix_file reads the first bytes of a file (false when it cannot be opened).
bool looks_like_twix(const std::uint8_t* data, std::size_t size);
bool is_twix_file(const std::string& path);

}  // namespace larmor::io
