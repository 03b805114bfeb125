"""larmor.batch on loopback Dask clusters: every output equal to serial `larmor recon` although a worker is
killed mid-batch, a garbage and a truncated file recorded as failed while the rest go on, no partial files,
re-runs that skip, the command line's exit codes, and an external dask-scheduler + dask-worker.

Needs the `larmor` CLI (LARMOR_CLI, else the newest build*/larmor), ismrmrd_generate_cartesian_shepp_logan
and python3-distributed; skipped cleanly without them. Every test is bounded in time (subprocess timeouts,
joins with timeouts, and a faulthandler watchdog over the whole module) and cleans up what it started.
"""
import faulthandler
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")
distributed = pytest.importorskip("distributed")
import dask  # noqa: E402  (after the skip: dask comes with distributed)

import larmor  # noqa: E402
from larmor import batch  # noqa: E402

# Outputs are compared bit for bit across processes (CLI, workers). Transforms of 2^20 points and more are
# planned with FFTW_MEASURE, which picks algorithms by timing them in each process: on a loaded machine two
# processes can pick different ones and differ by float round-off (seen: 4-7e-5 relative, 192^2 x 16
# coils). Every process started here inherits this and plans the same way.
os.environ.setdefault("LARMOR_FFT_PLANNER", "estimate")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "data", "shepp_logan_8ch_96.h5")
GENERATOR = shutil.which("ismrmrd_generate_cartesian_shepp_logan")


def _find_cli():
    env = os.environ.get("LARMOR_CLI")
    if env:
        return env if os.access(env, os.X_OK) else None
    # the CLI of the build tree whose python package is imported (<build>/python/larmor -> <build>/larmor)
    build = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(larmor.__file__))))
    for p in (os.path.join(build, "larmor"), os.path.join(build, "src", "cli", "larmor")):
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    found = [p for pat in (("build*", "larmor"), ("build*", "src", "cli", "larmor"))
             for p in glob.glob(os.path.join(ROOT, *pat)) if os.path.isfile(p) and os.access(p, os.X_OK)]
    return max(found, key=os.path.getmtime) if found else None


CLI = _find_cli()
pytestmark = [
    pytest.mark.skipif(CLI is None, reason="larmor CLI not built (set LARMOR_CLI)"),
    pytest.mark.skipif(GENERATOR is None, reason="ismrmrd_generate_cartesian_shepp_logan missing (ismrmrd-tools)"),
    pytest.mark.skipif(not hasattr(larmor, "recon_to_file"), reason="module built without bind_batch"),
]


