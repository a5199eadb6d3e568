#!/usr/bin/env bash
# Guest disk throughput side by side: guestlab's vhost-user-blk vs qemu-storage-daemon's
# vhost-user-blk export vs QEMU's built-in virtio-blk-pci, same kernel, initramfs and image,
# taking turns. Prints medians and ratios.   Usage: bench/block.sh [rounds]   (default 7)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${JAVA_HOME:?run through ./guestlab bench block, which finds a JDK 25}"
mvn -B -q -Dstyle.color=never -Pbench -DskipTests package 2>&1 | sed -e "s/\x1b\[[0-9;]*m//g" >&2
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED \
  -cp "bench/target/classes:$(cat bench/target/classpath.txt)" guestlab.bench.BlockBench "$@"
