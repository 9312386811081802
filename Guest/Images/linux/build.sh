#!/usr/bin/env bash
# Builds the Linux guest from Debian bookworm's packages: the unmodified i386 kernel
# (linux-image-6.1.*-686, not -pae), its System.map, and a busybox initramfs whose /init mounts
# proc, sys and devtmpfs, prints "vmft-linux-ready" and starts a shell on the serial console.
#
#   Guest/Images/linux/build.sh            build where missing, print the output folder
#   Guest/Images/linux/build.sh --force    rebuild from freshly downloaded packages
#
# Output (outside git): ${VMFT_LINUX_DIR:-${XDG_CACHE_HOME:-~/.cache}/vmft/linux}/
#   vmlinuz  initrd.gz  System.map  VERSION (the kernel and busybox package versions)
# Quick and idempotent: with the files in place (and this script unchanged) it only prints the folder.
# Needs root (or sudo) the first time, for `dpkg --add-architecture i386` and `apt-get update`.
set -euo pipefail

out="${VMFT_LINUX_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vmft/linux}"
force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown argument '$arg' (--force, --help)" >&2; exit 2 ;;
  esac
done

# The recipe's fingerprint: a changed script rebuilds the cache.
recipe=$(sha256sum "$0" | cut -c1-16)
if [ "$force" = 0 ] && [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.gz" ] && [ -s "$out/System.map" ] \
   && [ "$(cat "$out/.recipe" 2>/dev/null)" = "$recipe" ]; then
  echo "$out"
  exit 0
fi

log() { echo "build.sh: $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
for tool in apt-get apt-cache dpkg dpkg-deb cpio gzip; do
  command -v "$tool" >/dev/null || { log "needs $tool (Debian's apt, dpkg, cpio and gzip)"; exit 1; }
done

if ! dpkg --print-foreign-architectures | grep -qx i386; then
  log "adding the i386 architecture to dpkg"
  as_root dpkg --add-architecture i386
fi
# The metapackage names the current 6.1 ABI (linux-image-6.1.0-N-686).
kernel_pkg=$(apt-cache depends linux-image-686:i386 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-6\.1\.[0-9.]*-[0-9]*-686\)\(:i386\)\{0,1\}$/\1/p' | head -n1)
if [ -z "$kernel_pkg" ] || ! apt-cache show busybox-static:i386 >/dev/null 2>&1; then
  log "updating the package lists (apt-get update)"
  as_root apt-get update -qq
  kernel_pkg=$(apt-cache depends linux-image-686:i386 | sed -n 's/^ *Depends: \(linux-image-6\.1\.[0-9.]*-[0-9]*-686\)\(:i386\)\{0,1\}$/\1/p' | head -n1)
fi
[ -n "$kernel_pkg" ] || { log "no linux-image-6.1.*-686 package for i386 (is this Debian bookworm?)"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
log "downloading $kernel_pkg:i386 and busybox-static:i386"
apt-get download -q=2 "$kernel_pkg:i386" busybox-static:i386
kernel_deb=$(ls linux-image-*.deb)
busybox_deb=$(ls busybox-static_*.deb)
dpkg-deb -x "$kernel_deb" kernel
dpkg-deb -x "$busybox_deb" busybox

vmlinuz=$(ls kernel/boot/vmlinuz-*-686)
map=$(ls kernel/boot/System.map-*-686)

# The initramfs: busybox, its applet links, the mount points, and /init.
root="$work/root"
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,root,etc}
cp busybox/bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list 2>/dev/null || true); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
if [ ! -e "$root/bin/sh" ]; then
  # An i386 binary that this host cannot run: link the applets the init script names.
  for applet in sh mount echo setsid cttyhack poweroff reboot halt ls cat; do ln -s busybox "$root/bin/$applet"; done
fi
cat > "$root/init" <<'INIT'
#!/bin/sh
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo vmft-linux-ready
# A session on the console's real tty (ttyS0 here), so the shell gets job control;
# restarted if it exits.
while true; do
  setsid cttyhack sh -l
done
INIT
chmod 755 "$root/init"
cat > "$root/etc/profile" <<'PROFILE'
export PS1='~ # '
PROFILE

# Reproducible: fixed order, owner and timestamps, no name or time in the gzip header.
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -9 -n > initrd.gz

mkdir -p "$out"
cp "$vmlinuz" "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"
cp "$map" "$out/System.map.tmp" && mv "$out/System.map.tmp" "$out/System.map"
cp initrd.gz "$out/initrd.gz.tmp" && mv "$out/initrd.gz.tmp" "$out/initrd.gz"
{
  echo "kernel $(dpkg-deb -f "$kernel_deb" Package) $(dpkg-deb -f "$kernel_deb" Version)"
  echo "busybox $(dpkg-deb -f "$busybox_deb" Package) $(dpkg-deb -f "$busybox_deb" Version)"
} > "$out/VERSION"
echo "$recipe" > "$out/.recipe"
log "$(tr '\n' ';' < "$out/VERSION" | sed 's/;$//; s/;/, /')"
echo "$out"