@pytest.fixture(scope="module", autouse=True)
def watchdog():
    """Hard bound on the whole module: dump the stacks and exit rather than hang a CI job."""
    faulthandler.dump_traceback_later(600, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def _env():
    env = dict(os.environ)
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(larmor.__file__)))
    env["PYTHONPATH"] = pkg + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run(cmd, timeout, **kw):
    """Runs cmd in its own process group; kills the whole group (workers included) on timeout."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                         start_new_session=True, **kw)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise
    return p.returncode, out, err


def _generate(path, *args):
    rc, _, err = _run([GENERATOR, "-o", path, *args], timeout=60)
    assert rc == 0 and os.path.isfile(path), err


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Good raw files (different sizes, coils, repetitions, one undersampled with calibration lines) and
    two bad ones: random bytes, and a good file cut in half."""
    d = tmp_path_factory.mktemp("raw")
    good = []
    for name, args in [("big", ["-m", "192", "-c", "16", "-r", "3"]), ("small", ["-m", "64", "-c", "4", "-r", "2"]),
                       ("accel", ["-m", "128", "-c", "8", "-a", "2", "-w", "24"]),
                       ("mid", ["-m", "160", "-c", "12", "-r", "2"])]:
        p = str(d / f"{name}.h5")
        _generate(p, *args)
        good.append(p)
    demo = str(d / "demo.h5")
    shutil.copy(DEMO, demo)
    good.append(demo)
    garbage = str(d / "garbage.h5")
    with open(garbage, "wb") as f:
        f.write(np.random.default_rng(7).integers(0, 256, 100_000, dtype=np.uint8).tobytes())
    truncated = str(d / "truncated.h5")
    with open(good[1], "rb") as f:
        blob = f.read()
    with open(truncated, "wb") as f:
        f.write(blob[: len(blob) // 2])
    return good, [garbage, truncated]


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory):
    """Serial `larmor recon IN -o OUT` of every good input, with the default threads (the workers run 1 larmor
    thread per task; the output does not depend on it)."""
    d = tmp_path_factory.mktemp("serial")
    ref = {}
    for src in inputs[0]:
        out = str(d / os.path.basename(src))
        rc, _, err = _run([CLI, "recon", src, "-o", out], timeout=120)
        assert rc == 0, err
        ref[src] = out
    return ref


def _h5_items(path):
    items = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            items[name] = obj[()]

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return items


def assert_same_images(a, b):
    """Every dataset of the two ISMRMRD image files equal: pixels, image headers, attributes."""
    ia, ib = _h5_items(a), _h5_items(b)
    assert sorted(ia) == sorted(ib)
    assert any(k.endswith("/data") for k in ia)
    for k in ia:
        x, y = ia[k], ib[k]
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, k
            assert x.tobytes() == y.tobytes(), k
        else:
            assert x == y, k


def _files_in(d):
    return sorted(os.listdir(d))


@pytest.fixture(scope="module")
def cluster():
    """2 worker processes on 127.0.0.1, one task at a time each, 2 retries after a worker death."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 2,
                          "distributed.nanny.pre-spawn-environ": batch._NANNY_ENVIRON}):
        c = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                     dashboard_address=None, memory_limit=0, silence_logs=50)
    client = distributed.Client(c)
    yield client
    client.close(timeout=30)
    c.close(timeout=30)


def test_killed_worker_and_bad_files(inputs, reference, cluster, tmp_path):
    good, bad = inputs
    out = tmp_path / "out"
    files = [good[0], bad[0], good[1], good[2], bad[1], good[3], good[4]]
    pids = cluster.run(os.getpid)
    result = {}

    def go():
        try:
            result["records"] = batch.recon_files(files, out, client=cluster, retries=2, threads_per_worker=1)
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            result["error"] = e

    t = threading.Thread(target=go, daemon=True)
    t.start()
    # Kill the worker running the first (largest) input as soon as the scheduler has it running there.
    killed, deadline = None, time.time() + 120
    while killed is None and time.time() < deadline and t.is_alive():
        for addr, keys in cluster.processing().items():
            if keys and addr in pids:
                time.sleep(0.05)  # into the reconstruction, well before its end
                os.kill(pids[addr], signal.SIGKILL)
                killed = (addr, keys)
                break
        time.sleep(0.005)
    t.join(timeout=300)
    assert not t.is_alive(), "batch did not finish"
    assert "error" not in result, result.get("error")
    assert killed is not None, "no task was seen running"
    records = result["records"]

    assert [r["input"] for r in records] == files
    by_input = {r["input"]: r for r in records}
    for src in good:
        r = by_input[src]
        assert r["status"] == "ok" and r["error"] is None, r
        assert r["method"] != "auto" and r["images"] >= 1 and r["seconds"] > 0 and r["worker"], r
        assert r["worker"] != killed[0], r  # the killed worker wrote nothing
        assert_same_images(r["output"], reference[src])
    for src in bad:
        r = by_input[src]
        assert r["status"] == "failed" and r["error"].startswith("RuntimeError"), r
        assert r["attempts"] == 1, r  # bad data is not retried
        assert not os.path.exists(r["output"])
    assert max(r["attempts"] for r in records) >= 2  # the task on the killed worker ran again
    # nothing but complete outputs and the manifest
    assert _files_in(out) == sorted([os.path.basename(by_input[s]["output"]) for s in good] + ["manifest.json"])
    with open(out / "manifest.json") as f:
        assert json.load(f) == json.loads(json.dumps(records))


def test_rerun_skips_and_redo(inputs, reference, cluster, tmp_path):
    good = inputs[0][1:3]
    out = tmp_path / "out"
    first = batch.recon_files(good, out, client=cluster, threads_per_worker=1)
    assert [r["status"] for r in first] == ["ok", "ok"] and not any(r["skipped"] for r in first)
    mtimes = [os.stat(r["output"]).st_mtime_ns for r in first]
    second = batch.recon_files(good, out, client=cluster, threads_per_worker=1)
    assert all(r["skipped"] and r["status"] == "ok" and r["attempts"] == 0 for r in second)
    assert [r["method"] for r in second] == [r["method"] for r in first]  # from the previous manifest
    assert [os.stat(r["output"]).st_mtime_ns for r in second] == mtimes
    # an output older than its input, or not an HDF5 file, is redone; redo=True redoes everything
    os.utime(good[0], ns=(mtimes[0] + 10**9, mtimes[0] + 10**9))
    with open(first[1]["output"], "wb") as f:
        f.write(b"not hdf5")
    third = batch.recon_files(good, out, client=cluster, threads_per_worker=1)
    assert [r["skipped"] for r in third] == [False, False]
    for r, src in zip(third, good):
        assert_same_images(r["output"], reference[src])
    fourth = batch.recon_files(good, out, client=cluster, threads_per_worker=1, redo=True)
    assert [r["skipped"] for r in fourth] == [False, False]
    assert _files_in(out) == sorted([os.path.basename(r["output"]) for r in first] + ["manifest.json"])


def test_output_names_and_missing_input(inputs, cluster, tmp_path):
    src = inputs[0][1]
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    shutil.copy(src, a / "x.h5")
    shutil.copy(src, b / "x.h5")
    recs = batch.recon_files([a / "x.h5", b / "x.h5", a / "missing.h5"], a, client=cluster)
    assert [r["status"] for r in recs] == ["ok", "ok", "failed"]
    assert "missing.h5" in recs[2]["error"]
    outs = [r["output"] for r in recs[:2]]
    assert len(set(outs)) == 2 and str(a / "x.h5") not in outs  # same stem: distinct names; input kept
    assert_same_images(outs[0], outs[1])
    with pytest.raises(ValueError):
        batch.recon_files([src], tmp_path / "c", client=cluster, method="no-such-method")
    with pytest.raises(ValueError):
        batch.recon_files([src], tmp_path / "c", client=cluster, bogus=1)


def test_threads_plan_shares_the_cores(cluster):
    plan = batch._threads_plan(cluster, None)
    slots = sum(w["nthreads"] for w in cluster.scheduler_info()["workers"].values())
    assert plan == {"127.0.0.1": max(1, batch._cores() // slots)}
    assert batch._threads_plan(cluster, 3) == {"*": 3}


def test_cli_usage_errors(inputs, tmp_path):
    py = [sys.executable, "-m", "larmor.batch"]
    src = inputs[0][1]
    for args in ([], [src], ["--out", str(tmp_path)], [src, "--out", str(tmp_path), "--workers", "0"],
                 [src, "--out", str(tmp_path), "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"],
                 [src, "--out", str(tmp_path), "--method", "no-such-method"],
                 [src, "--out", str(tmp_path), "--threads-per-worker", "0"], [src, "--out", src]):
        rc, out, err = _run(py + args, timeout=60)
        assert rc == 2, (args, err)
        assert "usage" in err and out == ""
    assert _files_in(tmp_path) == []


def test_cli_local_cluster(inputs, reference, tmp_path):
    good, bad = inputs
    out = tmp_path / "out"
    py = [sys.executable, "-m", "larmor.batch"]
    rc, stdout, err = _run(py + [good[1], bad[0], good[2], "--out", str(out), "--workers", "2",
                                 "--threads-per-worker", "1"], timeout=180)
    assert rc == 1, err
    assert bad[0] in err and good[1] not in err and stdout == ""  # quiet off a terminal: only the failure
    recs = json.loads((out / "manifest.json").read_text())
    assert [r["status"] for r in recs] == ["ok", "failed", "ok"]
    for r in (recs[0], recs[2]):
        assert_same_images(r["output"], reference[r["input"]])
    rc, stdout, err = _run(py + [good[1], good[2], "--out", str(out), "--threads-per-worker", "1"], timeout=180)
    assert rc == 0 and err == "", err
    recs = json.loads((out / "manifest.json").read_text())
    assert all(r["skipped"] for r in recs)


def test_cli_external_scheduler(inputs, reference, tmp_path):
    """dask-scheduler + dask-worker processes on 127.0.0.1, as on a cluster, used through --scheduler."""
    sched_bin, worker_bin = shutil.which("dask-scheduler"), shutil.which("dask-worker")
    if not sched_bin or not worker_bin:
        pytest.skip("dask-scheduler / dask-worker not installed")
    sfile = tmp_path / "scheduler.json"
    procs = []
    try:
        procs.append(subprocess.Popen([sched_bin, "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                       "--scheduler-file", str(sfile)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, env=_env(), start_new_session=True))
        deadline = time.time() + 60
        while not sfile.exists() and time.time() < deadline:
            time.sleep(0.1)
        assert sfile.exists(), "dask-scheduler did not start"
        time.sleep(0.2)  # the file is written in one go, but let it land
        address = json.loads(sfile.read_text())["address"]
        wenv = _env()  # keep OMP_NUM_THREADS as the CLI has it (Dask's nanny would set 1: round-off differences)
        wenv["DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON"] = "{}"
        assert address.startswith("tcp://127.0.0.1:")
        procs.append(subprocess.Popen([worker_bin, address, "--host", "127.0.0.1", "--nworkers", "2", "--nthreads",
                                       "1", "--no-dashboard", "--memory-limit", "0"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, env=wenv, start_new_session=True))
        out = tmp_path / "out"
        rc, _, err = _run([sys.executable, "-m", "larmor.batch", good_pair(inputs)[0], good_pair(inputs)[1],
                           "--out", str(out), "--scheduler", address, "--threads-per-worker", "1"], timeout=180)
        assert rc == 0, err
        recs = json.loads((out / "manifest.json").read_text())
        for r in recs:
            assert r["status"] == "ok" and r["worker"].startswith("tcp://127.0.0.1:")
            assert_same_images(r["output"], reference[r["input"]])
    finally:
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=20)
            except ProcessLookupError:
                pass


def good_pair(inputs):
    return inputs[0][1], inputs[0][2]


# ---- a multi-slice file split per slice --------------------------------------------------------------------

def make_multislice(path, gen_reps, reps=1, matrix=64, coils=4, extra=(), bad_slice=None):
    """An ISMRMRD file of several slices x `reps` repetitions: the generator's repetitions (-r gen_reps;
    twice that many with -a 2, whose repetitions alternate the sampled lines) renumbered, repetition r ->
    slice r // reps, repetition r % reps, slice positions 5 mm apart, the XML header's encodingLimits saying
    so. bad_slice: one readout of that slice gets a phase-encoding line outside the matrix (bad data that
    only that slice's recon meets)."""
    _generate(path, "-m", str(matrix), "-c", str(coils), "-r", str(gen_reps), *extra)
    with h5py.File(path, "r+") as f:
        d = f["dataset/data"]
        a = d[()]
        head = a["head"]
        noise = (head["flags"] & np.uint64(1 << 18)) != 0  # ACQ_IS_NOISE_MEASUREMENT
        r = head["idx"]["repetition"].copy()
        slices = int(r[~noise].max()) // reps + 1
        idx = head["idx"]
        idx["slice"] = np.where(noise, 0, r // reps)
        idx["repetition"] = np.where(noise, 0, r % reps)
        if bad_slice is not None:
            idx["kspace_encode_step_1"][np.flatnonzero(~noise & (r // reps == bad_slice))[3]] = 9999
        head["idx"] = idx
        pos = head["position"]
        pos[:, 2] = np.where(noise, pos[:, 2], (r // reps) * 5.0 - 10.0)
        head["position"] = pos
        a["head"] = head
        d[...] = a
        xml = f["dataset/xml"][0]
        xml = xml.decode() if isinstance(xml, bytes) else xml

        def lim(n, mx):
            return f"<{n}><minimum>0</minimum><maximum>{mx}</maximum><center>0</center></{n}>"

        xml, n = re.subn(r"<repetition>.*?</repetition>", lim("slice", slices - 1) + lim("repetition", reps - 1),
                         xml, flags=re.S)
        assert n == 1
        f["dataset/xml"][0] = xml.encode()
    return slices


@pytest.fixture(scope="module")
def multislice(tmp_path_factory):
    """Multi-slice files and their serial `larmor recon` outputs: 3 slices x 2 repetitions with noise
    scans; 4 slices GRAPPA R=2 with calibration lines (auto picks per slice; the odd slices sample the odd
    lines); larger slices (for the worker killed mid-part); 3 slices whose slice 2 holds bad data."""
    d = tmp_path_factory.mktemp("multislice")
    files = {"reps": (6, 2, 64, 4, ["-C"]), "accel": (2, 1, 64, 8, ["-a", "2", "-w", "16"]),
             "large": (4, 1, 128, 8, []), "badslice": (3, 1, 64, 4, [])}
    out = {}
    for name, (gen_reps, reps, m, c, extra) in files.items():
        src = str(d / f"ms_{name}.h5")
        make_multislice(src, gen_reps, reps, m, c, extra, bad_slice=2 if name == "badslice" else None)
        ref = None
        if name != "badslice":
            ref = str(d / f"ref_{name}.h5")
            rc, _, err = _run([CLI, "recon", src, "-o", ref], timeout=120)
            assert rc == 0, err
        out[name] = (src, ref)
    return out


def test_recon_to_file_slices(multislice, tmp_path):
    """A part's images are the whole file's images of its slices (pixels and geometry), image_index 1..n."""
    src, ref = multislice["reps"]
    whole = _h5_items(ref)
    part = str(tmp_path / "part.h5")
    res = larmor.recon_to_file(src, part, slices=[1])
    assert res["images"] == 2  # 2 repetitions of slice 1
    got = _h5_items(part)
    head_w, head_p = whole["dataset/image_0/header"], got["dataset/image_0/header"]
    sel = np.flatnonzero(head_w["slice"] == 1)
    assert len(sel) == 2 and list(head_p["image_index"]) == [1, 2]
    assert got["dataset/image_0/data"].tobytes() == whole["dataset/image_0/data"][sel].tobytes()
    for field in ("slice", "repetition", "position", "read_dir", "field_of_view"):
        assert np.array_equal(head_p[field], head_w[sel][field]), field
    for bad in ([], [70000], [-1]):
        with pytest.raises(ValueError):
            larmor.recon_to_file(src, part, slices=bad)


def test_split_plan(inputs, multislice, tmp_path):
    src = multislice["accel"][0]
    assert batch._file_slices(src, "dataset") == [0, 1, 2, 3]
    assert batch._plan_split(src, "dataset", "always", 256, 1, 2) == [[0], [1], [2], [3]]
    assert batch._plan_split(src, "dataset", "always", 256, None, 2) == [[0, 1], [2, 3]]  # one per slot
    assert batch._plan_split(src, "dataset", "always", 256, 3, 2) == [[0, 1, 2], [3]]
    assert batch._plan_split(src, "dataset", "always", 256, None, 1) is None  # one slot: one task
    assert batch._plan_split(src, "dataset", "auto", 256, 1, 2) is None  # small file
    assert batch._plan_split(src, "dataset", "auto", 0, 1, 2) == [[0], [1], [2], [3]]
    assert batch._plan_split(src, "dataset", "off", 0, 1, 2) is None
    assert batch._file_slices(multislice["reps"][0], "dataset") == [0, 1, 2]  # noise scans not counted
    assert batch._file_slices(inputs[0][1], "dataset") is None  # single slice
    for bad in inputs[1]:
        assert batch._file_slices(bad, "dataset") is None  # garbage, truncated: one task reports it
    twix = os.path.join(ROOT, "data", "scans", "twixtools_gre_epi_2ch", "gre.dat")
    if os.path.isfile(twix):
        assert batch._file_slices(twix, "dataset") is None
    with pytest.raises(ValueError):
        batch.recon_files([src], tmp_path, split="sometimes")
    with pytest.raises(ValueError):
        batch.recon_files([src], tmp_path, slices_per_task=0)


def test_split_equals_serial(multislice, inputs, cluster, tmp_path):
    """Split per slice on 2 workers: each output equals the serial whole-file output bit for bit; a bad
    slice fails its file (error names the slices) with no output and no part left; single-slice files in
    the same batch run whole."""
    out = tmp_path / "out"
    names = ["reps", "accel", "badslice"]
    files = [multislice[n][0] for n in names] + [inputs[0][1]]
    recs = batch.recon_files(files, out, client=cluster, split="always", slices_per_task=1, threads_per_worker=1)
    by = dict(zip(names + ["single"], recs))
    for n, slices in (("reps", 3), ("accel", 4)):
        r = by[n]
        assert r["status"] == "ok", r
        assert [p["slices"] for p in r["parts"]] == [[i] for i in range(slices)]
        assert all(p["status"] == "ok" and p["worker"] and p["seconds"] > 0 and p["attempts"] == 1
                   for p in r["parts"]), r["parts"]
        assert r["images"] == sum(p["images"] for p in r["parts"]) and r["worker"] and r["assemble_seconds"] > 0
        assert_same_images(r["output"], multislice[n][1])
    rc, _, _ = _run([CLI, "recon", multislice["badslice"][0], "-o", str(tmp_path / "bad.h5")], timeout=120)
    assert rc != 0  # the serial recon fails on it too
    r = by["badslice"]
    assert r["status"] == "failed" and r["error"].startswith("slices 2: RuntimeError"), r
    assert [p["status"] for p in r["parts"]] == ["ok", "ok", "failed"]
    assert "parts" not in by["single"] and by["single"]["status"] == "ok"
    assert _files_in(out) == sorted([os.path.basename(by[n]["output"]) for n in ("reps", "accel", "single")]
                                    + ["manifest.json"])


def test_split_worker_killed(multislice, cluster, tmp_path):
    """A worker killed while it reconstructs a part: the part runs again elsewhere, the output still equals
    the serial one, nothing else is left in the output directory."""
    src, ref = multislice["large"]
    out = tmp_path / "out"
    pids = cluster.run(os.getpid)
    result = {}

    def go():
        try:
            result["records"] = batch.recon_files([src], out, client=cluster, split="always", slices_per_task=1,
                                                  threads_per_worker=1)
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            result["error"] = e

    t = threading.Thread(target=go, daemon=True)
    t.start()
    killed, deadline = None, time.time() + 120
    while killed is None and time.time() < deadline and t.is_alive():
        for addr, keys in cluster.processing().items():
            if addr in pids and any("larmor-part-" in str(k) for k in keys):
                time.sleep(0.05)
                os.kill(pids[addr], signal.SIGKILL)
                killed = addr
                break
        time.sleep(0.005)
    t.join(timeout=240)
    assert not t.is_alive(), "batch did not finish"
    assert "error" not in result, result.get("error")
    assert killed is not None, "no part was seen running"
    (r,) = result["records"]
    assert r["status"] == "ok", r
    assert len(r["parts"]) == 4 and r["attempts"] >= 2, r
    assert all(p["worker"] != killed for p in r["parts"]) and r["worker"] != killed
    assert_same_images(r["output"], ref)
    assert _files_in(out) == sorted([os.path.basename(r["output"]), "manifest.json"])


def test_split_cli(multislice, tmp_path):
    src, ref = multislice["reps"]
    out = tmp_path / "out"
    py = [sys.executable, "-m", "larmor.batch"]
    for bad in (["--split-slices", "sometimes"], ["--slices-per-task", "0"]):
        rc, _, err = _run(py + [src, "--out", str(out)] + bad, timeout=60)
        assert rc == 2 and "usage" in err, (bad, err)
    rc, _, err = _run(py + [src, "--out", str(out), "--workers", "2", "--threads-per-worker", "1",
                            "--split-slices", "always", "--slices-per-task", "2"], timeout=180)
    assert rc == 0, err
    (r,) = json.loads((out / "manifest.json").read_text())
    assert [p["slices"] for p in r["parts"]] == [[0, 1], [2]]
    assert_same_images(r["output"], ref)
    assert _files_in(out) == sorted([os.path.basename(r["output"]), "manifest.json"])
