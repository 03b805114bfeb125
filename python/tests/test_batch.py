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
