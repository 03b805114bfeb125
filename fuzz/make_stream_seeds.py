#!/usr/bin/python3
"""Seed corpus for fuzz_stream (fuzz/fuzz_stream.cpp): ISMRMRD / Gadgetron stream conversations laid out from the
protocol's byte offsets (docs/server.md): CONFIG_FILE, HEADER (the synthetic headers of make_ismrmrd_seeds.py and
the header of every ISMRMRD .h5 file given), ACQUISITIONs (with and without trajectories, noise, reversed),
a WAVEFORM, TEXT, QUERY and CLOSE.

  make_stream_seeds.py OUT_DIR [raw.h5 ...]
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_ismrmrd_seeds import HEADER, EPI  # noqa: E402


def config(name):
    return struct.pack("<H", 1) + name.encode().ljust(1024, b"\0")


def text(msg_id, s):
    b = s.encode()
    return struct.pack("<HI", msg_id, len(b)) + b


def acquisition(line, channels=2, samples=16, traj_dims=0, flags=0, slice_=0, rep=0, centre=8):
    h = bytearray(340)
    struct.pack_into("<H", h, 0, 1)
    struct.pack_into("<Q", h, 2, flags)
    struct.pack_into("<I", h, 14, line)
    struct.pack_into("<HHH", h, 34, samples, channels, channels)
    struct.pack_into("<HHHHH", h, 168, 0, 0, centre, 0, traj_dims)
    struct.pack_into("<f", h, 178, 5.0)
    struct.pack_into("<3f", h, 194, 1.0, 0.0, 0.0)
    struct.pack_into("<3f", h, 206, 0.0, 1.0, 0.0)
    struct.pack_into("<3f", h, 218, 0.0, 0.0, 1.0)
    struct.pack_into("<HHHHHHH", h, 242, line, 0, 0, slice_, 0, 0, rep)
    traj = b"".join(struct.pack("<f", 0.5 * i - 4) for i in range(traj_dims * samples))
    data = b"".join(struct.pack("<ff", (c + 1) * (s - samples / 2), line) for c in range(channels) for s in range(samples))
    return struct.pack("<H", 1008) + bytes(h) + traj + data


def waveform(samples=4, channels=1):
    h = bytearray(40)
    struct.pack_into("<H", h, 0, 1)
    struct.pack_into("<HH", h, 28, samples, channels)
    return struct.pack("<H", 1026) + bytes(h) + b"\1\0\0\0" * samples * channels


def query(s):
    b = s.encode()
    return struct.pack("<HQQQ", 6, 0, 1, len(b)) + b


CLOSE = struct.pack("<H", 4)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    base = dict(nx=16, ny=8, nz=1, fx=200, rx=16, e1min=0, e1max=7, e1c=4, traj="cartesian", extra="", r=1,
                cal="other")
    seeds = {}
    cart = HEADER.format(**base)
    seeds["cartesian"] = (config("default.xml") + text(3, cart) + acquisition(0, flags=1 << 18) +
                          b"".join(acquisition(y) for y in range(8)) + CLOSE)
    seeds["no_config_waveform_text"] = (text(3, cart) + waveform() + text(5, "hello") + query("ismrmrd::version") +
                                        b"".join(acquisition(y, flags=(1 << 21) * (y % 2)) for y in range(8)) + CLOSE)
    seeds["radial"] = (config("default.xml") + text(3, HEADER.format(**dict(base, traj="radial"))) +
                       b"".join(acquisition(y, traj_dims=2) for y in range(4)) + CLOSE)
    seeds["epi"] = config("epi.xml") + text(3, HEADER.format(**dict(base, traj="epi", extra=EPI))) + \
        b"".join(acquisition(y) for y in range(4)) + CLOSE
    seeds["noise_script"] = text(2, "<x><classname>NoiseSummaryGadget</classname><name>noise_file</name>"
                                    "<value>GadgetronNoiseCovarianceMatrix_1</value></x>") + CLOSE
    for path in sys.argv[2:]:
        try:
            import h5py
            with h5py.File(path, "r") as f:
                xml = f["dataset/xml"][0]
            xml = xml.decode() if isinstance(xml, bytes) else str(xml)
            seeds[os.path.basename(path)] = (config("default.xml") + text(3, xml) +
                                             b"".join(acquisition(y, samples=32, centre=16) for y in range(4)) + CLOSE)
        except Exception as e:  # no h5py, or not a raw-data file: the synthetic seeds suffice
            print(f"make_stream_seeds: skipping {path}: {e}", file=sys.stderr)
    for name, data in seeds.items():
        with open(os.path.join(out, name + ".seed"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
