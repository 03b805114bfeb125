#!/usr/bin/env bash
# Times larmor and BART side by side on identical cfl input and writes bench/RESULTS.md.
#
#   bash bench/compare_bart.sh [BUILD_DIR] [RUNS]
#
# For every operation both tools run as whole processes on the same input file, writing the same
# output file (so process start-up and file I/O are included on both sides). The table gives the median
# wall time of RUNS runs (default 5), the ratio BART/larmor, and BART's compute time estimated as its wall
# time minus that of `bart copy` on the same file (I/O and start-up only; BART 0.8 prints no internal
# timings). larmor_ops also reports its in-process compute time (median of RUNS repetitions in one
# process) and its peak resident memory; BART's peak memory comes from /usr/bin/time.
# Memory bandwidth is measured in the same run (larmor_ops stream: STREAM-like copy and triad), and the
# memory-bound kernels are reported as GB/s and as a fraction of it. Numbers are checked for agreement
# with BART before they are timed. Thread scaling: larmor compute with OMP_NUM_THREADS=1 and =2.
#
#   bash bench/compare_bart.sh BUILD_DIR RUNS scale [OLD_BUILD_DIR]
#
# The issue-15 2D speed rows only, printed as markdown (not written to RESULTS.md): ESPIRiT 32 ch x 256^2
# larmor vs `bart ecalib -m1` (and the previous larmor build if given), GRAPPA 64 ch x 512^2 R = 4
# calibrate + k-space fill (bench_scale grappa2d) now vs the previous build, and 1 vs 2 threads for
# ESPIRiT, GRAPPA, the in-place FFT and RSS. Every row runs its programs alternately, RUNS rounds, and
# reports medians of the process CPU time (user + sys) beside the wall time: on a shared, loaded
# machine CPU time is the fairer figure. Needs larmor_ops and bench_scale in BUILD_DIR (and OLD_BUILD_DIR).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
runs=${2:-5}
ops=$build/bench/larmor_ops
[ -x "$ops" ] || { echo "compare_bart.sh: build larmor_ops first (cmake --build $build --target larmor_ops)" >&2; exit 2; }
command -v bart >/dev/null || { echo "compare_bart.sh: bart is not installed" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ "${3:-}" = scale ]; then
  old=${4:-}
  med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  # "wall_s cpu_s" of one run (cpu = user + sys of the whole process)
  timed() { /usr/bin/time -f '%e %U %S' "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%.3f %.3f\n", $1, $2 + $3}'; }
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
  "$ops" phantom 32 256 "$work/ph" 2>/dev/null
  # ESPIRiT: larmor (now, previous) and BART alternately, RUNS rounds
  declare -A W C
  tools=(new bart); [ -n "$old" ] && tools=(new old bart)
  for _ in $(seq "$runs"); do
    for t in "${tools[@]}"; do
      case $t in
        new) r=$(timed "$ops" ecalib "$work/ph" "$work/lo" 1) ;;
        old) r=$(timed "$old/bench/larmor_ops" ecalib "$work/ph" "$work/lo2" 1) ;;
        bart) r=$(timed bart ecalib -m1 "$work/ph" "$work/bo") ;;
      esac
      W[$t]+="${r% *} "; C[$t]+="${r#* } "
    done
  done
  echo
  echo "| ESPIRiT 32 ch x 256^2, 24^2 calib, BART defaults | process wall s (median) | process CPU s (median) | BART CPU / this CPU |"
  echo "|---|---|---|---|"
  bc=$(echo ${C[bart]} | tr ' ' '\n' | med)
  for t in "${tools[@]}"; do
    w=$(echo ${W[$t]} | tr ' ' '\n' | med); c=$(echo ${C[$t]} | tr ' ' '\n' | med)
    echo "| $t | $w | $c | $(awk -v b="$bc" -v c="$c" 'BEGIN {printf "%.2f", b / c}') |"
  done
  # GRAPPA 64 ch x 512^2 R = 4: bench_scale prints per-step medians (3 repetitions in the process)
  grappa_rows() {  # build label threads
    OMP_NUM_THREADS=$3 "$1/bench/bench_scale" grappa2d 64 512 4 3 |
      awk -v l="$2" -v t="$3" '/grappa_calibrate/ {cw=$3; cc=$5} /k-space fill/ {fw=$5; fc=$7}
        END {printf "| %s | %s | %s / %s | %s / %s | %.0f / %.0f |\n", l, t, cw, cc, fw, fc, cw + fw, cc + fc}'
  }
  echo
  echo "| GRAPPA 64 ch x 512^2 R=4 + 24 ACS | threads | calibrate ms wall / CPU | k-space fill ms wall / CPU | sum ms wall / CPU |"
  echo "|---|---|---|---|---|"
  for _ in $(seq "$runs"); do
    grappa_rows "$build" now 2
    [ -n "$old" ] && grappa_rows "$old" previous 2
  done
  # Thread scaling: 1 vs 2 threads alternately; larmor_ops compute_ms = in-process median of 3
  "$ops" phantom 64 512 "$work/ph64" 2>/dev/null
  echo
  echo "| thread scaling | size | 1 thread: compute ms / process CPU s | 2 threads: compute ms / process CPU s | wall speed-up |"
  echo "|---|---|---|---|---|"
  scale_row() {  # label size op file
    local a b
    a=$(OMP_NUM_THREADS=1 /usr/bin/time -f 'cpu %U %S' "$ops" "$3" "$4" "$work/lo" 3 2>&1 >/dev/null |
        awk '/compute_ms/ {m=$2} /^cpu/ {c=$2+$3} END {print m, c}')
    b=$(OMP_NUM_THREADS=2 /usr/bin/time -f 'cpu %U %S' "$ops" "$3" "$4" "$work/lo" 3 2>&1 >/dev/null |
        awk '/compute_ms/ {m=$2} /^cpu/ {c=$2+$3} END {print m, c}')
    echo "| $1 | $2 | ${a% *} / ${a#* } | ${b% *} / ${b#* } | $(awk -v x="${a% *}" -v y="${b% *}" 'BEGIN {printf "%.2f", x / y}') |"
  }
  for _ in $(seq "$runs"); do
    scale_row "ESPIRiT maps" "32 ch x 256^2" ecalib "$work/ph"
    scale_row "ifftc_inplace" "32 ch x 256^2" ifft_inplace "$work/ph"
    scale_row "ifftc_inplace" "64 ch x 512^2" ifft_inplace "$work/ph64"
    scale_row "rss" "32 ch x 256^2" rss "$work/ph"
    scale_row "rss" "64 ch x 512^2" rss "$work/ph64"
  done
  for _ in $(seq "$runs"); do
    grappa_rows "$build" "GRAPPA now" 1
    grappa_rows "$build" "GRAPPA now" 2
  done
  echo
  echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi
