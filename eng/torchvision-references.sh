#!/usr/bin/env bash
# Generates the torchvision fixtures of the PyTorch import parity test (test/.../Weights/PyTorchImportTests.cs):
# resnet18/resnet50 state_dict files (.pth, and resnet18 as .safetensors) with seeded random weights, a fixed input
# and PyTorch's reference outputs, in $FREEZING_HOME/assets/torchvision (the library's FreezingPaths.Asset folder:
# $FREEZING_HOME, else ${XDG_CACHE_HOME:-~/.cache}/Microsoft.ML.Freezing). Nothing is downloaded but Debian's
# python3-torch and python3-torchvision (installed with apt when missing; needs root or sudo). Idempotent: exits at
# once when the files exist and were written by the current version of eng/torchvision_references.py.
# Generated files, never committed. Runnable from any directory.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
home=${FREEZING_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/Microsoft.ML.Freezing}
out=$home/assets/torchvision
python=/usr/bin/python3
script=$repo/eng/torchvision_references.py

if "$python" "$script" --check "$out"; then
    exit 0
fi

if ! "$python" -c 'import torch, torchvision' 2>/dev/null; then
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "Installing python3-torch needs root (or sudo)." >&2; exit 1; }
        sudo=(sudo)
    fi
    packages=(python3-torch python3-torchvision)
    echo "Installing ${packages[*]} with apt-get."
    export DEBIAN_FRONTEND=noninteractive
    if ! "${sudo[@]}" apt-get install -y --no-install-recommends "${packages[@]}"; then
        # Stale or empty package lists: refresh them once and retry.
        "${sudo[@]}" apt-get update
        "${sudo[@]}" apt-get install -y --no-install-recommends "${packages[@]}"
    fi
fi

exec "$python" "$script" "$out"
