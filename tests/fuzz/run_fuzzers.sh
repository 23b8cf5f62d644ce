#!/usr/bin/env bash
# Builds the fuzz preset (clang, libFuzzer, ASan + UBSan) and runs each fuzz target for a bounded
# time from its committed seed corpus (tests/fuzz/corpus/TARGET, copied to a scratch directory:
# the committed corpus is never modified) and the reproducers of bugs found before
# (tests/fuzz/regressions/TARGET), with its dictionary (tests/fuzz/TARGET.dict) if any.
# Prints the executions per target; fails if any target crashes, leaks, times out on an input
# or runs out of memory (the input is kept in build/fuzz/artifacts/).
# usage: run_fuzzers.sh [TARGET...]   (default: every target)
# env:   FUZZ_SECONDS per target (60), FUZZ_RSS_MB (2048), FUZZ_TIMEOUT per input in s (10)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-60}
rss_mb=${FUZZ_RSS_MB:-2048}
timeout=${FUZZ_TIMEOUT:-10}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(elf_loader_fuzzer trace_replay_fuzzer rsp_packet_fuzzer)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! { cmake --preset fuzz && cmake --build --preset fuzz; } >"$work/build.log" 2>&1; then
    tail -n 60 "$work/build.log"
    echo "run_fuzzers: the fuzz preset did not build (clang-14 and libclang-rt-14-dev are needed)" >&2
    exit 1
fi
artifacts=build/fuzz/artifacts
mkdir -p "$artifacts"

failed=0
summary=()
for target in "${targets[@]}"; do
    cp -r "tests/fuzz/corpus/$target" "$work/$target.corpus"
    # The reproducers of bugs found before seed the run too (read-only: new inputs go to the copy).
    seeds=("$work/$target.corpus")
    [ -d "tests/fuzz/regressions/$target" ] && seeds+=("tests/fuzz/regressions/$target")
    dict=()
    [ -f "tests/fuzz/$target.dict" ] && dict=(-dict="tests/fuzz/$target.dict")
    echo "run_fuzzers: $target for ${seconds}s"
    status=0
    # -close_fd_mask=3: the targets' own output (replay messages) is dropped; libFuzzer and the
    # sanitizers keep reporting on a duplicate of stderr.
    "build/fuzz/$target" -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -timeout="$timeout" \
        -close_fd_mask=3 -print_final_stats=1 -artifact_prefix="$artifacts/$target-" "${dict[@]}" \
        "${seeds[@]}" >"$work/$target.log" 2>&1 || status=$?
    execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$work/$target.log")
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$work/$target.log" | tail -n 1 || true)
    if [ "$status" -ne 0 ]; then
        tail -n 80 "$work/$target.log"
        echo "run_fuzzers: $target FAILED (exit $status); the input is in $artifacts/" >&2
        summary+=("$(printf '%-22s FAILED (exit %s) after %s executions' "$target" "$status" "${execs:-?}")")
        failed=1
    else
        summary+=("$(printf '%-22s %12s executions in %ss  (%s)' "$target" "${execs:-?}" "$seconds" "${done_line:-no DONE line}")")
    fi
done
echo "run_fuzzers: executions per target"
printf '  %s\n' "${summary[@]}"
exit "$failed"
