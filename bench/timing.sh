# bench/timing.sh — shell helpers shared by compare_bart.sh and compare_pics.sh (sourced, not run).
# Expects: $ops (larmor_ops), $work (scratch dir), $runs (repetitions); optional $peak_bw (GB/s) for
# the bandwidth column.

# median wall ms of RUNS runs of a command (output discarded)
wall_ms() {
  local t=()
  for _ in $(seq "$runs"); do
    local s e
    s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N)
    t+=($(( (e - s) / 1000000 )))
  done
  printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
# median in-process compute ms reported by larmor_ops (REPEAT = RUNS inside one process)
compute_ms() { "$ops" "$1" "$2" "$work/lo" "$runs" 2>&1 >/dev/null | awk '/compute_ms/ {print $2}'; }

# One table row: op size larmor_wall bart_wall larmor_compute bart_compute [bytes moved]
# ("–" or empty for a value that does not exist; bytes give GB/s and the fraction of $peak_bw).
rows=()
add_row() {
  local ratio ratio_c bw=""
  ratio=$(awk -v b="$4" -v l="$3" 'BEGIN {if (l ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && l > 0 && b > 0) printf "%.2f", b / l; else print "–"}')
  ratio_c=$(awk -v b="$6" -v l="$5" 'BEGIN {if (l ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && l > 0 && b > 0) printf "%.2f", b / l; else print "n/a"}')
  if [ -n "${7:-}" ] && [ -n "${peak_bw:-}" ]; then
    bw=$(awk -v by="$7" -v ms="$5" -v pk="$peak_bw" 'BEGIN {g = by / ms * 1e-6; printf "%.1f GB/s = %.0f %%", g, 100 * g / pk}')
  fi
  rows+=("| $1 | $2 | $3 | $4 | $ratio | $5 | $6 | $ratio_c | $bw |")
}
