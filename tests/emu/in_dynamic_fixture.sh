#!/usr/bin/env bash
# Runs compare_with_native.sh (same arguments) in a fresh directory with fixed contents, modes
# and times (so that `ls -la`, `find` and `tar` print the same natively and under mmuemu):
#   ./data/{alpha.txt, beta.txt, numbers.txt, sub/gamma.txt}, ./script.sh
# usage: in_dynamic_fixture.sh MMUEMU EXPECTED_STATUS PROGRAM [ARGS...]
set -u
here=$(dirname "$(realpath "$0")")
top=$(mktemp -d)
trap 'rm -rf "$top"' EXIT
fixture=$top/fixture
mkdir -p "$fixture/data/sub"
printf 'the quick brown fox\njumps over\nthe lazy dog\n' >"$fixture/data/alpha.txt"
printf 'zeta\nalpha\nMu\nbeta\nalpha\n' >"$fixture/data/beta.txt"
seq 1 200 | sort -R --random-source=/dev/zero >"$fixture/data/numbers.txt"
printf 'deep inside\n' >"$fixture/data/sub/gamma.txt"
cat >"$fixture/script.sh" <<'SCRIPT'
# functions, command substitution, a pipeline of dynamic programs, arithmetic, a subshell
count_lines() { wc -l < "$1"; }
total=0
for f in data/*.txt; do
    n=$(count_lines "$f")
    total=$((total + n))
    echo "$f: $n"
done
echo "total: $total"
echo "largest: $(sort -n data/numbers.txt | tail -1)"
words=$(cat data/alpha.txt | tr ' ' '\n' | sort | uniq -c | sort -rn | head -2)
echo "$words"
(cd data/sub && pwd | sed 's|.*/fixture/||')
SCRIPT
chmod 0644 "$fixture"/data/*.txt "$fixture/data/sub/gamma.txt" "$fixture/script.sh"
chmod 0755 "$fixture/data" "$fixture/data/sub"
find "$fixture" "$top" -exec touch -h -d '2024-01-02 03:04:05 UTC' {} +
COMPARE_CWD=$fixture TZ=UTC LC_ALL=C bash "$here/compare_with_native.sh" "$@"
