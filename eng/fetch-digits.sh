#!/usr/bin/env bash
# Makes scikit-learn's digits data set available (UCI's optical handwritten digits as scikit-learn ships them: 1,797
# 8x8 grey images, 10 classes, values 0-16; BSD-3-Clause): Debian's python3-sklearn package, installed with apt when
# missing (needs root or sudo), puts it in
#   /usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz   (one image a row: 64 pixels, then the label)
# eng/accuracy-evidence.sh runs this script; eng/AccuracyEvidence/Digits.cs then writes the images once as a
# class-folder tree of PNGs. Idempotent.
set -euo pipefail

file=/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz
if [ -s "$file" ]; then
    echo "digits: $file is already there."
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "digits: installing python3-sklearn needs root (or sudo)." >&2; exit 1; }
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
echo "digits: installing python3-sklearn with apt-get."
if ! "${sudo[@]}" apt-get install -y --no-install-recommends python3-sklearn; then
    # Stale or empty package lists: refresh them once and retry.
    "${sudo[@]}" apt-get update
    "${sudo[@]}" apt-get install -y --no-install-recommends python3-sklearn
fi
[ -s "$file" ] || { echo "digits: $file is missing after the install." >&2; exit 1; }
echo "digits: installed $file."
