#!/usr/bin/env bash
# Builds the Linux guest from Debian bookworm's packages: the unmodified i386 kernel
# (linux-image-6.1.*-686, not -pae), its System.map, and a busybox initramfs whose /init mounts
# proc, sys and devtmpfs, loads the kernel's virtio-pci, virtio-blk and virtio-net modules (and
# ext4's when a disk appeared), brings up eth0 when a network card appeared (its address from
# vmft.ip=ADDR/LEN on the kernel command line), prints "vmft-linux-ready" and starts a shell on
# the serial console.
#
#   Guest/Images/linux/build.sh                  build what is missing, print the output folder
#   Guest/Images/linux/build.sh --force          rebuild from freshly downloaded packages
#   Guest/Images/linux/build.sh --no-system-map  skip System.map (it comes from the 765 MB -dbg package)
#
# Output (outside git): ${VMFT_LINUX_DIR:-${XDG_CACHE_HOME:-~/.cache}/vmft/linux}/
#   vmlinuz  initrd.gz  System.map  VERSION (the kernel and busybox package versions)
# Quick and idempotent: with the files in place (and this script unchanged) it only prints the folder.
# Needs root (or sudo) the first time, for `dpkg --add-architecture i386` and `apt-get update`.
# The kernel package ships only a placeholder System.map; the real one is the first file of the
# matching linux-image-*-686-dbg package, downloaded once and then deleted.
set -euo pipefail

out="${VMFT_LINUX_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vmft/linux}"
force=0
want_map=1
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --no-system-map) want_map=0 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown argument '$arg' (--force, --no-system-map, --help)" >&2; exit 2 ;;
  esac
done