# FFTW plans are measured once (the warm-up run of each size) and kept as wisdom for later runs.
export LARMOR_FFTW_WISDOM=$work/wisdom
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

source "$here/timing.sh"
# peak resident MiB of one run of larmor_ops / of a BART command
larmor_peak_mb() { "$ops" "$1" "$2" "$work/lo" 1 2>&1 >/dev/null | awk '/peak_rss_mb/ {print $2}'; }
bart_peak_mb() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%.0f", $1 / 1024}'; }

# Memory bandwidth of this machine now (all threads, then one), 512 MiB arrays.
stream() { "$ops" stream 512 | awk '/copy_gbs/ {c=$2} /triad_gbs/ {t=$2} /read_gbs/ {r=$2} END {print c, t, r}'; }
read -r copy_bw triad_bw read_bw < <(stream)
read -r copy_bw1 triad_bw1 read_bw1 < <(OMP_NUM_THREADS=1 stream)
peak_bw=$(awk -v a="$copy_bw" -v b="$triad_bw" -v c="$read_bw" 'BEGIN {m = a > b ? a : b; print (m > c ? m : c)}')

scaling=()
mem=()

# (coils, slices, n, label)
for size in "32 1 256 3T-class" "32 30 256 3T-class-stack" "64 1 512 5T-class"; do
  set -- $size
  coils=$1 slices=$2 n=$3
  label="${coils} ch × ${n}²"; [ "$slices" -gt 1 ] && label="$label × $slices slices"
  bart zeros 4 "$n" "$n" "$slices" "$coils" "$work/z"
  bart noise -s 1 "$work/z" "$work/k"
  rm -f "$work/z.cfl"
  io=$(wall_ms bart copy "$work/k" "$work/bo")
  bytes_in=$(( coils * slices * n * n * 8 ))

  # agreement first: larmor and BART must produce the same numbers
  "$ops" ifft "$work/k" "$work/lo" 2>/dev/null && bart fft -u -i 3 "$work/k" "$work/bo"
  err=$(bart nrmse "$work/bo" "$work/lo")
  awk -v e="$err" 'BEGIN {exit !(e < 2e-6)}' || { echo "ifft disagrees with BART: nrmse $err" >&2; exit 1; }
  "$ops" rss "$work/k" "$work/lo" 2>/dev/null && bart rss 8 "$work/k" "$work/bo"
  err=$(bart nrmse "$work/bo" "$work/lo")
  awk -v e="$err" 'BEGIN {exit !(e < 2e-6)}' || { echo "rss disagrees with BART: nrmse $err" >&2; exit 1; }

  for op in fft ifft; do
    flag=""; [ "$op" = ifft ] && flag="-i"
    lw=$(wall_ms "$ops" "$op" "$work/k" "$work/lo")
    bw=$(wall_ms bart fft -u $flag 3 "$work/k" "$work/bo")
    lc=$(compute_ms "$op" "$work/k")
    add_row "$op (centered, unitary, 2D)" "$label" "$lw" "$bw" "$lc" "$((bw > io ? bw - io : 0))"
    l1=$(OMP_NUM_THREADS=1 compute_ms "$op" "$work/k")
    scaling+=("| $op | $label | $l1 | $lc | $(awk -v a="$l1" -v b="$lc" 'BEGIN {printf "%.2f", a / b}') |")
  done
  ip=$(compute_ms ifft_inplace "$work/k")
  add_row "ifft in place: ifftc_inplace" "$label" "–" "–" "$ip" ""
  ip1=$(OMP_NUM_THREADS=1 compute_ms ifft_inplace "$work/k")
  scaling+=("| ifft in place | $label | $ip1 | $ip | $(awk -v a="$ip1" -v b="$ip" 'BEGIN {printf "%.2f", a / b}') |")
  lw=$(wall_ms "$ops" rss "$work/k" "$work/lo")
  bw=$(wall_ms bart rss 8 "$work/k" "$work/bo")
  lc=$(compute_ms rss "$work/k")
  add_row "rss over coils" "$label" "$lw" "$bw" "$lc" "$((bw > io ? bw - io : 0))" "$(( bytes_in + bytes_in / coils / 2 ))"
  into=$(compute_ms rss_into "$work/k")
  add_row "rss into a reused buffer: rss(x, out)" "$label" "–" "–" "$into" "" "$(( bytes_in + bytes_in / coils / 2 ))"
  l1=$(OMP_NUM_THREADS=1 compute_ms rss "$work/k")
  into1=$(OMP_NUM_THREADS=1 compute_ms rss_into "$work/k")
  scaling+=("| rss | $label | $l1 | $lc | $(awk -v a="$l1" -v b="$lc" 'BEGIN {printf "%.2f", a / b}') |")
  scaling+=("| rss into a reused buffer | $label | $into1 | $into | $(awk -v a="$into1" -v b="$into" 'BEGIN {printf "%.2f", a / b}') |")
  mem+=("| ifft | $label | $(larmor_peak_mb ifft "$work/k") | $(bart_peak_mb bart fft -u -i 3 "$work/k" "$work/bo") | $(( bytes_in / 1048576 )) |")
