"""larmor.batch: reconstruct many raw-data files on a Dask cluster, with retries, a manifest, and nothing lost.

    from larmor.batch import recon_files
    manifest = recon_files(["a.h5", "b.h5"], "out/")                      # local worker processes
    manifest = recon_files(files, "out/", client=distributed.Client(addr))  # an existing cluster

    python3 -m larmor.batch FILES... --out DIR [--scheduler ADDRESS | --workers N]
                            [--method M] [--threads-per-worker T] [--redo]

Each input is one task. A task runs `larmor.recon_to_file`, the same code as `larmor recon IN -o OUT
--method M` (ISMRMRD or Siemens twix in, ISMRMRD magnitude images out), so every output equals what
the command line writes. Output names are <out_dir>/<input stem>.h5 (a short hash of the input path is
added where two inputs share a stem; <stem>_recon.h5 where the output would overwrite its input).

Guarantees:
- Nothing half-written: a task writes `.<name>.part-<random>` in out_dir and renames it to <name> when it
  is complete (rename is atomic on one filesystem). Leftovers of tasks whose worker died are removed at
  the end of the batch. So an existing output is always a complete one.
- A worker that dies mid-task (killed, out of memory, crashed) makes the scheduler run the task on
  another worker, up to `retries` times more (Dask's `allowed-failures`; set for the local cluster,
  the scheduler's own setting for an external one); then the input is recorded as failed.
- Bad data or a bad argument (larmor's RuntimeError / ValueError) is recorded as failed with the message
  at once, without retries (it would fail again); other exceptions (OSError on a shared filesystem...)
  are retried `retries` times. The other inputs go on either way.
- Re-running skips inputs whose output exists, is an HDF5 file and is not older than the input, unless
  redo=True (--redo).
- Threads: every task sets larmor.set_num_threads(T) in its worker so that the tasks running at once on
  a host use its cores once, not once per task. Local cluster: N worker processes, each running one
  task at a time with T threads (default N = min(inputs, cores), T = cores // N; the workers keep the
  caller's OMP_NUM_THREADS, not Dask's 1, so that outputs equal `larmor recon` bit for bit). External
  cluster: T = cores of the host // task slots (the dask-worker --nthreads of all its workers on that
  host) unless threads_per_worker is given (start its workers with
  DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON='{}' for bit-equal outputs, see docs/batch.md).

The manifest is a list with one record (dict) per input, in input order:
    input    the path as given          output   absolute path of the image file (None if not decided)
    status   "ok" or "failed"           error    None, or "ExceptionType: message"
    method   the method that ran ("auto" resolved), or the one asked for if it failed
    seconds  wall time of the task on its worker (0 for a skipped input)
    worker   the Dask worker address that wrote the output (None if skipped or failed before running)
    skipped  True where a complete output was already there     images  images written (None if unknown)
    attempts how many times the task started (1 + worker deaths + retried exceptions; None if unknown)
It is written atomically as JSON to <out_dir>/manifest.json.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
import uuid

__all__ = ["recon_files", "main"]

MANIFEST_NAME = "manifest.json"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_OPTION_NAMES = ("noise_scaling", "dataset")  # recon_to_file's options besides method


def _cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a SLURM allocation), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _output_names(sources, out_dir):
    """Absolute output path per distinct absolute input path: <stem>.h5, disambiguated deterministically."""
    stems = {}
    for src in sources:
        stems.setdefault(os.path.splitext(os.path.basename(src))[0], []).append(src)
    out = {}
    for stem, group in stems.items():
        for src in group:
            name = stem
            if len(group) > 1:  # same stem in several directories: a hash of the full path, not an order
                name += "-" + hashlib.sha1(src.encode()).hexdigest()[:8]
            dst = os.path.join(out_dir, name + ".h5")
            if dst == src:  # never overwrite the input
                dst = os.path.join(out_dir, name + "_recon.h5")
            out[src] = dst
    return out


def _complete(dst, src) -> bool:
    """True if dst is an HDF5 file at least as new as src (outputs only ever appear by rename, complete)."""
    try:
        st = os.stat(dst)
        if st.st_size < len(_HDF5_SIGNATURE) or st.st_mtime < os.stat(src).st_mtime:
            return False
        with open(dst, "rb") as f:
            return f.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE
    except OSError:
        return False


def _remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _temp_name(dst):
    return os.path.join(os.path.dirname(dst), "." + os.path.basename(dst) + ".part-" + uuid.uuid4().hex[:12])


def _remove_leftovers(dsts):
    """Removes the temporary files of these outputs (tasks whose worker died while writing)."""
    by_dir = {}
    for d in dsts:
        by_dir.setdefault(os.path.dirname(d), set()).add("." + os.path.basename(d) + ".part-")
    for directory, prefixes in by_dir.items():
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for n in names:
            if any(n.startswith(p) for p in prefixes):
                _remove_quietly(os.path.join(directory, n))


def _worker_threads(plan):
    """larmor threads for a task on this worker: the plan's value for this host, else cores // task slots."""
    try:
        from distributed import get_worker
        w = get_worker()
    except (ImportError, ValueError):
        return plan.get("*") or _cores()
    host = w.address.rsplit(":", 1)[0].split("://")[-1]
    n = plan.get("*") or plan.get(host)
    if n:
        return n
    slots = getattr(w, "nthreads", None) or getattr(getattr(w, "state", None), "nthreads", 1) or 1
    return max(1, _cores() // slots)


def _worker_address():
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return None


def _recon_task(src, dst, method, options, plan):
    """One input -> one output, on a worker. Returns a partial manifest record."""
    import larmor

    larmor.set_num_threads(_worker_threads(plan))
    tmp = _temp_name(dst)
    t0 = time.perf_counter()
    rec = {"method": method, "worker": _worker_address(), "images": None}
    try:
        res = larmor.recon_to_file(src, tmp, method=method, **options)
        os.replace(tmp, dst)
    except (ValueError, RuntimeError) as e:  # larmor's argument / data errors: it would fail again
        _remove_quietly(tmp)
        rec.update(status="failed", error=f"{type(e).__name__}: {e}", seconds=time.perf_counter() - t0)
        return rec
    except BaseException:  # anything else (OSError, MemoryError...): Dask retries it
        _remove_quietly(tmp)
        raise
    rec.update(status="ok", error=None, method=res["method"], images=res["images"],
               seconds=time.perf_counter() - t0)
    return rec


def _threads_plan(client, threads_per_worker):
    """{host: larmor threads per task} so that the task slots on each host share its cores."""
    if threads_per_worker:
        return {"*": int(threads_per_worker)}
    try:
        workers = client.scheduler_info()["workers"]
        cores = client.run(_cores)
    except Exception:  # noqa: BLE001 - an old or restricted scheduler: fall back to the per-worker rule
        return {}
    slots, host_cores = {}, {}
    for addr, info in workers.items():
        host = info.get("host") or addr.rsplit(":", 1)[0].split("://")[-1]
        slots[host] = slots.get(host, 0) + int(info.get("nthreads", 1))
        host_cores[host] = max(host_cores.get(host, 1), int(cores.get(addr, 1)))
    return {h: max(1, host_cores[h] // max(1, slots[h])) for h in slots}


def _attempts(dask_scheduler, keys, retries):
    """On the scheduler: times each task started = 1 + worker deaths under it + exception retries used."""
    out = {}
    for k in keys:
        ts = dask_scheduler.tasks.get(k)
        if ts is not None:
            out[k] = 1 + int(ts.suspicious) + max(0, retries - int(ts.retries or 0))
    return out


def _write_manifest(out_dir, records):
    path = os.path.join(out_dir, MANIFEST_NAME)
    tmp = _temp_name(path)
    with open(tmp, "w") as f:
        json.dump(records, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)
    return path


class _Progress:
    """A one-line text progress bar on a terminal (stderr); silent when disabled."""

    def __init__(self, total, enabled):
        self.total, self.enabled, self.done, self.failed, self.t0 = total, enabled and total > 0, 0, 0, time.time()

    def update(self, ok):
        self.done += 1
        self.failed += 0 if ok else 1
        if not self.enabled:
            return
        width = 30
        fill = int(width * self.done / self.total)
        rate = self.done / max(1e-9, time.time() - self.t0) * 60
        sys.stderr.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {self.done}/{self.total}  "
                         f"{self.failed} failed  {rate:.1f} files/min ")
        sys.stderr.flush()

    def close(self):
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


# Dask's nanny sets OMP_NUM_THREADS=1 (and MKL/OpenBLAS) in its workers by default. larmor's output then
# differs from `larmor recon` by float round-off (measured 2.7e-7 relative on a 16-coil ESPIRiT recon), so
# the local workers keep the caller's OpenMP environment, as the command line would, and larmor's threads
# are set per task (set_num_threads); OpenBLAS is Debian's serial build, FFTW follows larmor's count.
_NANNY_ENVIRON = {"MALLOC_TRIM_THRESHOLD_": 65536}


def _local_cluster(n_workers, threads, retries):
    """A cluster of worker processes on 127.0.0.1 (no dashboard), one task at a time per worker."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": int(retries),
                          "distributed.nanny.pre-spawn-environ": _NANNY_ENVIRON}):
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, silence_logs=logging.ERROR, memory_limit=0)
    return cluster, Client(cluster)


def recon_files(inputs, out_dir, method="auto", client=None, retries=2, *, workers=None,
                threads_per_worker=None, redo=False, progress=False, **options):
    """Reconstructs every raw-data file in `inputs` into `out_dir`, one Dask task per file.

    inputs: paths (ISMRMRD .h5 or Siemens twix .dat). out_dir: created if missing. method: as for
    `larmor recon --method` ("auto" picks per file). client: a distributed.Client, or None for a local
    cluster of `workers` processes on 127.0.0.1 (closed at the end). retries: further attempts of a task
    whose worker died or that raised something other than a larmor error. threads_per_worker: larmor
    threads per task (see the module doc for the defaults). redo: reconstruct even inputs whose output
    is complete. progress: a text progress bar on stderr. options: noise_scaling ("unit"|"snr"),
    dataset (HDF5 group of the raw data), as `larmor recon --noise-scaling/--dataset`.
    Returns the manifest (list of records, one per input, in order; see the module doc), also written to
    out_dir/manifest.json. Raises ValueError for bad arguments (unknown option or method, workers < 1).
    """
    import larmor

    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    inputs = [os.fspath(p) for p in inputs]
    unknown = sorted(set(options) - set(_OPTION_NAMES))
    if unknown:
        raise ValueError(f"recon_files: unknown option(s) {', '.join(unknown)}; known: {', '.join(_OPTION_NAMES)}")
    if method != "auto" and method not in larmor.recon_methods():
        raise ValueError(f"recon_files: unknown method '{method}'; known: auto, {', '.join(larmor.recon_methods())}")
    if retries < 0:
        raise ValueError(f"recon_files: retries must be >= 0, got {retries}")
    if workers is not None and workers < 1:
        raise ValueError(f"recon_files: workers must be >= 1, got {workers}")
    if threads_per_worker is not None and threads_per_worker < 1:
        raise ValueError(f"recon_files: threads_per_worker must be >= 1, got {threads_per_worker}")
    out_dir = os.path.abspath(os.fspath(out_dir))
    os.makedirs(out_dir, exist_ok=True)

    sources = [os.path.abspath(p) for p in inputs]
    names = _output_names(list(dict.fromkeys(sources)), out_dir)
    previous = {}
    try:
        with open(os.path.join(out_dir, MANIFEST_NAME)) as f:
            previous = {r.get("output"): r for r in json.load(f) if isinstance(r, dict)}
    except (OSError, ValueError, TypeError):
        pass

    records = []
    todo = {}  # absolute input -> output, each distinct input once
    for given, src in zip(inputs, sources):
        dst = names[src]
        rec = {"input": given, "output": dst, "status": None, "error": None, "method": method,
               "seconds": 0.0, "worker": None, "skipped": False, "images": None, "attempts": None}
        if not os.path.isfile(src):
            rec.update(status="failed", error=f"FileNotFoundError: no such file: {given}", output=None)
        elif not redo and _complete(dst, src):
            old = previous.get(dst, {})
            rec.update(status="ok", skipped=True, method=old.get("method", method), images=old.get("images"),
                       attempts=0)
        else:
            todo[src] = dst
        records.append(rec)

    results = {}
    try:
        if todo:
            _run(todo, results, method, options, client, retries, workers, threads_per_worker, progress)
    finally:  # also when interrupted (Ctrl-C, scheduler lost): what finished is kept in the manifest
        for rec, src in zip(records, sources):
            if rec["status"] is None:
                rec.update(results.get(src, {"status": "failed", "error": "interrupted before it finished"}))
        _write_manifest(out_dir, records)
    return records


def _run(todo, results, method, options, client, retries, workers, threads_per_worker, progress):
    """Runs the tasks, filling results = {absolute input: record fields} as they finish."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    cluster = None
    if client is None:
        n = workers or max(1, min(len(todo), _cores() // (threads_per_worker or 1)))
        threads = threads_per_worker or max(1, _cores() // n)
        cluster, client = _local_cluster(n, threads, retries)
        plan = {"*": threads}
    else:
        plan = _threads_plan(client, threads_per_worker)

    futures = {}
    bar = _Progress(len(todo), progress)
    try:
        for src, dst in todo.items():
            # larger files first (priority in MB), so that one big file does not finish the batch alone
            size_mb = os.path.getsize(src) >> 20
            key = "larmor-recon-" + hashlib.sha1(f"{src}\0{dst}\0{method}\0{uuid.uuid4()}".encode()).hexdigest()
            fut = client.submit(_recon_task, src, dst, method, options, plan, key=key, retries=retries,
                                priority=size_mb, pure=False)
            futures[fut] = src
        for fut in as_completed(list(futures)):
            src = futures[fut]
            try:
                rec = fut.result()
            except KilledWorker as e:
                rec = {"status": "failed", "error": f"KilledWorker: every worker that ran it died "
                       f"({retries + 1} attempts): {e}"}
            except Exception as e:  # noqa: BLE001 - recorded, the batch goes on
                rec = {"status": "failed", "error": f"{type(e).__name__}: {e}"}
            results[src] = rec
            bar.update(rec["status"] == "ok")
        bar.close()
        try:
            keys = {fut.key: src for fut, src in futures.items()}
            att = client.run_on_scheduler(_attempts, keys=list(keys), retries=retries)
            for k, a in att.items():
                results[keys[k]]["attempts"] = a
        except Exception:  # noqa: BLE001 - a scheduler that refuses run_on_scheduler: attempts unknown
            pass
    except BaseException:  # KeyboardInterrupt, lost scheduler: the caller records what is unfinished
        bar.close()
        raise
    finally:
        try:
            client.cancel(list(futures))
        except Exception:  # noqa: BLE001
            pass
        if cluster is not None:
            client.close()
            cluster.close()
        _remove_leftovers(todo.values())


def main(argv=None) -> int:
    """The command line; returns the exit status (0 all ok, 1 some failed, 2 usage error)."""
    p = argparse.ArgumentParser(
        prog="python3 -m larmor.batch",
        description="Reconstruct raw-data files on a Dask cluster (like `larmor recon IN -o OUT` per file). "
                    "Exit 0 if all succeeded, 1 if some failed (listed on stderr), 2 on usage errors.")
    p.add_argument("files", nargs="+", metavar="FILE", help="ISMRMRD (.h5) or Siemens twix (.dat) raw data")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (images and manifest.json)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="a running dask-scheduler, e.g. tcp://host:8786")
    where.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: min(files, cores))")
    p.add_argument("--method", default="auto", help="reconstruction method, as for `larmor recon` (default auto)")
    p.add_argument("--threads-per-worker", type=int, metavar="T", help="larmor threads per task")
    p.add_argument("--retries", type=int, default=2, help="further attempts after a worker died (default 2)")
    p.add_argument("--noise-scaling", default="unit", choices=("unit", "snr"), help="as `larmor recon`")
    p.add_argument("--dataset", default="dataset", help="HDF5 group of the raw data")
    p.add_argument("--redo", action="store_true", help="reconstruct again inputs whose output is complete")
    a = p.parse_args(argv)

    import larmor

    def usage(msg):
        p.print_usage(sys.stderr)
        print(f"{p.prog}: error: {msg}", file=sys.stderr)
        return 2

    if a.workers is not None and a.workers < 1:
        return usage(f"--workers must be >= 1, got {a.workers}")
    if a.threads_per_worker is not None and a.threads_per_worker < 1:
        return usage(f"--threads-per-worker must be >= 1, got {a.threads_per_worker}")
    if a.retries < 0:
        return usage(f"--retries must be >= 0, got {a.retries}")
    if a.method != "auto" and a.method not in larmor.recon_methods():
        return usage(f"--method: unknown method '{a.method}' (auto, {', '.join(larmor.recon_methods())})")
    if os.path.exists(a.out) and not os.path.isdir(a.out):
        return usage(f"--out: {a.out} exists and is not a directory")

    client = None
    if a.scheduler:
        from distributed import Client
        try:
            client = Client(a.scheduler, timeout=30)
        except (OSError, TimeoutError) as e:
            print(f"{p.prog}: cannot reach the scheduler {a.scheduler}: {e}", file=sys.stderr)
            return 1
    try:
        records = recon_files(a.files, a.out, method=a.method, client=client, retries=a.retries, workers=a.workers,
                              threads_per_worker=a.threads_per_worker, redo=a.redo, progress=sys.stderr.isatty(),
                              noise_scaling=a.noise_scaling, dataset=a.dataset)
    except OSError as e:  # the output directory cannot be made or written
        print(f"{p.prog}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{p.prog}: interrupted; finished outputs are kept, run again to resume", file=sys.stderr)
        return 130
    finally:
        if client is not None:
            client.close()
    failed = [r for r in records if r["status"] != "ok"]
    if sys.stderr.isatty():
        skipped = sum(1 for r in records if r["skipped"])
        print(f"{p.prog}: {len(records) - len(failed)} ok ({skipped} already done), {len(failed)} failed; "
              f"manifest {os.path.join(os.path.abspath(a.out), MANIFEST_NAME)}", file=sys.stderr)
    if failed:
        print(f"{p.prog}: {len(failed)} of {len(records)} failed:", file=sys.stderr)
        for r in failed:
            print(f"  {r['input']}: {r['error']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # Run the imported module's main, so that the task function pickles as larmor.batch._recon_task (which
    # every worker imports) and not as a copy of this __main__.
    from larmor.batch import main as _main

    sys.exit(_main())
