#!/usr/bin/python3
"""Seed corpus for fuzz_ismrmrd (layout in fuzz/fuzz_ismrmrd.cpp): an ISMRMRD XML header followed by
16-byte readout records. Writes a small Cartesian header (16 x 8, PF limits, interleaved acceleration)
with a full set of records, a 3D variant, an EPI header with its trajectoryDescription, and the header of
every ISMRMRD .h5 file given (read with h5py when it is there) with a few records.

  make_ismrmrd_seeds.py OUT_DIR [raw.h5 ...]
"""
import os
import struct
import sys

HEADER = """<?xml version="1.0"?>
<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD"><version>1</version>
<encoding><encodedSpace><matrixSize><x>{nx}</x><y>{ny}</y><z>{nz}</z></matrixSize>
<fieldOfView_mm><x>{fx}</x><y>200</y><z>5</z></fieldOfView_mm></encodedSpace>
<reconSpace><matrixSize><x>{rx}</x><y>{ny}</y><z>{nz}</z></matrixSize>
<fieldOfView_mm><x>200</x><y>200</y><z>5</z></fieldOfView_mm></reconSpace>
<encodingLimits><kspace_encoding_step_1><minimum>{e1min}</minimum><maximum>{e1max}</maximum><center>{e1c}</center></kspace_encoding_step_1></encodingLimits>
<trajectory>{traj}</trajectory>{extra}
<parallelImaging><accelerationFactor><kspace_encoding_step_1>{r}</kspace_encoding_step_1><kspace_encoding_step_2>1</kspace_encoding_step_2></accelerationFactor><calibrationMode>{cal}</calibrationMode></parallelImaging>
</encoding></ismrmrdHeader>"""

EPI = """<trajectoryDescription><identifier>ConventionalEPI</identifier>
<userParameterLong><name>numSamples</name><value>32</value></userParameterLong>
<userParameterLong><name>rampUpTime</name><value>100</value></userParameterLong>
<userParameterLong><name>rampDownTime</name><value>100</value></userParameterLong>
<userParameterLong><name>flatTopTime</name><value>300</value></userParameterLong>
<userParameterLong><name>acqDelayTime</name><value>10</value></userParameterLong>
<userParameterDouble><name>dwellTime</name><value>15.0</value></userParameterDouble>
</trajectoryDescription>"""


def record(flags, e1, e2=0, slice_=0, contrast=0, rep=0, centre=8, pre=0, post=0, channels=1, samples_code=3):
    return struct.pack("<IHHBBBHBBB", flags, e1, e2, slice_, contrast, rep, centre, pre, post,
                       (channels - 1) | (samples_code << 2))


def seed(xml, records):
    x = xml.encode()[:65535]
    return struct.pack("<H", len(x)) + x + b"".join(records)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seeds = {}
    base = dict(nx=16, ny=8, nz=1, fx=200, rx=16, e1min=2, e1max=7, e1c=2, traj="cartesian", extra="", r=2,
                cal="interleaved")
    seeds["cartesian_pf_interleaved"] = seed(HEADER.format(**base),
                                             [record(0, y, rep=y % 2) for y in range(6)] +
                                             [record(1 << 21, 2, centre=4, samples_code=2)])
    seeds["oversampled_reverse"] = seed(HEADER.format(**dict(base, nx=32, fx=400, e1min=0, e1c=4, cal="embedded")),
                                        [record((1 << 21) * (y % 2), y, centre=16, samples_code=7) for y in range(8)])
    seeds["three_d"] = seed(HEADER.format(**dict(base, nz=4, e1min=0, e1c=4, cal="separate")),
                            [record(1 << 19, 0)] + [record(0, y, z) for z in range(4) for y in range(8)])
    seeds["epi"] = seed(HEADER.format(**dict(base, traj="epi", extra=EPI, e1min=0, e1c=4)),
                        [record(1 << 23, 0)] + [record((1 << 21) * (y % 2), y) for y in range(8)])
    for path in sys.argv[2:]:
        try:
            import h5py
            with h5py.File(path, "r") as f:
                xml = f["dataset/xml"][0]
            xml = xml.decode() if isinstance(xml, bytes) else str(xml)
            seeds[os.path.basename(path)] = seed(xml, [record(0, y, centre=48) for y in range(4)])
        except Exception as e:  # no h5py, or not a raw-data file: the synthetic seeds suffice
            print(f"make_ismrmrd_seeds: skipping {path}: {e}", file=sys.stderr)
    for name, data in seeds.items():
        with open(os.path.join(out, name + ".seed"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