# The recipe's fingerprint: a changed script rebuilds the cache.
recipe=$(sha256sum "$0" | cut -c1-16)
have_map() { [ "$want_map" = 0 ] || [ "$(stat -c %s "$out/System.map" 2>/dev/null || echo 0)" -gt 4096 ]; }
built=0
if [ "$force" = 0 ] && [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.gz" ] \
   && [ "$(cat "$out/.recipe" 2>/dev/null)" = "$recipe" ]; then
  built=1
  if have_map; then
    echo "$out"
    exit 0
  fi
fi

log() { echo "build.sh: $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
for tool in apt-get apt-cache dpkg dpkg-deb gzip; do
  command -v "$tool" >/dev/null || { log "needs $tool (Debian's apt, dpkg and gzip)"; exit 1; }
done
if ! command -v cpio >/dev/null; then
  log "installing cpio"
  as_root apt-get install -y -qq cpio >/dev/null || { as_root apt-get update -qq && as_root apt-get install -y -qq cpio >/dev/null; }
fi

if ! dpkg --print-foreign-architectures | grep -qx i386; then
  log "adding the i386 architecture to dpkg"
  as_root dpkg --add-architecture i386
fi
# The metapackage names the current 6.1 ABI (linux-image-6.1.0-N-686).
kernel_pkg=$(apt-cache depends linux-image-686:i386 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-6\.1\.[0-9.]*-[0-9]*-686\)\(:i386\)\{0,1\}$/\1/p' | head -n1 || true)
if [ -z "$kernel_pkg" ] || ! apt-cache show busybox-static:i386 >/dev/null 2>&1; then
  log "updating the package lists (apt-get update)"
  as_root apt-get update -qq
  kernel_pkg=$(apt-cache depends linux-image-686:i386 | sed -n 's/^ *Depends: \(linux-image-6\.1\.[0-9.]*-[0-9]*-686\)\(:i386\)\{0,1\}$/\1/p' | head -n1)
fi
[ -n "$kernel_pkg" ] || { log "no linux-image-6.1.*-686 package for i386 (is this Debian bookworm?)"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# As root, apt would hand the download to its _apt user, who cannot write into this folder.
apt_opts=(-q=2)
if [ "$(id -u)" = 0 ]; then apt_opts+=(-o APT::Sandbox::User=root); fi

fetch_map() {
  log "downloading $kernel_pkg-dbg:i386 for System.map (765 MB, once)"
  apt-get download "${apt_opts[@]}" "$kernel_pkg-dbg:i386" || return 1
  local deb map_name
  deb=$(ls "$kernel_pkg"-dbg_*.deb) || return 1
  map_name="./usr/lib/debug/boot/System.map-${kernel_pkg#linux-image-}"
  # System.map comes first in the package: tar stops there, long before the debug files.
  dpkg-deb --fsys-tarfile "$deb" 2>/dev/null | tar -xO --occurrence=1 "$map_name" > "$out/System.map.tmp" 2>/dev/null || true
  rm -f "$deb"
  if [ "$(stat -c %s "$out/System.map.tmp")" -le 4096 ]; then
    rm -f "$out/System.map.tmp"
    log "no $map_name in $kernel_pkg-dbg"
    return 1
  fi
  mv "$out/System.map.tmp" "$out/System.map"
}

map_or_warn() {
  fetch_map || log "System.map was not fetched (the kernel and initrd are ready; run again to retry, or --no-system-map)"
}

if [ "$built" = 1 ]; then
  # The map must be the cached kernel's, even if Debian has moved on to a newer one.
  kernel_pkg=$(sed -n 's/^kernel \([^ ]*\) .*/\1/p' "$out/VERSION")
  map_or_warn
  echo "$out"
  exit 0
fi

log "downloading $kernel_pkg:i386 and busybox-static:i386"
apt-get download "${apt_opts[@]}" "$kernel_pkg:i386" busybox-static:i386
kernel_deb=$(ls linux-image-*.deb)
busybox_deb=$(ls busybox-static_*.deb)
dpkg-deb -x "$kernel_deb" kernel
dpkg-deb -x "$busybox_deb" busybox

vmlinuz=$(ls kernel/boot/vmlinuz-*-686)

# The initramfs: busybox, its applet links, the mount points, and /init.
root="$work/root"
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,root,etc,mnt,lib/modules}
cp busybox/bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list 2>/dev/null || true); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
if [ ! -e "$root/bin/sh" ]; then
  # An i386 binary that this host cannot run: link the applets the init script names.
  for applet in sh mount echo setsid cttyhack poweroff reboot halt ls cat insmod ip sed httpd sha256sum; do ln -s busybox "$root/bin/$applet"; done
fi
# Debian builds virtio and ext4 as modules: the initramfs carries the same package's modules, in
# the order /init loads them (each after the modules its depends= field names).
virtio_modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk"
ext4_modules="crc16 mbcache jbd2 crc32c_generic ext4"
net_modules="failover net_failover virtio_net"
for m in $virtio_modules $ext4_modules $net_modules; do
  ko=$(find kernel/lib/modules -name "$m.ko" -o -name "$m.ko.xz" | head -n1)
  [ -n "$ko" ] || { log "no module $m in $kernel_pkg"; exit 1; }
  case "$ko" in
    *.xz) xz -dc "$ko" > "$root/lib/modules/$m.ko" ;;
    *) cp "$ko" "$root/lib/modules/$m.ko" ;;
  esac
done
cat > "$root/init" <<INIT
#!/bin/sh
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# The disk (virtio-blk on PCI); without one the drivers load and find nothing.
for m in $virtio_modules; do insmod /lib/modules/\$m.ko; done
# ext4 (which also mounts ext2 and ext3) only when there is a disk to mount.
if [ -e /dev/vda ]; then
  for m in $ext4_modules; do insmod /lib/modules/\$m.ko; done
fi
# The network card (virtio-net): eth0 up, with the address the command line gives (vmft.ip=).
for m in $net_modules; do insmod /lib/modules/\$m.ko; done
ip link set lo up
if [ -e /sys/class/net/eth0 ]; then
  ip link set eth0 up
  addr=\$(sed -n 's/.*vmft\.ip=\([^ ]*\).*/\1/p' /proc/cmdline)
  if [ -n "\$addr" ]; then ip addr add "\$addr" dev eth0; fi
fi
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
rm -f "$out/System.map"
cp initrd.gz "$out/initrd.gz.tmp" && mv "$out/initrd.gz.tmp" "$out/initrd.gz"
{
  echo "kernel $(dpkg-deb -f "$kernel_deb" Package) $(dpkg-deb -f "$kernel_deb" Version)"
  echo "busybox $(dpkg-deb -f "$busybox_deb" Package) $(dpkg-deb -f "$busybox_deb" Version)"
} > "$out/VERSION"
echo "$recipe" > "$out/.recipe"
log "$(tr '\n' ';' < "$out/VERSION" | sed 's/;$//; s/;/, /')"
if [ "$want_map" = 1 ]; then map_or_warn; fi
echo "$out"