done

# 5T-class 3D: 64 coils x 256 x 256 x 128 (4 GiB of complex64 per array; two runs each, the 3D inverse
# FFT and RSS only). larmor measures the 3D plan once (seconds; kept as wisdom, not in the medians).
saved_runs=$runs; runs=2
coils=64 n=256 nz=128 label="64 ch × 256² × 128 (3D)"
bart zeros 4 "$n" "$n" "$nz" "$coils" "$work/z"
bart noise -s 1 "$work/z" "$work/k"
rm -f "$work/z.cfl"
io=$(wall_ms bart copy "$work/k" "$work/bo")
bytes_in=$(( coils * nz * n * n * 8 ))
"$ops" ifft3 "$work/k" "$work/lo" 2>/dev/null && bart fft -u -i 7 "$work/k" "$work/bo"
err=$(bart nrmse "$work/bo" "$work/lo")
awk -v e="$err" 'BEGIN {exit !(e < 2e-6)}' || { echo "3D ifft disagrees with BART: nrmse $err" >&2; exit 1; }
lw=$(wall_ms "$ops" ifft3 "$work/k" "$work/lo")
bw=$(wall_ms bart fft -u -i 7 "$work/k" "$work/bo")
add_row "ifft (centered, unitary, 3D)" "$label" "$lw" "$bw" "$(compute_ms ifft3 "$work/k")" "$((bw > io ? bw - io : 0))"
lw=$(wall_ms "$ops" rss "$work/k" "$work/lo")
bw=$(wall_ms bart rss 8 "$work/k" "$work/bo")
add_row "rss over coils" "$label" "$lw" "$bw" "$(compute_ms rss "$work/k")" "$((bw > io ? bw - io : 0))" "$(( bytes_in + bytes_in / coils / 2 ))"
add_row "rss into a reused buffer: rss(x, out)" "$label" "–" "–" "$(compute_ms rss_into "$work/k")" "" "$(( bytes_in + bytes_in / coils / 2 ))"
mem+=("| ifft 3D | $label | $(larmor_peak_mb ifft3 "$work/k") | $(bart_peak_mb bart fft -u -i 7 "$work/k" "$work/bo") | $(( bytes_in / 1048576 )) |")
rm -f "$work/k.cfl" "$work/lo.cfl" "$work/bo.cfl"
runs=$saved_runs

