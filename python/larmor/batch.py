"""larmor.batch: reconstruct many raw-data files on a Dask cluster, with retries, a manifest, and nothing lost.

    from larmor.batch import recon_files
    manifest = recon_files(["a.h5", "b.h5"], "out/")                      # local worker processes
    manifest = recon_files(files, "out/", client=distributed.Client(addr))  # an existing cluster

    python3 -m larmor.batch FILES... --out DIR [--scheduler ADDRESS | --workers N]
                            [--method M] [--threads-per-worker T] [--redo]
                            [--split-slices auto|always|off] [--split-min-mb MB] [--slices-per-task K]

Each input is one task. A task runs `larmor.recon_to_file`, the same code as `larmor recon IN -o OUT
--method M` (ISMRMRD or Siemens twix in, ISMRMRD magnitude images out), so every output equals what
the command line writes. Output names are <out_dir>/<input stem>.h5 (a short hash of the input path is
added where two inputs share a stem; <stem>_recon.h5 where the output would overwrite its input).

A large multi-slice ISMRMRD file (split="auto": at least split_min_mb = 256 MB, and at least 2 slices
in its readouts; "always": every multi-slice ISMRMRD file; "off": never; twix files are read whole) is
reconstructed as several tasks of consecutive slices (slices_per_task, default one task per worker thread
of the cluster), each reading the file from shared storage and writing its slices' images to a part file
`.<name>.part-<random>.s<first>-<last>`; a last task joins the parts into the one output with image_index
renumbered 1..n, which equals the whole-file `larmor recon` output (images, headers, order). A failed part
(after its retries) fails the file; no output is written and the part files are removed.

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
A split input has also `parts` (one per task: slices, status, error, seconds, worker, attempts, method,
images) and `assemble_seconds`; its seconds are then the parts' plus the assembly's, its worker the
assembly's, its attempts the most of any of its tasks.
It is written atomically as JSON to <out_dir>/manifest.json.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import sys
import time
import uuid

__all__ = ["recon_files", "main"]

MANIFEST_NAME = "manifest.json"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# recon_to_file's options besides method: the chain's options of `larmor recon`, parsed by the same C++
# parser (larmor/recon/recon_option_names.hpp) on the worker.
_OPTION_NAMES = ("noise_scaling", "dataset", "output", "partial_fourier", "lam", "compress", "normalize")


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


def _recon_task(src, dst, method, options, plan, slices=None):
    """One input -> one output, on a worker. Returns a partial manifest record.

    slices: None, or the slices of one part of a file split per slice: then the images of those slices go
    to a part file `.<name>.part-<random>.s<first>-<last>` beside dst (named in the record's "part"), which
    _assemble_task later joins into dst."""
    import larmor

    larmor.set_num_threads(_worker_threads(plan))
    tmp = _temp_name(dst)
    if slices is not None:
        tmp += f".s{slices[0]}-{slices[-1]}"
    t0 = time.perf_counter()
    rec = {"method": method, "worker": _worker_address(), "images": None}
    try:
        if slices is None:
            res = larmor.recon_to_file(src, tmp, method=method, **options)
            os.replace(tmp, dst)
        else:
            res = larmor.recon_to_file(src, tmp, method=method, slices=list(slices), **options)
            rec["part"] = tmp
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


# ---- one file split per slice ---------------------------------------------------------------------------
# A multi-slice ISMRMRD file can be reconstructed as several tasks, each taking the readouts of some of its
# slices (recon_to_file(slices=...): the chain reads the file from shared storage and keeps only those
# slices' imaging and calibration readouts, noise scans for all); every slice is reconstructed on its own
# by the chain anyway (its calibration, maps and kernels come from the slice itself), so the images of
# the parts are those of the whole file. The chain numbers image_index 1..n over the file in the order of
# (slice, contrast, phase, repetition, set): parts of consecutive slices in ascending order, joined in
# that order with image_index renumbered, are the file's images in its own order.

_ACQ_IS_NOISE = 1 << (19 - 1)  # ISMRMRD ACQ_IS_NOISE_MEASUREMENT (flag bit 19)
SPLIT_MODES = ("auto", "always", "off")


def _file_slices(src, dataset):
    """Sorted slice indices of the non-noise readouts of an ISMRMRD file, read cheaply (the XML header's
    encodingLimits, then only the readout headers, not their samples); None for twix, single-slice or
    unreadable files (those run as one task; the task reports a bad file)."""
    try:
        with open(src, "rb") as f:
            if f.read(len(_HDF5_SIGNATURE)) != _HDF5_SIGNATURE:
                return None  # Siemens twix (or garbage): read whole
        import h5py
        import numpy as np

        with h5py.File(src, "r") as f:
            xml = f[dataset]["xml"][0]
            xml = xml.decode() if isinstance(xml, bytes) else str(xml)
            m = re.search(r"<encodingLimits>.*?<slice>.*?<maximum>\s*(\d+)\s*</maximum>", xml, re.S)
            if not m or int(m.group(1)) < 1:
                return None  # the header says one slice: no need to read the readouts
            data = f[dataset]["data"]
            found = set()
            step = 1 << 16  # readout headers are 344 bytes: ~22 MB at a time
            for i in range(0, data.shape[0], step):
                head = data.fields("head")[i:i + step]
                imaging = (head["flags"] & np.uint64(_ACQ_IS_NOISE)) == 0
                found.update(np.unique(head["idx"]["slice"][imaging]).tolist())
    except Exception:  # noqa: BLE001 - h5py missing, not ISMRMRD, truncated: one task, which says why
        return None
    return sorted(found) if len(found) > 1 else None


def _split_groups(slices, per_task):
    """Consecutive slices, `per_task` at a time."""
    return [slices[i:i + per_task] for i in range(0, len(slices), per_task)]


def _plan_split(src, dataset, split, split_min_mb, slices_per_task, slots):
    """Slice groups of one input (one task each), or None to reconstruct it as one task."""
    if split == "off":
        return None
    if split == "auto" and os.path.getsize(src) < split_min_mb * (1 << 20):
        return None
    slices = _file_slices(src, dataset)
    if not slices:
        return None
    per_task = slices_per_task or -(-len(slices) // max(1, slots))  # default: one part per task slot
    groups = _split_groups(slices, per_task)
    return groups if len(groups) > 1 else None


def _join_parts(parts, out):
    """Joins ISMRMRD image files (whose images are consecutive parts of one series) into `out`: every
    dataset of the image groups concatenated along its first axis (one row per image), image_index
    renumbered 1..n in the joined order, the rest (HDF5 types, chunks, attributes) copied from the first
    part. Raises RuntimeError if the parts do not have the same datasets."""
    import h5py
    import numpy as np

    def datasets(f):
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        return sorted(names)

    srcs = [h5py.File(p, "r") for p in parts]
    try:
        names = datasets(srcs[0])
        for g in srcs[1:]:
            if datasets(g) != names:
                raise RuntimeError(f"assemble: part files differ in their datasets ({parts[0]} vs {g.filename})")
        with h5py.File(out, "w") as o:
            for top in srcs[0]:
                srcs[0].copy(srcs[0][top], o, name=top)  # structure, types, chunking, attributes
            for n in names:
                d = o[n]
                rows = [g[n] for g in srcs]
                if d.ndim == 0 or any(r.shape[1:] != d.shape[1:] or r.dtype != d.dtype for r in rows):
                    raise RuntimeError(f"assemble: dataset {n} of the parts cannot be joined (scalar, or its "
                                       f"shape or type differs)")
                total = sum(r.shape[0] for r in rows)
                if d.maxshape[0] is not None and d.maxshape[0] < total:
                    raise RuntimeError(f"assemble: dataset {n} is not extendable")
                d.resize(total, axis=0)
                at = rows[0].shape[0]
                for r in rows[1:]:
                    if r.shape[0]:
                        d[at:at + r.shape[0]] = r[()]
                    at += r.shape[0]
                if d.dtype.names and "image_index" in d.dtype.names:
                    h = d[()]
                    # The chain's rule (io::image_index_for): 1 .. 65535, then 1 again (16 bits).
                    h["image_index"] = (np.arange(total, dtype=np.int64) % 65535 + 1).astype(h["image_index"].dtype)
                    d[...] = h
    finally:
        for g in srcs:
            g.close()


def _assemble_task(dst, parts):
    """On a worker, after every part of a split file finished: joins their part files into dst (written
    under a temporary name, renamed when complete). A failed part fails the file (its error), and no
    output is written. The client removes the part files when this task is done (so that a rerun of it,
    after its worker died past the rename, finds them still). Returns the assembly's partial record."""
    t0 = time.perf_counter()
    rec = {"worker": _worker_address(), "images": None}
    bad = next((p for p in parts if p.get("status") != "ok"), None)
    if bad is not None:
        rec.update(status="failed", error=f"slices {_slice_span(bad['slices'])}: {bad['error']}",
                   seconds=time.perf_counter() - t0)
        return rec
    tmp = _temp_name(dst)
    try:
        _join_parts([p["part"] for p in parts], tmp)
        os.replace(tmp, dst)
    except (ValueError, RuntimeError) as e:  # parts that cannot be joined: would fail again
        _remove_quietly(tmp)
        rec.update(status="failed", error=f"{type(e).__name__}: {e}", seconds=time.perf_counter() - t0)
        return rec
    except BaseException:  # OSError of a shared filesystem...: Dask retries the assembly
        _remove_quietly(tmp)
        raise
    rec.update(status="ok", error=None, images=sum(p.get("images") or 0 for p in parts),
               seconds=time.perf_counter() - t0)
    return rec


def _slice_span(slices):
    return f"{slices[0]}-{slices[-1]}" if len(slices) > 1 else f"{slices[0]}"


def _part_task(src, dst, method, options, plan, slices):
    rec = _recon_task(src, dst, method, options, plan, slices=slices)
    rec["slices"] = list(slices)
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


# Dask's nanny sets OMP_NUM_THREADS=1 (and MKL/OpenBLAS) and MALLOC_TRIM_THRESHOLD_=65536 in its workers
# by default. larmor's output then differs from `larmor recon` by float round-off (measured 2.7e-7
# relative on a 16-coil ESPIRiT recon), and the fixed trim threshold (which also turns off glibc's
# dynamic mmap threshold) makes every large temporary a fresh mmap + page faults + munmap: a slice of
# 192^2 x 16 coils took 30 s in such a worker instead of 1-2 s (measured on the loaded 2-core VM). So
# the local workers keep the caller's environment as it is, as the command line would, and larmor's
# threads are set per task (set_num_threads); OpenBLAS is Debian's serial build, FFTW follows larmor's count.
_NANNY_ENVIRON = {}


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
                threads_per_worker=None, redo=False, progress=False, split="auto", split_min_mb=256,
                slices_per_task=None, **options):
    """Reconstructs every raw-data file in `inputs` into `out_dir`, one Dask task per file.

    inputs: paths (ISMRMRD .h5 or Siemens twix .dat). out_dir: created if missing. method: as for
    `larmor recon --method` ("auto" picks per file). client: a distributed.Client, or None for a local
    cluster of `workers` processes on 127.0.0.1 (closed at the end). retries: further attempts of a task
    whose worker died or that raised something other than a larmor error. threads_per_worker: larmor
    threads per task (see the module doc for the defaults). redo: reconstruct even inputs whose output
    is complete. progress: a text progress bar on stderr. options: noise_scaling ("unit"|"snr"),
    dataset (HDF5 group of the raw data), output (image type: "magnitude"|"complex"|"phase"|"real"|
    "imaginary"), partial_fourier ("pocs"|"homodyne"|"zero"), lam (the cs weight), compress ("auto"|"off"|N),
    normalize ("off"|"auto"|"coils"|"body"), as `larmor recon --noise-scaling/--dataset/--image-type/--partial-fourier/
    --lambda/--compress/--normalize`.
    split: "auto" | "always" | "off": a multi-slice ISMRMRD file as several tasks of consecutive slices
    (auto: files of at least split_min_mb MB), slices_per_task of them each (default: one task per worker
    thread of the cluster), joined into its one output (see the module doc).
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
    if split not in SPLIT_MODES:
        raise ValueError(f"recon_files: split must be one of {', '.join(SPLIT_MODES)}, got {split!r}")
    if split_min_mb < 0:
        raise ValueError(f"recon_files: split_min_mb must be >= 0, got {split_min_mb}")
    if slices_per_task is not None and slices_per_task < 1:
        raise ValueError(f"recon_files: slices_per_task must be >= 1, got {slices_per_task}")
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
            _run(todo, results, method, options, client, retries, workers, threads_per_worker, progress,
                 (split, split_min_mb, slices_per_task))
    finally:  # also when interrupted (Ctrl-C, scheduler lost): what finished is kept in the manifest
        for rec, src in zip(records, sources):
            if rec["status"] is None:
                rec.update(results.get(src, {"status": "failed", "error": "interrupted before it finished"}))
        _write_manifest(out_dir, records)
    return records


def _run(todo, results, method, options, client, retries, workers, threads_per_worker, progress, split):
    """Runs the tasks, filling results = {absolute input: record fields} as they finish.
    split: (mode, split_min_mb, slices_per_task), see recon_files."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    dataset = options.get("dataset", "dataset")
    cluster = None
    if client is None:
        slots = workers or max(1, _cores() // (threads_per_worker or 1))
        splits = {src: _plan_split(src, dataset, *split[:2], split[2], slots) for src in todo}
        tasks = sum(len(g) if g else 1 for g in splits.values())
        n = workers or max(1, min(tasks, slots))
        threads = threads_per_worker or max(1, _cores() // n)
        cluster, client = _local_cluster(n, threads, retries)
        plan = {"*": threads}
    else:
        plan = _threads_plan(client, threads_per_worker)
        try:
            slots = sum(int(w.get("nthreads", 1)) for w in client.scheduler_info()["workers"].values())
        except Exception:  # noqa: BLE001
            slots = 1
        splits = {src: _plan_split(src, dataset, *split[:2], split[2], slots) for src in todo}

    def new_key(kind, src, dst):
        return f"larmor-{kind}-" + hashlib.sha1(f"{src}\0{dst}\0{method}\0{uuid.uuid4()}".encode()).hexdigest()

    def failure(e):
        if isinstance(e, KilledWorker):
            return {"status": "failed", "error": f"KilledWorker: every worker that ran it died "
                    f"({retries + 1} attempts): {e}"}
        return {"status": "failed", "error": f"{type(e).__name__}: {e}"}

    futures = {}  # the future that completes an input (its task, or the assembly of its parts) -> input
    parts = {}    # input split per slice -> [(slices, part future)]
    bar = _Progress(len(todo), progress)
    try:
        for src, dst in todo.items():
            # larger files first (priority in MB), so that one big file does not finish the batch alone
            size_mb = os.path.getsize(src) >> 20
            groups = splits.get(src)
            if not groups:
                fut = client.submit(_recon_task, src, dst, method, options, plan, key=new_key("recon", src, dst),
                                    retries=retries, priority=size_mb, pure=False)
            else:
                parts[src] = [(g, client.submit(_part_task, src, dst, method, options, plan, g,
                                                key=new_key(f"part-s{_slice_span(g)}", src, dst), retries=retries,
                                                priority=size_mb, pure=False)) for g in groups]
                # the assembly runs as soon as its parts are done, before other files' tasks
                fut = client.submit(_assemble_task, dst, [f for _, f in parts[src]],
                                    key=new_key("assemble", src, dst), retries=retries, priority=size_mb + (1 << 30),
                                    pure=False)
            futures[fut] = src
        for fut in as_completed(list(futures)):
            src = futures[fut]
            try:
                rec = fut.result()
            except Exception as e:  # noqa: BLE001 - recorded, the batch goes on
                rec = failure(e)
            if src in parts:
                rec = _split_record(rec, parts[src], failure, method)
                _remove_leftovers([todo[src]])  # its part files (and those of parts run twice)
            results[src] = rec
            bar.update(rec["status"] == "ok")
        bar.close()
        try:
            keys = {fut.key: src for fut, src in futures.items()}
            part_keys = {f.key: (src, i) for src, ps in parts.items() for i, (_, f) in enumerate(ps)}
            att = client.run_on_scheduler(_attempts, keys=list(keys) + list(part_keys), retries=retries)
            for k, a in att.items():
                if k in keys:
                    results[keys[k]]["attempts"] = max(a, results[keys[k]].get("attempts") or 0)
                else:
                    src, i = part_keys[k]
                    results[src]["parts"][i]["attempts"] = a
                    results[src]["attempts"] = max(a, results[src].get("attempts") or 0)
        except Exception:  # noqa: BLE001 - a scheduler that refuses run_on_scheduler: attempts unknown
            pass
    except BaseException:  # KeyboardInterrupt, lost scheduler: the caller records what is unfinished
        bar.close()
        raise
    finally:
        try:
            client.cancel(list(futures) + [f for ps in parts.values() for _, f in ps])
        except Exception:  # noqa: BLE001
            pass
        if cluster is not None:
            client.close()
            cluster.close()
        _remove_leftovers(todo.values())


def _split_record(assembly, parts, failure, method):
    """The manifest fields of a split input from its assembly's record (or failure) and its parts'."""
    rows = []
    for slices, f in parts:
        row = {"slices": list(slices), "status": "failed", "error": None, "seconds": None, "worker": None,
               "attempts": None}
        if f.status == "finished":
            r = f.result()
            row.update({k: r.get(k) for k in ("status", "error", "seconds", "worker", "method", "images")})
        elif f.status == "error":
            row.update(failure(f.exception()))
        else:
            row["error"] = "did not run (cancelled)"
        rows.append(row)
    methods = []
    for r in rows:  # the chain's "a+b" in the order of first use, as for the whole file
        for m in (r.get("method") or "").split("+"):
            if m and m not in methods:
                methods.append(m)
    rec = dict(assembly)
    if rec["status"] == "ok":
        rec["method"] = "+".join(methods) or method
    bad = next((r for r in rows if r["status"] != "ok"), None)
    if rec["status"] != "ok" and bad is not None and not rec.get("error", "").startswith("slices "):
        rec["error"] = f"slices {_slice_span(bad['slices'])}: {bad['error']}"  # the cause, not its echo
    rec["seconds"] = sum(r["seconds"] or 0 for r in rows) + (rec.get("seconds") or 0)
    rec["assemble_seconds"] = assembly.get("seconds")
    rec["parts"] = rows
    return rec


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
    p.add_argument("--image-type", default="magnitude", help="as `larmor recon` (default magnitude)")
    p.add_argument("--partial-fourier", default="pocs", help="as `larmor recon` (default pocs)")
    p.add_argument("--lambda", dest="lam", type=float, default=0.0, help="as `larmor recon` (default 0: cs default)")
    p.add_argument("--compress", default="auto", help="as `larmor recon` (default auto)")
    p.add_argument("--normalize", default="off", help="as `larmor recon` (off|auto|coils|body, default off)")
    p.add_argument("--redo", action="store_true", help="reconstruct again inputs whose output is complete")
    p.add_argument("--split-slices", default="auto", choices=SPLIT_MODES,
                   help="reconstruct a multi-slice ISMRMRD file as several tasks of consecutive slices, joined "
                        "into its one output: auto (files of at least --split-min-mb), always, off (default auto)")
    p.add_argument("--split-min-mb", type=float, default=256, metavar="MB",
                   help="auto splits files of at least this size (default 256)")
    p.add_argument("--slices-per-task", type=int, metavar="K",
                   help="slices per task of a split file (default: one task per worker thread of the cluster)")
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
    if a.split_min_mb < 0:
        return usage(f"--split-min-mb must be >= 0, got {a.split_min_mb}")
    if a.slices_per_task is not None and a.slices_per_task < 1:
        return usage(f"--slices-per-task must be >= 1, got {a.slices_per_task}")
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
                              split=a.split_slices, split_min_mb=a.split_min_mb, slices_per_task=a.slices_per_task,
                              noise_scaling=a.noise_scaling, dataset=a.dataset, output=a.image_type,
                              partial_fourier=a.partial_fourier, lam=a.lam, compress=a.compress,
                              normalize=a.normalize)
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
