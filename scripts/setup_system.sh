#!/usr/bin/env sh
# System packages the reports and their tests need (riskmodel issue 7):
#   - a CJK font, so Chinese text renders in matplotlib plots and in the HTML reports;
#   - Debian's chromium, for the headless-browser test of the index page and a cohort report.
# Idempotent: skips what is already present. As root it installs with apt-get; otherwise it only
# prints the command to run. Usage: sh scripts/setup_system.sh
set -eu

need=""
if ! fc-list :lang=zh 2>/dev/null | grep -q .; then
    need="$need fonts-noto-cjk"
fi
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    need="$need chromium"
fi
# fc-list itself comes from fontconfig.
if ! command -v fc-list >/dev/null 2>&1; then
    need="fontconfig $need"
fi

if [ -z "$need" ]; then
    echo "setup_system: CJK font and chromium already present; nothing to install."
    exit 0
fi

if [ "$(id -u)" != "0" ]; then
    echo "setup_system: not root; please install:$need"
    echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends$need"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_system: no apt-get on this machine; install a CJK font (Noto Sans CJK SC or WenQuanYi Micro Hei) and chromium by hand."
    exit 0
fi

echo "setup_system: installing$need"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086  # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $need
fc-cache -f >/dev/null 2>&1 || true
# matplotlib caches the font list; drop the cache so it sees the new font on its next start.
rm -f "${HOME:-/root}"/.cache/matplotlib/fontlist-*.json 2>/dev/null || true
echo "setup_system: done."