# ESPIRiT calibration on a simulated 3T-class acquisition (structure, not noise: ESPIRiT needs signal).
# Maps are compared in the script only by shape (they agree with BART up to a per-pixel phase, checked
# in tests/cpp/test_espirit.cpp); times are one run each (BART ecalib takes seconds).
"$ops" phantom 32 256 "$work/ph"
ecalib_runs=$runs; runs=1
lw=$(wall_ms "$ops" ecalib "$work/ph" "$work/lo")
bw=$(wall_ms bart ecalib -m1 "$work/ph" "$work/bo")
io=$(wall_ms bart copy "$work/ph" "$work/bc")
lc=$(compute_ms ecalib "$work/ph")
add_row "ecalib (ESPIRiT, 1 map, BART defaults)" "32 ch × 256², 24² calib" "$lw" "$bw" "$lc" "$((bw > io ? bw - io : 0))"
mem+=("| ecalib | 32 ch × 256² | $(larmor_peak_mb ecalib "$work/ph") | $(bart_peak_mb bart ecalib -m1 "$work/ph" "$work/bo") | 16 |")
runs=$ecalib_runs

# SVD coil compression 64 -> 16 virtual coils from the central 24^2 calibration region (BART's default
# for cc -S) on a simulated 5T-class acquisition; one run each.
"$ops" phantom 64 512 "$work/ph64"
cc_runs=$runs; runs=1
lw=$(wall_ms "$ops" cc "$work/ph64" "$work/lo")
bw=$(wall_ms bart cc -S -p 16 "$work/ph64" "$work/bo")
io=$(wall_ms bart copy "$work/ph64" "$work/bc")
lc=$(compute_ms cc "$work/ph64")
add_row "cc (SVD coil compression)" "64 ch × 512² → 16" "$lw" "$bw" "$lc" "$((bw > io ? bw - io : 0))"
mem+=("| cc | 64 ch × 512² | $(larmor_peak_mb cc "$work/ph64") | $(bart_peak_mb bart cc -S -p 16 "$work/ph64" "$work/bo") | 128 |")
runs=$cc_runs
rm -f "$work/ph64.cfl"

