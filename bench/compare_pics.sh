#!/usr/bin/env bash
# CG-SENSE (larmor_ops cgsense) vs `bart pics -l2 -r 0 -w 1` per iteration, on the same k-space and the
# same maps (bart ecalib), R = 4 along y + 24 ACS lines of a simulated acquisition.
#
#   bash bench/compare_pics.sh [BUILD_DIR] [RUNS]     prints the table rows
#   sourced by compare_bart.sh                        adds rows to its table (helpers: timing.sh)
#
# Neither tool reports a time per iteration, so each runs at two iteration counts (lo, hi) and the
# per-iteration cost is the difference of the medians over (hi - lo): start-up, file I/O, the adjoint
# and the operator set-up cancel (larmor 5 -> 45, BART 5 -> 25 at 3T size and 3 -> 8 at 5T size, where
# one BART iteration takes seconds). Wall = whole process; larmor compute = in-process median (REPEAT).
# -w 1 fixes BART's data scaling to 1 so both solve the same equations from x0 = 0 and the images are
# checked to agree (NRMSE < 1e-3) before timing. BART runs at most 3 times per point at 5T size.
set -euo pipefail
if [ -z "${ops:-}" ]; then  # standalone
  here=$(cd "$(dirname "$0")" && pwd)
  build=${1:-$here/../build}
  runs=${2:-3}
  ops=$build/bench/larmor_ops
  [ -x "$ops" ] || { echo "compare_pics.sh: build larmor_ops first" >&2; exit 2; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  export LARMOR_FFTW_WISDOM=$work/wisdom
  source "$here/timing.sh"
  pics_standalone=1
fi

pics_rows() {
  local saved_runs=$runs
  # coils, n, BART's iteration counts (lo, hi); larmor runs 5 and 45 (cheap, so a wider spread: less noise)
  for cfg in "32 256 5 25" "64 512 3 8"; do
    set -- $cfg
    local coils=$1 n=$2 lo=$3 hi=$4 llo=5 lhi=45
    [ "$n" -ge 512 ] && runs=$(( saved_runs < 3 ? saved_runs : 3 ))
    "$ops" phantom "$coils" "$n" "$work/pk"
    "$ops" undersample 4 24 "$work/pk" "$work/pu"
    bart ecalib -m1 "$work/pu" "$work/pm" >/dev/null 2>&1
    "$ops" cgsense "$work/pu" "$work/pm" "$work/plo" "$lo" 2>/dev/null
    bart pics -l2 -r 0 -i "$lo" -w 1 "$work/pu" "$work/pm" "$work/pbo" >/dev/null 2>&1
    local err
    err=$(bart nrmse "$work/pbo" "$work/plo")
    awk -v e="$err" 'BEGIN {exit !(e < 1e-3)}' || { echo "cgsense disagrees with bart pics: nrmse $err" >&2; exit 1; }
    local lw_lo lw_hi bw_lo bw_hi lc_lo lc_hi
    lw_lo=$(wall_ms "$ops" cgsense "$work/pu" "$work/pm" "$work/plo" "$llo")
    lw_hi=$(wall_ms "$ops" cgsense "$work/pu" "$work/pm" "$work/plo" "$lhi")
    bw_lo=$(wall_ms bart pics -l2 -r 0 -i "$lo" -w 1 "$work/pu" "$work/pm" "$work/pbo")
    bw_hi=$(wall_ms bart pics -l2 -r 0 -i "$hi" -w 1 "$work/pu" "$work/pm" "$work/pbo")
    lc_lo=$("$ops" cgsense "$work/pu" "$work/pm" "$work/plo" "$llo" "$runs" 2>&1 >/dev/null | awk '/compute_ms/ {print $2}')
    lc_hi=$("$ops" cgsense "$work/pu" "$work/pm" "$work/plo" "$lhi" "$runs" 2>&1 >/dev/null | awk '/compute_ms/ {print $2}')
    local lpi bpi cpi
    lpi=$(awk -v a="$lw_lo" -v b="$lw_hi" -v k=$(( lhi - llo )) 'BEGIN {printf "%.1f", (b - a) / k}')
    bpi=$(awk -v a="$bw_lo" -v b="$bw_hi" -v k=$(( hi - lo )) 'BEGIN {printf "%.1f", (b - a) / k}')
    cpi=$(awk -v a="$lc_lo" -v b="$lc_hi" -v k=$(( lhi - llo )) 'BEGIN {printf "%.1f", (b - a) / k}')
    add_row "pics -l2 / cgsense, ms per iteration (larmor $llo→$lhi, BART $lo→$hi it.; nrmse $err)" "$coils ch × ${n}², R=4 + 24 ACS" \
      "$lpi" "$bpi" "$cpi" "$bpi"
    runs=$saved_runs
  done
}
pics_rows

if [ -n "${pics_standalone:-}" ]; then
  echo "| operation | size | larmor wall ms | BART wall ms | ratio | larmor compute ms | BART compute ms (est.) | ratio | bandwidth |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
fi
