#!/usr/bin/env bash
# Wall time from starting a guest to the init marker: guestlab booting the kit's PVH kernel (now),
# guestlab booting the bzImage (before), and plain QEMU with its own virtio-blk and virtio-rng,
# same kernel and initramfs, taking turns. Prints medians and the PVH / bzImage ratio.
#   Usage: bench/boot.sh [rounds]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${JAVA_HOME:?run through ./guestlab bench boot, which finds a JDK 25}"
mvn -B -q -Dstyle.color=never -Pbench -DskipTests package 2>&1 | sed -e "s/\x1b\[[0-9;]*m//g" >&2
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED \
  -cp "bench/target/classes:$(cat bench/target/classpath.txt)" guestlab.bench.BootBench "$@"
