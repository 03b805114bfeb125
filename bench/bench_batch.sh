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
#              (N = 1 and 2 workers; start-up of the cluster included)
# and prints files per minute, and from the batch manifest the per-task time on the workers (median,
# min, max) and the batch overhead: wall - sum(task seconds) / N = cluster start-up + scheduling + the
# client's bookkeeping, per batch and per task. Timings are medians of RUNS (env, default 3) runs.
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
for i in $(seq 1 "$nfiles"); do
  "$gen" -m "$matrix" -c "$coils" -r "$reps" -o "$work/raw_$i.h5" >/dev/null 2>&1
  files+=("$work/raw_$i.h5")
done
mb=$(du -cm "${files[@]}" | tail -1 | cut -f1)

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
for nw in 1 2; do
  t=$(( cores / nw > 0 ? cores / nw : 1 ))
  rows=$(for r in $(seq "$runs"); do batch_once "$nw" "$t"; done)
  w=$(echo "$rows" | cut -d' ' -f1 | median)
  read -r _ med mn mx sum < <(echo "$rows" | sort -g | sed -n "$(( (runs + 1) / 2 ))p")
  over=$(echo "$w - $sum / $nw" | bc -l)
  printf '| dask %s worker(s) x %s thread(s) | %.2f | %.1f | %.2fx | %.3f (%.3f-%.3f) | %.2f | %.0f |\n' \
    "$nw" "$t" "$w" "$(echo "60 * $nfiles / $w" | bc -l)" "$(echo "$ref / $w" | bc -l)" "$med" "$mn" "$mx" \
    "$over" "$(echo "1000 * $over / $nfiles" | bc -l)"
done
echo
echo "overhead = wall - (sum of task seconds) / workers: cluster start-up, scheduling, result transfer, manifest."
