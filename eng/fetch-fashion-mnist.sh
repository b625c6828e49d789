#!/usr/bin/env bash
# Makes the Fashion-MNIST files available (Zalando's 28x28 grey clothing images, 10 classes, MIT): Debian's
# dataset-fashion-mnist package, installed with apt when missing (needs root or sudo), puts the IDX files in
#   /usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
# The sample (`train --data fashion-mnist`) and eng/accuracy-evidence.sh run this script when the files are missing and
# then write a 4,000-image subset as a class-folder tree (src/Samples/FashionMnist.cs). Idempotent.
set -euo pipefail

folder=/usr/share/datasets/fashion-mnist
if [ -s "$folder/train-images-idx3-ubyte.gz" ] && [ -s "$folder/train-labels-idx1-ubyte.gz" ]; then
    echo "fashion-mnist: $folder is already there."
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || {
        echo "fashion-mnist: installing dataset-fashion-mnist needs root (or sudo)." >&2
        exit 1
    }
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
echo "fashion-mnist: installing dataset-fashion-mnist with apt-get."
if ! "${sudo[@]}" apt-get install -y --no-install-recommends dataset-fashion-mnist; then
    # Stale or empty package lists: refresh them once and retry.
    "${sudo[@]}" apt-get update
    "${sudo[@]}" apt-get install -y --no-install-recommends dataset-fashion-mnist
fi
[ -s "$folder/train-images-idx3-ubyte.gz" ] || {
    echo "fashion-mnist: $folder/train-images-idx3-ubyte.gz is missing after the install." >&2
    exit 1
}
echo "fashion-mnist: installed $folder."
