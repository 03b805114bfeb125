#!/usr/bin/python3
"""Seed corpus for fuzz_twix: small twix files (a few kB each) that parse, so that mutations start from
valid structure instead of from noise.

  make_twix_seeds.py OUT_DIR [real.dat ...]

Always writes a synthetic VD/VE file (4 lines x 16 samples x 2 channels with a MeasYaps/Meas header, a
sync-data block and ACQEND) and a synthetic VB file with the same content. Each real VD file given is
shrunk: the raid table is cut to one entry, the text buffers to the protocol lines the reader uses, the
scans to the first few (PHASCOR/REFLECT ones included when present) with at most 2 channels.
Layouts as documented in include/larmor/io/twix.hpp; uses only the standard library.
"""
import os
import struct
import sys

YAPS_KEYS = ("tProtocolName", "sProtConsistencyInfo.flNominalB0", "sPat.lAccelFactPE", "sPat.lAccelFact3D",
             "sRXSPEC.alDwellTime[0]", "sSliceArray.asSlice[0].dReadoutFOV", "sSliceArray.asSlice[0].dPhaseFOV",
             "sSliceArray.asSlice[0].dThickness")


def measurement_header(buffers, min_len=0):
    body = b""
    for name, text in buffers:
        body += name.encode() + b"\0" + struct.pack("<I", len(text)) + text
    hdr_len = max(8 + len(body), min_len)
    hdr_len += (-hdr_len) % 32
    return (struct.pack("<II", hdr_len, len(buffers)) + body).ljust(hdr_len, b"\0")


def raid_file(measurement):
    offset = 8 + 152
    entry = struct.pack("<IIQQ", 1, 1, offset, len(measurement)) + b"seed".ljust(64, b"\0") + b"seed".ljust(64, b"\0")
    return struct.pack("<II", 0, 1) + entry + measurement


def vd_scan(eval_mask, lin, samples, channels, centre_col, centre_line, extra_counters=(0,) * 8):
    ns, nc = len(samples[0]) // 8 if samples else 0, len(samples)
    h = bytearray(192)
    struct.pack_into("<I", h, 0, 192 + nc * (32 + 8 * ns))
    struct.pack_into("<Q", h, 40, eval_mask)
    struct.pack_into("<HH", h, 48, ns, nc)
    struct.pack_into("<9H", h, 52, lin, *extra_counters)
    struct.pack_into("<H", h, 84, centre_col)
    struct.pack_into("<H", h, 96, centre_line)
    struct.pack_into("<7f", h, 100, 0.0, 0.0, 0.0, 0.70710677, 0.0, 0.0, 0.70710677)
    out = bytes(h)
    for c, s in enumerate(samples):
        ch = bytearray(32)
        struct.pack_into("<I", ch, 0, 32 + len(s))
        struct.pack_into("<H", ch, 24, c)
        out += bytes(ch) + s
    return out


