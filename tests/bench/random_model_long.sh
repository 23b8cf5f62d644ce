#!/bin/bash
# The long run of the randomized three-way test (mmu library, reference model, host kernel):
# 100,000 sequences of 80 operations, private-only and with shared anonymous memory, counting
# the sequences that diverge in any way (result, errno, contents, guard bits, VMA count).
# Usage: tests/bench/random_model_long.sh [BUILD_DIR] [FIRST-LAST] [OPS]
set -euo pipefail
build=${1:-build/bench}
seeds=${2:-300001-400000}
ops=${3:-80}
tests=$build/tests/mmu/mmu_tests
[[ -x $tests ]] || { echo "random_model_long.sh: $tests not found (build the bench preset first)" >&2; exit 2; }
MMU_MODEL_KEEP_GOING=1 MMU_MODEL_SEEDS=$seeds MMU_MODEL_OPS=$ops \
    "$tests" --gtest_filter='RandomModel.*' | grep -E '^random model|seed [0-9]+ \(' | sort | uniq -c | sort -rn | head -40
