#!/usr/bin/env bash
# System packages for the book (Debian/Ubuntu), installed only if missing:
#   - Node.js and npm: tools/vendor_js.py fetches MathJax, RequireJS and the widget manager from the npm
#     registry with `npm pack`, so the built HTML needs no CDN;
#   - Chromium: tools/check_offline.py (and tests/test_book.py) render the built pages headless, offline.
# Usage: bash tools/setup_system.sh   (as root, or with sudo available). Needs only Debian's package mirrors.
set -euo pipefail

need=()
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || need+=(chromium)

if ((${#need[@]} == 0)); then
    echo "setup_system: node $(node --version), npm $(npm --version), $(chromium --version 2>/dev/null | head -n1) already installed"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_system: please install ${need[*]} with your system's package manager" >&2
    exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
echo "setup_system: installing ${need[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
echo "setup_system: done: node $(node --version), npm $(npm --version), $(chromium --version 2>/dev/null | head -n1)"
