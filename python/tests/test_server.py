"""`larmor serve`, `larmor send` and `larmor recon -` against a client written here from the protocol
(ISMRMRD / Gadgetron v1 stream: Gadgetron core/MessageID.h and its client, ISMRMRD doc/mrd_messages.md), not
with larmor's own codec: the raw readouts read with h5py and laid out byte for byte as the protocol says,
the images parsed the same way.

A scan through the server gives the images (pixels and headers) of `larmor recon` on the same file; so does
the same stream on stdin; several clients at once; a client killed mid-scan and one sending garbage leave
the server serving; SIGTERM stops it with exit 0. When Gadgetron's own client is found
(GADGETRON_ISMRMRD_CLIENT, else gadgetron_ismrmrd_client on PATH) it is run against the server as well.

Needs the `larmor` CLI (LARMOR_CLI, else the newest build*/larmor) and h5py. Loopback only, ports picked by
the server (port 0), every process stopped, every wait bounded.
"""
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

import numpy as np
import pytest

from cli_path import find_cli

h5py = pytest.importorskip("h5py")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "data", "shepp_logan_8ch_96.h5")
os.environ.setdefault("LARMOR_FFT_PLANNER", "estimate")  # bit-equal images across processes


CLI = find_cli()
pytestmark = pytest.mark.skipif(CLI is None, reason="larmor CLI not built (set LARMOR_CLI)")

# ---- the protocol, from its specification ---------------------------------------------------------------
CONFIG_FILE, HEADER, CLOSE, TEXT, ACQUISITION, IMAGE = 1, 3, 4, 5, 1008, 1022

# ISMRMRD AcquisitionHeader: 340 bytes, packed, little-endian (ismrmrd.h).
ACQ_HEAD = np.dtype([
    ("version", "<u2"), ("flags", "<u8"), ("measurement_uid", "<u4"), ("scan_counter", "<u4"),
    ("acquisition_time_stamp", "<u4"), ("physiology_time_stamp", "<u4", (3,)), ("number_of_samples", "<u2"),
    ("available_channels", "<u2"), ("active_channels", "<u2"), ("channel_mask", "<u8", (16,)),
    ("discard_pre", "<u2"), ("discard_post", "<u2"), ("center_sample", "<u2"), ("encoding_space_ref", "<u2"),
    ("trajectory_dimensions", "<u2"), ("sample_time_us", "<f4"), ("position", "<f4", (3,)),
    ("read_dir", "<f4", (3,)), ("phase_dir", "<f4", (3,)), ("slice_dir", "<f4", (3,)),
    ("patient_table_position", "<f4", (3,)),
    ("idx", [("kspace_encode_step_1", "<u2"), ("kspace_encode_step_2", "<u2"), ("average", "<u2"),
             ("slice", "<u2"), ("contrast", "<u2"), ("phase", "<u2"), ("repetition", "<u2"), ("set", "<u2"),
             ("segment", "<u2"), ("user", "<u2", (8,))]),
    ("user_int", "<i4", (8,)), ("user_float", "<f4", (8,))])
assert ACQ_HEAD.itemsize == 340

# ISMRMRD ImageHeader: 198 bytes, packed.
IMG_HEAD = np.dtype([
    ("version", "<u2"), ("data_type", "<u2"), ("flags", "<u8"), ("measurement_uid", "<u4"),
    ("matrix_size", "<u2", (3,)), ("field_of_view", "<f4", (3,)), ("channels", "<u2"), ("position", "<f4", (3,)),
    ("read_dir", "<f4", (3,)), ("phase_dir", "<f4", (3,)), ("slice_dir", "<f4", (3,)),
    ("patient_table_position", "<f4", (3,)), ("average", "<u2"), ("slice", "<u2"), ("contrast", "<u2"),
    ("phase", "<u2"), ("repetition", "<u2"), ("set", "<u2"), ("acquisition_time_stamp", "<u4"),
    ("physiology_time_stamp", "<u4", (3,)), ("image_type", "<u2"), ("image_index", "<u2"),
    ("image_series_index", "<u2"), ("user_int", "<i4", (8,)), ("user_float", "<f4", (8,)),
    ("attribute_string_len", "<u4")])
assert IMG_HEAD.itemsize == 198


