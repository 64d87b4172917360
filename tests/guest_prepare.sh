#!/usr/bin/env bash
# Fetch what the kTLS tests need to boot a kernel that has kTLS: qemu and vng's helpers from
# Debian, and Debian's generic kernel image, unpacked into DEST (never installed). Idempotent.
# Without root or apt it only says what is missing: the test then explains the skip.
# Also tmux, in which the dashboard test runs bulkup as a person would, and tinyproxy, the
# proxy the workers must tunnel through (its service is not started: the tests run their own).
set -uo pipefail
DEST=${1:-.cache/guest-kernel}
PACKAGES="qemu-system-x86 kmod busybox-static udev file strace tmux tinyproxy"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  [ -z "$missing" ] || echo "kTLS guest tests need Debian packages:$missing (apt-get install, as root)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null || { echo "apt-get update failed"; exit 1; }
if [ -n "$missing" ]; then
  # Only missing packages are named: naming installed ones would upgrade them. No service
  # they bring may start (tinyproxy's would listen beyond loopback).
  policy=/usr/sbin/policy-rc.d
  [ -e "$policy" ] || { printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; added_policy=1; }
  apt-get install -y -q --no-install-recommends $missing >/dev/null || { echo "apt-get install failed"; exit 1; }
  [ -z "${added_policy:-}" ] || rm -f "$policy"
fi
pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9].*-amd64$/ {print $2; exit}')
[ -n "$pkg" ] || { echo "no generic kernel package found"; exit 1; }
if [ ! -f "$DEST/boot/vmlinuz-${pkg#linux-image-}" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -q "$pkg" 2>&1 | grep -v unsandboxed)
  rm -rf "$DEST" && mkdir -p "$DEST"
  # The tree stays writable: vng runs depmod into it on the first boot.
  dpkg-deb -x "$tmp"/"$pkg"_*.deb "$DEST" || { echo "unpacking $pkg failed"; exit 1; }
  rm -rf "$tmp"
  echo "guest kernel: $pkg unpacked into $DEST"
fi
