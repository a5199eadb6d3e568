#!/usr/bin/env bash
# The block device without an emulated CPU: one asynchronous vhost-user front-end drives
# guestlab's back-end and qemu-storage-daemon's export (aio=threads and aio=io_uring) on the same
# warm image, taking turns: 4 KiB random at queue depth 1 and 32, on one and two queues, 1 MiB
# sequential; the same requests as direct preadv/pwritev beside them. Prints medians and ratios.
#   Usage: bench/vhost.sh [rounds]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${JAVA_HOME:?run through ./guestlab bench vhost, which finds a JDK 25}"
mvn -B -q -Dstyle.color=never -Pbench -DskipTests package 2>&1 | sed -e "s/\x1b\[[0-9;]*m//g" >&2
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED \
  -cp "bench/target/classes:$(cat bench/target/classpath.txt)" guestlab.bench.VhostBench "$@"
