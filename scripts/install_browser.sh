#!/usr/bin/env bash
# Installs Debian's Chromium for the browser test (wb_dagster_tests/ui), if missing.
# Idempotent: does nothing when it is present; otherwise one `apt-get update`, then the install.
# The browser test drives /usr/bin/chromium through the Python `playwright` package (no browser
# download: `playwright install` cannot reach its CDN here and is never run).
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install_browser: $(chromium --version 2>/dev/null || echo chromium) already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install_browser: installed ${missing[*]}: $(chromium --version)"
