#!/usr/bin/env bash
# Throughput of larmor.batch (Dask, local worker processes on 127.0.0.1) against serial `larmor recon`
# on the same files, and where the time of a batch goes.
#
#   bash bench/bench_batch.sh [BUILD_DIR] [FILES] [MATRIX] [COILS] [REPS]
#
# Makes FILES (default 16) raw files with ismrmrd_generate_cartesian_shepp_logan -m MATRIX (128) -c COILS (8)
# -r REPS (2), then times, as whole processes:
#   serial T   `larmor recon f -o out --threads T` one file after another (T = 1 and all cores)
#   dask N x T `python3 -m larmor.batch FILES --out DIR --workers N --threads-per-worker T`
#              (1 x 1, 2 x 1, 1 x all cores, 2 x cores/2; start-up of the cluster included), and the parallel
#              efficiency of 2 single-thread workers against one: wall(1 x 1) / (2 wall(2 x 1))
# and prints files per minute, and from the batch manifest the per-task time on the workers (median,
# min, max) and the batch overhead: wall - sum(task seconds) / N = cluster start-up + scheduling + the
# client's bookkeeping, per batch and per task. Timings are medians of RUNS (env, default 3) runs.
#
# Then one large multi-slice file (SLICES (env, default 16) slices of SMATRIX (256) x SMATRIX, SCOILS (16)
# coils: the generator's repetitions renumbered as slices) reconstructed whole (`larmor recon`, and
# larmor.batch --split-slices off) and split per slice (--split-slices always; one part per worker, and
# one part per slice) on 1 and 2 workers: wall time, the parts' times and the assembly's; every output is
# compared with the serial one. SPLIT_ONLY=1 skips the throughput table.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
nfiles=${2:-16}
matrix=${3:-128}
coils=${4:-8}
reps=${5:-2}
runs=${RUNS:-3}
cli=$build/larmor
py=${PYTHON:-/usr/bin/python3}
gen=$(command -v ismrmrd_generate_cartesian_shepp_logan || true)
[ -x "$cli" ] || { echo "bench_batch.sh: build the CLI first (cmake --build $build --target larmor_cli)" >&2; exit 2; }
[ -n "$gen" ] || { echo "bench_batch.sh: ismrmrd_generate_cartesian_shepp_logan missing (ismrmrd-tools)" >&2; exit 2; }
export PYTHONPATH=$build/python${PYTHONPATH:+:$PYTHONPATH}
"$py" -c 'import larmor.batch, distributed; larmor.recon_to_file' 2>/dev/null ||
  { echo "bench_batch.sh: needs python3-distributed and the _larmor module with bind_batch" >&2; exit 2; }
cores=$(nproc)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

files=()
[ "${SPLIT_ONLY:-0}" = 1 ] && nfiles=0
for i in $(seq 1 "$nfiles"); do
  "$gen" -m "$matrix" -c "$coils" -r "$reps" -o "$work/raw_$i.h5" >/dev/null 2>&1
  files+=("$work/raw_$i.h5")
done
mb=0
((nfiles)) && mb=$(du -cm "${files[@]}" | tail -1 | cut -f1)

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

serial_once() {  # $1 threads -> wall seconds
  local t0 t1
  rm -rf "$work/s" && mkdir "$work/s"
  t0=$(now)
  for f in "${files[@]}"; do "$cli" recon "$f" -o "$work/s/$(basename "$f")" --threads "$1" 2>/dev/null; done
  t1=$(now)
  echo "$t1 - $t0" | bc -l
}

batch_once() {  # $1 workers, $2 threads -> "wall median_task min_task max_task sum_task"
  local t0 t1
  rm -rf "$work/b"
  t0=$(now)
  "$py" -m larmor.batch "${files[@]}" --out "$work/b" --workers "$1" --threads-per-worker "$2"
  t1=$(now)
  "$py" - "$work/b/manifest.json" "$(echo "$t1 - $t0" | bc -l)" <<'EOF'
import json, statistics, sys
recs = json.load(open(sys.argv[1]))
assert all(r["status"] == "ok" for r in recs), [r["error"] for r in recs if r["status"] != "ok"]
s = [r["seconds"] for r in recs]
print(sys.argv[2], statistics.median(s), min(s), max(s), sum(s))
EOF
}

