#!/usr/bin/env bash
# Times `larmor recon` of one scan with two builds, alternately (A B A B ...), so that the ratio holds
# while the machine's speed drifts; prints each run's wall seconds and peak RSS, the medians, the ratio
# B/A, and the NRMSE between the two images. Issue 31's scan by default: 64 coils, 192 x 192 x 96,
# 2 x 2 + 24 x 24 ACS, 2x readout oversampling, 4 noise scans (0.99 GB), made once with
# larmor_make_ismrmrd3d.
#
#   bench/scan_vs_commit.sh NEW_LARMOR BASE_LARMOR [RUNS] [SCAN.h5]
#
# e.g. a baseline of commit 20428d3 built beside the tree:
#   git worktree add /tmp/base 20428d3 && cmake -S /tmp/base -B /tmp/base/build -G Ninja \
#     -DCMAKE_BUILD_TYPE=Release && cmake --build /tmp/base/build --target larmor
#   bench/scan_vs_commit.sh build/larmor /tmp/base/build/larmor 3
set -euo pipefail
new=$(realpath "$1"); base=$(realpath "$2"); runs=${3:-3}
scan=${4:-${TMPDIR:-/tmp}/larmor_scan64/acc64.h5}
make3d=$(dirname "$new")/bench/larmor_make_ismrmrd3d
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ ! -f $scan ]]; then
  mkdir -p "$(dirname "$scan")"
  "$make3d" 64 192 192 96 2 2 24 "$scan" 4 2
fi
one() {  # $1 binary, $2 output; prints "wall_s peak_GiB"
  /usr/bin/time -f "%e %M" -o "$work/t" "$1" recon "$scan" -o "$2" >/dev/null 2>&1
  awk '{printf "%.1f %.2f\n", $1, $2 / 1048576}' "$work/t"
}
declare -a wa wb
for ((i = 0; i < runs; i++)); do
  a=$(one "$new" "$work/new.h5"); b=$(one "$base" "$work/base.h5")
  echo "run $i: new ${a% *} s ${a#* } GiB | base ${b% *} s ${b#* } GiB"
  wa+=("${a% *}"); wb+=("${b% *}")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR + 1) / 2)]}'; }
ma=$(median "${wa[@]}"); mb=$(median "${wb[@]}")
echo "median wall: new $ma s, base $mb s, base/new = $(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.2f", b / a}')"
/usr/bin/python3 - "$work/new.h5" "$work/base.h5" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r")["dataset/image_0/data"][...].astype(np.float64) for p in sys.argv[1:3])
print("image NRMSE new vs base: %.3g" % (np.linalg.norm(a - b) / np.linalg.norm(b)))
PY
