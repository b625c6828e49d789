#!/usr/bin/env bash
# Installs what the browser test of `serve` (test/.../Serving/ServePageBrowserTests.cs) drives: Debian's
# headless-capable `chromium` and its matching `chromium-driver` (/usr/bin/chromium, /usr/bin/chromedriver). Selenium
# is given the driver's path, so nothing is downloaded at test time. Uses apt-get as root, or through sudo; refreshes
# the package lists once when the install fails on stale ones. Idempotent: exits at once when both binaries are there.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo installed), chromedriver installed."
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "chromium: installing chromium needs root (or sudo)." >&2; exit 1; }
    sudo=(sudo)
fi
packages=(chromium chromium-driver)
echo "chromium: installing ${packages[*]} with apt-get ..."
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get install -y --no-install-recommends -qq "${packages[@]}" >/dev/null; then
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y --no-install-recommends -qq "${packages[@]}" >/dev/null
fi
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || {
    echo "chromium: the packages installed but /usr/bin/chromium or /usr/bin/chromedriver is missing." >&2
    exit 1
}
echo "chromium: installed $(/usr/bin/chromium --version 2>/dev/null)."
