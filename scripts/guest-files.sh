#!/usr/bin/env bash
# Saves a booted kernel's own view of itself: /proc/version, /proc/kallsyms and the raw BTF
# of /sys/kernel/btf/{vmlinux,loop}, for the kernel-only profile checks (issue 16).
#
#   scripts/guest-files.sh [KVER] [PAGING]     default 6.1.0-57-amd64, 4
#
# Needs what ../shared/images/linux-qemu-image.sh prepared for KVER (it is not modified
# and not re-run here): $WORK/kernel/KVER/vmlinuz and the initramfs folder
# $WORK/initramfs-KVER/ (busybox and the dummy, loop, brd modules). The folder is copied
# to a temporary directory, its `init` replaced by one that loads the modules and prints
# the files between markers (base64 for the binary BTF) on a serial port, then powers off:
# a second serial port (ttyS1, `-serial file:`) on amd64, the console (ttyAMA0) on arm64
# -M virt, which has one UART. The markers' content is split into
#   $WORK/KVER-PAGINGlevel/guest/{version,kallsyms,btf-vmlinux,btf-loop}
# Skipped when those four files exist (FORCE=1 boots again). Each boot has its own KASLR
# offset: these files do not describe the memory image beside them, only the same kernel.
#
# Environment: WORK (default $HOME/.cache/profile-images), MEM (MiB, default 512),
# BOOT_TIMEOUT (seconds, default 900), FORCE=1.
set -euo pipefail
KVER=${1:-6.1.0-57-amd64}
PAGING=${2:-4}
WORK=${WORK:-$HOME/.cache/profile-images}
MEM=${MEM:-512}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-900}
FORCE=${FORCE:-0}
log() { echo "guest-files: $*" >&2; }

K="$WORK/kernel/$KVER"
R="$WORK/initramfs-$KVER"
OUT="$WORK/$KVER-${PAGING}level/guest"
case "$KVER" in
  *arm64*) ARCH=arm64 ;;
  *) ARCH=amd64 ;;
esac
if [ "$FORCE" != 1 ] && [ -s "$OUT/version" ] && [ -s "$OUT/kallsyms" ] && [ -s "$OUT/btf-vmlinux" ] \
   && [ -s "$OUT/btf-loop" ]; then
  echo "$OUT"; exit 0
fi
[ -s "$K/vmlinuz" ] && [ -x "$R/bin/busybox" ] || {
  log "no $K/vmlinuz or $R/bin/busybox: run ../shared/images/linux-qemu-image.sh for $KVER first"; exit 1; }

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cp -a "$R" "$T/root"
if [ "$ARCH" = amd64 ]; then
  PORT=/dev/ttyS1
  QEMU=qemu-system-x86_64
  CPU=max,la57=off; [ "$PAGING" = 5 ] && CPU=max
  MACHINE=(-machine pc -vga none)
  CONSOLE=ttyS0
  SERIAL=(-serial "file:$T/console.log" -serial "file:$T/out.txt")
  RAW="$T/out.txt"
else
  PORT=/dev/console
  QEMU=qemu-system-aarch64
  CPU=max,pauth-impdef=on
  MACHINE=(-machine virt)
  CONSOLE=ttyAMA0
  SERIAL=(-serial "file:$T/console.log")
  RAW="$T/console.log"
fi
cat > "$T/root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
for m in /lib/modules/*.ko; do insmod "\$m" >/dev/null 2>&1; done
# raw mode: no \\r added to each line
stty -F $PORT raw -echo 2>/dev/null
{
echo GUEST-FILES-BEGIN
echo '## version'; cat /proc/version
echo '## kallsyms'; cat /proc/kallsyms
echo '## btf-vmlinux'; base64 /sys/kernel/btf/vmlinux
echo '## btf-loop'; base64 /sys/kernel/btf/loop
echo GUEST-FILES-END
} > $PORT
sync
poweroff -f
EOF
chmod 755 "$T/root/init"
( cd "$T/root" && find . | cpio -o -H newc --quiet | gzip -1 ) > "$T/initrd.gz"

log "booting $KVER ($ARCH) under TCG, up to ${BOOT_TIMEOUT}s"
start=$(date +%s)
timeout "$BOOT_TIMEOUT" "$QEMU" -accel tcg -cpu "$CPU" -smp 1 -m "${MEM}M" "${MACHINE[@]}" \
  -kernel "$K/vmlinuz" -initrd "$T/initrd.gz" \
  -append "console=$CONSOLE quiet loglevel=0 panic=-1" \
  -display none -no-reboot -monitor none "${SERIAL[@]}" \
  || { log "QEMU failed or timed out; console: $(tail -c 500 "$T/console.log" 2>/dev/null)"; exit 1; }
log "guest done after $(( $(date +%s) - start ))s"
grep -q GUEST-FILES-END "$RAW" || { log "no GUEST-FILES-END marker in the guest output"; exit 1; }

mkdir -p "$OUT"
tr -d '\r' < "$RAW" | sed -n '/^GUEST-FILES-BEGIN$/,/^GUEST-FILES-END$/p' > "$T/files.txt"
part() { awk -v want="## $1" '$0 == want {on = 1; next} /^## / || /^GUEST-FILES-END$/ {on = 0} on' "$T/files.txt"; }
part version > "$OUT/version.new"
part kallsyms > "$OUT/kallsyms.new"
part btf-vmlinux | base64 -d > "$OUT/btf-vmlinux.new"
part btf-loop | base64 -d > "$OUT/btf-loop.new"
for f in version kallsyms btf-vmlinux btf-loop; do
  [ -s "$OUT/$f.new" ] || { log "empty $f"; exit 1; }
  mv "$OUT/$f.new" "$OUT/$f"
done
# BTF magic 0xeB9F, little-endian
for f in btf-vmlinux btf-loop; do
  [ "$(head -c 2 "$OUT/$f" | od -An -tx1 | tr -d ' ')" = 9feb ] || { log "$f: no BTF magic"; exit 1; }
done
log "$(wc -l < "$OUT/kallsyms") kallsyms lines, btf-vmlinux $(stat -c %s "$OUT/btf-vmlinux") bytes"
echo "$OUT"
