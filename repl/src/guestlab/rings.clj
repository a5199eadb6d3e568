(ns guestlab.rings
  "Look inside a guest's virtqueues while it runs. Reading never stops the guest."
  (:require [clojure.string :as str])
  (:import (guestlab.launcher Guest)
           (guestlab.virtio QueueState)))

(defn- ->map [^QueueState q]
  (let [id (.id q) c (.counters q)]
    {:device (.device id) :queue (.index id) :size (.size q)
     :desc (.descAddr q) :avail (.availAddr q) :used (.usedAddr q)
     :avail-idx (.availIdx q) :last-seen (.lastAvail q) :used-idx (.usedIdx q)
     :pending (.pending q) :in-flight (.inFlight q) :broken (.broken q)
     :counters {:kicks (.kicks c) :requests (.requests c) :completions (.completions c)
                :interrupts (.interrupts c) :bytes-read (.bytesRead c)
                :bytes-written (.bytesWritten c) :errors (.errors c)}}))

(defn queues
  "Every started queue of the guest, or of one device, as maps: size, ring addresses,
  avail/used indices, the device's last seen index, pending chains and counters."
  ([^Guest g] (mapv ->map (.queues g)))
  ([^Guest g device] (mapv ->map (.queues g (if (keyword? device) (name device) (str device))))))

(defn format-queues
  "The queues as a table a person can read."
  [qs]
  (let [header (format "%-10s %2s %5s %10s %10s %9s %8s %7s %9s %6s %6s %6s"
                       "device" "q" "size" "desc" "used" "avail.idx" "last-seen" "used.idx"
                       "pending" "kicks" "irqs" "reqs")
        row (fn [{:keys [device queue size desc used avail-idx last-seen used-idx pending counters broken]}]
              (str (format "%-10s %2d %5d %#10x %#10x %9d %8d %7d %9d %6d %6d %6d"
                           device queue size desc used avail-idx last-seen used-idx pending
                           (:kicks counters) (:interrupts counters) (:requests counters))
                   (when broken "  BROKEN")))]
    (str/join "\n" (cons header (map row qs)))))

(defn print-queues
  "Prints the guest's queues (or one device's) as a table."
  ([^Guest g] (println (format-queues (queues g))))
  ([^Guest g device] (println (format-queues (queues g device)))))