def synthetic():
    yaps = (b"### ASCCONV BEGIN ###\ntProtocolName\t = \t\"\"seed\"\"\nsSliceArray.asSlice[0].dReadoutFOV\t = \t100.0\n"
            b"sSliceArray.asSlice[0].dPhaseFOV\t = \t100.0\nsProtConsistencyInfo.flNominalB0\t = \t2.89\n"
            b"### ASCCONV END ###\n")
    meas = b'<ParamDouble."flReadoutOSFactor">  { <Precision> 6  2.000000  }\n'
    scans = []
    for lin in range(4):
        samples = [struct.pack("<32f", *[(lin + 1) * 0.5 + c + i * 0.01 for i in range(32)]) for c in range(2)]
        mask = (1 << 3) | ((1 << 24) if lin % 2 else 0) | ((1 << 28) if lin == 0 else 0)
        scans.append(vd_scan(mask, lin, samples, 2, 8, 2))
        if lin == 0:
            sync = bytearray(192 + 40)
            struct.pack_into("<I", sync, 0, len(sync))
            struct.pack_into("<Q", sync, 40, 1 << 5)
            scans.append(bytes(sync))
    acqend = bytearray(192)
    struct.pack_into("<I", acqend, 0, 192)
    struct.pack_into("<Q", acqend, 40, 1)
    vd = raid_file(measurement_header([("Meas", meas), ("MeasYaps", yaps)]) + b"".join(scans) + bytes(acqend))
    # VB: the same readouts with one 128-byte MDH per channel, the measurement at byte 0 (its header length,
    # the first word of the file, is >= 10000: what tells VB from a VD raid header).
    vb = bytearray(measurement_header([("MeasYaps", yaps)], min_len=10000))
    for lin in range(4):
        for c in range(2):
            mdh = bytearray(128)
            struct.pack_into("<I", mdh, 0, 2 * (128 + 256))
            struct.pack_into("<Q", mdh, 20, (1 << 24) if lin % 2 else 0)
            struct.pack_into("<HH", mdh, 28, 32, 2)
            struct.pack_into("<H", mdh, 32, lin)
            struct.pack_into("<H", mdh, 64, 16)
            struct.pack_into("<H", mdh, 124, c)
            vb += mdh + struct.pack("<64f", *[lin + c + i * 0.01 for i in range(64)])
    end = bytearray(128)
    struct.pack_into("<Q", end, 20, 1)
    vb += end
    return {"synthetic_vd.dat": vd, "synthetic_vb.dat": bytes(vb)}


def shrink(data, max_scans=6, max_channels=2):
    count = struct.unpack_from("<I", data, 4)[0]
    off, length = struct.unpack_from("<QQ", data, 8 + 152 * (count - 1) + 8)
    end = off + length if length else len(data)
    hdr_len, nbuf = struct.unpack_from("<II", data, off)
    p, buffers = off + 8, []
    for _ in range(nbuf):
        z = data.index(b"\0", p)
        name = data[p:z].decode("latin-1")
        size = struct.unpack_from("<I", data, z + 1)[0]
        text = data[z + 5:z + 5 + size]
        p = z + 5 + size
        if name == "MeasYaps":
            lines = [l for l in text.split(b"\n") if l.split(b"=")[0].strip().decode("latin-1") in YAPS_KEYS]
            buffers.append((name, b"### ASCCONV BEGIN ###\n" + b"\n".join(lines) + b"\n### ASCCONV END ###\n"))
        elif name == "Meas":
            i = text.find(b'."flReadoutOSFactor">')
            if i >= 0:
                buffers.append((name, b"<ParamDouble" + text[i:text.index(b"}", i) + 1] + b"\n"))
    scans, p, kept, special = [], off + hdr_len, 0, 0
    while p + 192 <= end:
        mask = struct.unpack_from("<Q", data, p + 40)[0]
        if mask & 1:
            scans.append(data[p:p + 192])
            break
        if mask & (1 << 5):
            p += struct.unpack_from("<I", data, p)[0] & 0x1FFFFFF
            continue
        ns, nc = struct.unpack_from("<HH", data, p + 48)
        chan = 32 + 8 * ns
        interesting = mask & ((1 << 21) | (1 << 22) | (1 << 23) | (1 << 25))
        if kept < max_scans or (interesting and special < 3):
            keep = min(nc, max_channels)
            h = bytearray(data[p:p + 192])
            struct.pack_into("<I", h, 0, (struct.unpack_from("<I", h, 0)[0] & ~0x1FFFFFF) | (192 + keep * chan))
            struct.pack_into("<H", h, 50, keep)
            scans.append(bytes(h) + data[p + 192:p + 192 + keep * chan])
            kept += 1
            special += 1 if interesting else 0
        p += 192 + nc * chan
    return raid_file(measurement_header(buffers) + b"".join(scans))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seeds = synthetic()
    for path in sys.argv[2:]:
        with open(path, "rb") as f:
            data = f.read()
        if len(data) >= 8 and struct.unpack_from("<I", data, 0)[0] < 10000:
            seeds["shrunk_" + os.path.basename(path)] = shrink(data)
    for name, blob in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(blob)
    print("fuzz seeds: %s" % ", ".join("%s (%d B)" % (n, len(b)) for n, b in sorted(seeds.items())))


if __name__ == "__main__":
    main()