def stream_of_file(path, config="default.xml", max_readouts=None):
    """CONFIG_FILE, HEADER and the file's acquisitions as the protocol lays them out (CLOSE not included)."""
    with h5py.File(path, "r") as f:
        xml = f["dataset/xml"][0]
        xml = xml if isinstance(xml, bytes) else str(xml).encode()
        acqs = f["dataset/data"][()]
    out = [struct.pack("<H", CONFIG_FILE) + config.encode().ljust(1024, b"\0"),
           struct.pack("<HI", HEADER, len(xml)) + xml]
    for i, a in enumerate(acqs):
        if max_readouts is not None and i >= max_readouts:
            break
        head = np.zeros((), ACQ_HEAD)
        for name in ACQ_HEAD.names:
            head[name] = a["head"][name]
        out.append(struct.pack("<H", ACQUISITION) + head.tobytes() + np.asarray(a["traj"], "<f4").tobytes() +
                   np.asarray(a["data"], "<f4").tobytes())
    return b"".join(out)


def read_messages(data):
    """The server's reply: [(id, payload)] with IMAGE payloads as (header, attributes, pixels)."""
    msgs, p = [], 0
    while p < len(data):
        (mid,) = struct.unpack_from("<H", data, p)
        p += 2
        if mid == CLOSE:
            msgs.append((CLOSE, None))
        elif mid == TEXT:
            (n,) = struct.unpack_from("<I", data, p)
            msgs.append((TEXT, data[p + 4:p + 4 + n].decode(errors="replace")))
            p += 4 + n
        elif mid == IMAGE:
            h = np.frombuffer(data, IMG_HEAD, 1, p)[0]
            p += 198
            (n,) = struct.unpack_from("<Q", data, p)
            attrs = data[p + 8:p + 8 + n].decode()
            p += 8 + n
            nx, ny, nz = (int(v) for v in h["matrix_size"])
            dt = {5: np.dtype("<f4"), 7: np.dtype("<c8")}[int(h["data_type"])]
            count = nx * ny * nz * int(h["channels"])
            pix = np.frombuffer(data, dt, count, p).reshape(nz, ny, nx)
            p += count * dt.itemsize
            msgs.append((IMAGE, (h, attrs, pix)))
        else:
            raise AssertionError(f"the server sent message id {mid}")
    return msgs