if ((nfiles)); then
echo "larmor.batch throughput: $nfiles files of ${matrix}x${matrix}, $coils coils, $reps repetitions ($mb MiB in all)," \
     "$cores cores, median of $runs runs, load at start $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| run | wall s | files/min | vs serial (all cores) | task s median (min-max) | overhead s per batch | per task ms |"
echo "|---|---|---|---|---|---|---|"
ref=""
for t in "$cores" 1; do
  w=$(for r in $(seq "$runs"); do serial_once "$t"; done | median)
  [ -z "$ref" ] && ref=$w
  printf '| serial larmor recon --threads %s | %.2f | %.1f | %.2fx | %.3f (one process per file) | - | - |\n' \
    "$t" "$w" "$(echo "60 * $nfiles / $w" | bc -l)" "$(echo "$ref / $w" | bc -l)" "$(echo "$w / $nfiles" | bc -l)"
done
declare -A dask_wall
configs=("1 1" "2 1")  # the efficiency of 2 single-thread workers against one
[ "$cores" -gt 1 ] && configs+=("1 $cores")
[ "$(( cores / 2 ))" -gt 1 ] && configs+=("2 $(( cores / 2 ))")
for cfg in "${configs[@]}"; do
  read -r nw t <<< "$cfg"
  rows=$(for r in $(seq "$runs"); do batch_once "$nw" "$t"; done)
  w=$(echo "$rows" | cut -d' ' -f1 | median)
  read -r _ med mn mx sum < <(echo "$rows" | sort -g | sed -n "$(( (runs + 1) / 2 ))p")
  over=$(echo "$w - $sum / $nw" | bc -l)
  printf '| dask %s worker(s) x %s thread(s) | %.2f | %.1f | %.2fx | %.3f (%.3f-%.3f) | %.2f | %.0f |\n' \
    "$nw" "$t" "$w" "$(echo "60 * $nfiles / $w" | bc -l)" "$(echo "$ref / $w" | bc -l)" "$med" "$mn" "$mx" \
    "$over" "$(echo "1000 * $over / $nfiles" | bc -l)"
  dask_wall["$nw x $t"]=$w
done
echo
# Parallel efficiency of the workers: throughput of 2 single-thread workers over twice that of one.
printf 'efficiency of 2 workers x 1 thread against 1 worker x 1 thread: %.2f (wall %.2f s vs %.2f s)\n' \
  "$(echo "${dask_wall["1 x 1"]} / (2 * ${dask_wall["2 x 1"]})" | bc -l)" "${dask_wall["2 x 1"]}" "${dask_wall["1 x 1"]}"
echo
echo "overhead = wall - (sum of task seconds) / workers: cluster start-up, scheduling, result transfer, manifest."
fi

# ---- one large multi-slice file, split per slice vs whole ----------------------------------------------------
slices=${SLICES:-16}
smatrix=${SMATRIX:-256}
scoils=${SCOILS:-16}
big=$work/multislice.h5
"$gen" -m "$smatrix" -c "$scoils" -r "$slices" -o "$big" >/dev/null 2>&1
"$py" - "$big" "$slices" <<'EOF'
# the generator's repetitions renumbered as slices (5 mm apart), the XML header's encodingLimits saying so
import re, sys
import h5py
path, slices = sys.argv[1], int(sys.argv[2])
with h5py.File(path, "r+") as f:
    d = f["dataset/data"]
    a = d[()]
    head = a["head"]
    idx = head["idx"]
    idx["slice"] = idx["repetition"]
    pos = head["position"]
    pos[:, 2] = idx["repetition"] * 5.0
    idx["repetition"] = 0
    head["idx"], head["position"] = idx, pos
    a["head"] = head
    d[...] = a
    xml = f["dataset/xml"][0].decode()
    xml = re.sub(r"<repetition>.*?</repetition>", f"<slice><minimum>0</minimum><maximum>{slices - 1}</maximum>"
                 "<center>0</center></slice>", xml, flags=re.S)
    f["dataset/xml"][0] = xml.encode()
