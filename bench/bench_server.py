#!/usr/bin/python3
"""`larmor serve` (issue 33): what one connection takes in, how soon a slice's image follows its last readout,
and the server's peak memory with 1, 4 and 8 concurrent 32-coil scans.

  /usr/bin/python3 bench/bench_server.py [BUILD_DIR] [SLICES] [COILS] [N]     (default build 10 32 256)

The scan: larmor_make_ismrmrd3d's "slices" layout (sequential 2D slices, each closed by ACQ_LAST_IN_SLICE,
4 noise scans), fully sampled. The client is the protocol written in python/tests/test_server.py (not
larmor's own codec). Numbers:
  - ingest: readouts/s and MB/s into a connection whose configuration keeps the noise only
    (default_measurement_dependencies.xml: every readout parsed, none reconstructed), and into a normal
    scan (rss: the reconstruction of each slice runs while the next arrives);
  - latency: from the send of a slice's last readout to its image arriving (rss and auto), median and max;
  - memory: the server process's peak RSS (VmHWM) with 1, 4 and 8 clients at once, against one scan's k-space.
"""
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python", "tests"))
import test_server as proto  # noqa: E402  (the protocol, written from its specification)

build = sys.argv[1] if len(sys.argv) > 1 else "build"
slices, coils, n = (int(a) for a in (sys.argv[2:5] + ["10", "32", "256"][len(sys.argv[2:5]):]))
cli = os.path.join(build, "larmor")
os.environ.setdefault("LARMOR_FFT_PLANNER", "estimate")


def start_server(extra=()):
    p = subprocess.Popen([cli, "serve", "--port", "0", "--max-connections", "8", *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return p, int(p.stdout.readline())


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    return float("nan")


def stop(p):
    p.terminate()
    p.wait(60)


def split_messages(payload):
    """The stream cut into messages (config, header, each acquisition), and each acquisition's slice/flags."""
    msgs, p = [], 0
    while p < len(payload):
        (mid,) = struct.unpack_from("<H", payload, p)
        if mid == proto.CONFIG_FILE:
            size = 2 + 1024
        elif mid == proto.HEADER:
            size = 2 + 4 + struct.unpack_from("<I", payload, p + 2)[0]
        else:
            h = proto.np.frombuffer(payload, proto.ACQ_HEAD, 1, p + 2)[0]
            size = 2 + 340 + 4 * int(h["trajectory_dimensions"]) * int(h["number_of_samples"]) + \
                8 * int(h["active_channels"]) * int(h["number_of_samples"])
        msgs.append(payload[p:p + size])
        p += size
    return msgs


def timed_scan(port, msgs, config):
    """Sends the messages one by one; returns (seconds to send all, [latency of each image after the readout
    that completed its slice])."""
    LAST_IN_SLICE = 1 << 7
    sent_last = []
    arrivals = []
    with socket.create_connection(("127.0.0.1", port), timeout=300) as s:
        buf = bytearray()

        def reader():
            while True:
                b = s.recv(1 << 20)
                if not b:
                    return
                buf.extend(b)
                # count whole IMAGE messages by scanning the ids as they complete
                while True:
                    try:
                        parsed = proto.read_messages(bytes(buf))
                    except Exception:
                        break
                    for m in parsed:
                        if m[0] == proto.IMAGE:
                            arrivals.append(time.perf_counter())
                    buf.clear()
                    break

        t = threading.Thread(target=reader)
        t.start()
        t0 = time.perf_counter()
        s.sendall(struct.pack("<H", proto.CONFIG_FILE) + config.encode().ljust(1024, b"\0"))
        for m in msgs[1:]:
            s.sendall(m)
            (mid,) = struct.unpack_from("<H", m, 0)
            if mid == proto.ACQUISITION and struct.unpack_from("<Q", m, 4)[0] & LAST_IN_SLICE:
                sent_last.append(time.perf_counter())
        s.sendall(struct.pack("<H", proto.CLOSE))
        sent = time.perf_counter() - t0
        t.join(600)
    lat = [a - b for a, b in zip(arrivals, sent_last)]
    return sent, lat


def main():
    work = tempfile.mkdtemp()
    raw = os.path.join(work, "scan.h5")
    subprocess.run([os.path.join(build, "bench", "larmor_make_ismrmrd3d"), str(coils), str(n), str(n), str(slices),
                    "1", "1", "24", raw, "4", "1", "slices"], check=True, capture_output=True)
    payload = proto.stream_of_file(raw)
    msgs = split_messages(payload)
    readouts = len(msgs) - 2
    kspace_mib = slices * coils * n * n * 8 / 2**20
    print(f"scan: {slices} slices x {coils} coils x {n}^2, {readouts} readouts, {len(payload) / 2**20:.0f} MiB "
          f"on the wire, {kspace_mib:.0f} MiB of k-space")
    p, port = start_server()
    try:
        t, _ = timed_scan(port, msgs, "default_measurement_dependencies.xml")
        print(f"ingest (parse only): {readouts / t:,.0f} readouts/s, {len(payload) / t / 2**20:.0f} MiB/s")
        for config in ("rss.xml", "default.xml"):
            t, lat = timed_scan(port, msgs, config)
            print(f"{config}: sent in {t:.2f} s ({readouts / t:,.0f} readouts/s); image after the slice's last "
                  f"readout: median {1e3 * statistics.median(lat):.0f} ms, max {1e3 * max(lat):.0f} ms "
                  f"({len(lat)} images)")
    finally:
        stop(p)
    for clients in (1, 4, 8):
        p, port = start_server()
        try:
            base = peak_rss_mib(p.pid)
            t0 = time.perf_counter()
            threads = [threading.Thread(target=proto.exchange, args=(port, payload, 600)) for _ in range(clients)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(900)
            wall = time.perf_counter() - t0
            peak = peak_rss_mib(p.pid)
            print(f"{clients} concurrent scans (auto): {wall:.1f} s, server peak {peak:.0f} MiB "
                  f"(idle {base:.0f} MiB; {peak / kspace_mib:.2f} x one scan's k-space)")
        finally:
            stop(p)


if __name__ == "__main__":
    main()