# CG-SENSE vs bart pics -l2 per iteration (same k-space, same bart ecalib maps): bench/compare_pics.sh.
source "$here/compare_pics.sh"

# SIMD kernels against their scalar references (one thread, Google Benchmark), if built.
kernel_table=""
if [ -x "$build/bench/bench_kernels" ]; then
  kernel_table=$("$build/bench/bench_kernels" --benchmark_min_time=0.3 --benchmark_format=csv 2>/dev/null |
    awk -F, '/^"/ {gsub(/"/, "", $1); split($1, n, "/"); ms[n[1] "/" n[2]] = $3 / 1e6; gbs[n[1] "/" n[2]] = $6 / 1e9;
                   if (!(n[1] in seen)) {seen[n[1]] = 1; order[++k] = n[1]}}
         END {for (i = 1; i <= k; ++i) {o = order[i]; s = o "/scalar"; v = o "/simd";
              printf "| %s | %.3f | %.3f | %.1f | %.1f | %.1f× |\n", o, ms[s], ms[v], gbs[s], gbs[v], ms[s] / ms[v]}}')
fi

cpu=$(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')
kept=$(sed -n '/^<!-- kept by compare_bart.sh -->$/,$p' "$here/RESULTS.md" 2>/dev/null || true)
{
  echo "# larmor vs BART, side by side"
  echo
  echo "Machine: $cpu, $(nproc) cores ($(lscpu | awk -F: '/^Thread\(s\) per core/ {gsub(/ /, "", $2); print $2}') thread(s) per core),"
  echo "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), SIMD target chosen by larmor_kernels: $("$ops" targets 2>/dev/null || echo n/a)."
  echo "$(bart version 2>/dev/null | sed 's/^/BART /'), larmor $(git -C "$here/.." describe --always --dirty 2>/dev/null)."
  echo "Generated by \`bash bench/compare_bart.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), median of $runs runs, complex64."
  echo "Load average at start: $load_start; at end: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared:"
  echo "other jobs were compiling during the run, so absolute times are noisy; the larmor and BART runs of"
  echo "one row are taken back to back, so the ratios are fairer than the absolute numbers)."
  echo
  echo "Memory bandwidth measured in the same run (larmor_ops stream, 512 MiB float arrays, bytes read +"
  echo "written as STREAM counts them; read = a sum over one array): copy $copy_bw GB/s, triad $triad_bw GB/s,"
  echo "read $read_bw GB/s with all threads; copy $copy_bw1 GB/s, triad $triad_bw1 GB/s, read $read_bw1 GB/s with one"
  echo "thread. Fractions below are of the largest, $peak_bw GB/s."
  echo
  echo "Wall = whole process (start-up + read cfl + compute + write cfl), the same files for both."
  echo "larmor compute = in-process median (larmor_ops); BART compute (est.) = BART's wall minus \`bart copy\`"
  echo "wall on the same file (BART 0.8 has no internal timer), so it also absorbs BART's extra passes."
  echo "larmor measures FFTW plans (FFTW_MEASURE) once per size and keeps them as wisdom"
  echo "(LARMOR_FFTW_WISDOM); the medians exclude that first planning run (0.1-0.3 s per size)."
  echo "Both use all cores (OpenMP default). Ratio > 1 means larmor is faster. rss GB/s counts the complex"
  echo "input read once plus the float output written. \`rss\` returns a new image (allocation and first-touch"
  echo "page faults included, as BART's output file); \`rss(x, out)\` writes into a buffer the caller reuses;"
  echo "\`ifftc_inplace\` transforms the caller's array (what an in-place pipeline pays per transform)."
  echo "L3 cache reported: $(( $(getconf LEVEL3_CACHE_SIZE 2>/dev/null || echo 0) / 1048576 )) MiB (one AMD CCD has 32-96 MiB). The 32 ch × 256² input (16 MiB) stays in"
  echo "it between repetitions, so its GB/s is a cache figure; the 4 GiB 3D input is a clean memory figure."
  echo
  echo "| operation | size | larmor wall ms | BART wall ms | ratio | larmor compute ms | BART compute ms (est.) | ratio | bandwidth |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  if [ -n "$kernel_table" ]; then
    echo "## SIMD kernels vs scalar reference (bench/bench_kernels, 1 thread, 32 coils × 256², 64-byte aligned)"
    echo
    echo "| kernel | scalar ms | SIMD ms | scalar GB/s | SIMD GB/s | speed-up |"
    echo "|---|---|---|---|---|---|"
    echo "$kernel_table"
    echo
  fi
  echo "## Thread scaling (larmor compute ms, OMP_NUM_THREADS=1 vs 2)"
  echo
  echo "| operation | size | 1 thread ms | 2 threads ms | speed-up |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${scaling[@]}"
  echo
  cat <<'NOTES'
## Notes (measured separately with small driver programs on the same machine, 2026-11-25)

- **First-touch page faults dominate small fresh outputs here.** Writing a freshly allocated 1 MiB array
  costs 3.3 ms in this VM (about 13 µs per 4 KiB page fault), a third of `rss` at 64 ch × 512² when
  it returns a new image; hence `rss(x, out)` (C++) / `rss(x, out=buf)` (Python) for loops over slices
  and repetitions (the "into a reused buffer" rows). Arrays of 4 MiB and more get transparent huge
  pages (`core/array.hpp`), which removes most of this for FFT outputs.
- **Skipping the x-FFT of non-acquired lines does not pay on this machine.** For 64 × 512² complex64,
  one thread: full 2D `ifftc` 95 ms, y-only 73 ms, x-only 56 ms, x-only on 1/4 of the lines 11.5 ms.
  The best case for R = 4 (x on acquired lines, then y on all columns) is 85 ms before gathering and
  zero-filling; a working implementation measured 190 ms vs 122 ms for the plain 2D transform, so it
  was not kept. FFTW's 2D plan does both passes more cheaply than a strided 1D y pass alone.
- **Two threads on two loaded cores.** With other jobs compiling, OpenMP regions wait for the thread
  that is descheduled, so 2 threads can be slower than 1. On an idle machine 2 threads give 1.5-2.8x
  (the 2026-11-25 11:16 run); rows that allocate a fresh output vary with its page faults. `set_num_threads(1)` / `OMP_NUM_THREADS=1` is the right setting for a
  machine that is already busy. Inside larmor's own parallel loops FFTW runs single-threaded (no
  nesting); results for 1 and 2 threads agree to round-off (tests/cpp/test_kernels.cpp).

NOTES
  echo "## Peak resident memory (MiB, whole process)"
  echo
  echo "| operation | size | larmor_ops | BART | input cfl MiB |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${mem[@]}"
  # Hand-written sections (parallel imaging, measured with the Google Benchmark programs) follow the
  # marker line and are carried over from the previous RESULTS.md.
  if [ -n "$kept" ]; then printf '%s\n' "$kept"; fi
} > "$here/RESULTS.md.new"
mv "$here/RESULTS.md.new" "$here/RESULTS.md"
cat "$here/RESULTS.md"