EOF
bigmb=$(du -m "$big" | cut -f1)
serial_big() {
  local t0 t1
  t0=$(now)
  "$cli" recon "$big" -o "$work/big_ref.h5" --threads "$cores" 2>/dev/null
  t1=$(now)
  echo "$t1 - $t0" | bc -l
}
split_once() {  # $1 workers, $2 threads, $3.. larmor.batch options -> "wall sum_parts max_part assembly parts"
  local nw=$1 t=$2 t0 t1
  shift 2
  rm -rf "$work/sb"
  t0=$(now)
  "$py" -m larmor.batch "$big" --out "$work/sb" --workers "$nw" --threads-per-worker "$t" "$@"
  t1=$(now)
  "$py" - "$work/sb/manifest.json" "$(echo "$t1 - $t0" | bc -l)" "$work/big_ref.h5" <<'EOF'
import json, sys
import h5py
(r,) = json.load(open(sys.argv[1]))
assert r["status"] == "ok", r["error"]
import numpy as np
def items(p):
    out = {}
    with h5py.File(p, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out
a, b = items(r["output"]), items(sys.argv[3])
assert sorted(a) == sorted(b)
diff = "equal"
for k in a:
    if a[k].tobytes() != b[k].tobytes():
        assert not a[k].dtype.names, f"{k} (headers) differs from larmor recon's"
        x, y = a[k].astype(np.float64), b[k].astype(np.float64)
        diff = "%.1e" % (np.abs(x - y).max() / np.abs(y).max())
parts = r.get("parts") or [{"seconds": r["seconds"]}]
s = [p["seconds"] for p in parts]
print(sys.argv[2], sum(s), max(s), r.get("assemble_seconds") or 0, len(parts), diff)
EOF
}
echo
echo "One multi-slice file: $slices slices of ${smatrix}x${smatrix}, $scoils coils ($bigmb MiB), $cores cores," \
     "median of $runs runs, load at start $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| run | tasks | wall s | vs serial | part s sum | part s max | assembly s | vs serial output |"
echo "|---|---|---|---|---|---|---|---|"
ref=$(for r in $(seq "$runs"); do serial_big; done | median)
printf '| serial larmor recon --threads %s | 1 | %.2f | 1.00x | - | - | - | - |\n' "$cores" "$ref"
for cfg in "1 off" "2 off" "1 always 1" "2 always" "2 always 1"; do
  read -r nw mode per <<<"$cfg"
  t=$(( cores / nw > 0 ? cores / nw : 1 ))
  opts=(--split-slices "$mode")
  [ -n "${per:-}" ] && opts+=(--slices-per-task "$per")
  rows=$(for r in $(seq "$runs"); do split_once "$nw" "$t" "${opts[@]}"; done)
  w=$(echo "$rows" | cut -d' ' -f1 | median)
  read -r _ sum mx asm np diff < <(echo "$rows" | sort -g | sed -n "$(( (runs + 1) / 2 ))p")
  printf '| dask %s worker(s) x %s thread(s), %s | %s | %.2f | %.2fx | %.2f | %.2f | %.2f | %s |\n' "$nw" "$t" \
    "${opts[*]}" "$np" "$w" "$(echo "$ref / $w" | bc -l)" "$sum" "$mx" "$asm" "$diff"
done
echo
echo "Last column: every dataset compared with the serial larmor recon output (headers must be equal; image"
echo "data: equal bit for bit, or the max relative difference: FFTW_MEASURE plans chosen by timing in each"
echo "process; LARMOR_FFT_PLANNER=estimate or a shared LARMOR_FFTW_WISDOM makes them the same plans)."