def exchange(port, payload, timeout=60, close=True):
    """Sends payload (+ CLOSE) on a new connection while reading the reply, until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        got = []

        def reader():
            while True:
                try:
                    b = s.recv(1 << 16)
                except OSError:
                    return
                if not b:
                    return
                got.append(b)

        t = threading.Thread(target=reader)
        t.start()
        try:
            s.sendall(payload + (struct.pack("<H", CLOSE) if close else b""))
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server refused part way; its reply says why
        t.join(timeout)
        assert not t.is_alive(), "the server did not close the connection"
    return b"".join(got)


@pytest.fixture
def server(tmp_path):
    """`larmor serve --port 0` (the port it prints), stopped with SIGTERM at the end (exit 0 asserted); its log
    in tmp_path/serve.log."""
    log = open(tmp_path / "serve.log", "w")
    p = subprocess.Popen([CLI, "serve", "--port", "0", "--idle-timeout", "5", "--grace", "5"],
                         stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        line = p.stdout.readline()
        assert line.strip().isdigit(), (tmp_path / "serve.log").read_text()
        yield p, int(line)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise
        finally:
            log.close()
        assert rc == 0, (tmp_path / "serve.log").read_text()


def reference_images(tmp_path):
    out = tmp_path / "ref.h5"
    subprocess.run([CLI, "recon", DEMO, "-o", str(out)], check=True, capture_output=True, timeout=120)
    with h5py.File(out, "r") as f:
        return f["dataset/image_0/header"][()], f["dataset/image_0/data"][()]


def compare(images, ref_headers, ref_data):
    assert len(images) == len(ref_headers)
    for (h, _, pix), rh, rd in zip(images, ref_headers, ref_data):
        np.testing.assert_array_equal(pix, rd[0])  # (channels, z, y, x) in the file
        for name in ("matrix_size", "field_of_view", "position", "read_dir", "phase_dir", "slice_dir", "slice",
                     "contrast", "repetition", "image_type", "image_index", "image_series_index"):
            np.testing.assert_array_equal(h[name], rh[name], err_msg=name)


def test_a_scan_through_the_server_equals_larmor_recon(server, tmp_path):
    _, port = server
    ref_h, ref_d = reference_images(tmp_path)
    msgs = read_messages(exchange(port, stream_of_file(DEMO)))
    assert msgs[-1][0] == CLOSE
    images = [m[1] for m in msgs if m[0] == IMAGE]
    compare(images, ref_h, ref_d)
    assert "larmor.method" in images[0][1]


def test_the_stream_on_stdin_equals_larmor_recon(tmp_path):
    ref_h, ref_d = reference_images(tmp_path)
    out = tmp_path / "stdin.h5"
    r = subprocess.run([CLI, "recon", "-", "-o", str(out)], input=stream_of_file(DEMO) + struct.pack("<H", CLOSE),
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["dataset/image_0/data"][()], ref_d)
        np.testing.assert_array_equal(f["dataset/image_0/header"][()]["position"], ref_h["position"])
    # A truncated stream: exit 1, one line, no output file.
    bad = tmp_path / "bad.h5"
    r = subprocess.run([CLI, "recon", "-", "-o", str(bad)], input=stream_of_file(DEMO)[:-1000],
                       capture_output=True, timeout=120)
    assert r.returncode == 1
    assert b"ends inside" in r.stderr, r.stderr
    assert not bad.exists()


def test_several_clients_and_bad_clients(server, tmp_path):
    proc, port = server
    ref_h, ref_d = reference_images(tmp_path)
    payload = stream_of_file(DEMO)
    results = [None] * 4

    def client(i):
        results[i] = read_messages(exchange(port, payload))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    # ... while a client sends garbage, and another is killed mid-scan.
    garbage = exchange(port, b"\x39\x30" + os.urandom(3000), close=False)
    for t in threads:
        t.start()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(stream_of_file(DEMO, max_readouts=30))
    for t in threads:
        t.join(120)
    for r in results:
        compare([m[1] for m in r if m[0] == IMAGE], ref_h, ref_d)
    g = read_messages(garbage)
    assert g[0][0] == TEXT and "unknown message id 12345" in g[0][1]
    assert g[-1][0] == CLOSE
    # still serving
    compare([m[1] for m in read_messages(exchange(port, payload)) if m[0] == IMAGE], ref_h, ref_d)
    assert proc.poll() is None


def test_larmor_send(server, tmp_path):
    _, port = server
    ref_h, ref_d = reference_images(tmp_path)
    out = tmp_path / "sent.h5"
    r = subprocess.run([CLI, "send", DEMO, "--port", str(port), "-o", str(out)], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["dataset/image_0/data"][()], ref_d)
    r = subprocess.run([CLI, "send", DEMO, "--port", str(port), "--config", "nonsense.xml", "-o", str(tmp_path / "x.h5")],
                       capture_output=True, timeout=120)
    assert r.returncode == 1 and b"unknown configuration" in r.stderr, r.stderr
    assert not (tmp_path / "x.h5").exists()


GADGETRON_CLIENT = os.environ.get("GADGETRON_ISMRMRD_CLIENT") or shutil.which("gadgetron_ismrmrd_client")


@pytest.mark.skipif(GADGETRON_CLIENT is None,
                    reason="gadgetron_ismrmrd_client not found (Gadgetron is not in Debian; build it outside the "
                           "repository and set GADGETRON_ISMRMRD_CLIENT, docs/server.md)")
def test_gadgetrons_own_client(server, tmp_path):
    _, port = server
    ref_h, ref_d = reference_images(tmp_path)
    out = tmp_path / "gt.h5"
    r = subprocess.run([GADGETRON_CLIENT, "-a", "127.0.0.1", "-p", str(port), "-f", DEMO, "-o", str(out),
                        "-G", "dataset"], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    with h5py.File(out, "r") as f:
        # the client names the dataset after the image series (image_1); larmor recon writes image_0
        series = list(f["dataset"].keys())
        assert series == ["image_1"], series
        np.testing.assert_array_equal(f["dataset/image_1/data"][()], ref_d)
        h = f["dataset/image_1/header"][()]
        for name in ("position", "read_dir", "slice", "image_index", "image_series_index"):
            np.testing.assert_array_equal(h[name], ref_h[name], err_msg=name)
