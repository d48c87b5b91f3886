#!/usr/bin/env bash
# Installs what tandem needs on a fresh Debian 12 machine: the engines from Debian's
# packages (when root) and the npm packages from the lock file. Safe to run again.
# chromium (with a font) is for the dashboard test: playwright-core drives it headless.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(haproxy nginx-light mariadb-server mariadb-client mariadb-backup wrk iproute2 procps diffutils keepalived dnsmasq-base nftables nmap curl openssl etcd-server etcd-client openssh-server
  prometheus prometheus-alertmanager prometheus-node-exporter prometheus-mysqld-exporter
  prometheus-nginx-exporter prometheus-blackbox-exporter
  zstd
  chromium fonts-liberation)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "tandem: missing Debian packages: ${missing[*]} — run as root, or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "tandem: installing ${missing[*]}"
  # Debian's packages must not start their own services (no systemd here, and
  # tandem supervises its own engines): policy-rc.d refuses starts for the install.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$created_policy" = 1 ] && rm -f "$policy"
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
