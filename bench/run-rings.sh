#!/usr/bin/env bash
# Device-side virtqueue round trips per second (JMH), with the simulated driver.
#   RingRoundTripBench.roundTrip   one thread plays driver and device: the ring alone
#   SimRoundTripBench.rng64        a full trip through the lguest bus: kick eventfd, device thread, irq
#   SimRoundTripBench.blockRead4k  the same with a 4 KiB virtio-blk read from the image
# Usage: bench/run-rings.sh [JMH options]   (default: 1 fork, 3 warm-ups, 5 measurements of 2 s)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${JAVA_HOME:?run through ./guestlab bench, which finds a JDK 25}"
mvn -B -q -Pbench -DskipTests package 2>&1 | sed -e "s/\x1b\[[0-9;]*m//g" >&2
cp="bench/target/classes:$(cat bench/target/classpath.txt)"
opts=("$@")
[ ${#opts[@]} -gt 0 ] || opts=(-f 1 -wi 3 -w 2s -i 5 -r 2s -tu s -bm thrpt)
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$cp" org.openjdk.jmh.Main \
  -jvmArgsAppend --enable-native-access=ALL-UNNAMED "${opts[@]}" 'guestlab.bench.*'
