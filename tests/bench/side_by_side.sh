# Helpers for the bench scripts that time whole programs side by side (sourced, not run):
#   median          the median of the numbers on stdin, one per line
#   time_run EXPECTED CMD...   runs CMD, prints its wall-clock seconds; fails (printing a WARNING
#                   on stderr) when its stdout differs from EXPECTED, the native output
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_run() {
    local expected=$1; shift
    local start end out
    start=$(date +%s.%N)
    out=$("$@" 2>/dev/null) || true
    end=$(date +%s.%N)
    if [ "$out" != "$expected" ]; then echo "WARNING: '$*' printed '$out', natively '$expected'" >&2; return 1; fi
    echo "$end - $start" | bc -l
}
