"""`larmor recon --format dicom --dicom-send AE@HOST:PORT` into a real PACS: Orthanc (Debian's `orthanc`), started
here on loopback with its own configuration and storage in a temporary directory, no plugins. The stored
instances are read back through Orthanc's REST API and compared with the files larmor wrote, pixel by pixel and
tag by tag; a PACS that is not there gives exit status 1, one line, and the files kept.

Needs the `larmor` CLI (LARMOR_CLI, else the newest build*/larmor), its bench generator larmor_make_ismrmrd3d,
Orthanc and pydicom; skipped with the reason otherwise. Every process started here is stopped.
"""
import glob
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request

import numpy as np
import pytest

from cli_path import find_cli

pydicom = pytest.importorskip("pydicom")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ORTHANC = shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if os.access("/usr/sbin/Orthanc", os.X_OK) else None)


CLI = find_cli()
GENERATOR = os.path.join(os.path.dirname(CLI), "bench", "larmor_make_ismrmrd3d") if CLI else None
pytestmark = [
    pytest.mark.skipif(CLI is None, reason="larmor CLI not built (set LARMOR_CLI)"),
    pytest.mark.skipif(ORTHANC is None, reason="Orthanc not installed (Debian package orthanc)"),
    pytest.mark.skipif(GENERATOR is None or not os.path.exists(GENERATOR),
                       reason="bench/larmor_make_ismrmrd3d not built (LARMOR_BUILD_BENCH=OFF)"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def orthanc(tmp_path):
    http, dicom = free_port(), free_port()
    config = {
        "Name": "larmor-test", "StorageDirectory": str(tmp_path / "db"), "IndexDirectory": str(tmp_path / "db"),
        "HttpPort": http, "DicomPort": dicom, "DicomAet": "LARMORPACS", "DicomCheckCalledAet": True,
        "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "Plugins": [], "HttpServerEnabled": True,
        "DicomServerEnabled": True, "StorageCompression": False,
    }
    (tmp_path / "orthanc.json").write_text(json.dumps(config))
    log = open(tmp_path / "orthanc.log", "w")
    p = subprocess.Popen([ORTHANC, str(tmp_path / "orthanc.json")], stdout=log, stderr=log)
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{http}/system", timeout=2).read()
                break
            except OSError:
                if p.poll() is not None or time.time() > deadline:
                    raise RuntimeError("Orthanc did not start: " + (tmp_path / "orthanc.log").read_text()[-2000:])
                time.sleep(0.2)
        yield http, dicom
    finally:
        p.terminate()
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()


def rest(http, path):
    return urllib.request.urlopen(f"http://127.0.0.1:{http}{path}", timeout=30).read()


@pytest.fixture
def scan(tmp_path):
    raw = str(tmp_path / "scan.h5")
    # 4 sequential slices, 8 coils, 48 x 48, GRAPPA R=2 with 16 ACS lines, 2 noise scans: real geometry
    subprocess.run([GENERATOR, "8", "48", "48", "4", "2", "1", "16", raw, "2", "1", "slices"], check=True,
                   capture_output=True, timeout=120)
    return raw


def test_series_stored_in_orthanc_equal_the_files_written(orthanc, scan, tmp_path):
    http, dicom = orthanc
    out = tmp_path / "dcm"
    r = subprocess.run([CLI, "recon", scan, "--format", "dicom", "-o", str(out), "--dicom-send",
                        f"LARMORPACS@127.0.0.1:{dicom}"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    local = {}
    for f in glob.glob(str(out / "**" / "*.dcm"), recursive=True):
        ds = pydicom.dcmread(f)
        local[ds.SOPInstanceUID] = ds
    assert len(local) == 4
    stored = json.loads(rest(http, "/instances"))
    assert len(stored) == 4
    for oid in stored:
        ds = pydicom.dcmread(__import__("io").BytesIO(rest(http, f"/instances/{oid}/file")))
        mine = local[ds.SOPInstanceUID]
        np.testing.assert_array_equal(ds.pixel_array, mine.pixel_array)
        for tag in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SeriesInstanceUID",
                    "StudyInstanceUID", "FrameOfReferenceUID", "RescaleSlope", "InstanceNumber"):
            assert ds.get(tag) == mine.get(tag), tag
    series = json.loads(rest(http, "/series"))
    assert len(series) == 1


def test_a_pacs_that_is_not_there(scan, tmp_path):
    out = tmp_path / "dcm"
    port = free_port()  # nothing listens there
    t0 = time.time()
    r = subprocess.run([CLI, "recon", scan, "--format", "dicom", "-o", str(out), "--dicom-send",
                        f"NOBODY@127.0.0.1:{port}"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert "C-STORE to NOBODY@127.0.0.1" in last and "kept" in last, r.stderr
    assert len(glob.glob(str(out / "**" / "*.dcm"), recursive=True)) == 4  # nothing lost
    assert time.time() - t0 < 60
    r = subprocess.run([CLI, "recon", scan, "--format", "dicom", "-o", str(out), "--dicom-send", "no-port"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "AE@HOST:PORT" in r.stderr


def test_larmor_serve_exports_each_scan_to_the_pacs(orthanc, scan, tmp_path):
    """`larmor serve --dicom-dir D --dicom-send AE@HOST:PORT`: a scan streamed with `larmor send` gets its images
    back on the socket and, as DICOM, into D and into Orthanc."""
    http, dicom = orthanc
    log = open(tmp_path / "serve.log", "w")
    srv = subprocess.Popen([CLI, "serve", "--port", "0", "--dicom-dir", str(tmp_path / "exports"), "--dicom-send",
                            f"LARMORPACS@127.0.0.1:{dicom}"], stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        port = int(srv.stdout.readline())
        r = subprocess.run([CLI, "send", scan, "--port", str(port), "-o", str(tmp_path / "back.h5")],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        deadline = time.time() + 60  # the export runs after the reply
        while len(json.loads(rest(http, "/instances"))) < 4 and time.time() < deadline:
            time.sleep(0.2)
    finally:
        srv.terminate()
        srv.wait(60)
        log.close()
    assert srv.returncode == 0
    files = glob.glob(str(tmp_path / "exports" / "*" / "*" / "*.dcm"))
    assert len(files) == 4, (tmp_path / "serve.log").read_text()
    stored = {pydicom.dcmread(__import__("io").BytesIO(rest(http, f"/instances/{i}/file"))).SOPInstanceUID
              for i in json.loads(rest(http, "/instances"))}
    assert stored == {pydicom.dcmread(f).SOPInstanceUID for f in files}
