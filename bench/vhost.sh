#!/usr/bin/env bash
# The block device without an emulated CPU: one front-end (a sim guest's driver over vhost-user)
# drives guestlab's back-end and qemu-storage-daemon's export on the same warm image, taking turns,
# with the direct preadv limit beside them. Prints medians and ratios.
#   Usage: bench/vhost.sh [rounds]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${JAVA_HOME:?run through ./guestlab bench vhost, which finds a JDK 25}"
mvn -B -q -Dstyle.color=never -Pbench -DskipTests package 2>&1 | sed -e "s/\x1b\[[0-9;]*m//g" >&2
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED \
  -cp "bench/target/classes:$(cat bench/target/classpath.txt)" guestlab.bench.VhostBench "$@"
