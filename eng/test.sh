#!/usr/bin/env bash
# The repository's test command (README; CI runs it through .ci/run). Runnable from any directory.
#   0. prepares the assets of the asset-gated tests (eng/prepare-assets.sh: apt and npm packages, generated references);
#   1. builds Freezing.sln in Release, once;
#   2. runs the test project on that build, with a TRX log under artifacts/test-results/, then its Numerical category
#      again under AVX2 caps (ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2);
#   3. runs eng/check-packed-consumer.sh (packs the library; an app outside the repo that references only the package
#      trains at the defaults, saves, loads in a new process, predicts and exports ONNX).
# Ends with one line "N passed, N failed, N skipped": the TRX counters of both runs of step 2, plus one for step 3
# (a failed build counts as one failure). Exits non-zero when anything failed.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit 1
export DOTNET_NOLOGO=${DOTNET_NOLOGO:-1}
export DOTNET_CLI_TELEMETRY_OPTOUT=${DOTNET_CLI_TELEMETRY_OPTOUT:-1}

results=$repo/artifacts/test-results
passed=0
failed=0
skipped=0
timings=()

now_us() { echo "${EPOCHREALTIME//[!0-9]/}"; }
# step <label> <command...>: runs a command, prints and records its elapsed seconds; returns its exit status.
step() {
    local label=$1 start rc us outcome
    shift
    echo "== $label"
    start=$(now_us)
    "$@"
    rc=$?
    us=$(($(now_us) - start))
    outcome=ok
    [ $rc -eq 0 ] || outcome="FAILED (exit $rc)"
    timings+=("$(printf '%-15s %5d.%d s  %s' "$label" $((us / 1000000)) $((us / 100000 % 10)) "$outcome")")
    echo "== $label: $((us / 1000000)).$((us / 100000 % 10)) s, $outcome"
    return $rc
}

finish() {
    echo
    echo "== timings"
    printf '%s\n' "${timings[@]}"
    echo
    echo "$passed passed, $failed failed, $skipped skipped"
    exit $((failed == 0 ? 0 : 1))
}

# 0. Assets (a failure here shows up as the failing or skipped tests that needed them).
step assets bash eng/prepare-assets.sh

# 1. Build.
if ! step build dotnet build Freezing.sln -c Release -nologo; then
    failed=$((failed + 1))
    echo "Build failed: tests and the consumer check were not run." >&2
    finish
fi

# 2. Tests, counted from the TRX file (not from console wording).
rm -rf "$results"
step tests dotnet test test/Microsoft.ML.Freezing.Tests -c Release --no-build -nologo \
    --logger "trx;LogFileName=tests.trx" --logger "console;verbosity=normal" --results-directory "$results"
test_rc=$?
trx=$results/tests.trx
counters=$( [ -f "$trx" ] && grep -o '<Counters [^>]*>' "$trx" | head -n 1 )
counter() { # counter <name>: the attribute's value in the TRX <Counters> element, 0 when absent
    local v
    v=$(grep -o " $1=\"[0-9]*\"" <<<"$counters" | grep -o '[0-9]\+')
    echo "${v:-0}"
}
if [ -z "$counters" ]; then
    echo "No TRX counters in $trx: counting the test run as one failure." >&2
    failed=$((failed + 1))
else
    t_total=$(counter total)
    t_passed=$(counter passed)
    # Errors, timeouts and aborts are failures too.
    t_failed=$(($(counter failed) + $(counter error) + $(counter timeout) + $(counter aborted)))
    echo "TRX $trx: total=$t_total executed=$(counter executed) passed=$t_passed failed=$t_failed"
    passed=$((passed + t_passed))
    failed=$((failed + t_failed))
    skipped=$((t_total - t_passed - t_failed))
    if [ "$t_total" -eq 0 ]; then
        echo "The test run found no tests: counting that as one failure." >&2
        failed=$((failed + 1))
    elif [ "$test_rc" -ne 0 ] && [ "$t_failed" -eq 0 ]; then
        echo "dotnet test exited $test_rc without a failed test in the TRX: counting that as one failure." >&2
        failed=$((failed + 1))
    fi
fi

# 2b. The numerical tests again with oneDNN, ATen and MKL capped at AVX2: other kernels compute, so a tolerance or a
#     fast path that holds only for this CPU's AVX-512 kernels fails here on any machine (about 3 minutes on 2 cores).
isa_trx=$results/numerical-avx2.trx
step numerical-avx2 env ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
    dotnet test test/Microsoft.ML.Freezing.Tests -c Release --no-build -nologo --filter "TestCategory=Numerical" \
    --logger "trx;LogFileName=numerical-avx2.trx" --logger "console;verbosity=minimal" --results-directory "$results"
isa_rc=$?
counters=$( [ -f "$isa_trx" ] && grep -o '<Counters [^>]*>' "$isa_trx" | head -n 1 )
if [ -z "$counters" ] || [ "$(counter total)" -eq 0 ]; then
    echo "No numerical tests ran under the AVX2 caps ($isa_trx): counting that as one failure." >&2
    failed=$((failed + 1))
else
    i_passed=$(counter passed)
    i_failed=$(($(counter failed) + $(counter error) + $(counter timeout) + $(counter aborted)))
    echo "TRX $isa_trx (AVX2 caps): total=$(counter total) passed=$i_passed failed=$i_failed"
    passed=$((passed + i_passed))
    failed=$((failed + i_failed))
    skipped=$((skipped + $(counter total) - i_passed - i_failed))
    if [ "$isa_rc" -ne 0 ] && [ "$i_failed" -eq 0 ]; then
        echo "dotnet test under the AVX2 caps exited $isa_rc without a failed test: counting that as one failure." >&2
        failed=$((failed + 1))
    fi
fi

# 3. The packed-library consumer check.
if step consumer-check bash eng/check-packed-consumer.sh; then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
fi

finish
