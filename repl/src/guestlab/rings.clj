(ns guestlab.rings
  "Look inside a guest's virtqueues while it runs: queue state, descriptor chains, a live trace,
  guest memory by guest-physical address, and input injected into receive queues. The same on a
  Linux guest's vhost-user queues, a simulated guest's lguest rings, and the rings a simulated
  guest shares with a vhost-user back-end elsewhere (qemu-storage-daemon, say), which are read
  from the driver's side (:seen-from :driver). Reading never stops the guest."
  (:refer-clojure :exclude [peek])
  (:require [clojure.string :as str]
            [guestlab.check :as check]
            [guestlab.errors :as err]
            [guestlab.guest :as g])
  (:import (guestlab.engine Guest)
           (guestlab.memory GuestMemory)
           (guestlab.virtio ChainView ChainView$Descriptor Injectable QueueState)))

(def max-bytes
  "The most bytes one peek, poke, inject! or chain descriptor moves: 1 MiB."
  (* 1024 1024))

(defn- fault-keyword
  "A RingFault reason as a keyword: CHAIN_LOOP -> :chain-loop."
  [reason]
  (keyword (str/lower-case (str/replace (str reason) "_" "-"))))

(defn- ->map [^QueueState q]
  (let [id (.id q) c (.counters q)]
    {:device (.device id) :queue (.index id) :size (.size q)
     :desc (.descAddr q) :avail (.availAddr q) :used (.usedAddr q)
     :avail-idx (.availIdx q) :last-seen (.lastAvail q) :used-idx (.usedIdx q)
     :pending (.pending q) :in-flight (.inFlight q) :broken (.broken q)
     :fault (some-> (.fault q) fault-keyword)
     :seen-from (keyword (str/lower-case (str (.seenFrom q))))
     :counters {:kicks (.kicks c) :requests (.requests c) :completions (.completions c)
                :interrupts (.interrupts c) :bytes-read (.bytesRead c)
                :bytes-written (.bytesWritten c) :errors (.errors c)}}))

(defn- queue-maps
  "The queues of g as maps: all of them, or device's."
  [fn-name g device]
  (check/with-guest [vm fn-name g]
    (mapv ->map (if (= ::all device) (.queues vm) (.queues vm (check/device fn-name vm device))))))

(defn queues
  "Every started queue of the guest, or of one device, as maps: size, ring addresses,
  avail/used indices, the device's last seen index, pending chains and counters.
  :seen-from says whose side the numbers come from. :device for devices guestlab serves.
  :driver for a device a vhost-user back-end elsewhere serves: there :used-idx is read from the
  used ring, :last-seen is the avail_event the back-end publishes (-1, and :pending -1, if it
  does not negotiate EVENT_IDX), :in-flight counts chains offered and not yet collected, and the
  counters are the driver's (requests offered, completions collected, interrupts it saw)."
  ([g] (queue-maps "rings/queues" g ::all))
  ([g device] (queue-maps "rings/queues" g device)))

(defn format-queues
  "The queues as a table a person can read."
  [qs]
  (check/arg "rings/format-queues" "qs" #(and (sequential? %) (every? map? %)) "a vector of queues from rings/queues" qs)
  (let [header (format "%-10s %2s %5s %10s %10s %9s %8s %7s %9s %6s %6s %6s"
                       "device" "q" "size" "desc" "used" "avail.idx" "last-seen" "used.idx"
                       "pending" "kicks" "irqs" "reqs")
        known #(if (neg? %) "-" %)
        row (fn [{:keys [device queue size desc used avail-idx last-seen used-idx pending counters broken seen-from]}]
              (str (format "%-10s %2d %5d %#10x %#10x %9d %8s %7s %9s %6d %6d %6d"
                           device queue size desc used avail-idx (known last-seen) (known used-idx) (known pending)
                           (:kicks counters) (:interrupts counters) (:requests counters))
                   (when (= :driver seen-from) "  seen by the driver")
                   (when broken "  BROKEN")))]
    (str/join "\n" (cons header (map row qs)))))

(defn print-queues
  "Prints the guest's queues (or one device's) as a table."
  ([g] (println (format-queues (queue-maps "rings/print-queues" g ::all))))
  ([g device] (println (format-queues (queue-maps "rings/print-queues" g device)))))

;; --- guest memory ------------------------------------------------------------

(defn- memory
  "The guest's memory, or a one-line error when guestlab shares none with it (yet)."
  ^GuestMemory [fn-name ^Guest g]
  (try (.memory g)
       (catch IllegalStateException e
         (err/fail! :no-memory (str fn-name ": " (ex-message e)) {:fn fn-name :guest (.name g)} e))))

(defn- address [fn-name addr]
  (check/arg fn-name "addr" #(and (integer? %) (<= 0 % Long/MAX_VALUE))
             "a guest-physical address (an integer from 0)" addr))

(defn- check-range ^GuestMemory [fn-name ^Guest g addr n]
  (let [m (memory fn-name g)]
    (when-not (.contains m (long addr) (long n))
      (err/fail! :outside-memory
                 (format "%s: 0x%x+%d is not inside %s's memory (guest-physical 0 to 0x%x, with holes where the engine has them)"
                         fn-name addr n (.name g) (.limit m))
                 {:fn fn-name :guest (.name g) :addr addr :length n}))
    m))

(defn peek
  "n bytes of guest memory at guest-physical address addr (a byte array); n is 1 to 1 MiB."
  ^bytes [g addr n]
  (check/with-guest [vm "rings/peek" g]
    (address "rings/peek" addr)
    (check/int-in "rings/peek" "n" 1 max-bytes n)
    (.read (check-range "rings/peek" vm addr n) (long addr) (int n))))

(defn poke
  "Writes bytes (a byte array or a sequence of 0-255 numbers, 1 byte to 1 MiB) into guest memory
  at guest-physical address addr. The guest is not told: poking a live kernel's memory is your
  experiment."
  [g addr data]
  (check/with-guest [vm "rings/poke" g]
    (address "rings/poke" addr)
    (let [b (check/byte-data "rings/poke" "data" 1 max-bytes data)]
      (.write (check-range "rings/poke" vm addr (alength b)) (long addr) b)
      (alength b))))

(defn hexdump
  "Bytes as lines of 16: address, hex, ASCII (addresses start at base, default 0)."
  ([^bytes b] (hexdump b 0))
  ([^bytes b base]
   (check/arg "rings/hexdump" "b" bytes? "a byte array" b)
   (check/arg "rings/hexdump" "base" integer? "an address (an integer)" base)
   (str/join "\n"
             (for [[i row] (map-indexed vector (partition-all 16 b))]
               (format "%08x  %-48s |%s|" (+ base (* 16 i))
                       (str/join " " (map #(format "%02x" (bit-and % 0xff)) row))
                       (apply str (map #(let [c (bit-and % 0xff)] (if (<= 32 c 126) (char c) \.)) row)))))))

;; --- descriptor chains -------------------------------------------------------

(defn- queue-state
  "The state of queue `queue` of g's device n, which must exist and have been started."
  ^QueueState [fn-name ^Guest g n queue]
  (let [queue (check/queue fn-name g n queue)]
    (or (first (filter #(= queue (.index (.id ^QueueState %))) (.queues g n)))
        (err/fail! :queue-not-started
                   (str fn-name ": queue " queue " of " n " (guest " (.name g) ") is not started yet (its driver has not set it up)"
                        "; started: " (pr-str (mapv (juxt :device :queue) (map ->map (.queues g)))))
                   {:fn fn-name :guest (.name g) :device n :queue queue}))))

(defn- descriptor->map [^GuestMemory m max-bytes ^ChainView$Descriptor d]
  (let [flags (cond-> [] (.hasNext d) (conj :next) (.writable d) (conj :write) (.indirect d) (conj :indirect))
        n (int (min max-bytes (.len d)))]
    (cond-> {:index (.index d) :addr (.addr d) :len (.len d) :flags flags
             :next (when (.hasNext d) (.next d)) :in-indirect-table (.inIndirectTable d)}
      (and (not (.indirect d)) (pos? n)) (assoc :bytes (.read m (.addr d) n)))))

(defn- slot-status
  "Where free-running avail index i stands: :pending (offered, not yet taken), :taken (the device
  has taken it; once it is used the driver may reuse its buffers), or :stale (a ring or more ago).
  Where the device's position is unknown (seen from the driver, without EVENT_IDX): :offered (not
  yet collected back) or :returned."
  [^QueueState q i]
  (let [last-seen (.lastAvail q)
        behind (fn [from] (bit-and (- from 1 i) 0xffff))]
    (cond (neg? last-seen) (cond (< (behind (.availIdx q)) (.inFlight q)) :offered
                                 (< (behind (.availIdx q)) (.size q)) :returned
                                 :else :stale)
          (< (bit-and (- i last-seen) 0xffff) (.pending q)) :pending
          (< (behind last-seen) (.size q)) :taken
          :else :stale)))

(defn chain
  "One descriptor chain of a queue, decoded as it sits in guest memory now: by default the chain
  the device took last (the one the driver offered last, where it cannot know what the device
  took); {:avail i} the chain at free-running avail index i; {:head h} the chain from descriptor
  h. Each descriptor comes with up to :max-bytes (default 64) of its buffer.
  :status says whether the chain is still :pending, already :taken (once the device has used it,
  the driver may have reused its buffers: see next-chain for a chain caught in flight) or :stale;
  where the device's position is unknown, :offered (not yet back) or :returned.
  A chain that breaks the rules has :problem saying which, as the device would see it, and :fault
  naming the rule (:chain-loop, :buffer-outside-memory, ...)."
  ([g device queue] (chain g device queue {}))
  ([g device queue opts]
   (check/with-guest [vm "rings/chain" g]
     (let [f "rings/chain"
           n (check/device f vm device)
           q (queue-state f vm n queue)
           {:keys [avail head max-bytes] :or {max-bytes 64}}
           (check/arg f "opts" #(or (nil? %) (map? %)) "a map like {:avail i}, {:head h} or {:max-bytes n}" opts)
           _ (some->> avail (check/int-in f ":avail" 0 0xffff))
           _ (some->> head (check/int-in f ":head" 0 (dec (.size q))))
           _ (check/int-in f ":max-bytes" 0 guestlab.rings/max-bytes max-bytes)
           m (memory f vm)
           _ (when-not (or head avail (pos? (.requests (.counters q))))
               (err/fail! :no-chain (str f ": " n " q" queue " of guest " (.name vm) " has taken no chain yet; give {:avail i} or {:head h}")
                          {:fn f :guest (.name vm) :device n :queue queue}))
           last-known (if (neg? (.lastAvail q)) (.availIdx q) (.lastAvail q))
           avail (some-> (or avail (when-not head (dec last-known))) (bit-and 0xffff))
           head (or head (ChainView/headAt m q (int avail)))
           v (ChainView/read m q (int head))]
       {:device n :queue queue :head head :avail-index avail
        :status (when avail (slot-status q avail))
        :descriptors (mapv #(descriptor->map m max-bytes %) (.descriptors v))
        :problem (.problem v)
        :fault (some-> (.reason v) fault-keyword)}))))

(defn next-chain
  "Waits up to :timeout-ms (default 10000) for the device to take its next chain on the queue,
  and decodes it at that moment, before the device can complete it, so its buffers still hold the
  driver's request. The device waits while the chain is decoded. On a device served outside
  guestlab it is the driver offering the chain, which then waits before it kicks."
  [g device queue & {:keys [timeout-ms max-bytes] :or {timeout-ms 10000 max-bytes 64}}]
  (let [f "rings/next-chain"
        vm (check/live f g)
        n (check/device f vm device)
        queue (check/queue f vm n queue)
        _ (check/timeout-ms f ":timeout-ms" timeout-ms)
        _ (check/int-in f ":max-bytes" 0 guestlab.rings/max-bytes max-bytes)
        taken (promise)
        stop (g/subscribe! vm (fn [e]
                                (when (and (= :request (:kind e)) (= n (:device e)) (= queue (:queue e))
                                           (not (realized? taken)))
                                  (deliver taken (try (chain vm n queue {:head (:head e) :avail (:index e) :max-bytes max-bytes})
                                                      (catch Throwable t t))))))]
    (try
      (let [c (deref taken timeout-ms ::timeout)]
        (cond (= ::timeout c) (err/fail! :timeout (str f ": " n " q" queue " of guest " (.name vm) " took no chain within " timeout-ms " ms")
                                         {:fn f :guest (.name vm) :device n :queue queue})
              (instance? Throwable c) (throw c)
              :else (assoc c :status :in-flight)))
      (finally (stop)))))

(defn format-chain
  "A chain from `chain` as text: one line per descriptor, then its bytes."
  [{:keys [device queue head avail-index status descriptors problem] :as c}]
  (check/arg "rings/format-chain" "c" #(and (map? %) (sequential? (:descriptors %))) "a chain from rings/chain" c)
  (str/join "\n"
            (concat
             [(str device " q" queue " chain from head " head (when avail-index (str ", avail index " avail-index))
                   (when status (str ", " (name status))))]
             (for [{:keys [index addr len flags next in-indirect-table bytes]} descriptors]
               (str (format "  %s[%3d] addr=0x%x len=%d %s%s" (if in-indirect-table "  indirect" "desc")
                            index addr len (if (some #{:write} flags) "device-writable" "device-readable")
                            (str (when (some #{:indirect} flags) " INDIRECT table")
                                 (when next (str " next=" next))))
                    (when bytes (str "\n" (str/replace (hexdump bytes addr) #"(?m)^" "      ")))))
             (when problem [(str "  PROBLEM: " problem)]))))

(defn print-chain
  "Prints a chain (see `chain`)."
  ([c]
   (check/arg "rings/print-chain" "c" #(and (map? %) (sequential? (:descriptors %))) "a chain from rings/chain" c)
   (println (format-chain c)))
  ([g device queue] (print-chain (chain g device queue)))
  ([g device queue opts] (print-chain (chain g device queue opts))))

;; --- trace -------------------------------------------------------------------

(def ^:private queue-kinds #{:kick :request :completion :interrupt})

(defn format-event
  "One event as a trace line, its time in ms relative to t0 (nanos)."
  [t0 {:keys [nanos device queue kind index head length latency-nanos detail] :as e}]
  (check/arg "rings/format-event" "t0" integer? "a time in nanoseconds (an integer)" t0)
  (check/arg "rings/format-event" "e" #(and (map? %) (integer? (:nanos %)) (integer? (:queue %)) (keyword? (:kind %)))
             "an event map from a trace or g/events" e)
  (str (format "%+10.3f ms  %-9s %-3s %-11s" (/ (- nanos t0) 1e6) device (if (neg? queue) "" (str "q" queue)) (name kind))
       (case kind
         :kick (str " #" index)
         :request (format " avail %d head %d, %d bytes to the device" index head length)
         :completion (str (format " used %d head %d, %d bytes to the guest" index head length)
                          (when (and latency-nanos (not (neg? latency-nanos)))
                            (format ", latency=%dus" (quot latency-nanos 1000))))
         :interrupt (format " used %d, %s" index detail)
         (str " " detail))))

(defn trace
  "Starts tracing the guest's queues: kicks, requests, completions and interrupts (and device
  errors, warnings, handler errors and injected faults) as they happen, with their time since the trace began. A device served
  outside guestlab is traced as its driver sees it: request when a chain is offered, kick,
  interrupt when the driver sees it, completion when it collects the used entry. Options:
  :device and :queue narrow it, :print? (default true) prints each line as it happens,
  :limit (default 100000) events kept. Returns a trace; (stop! t) ends it and returns its events."
  [g & {:keys [device queue print? limit] :or {print? true limit 100000}}]
  (let [f "rings/trace"
        vm (check/live f g)
        device (some->> device (check/device f vm))
        _ (if device
            (some->> queue (check/queue f vm device))
            (some->> queue (check/arg f ":queue" #(and (integer? %) (not (neg? %))) "a queue index (an integer from 0)")))
        _ (check/int-in f ":limit" 1 10000000 limit)
        t0 (System/nanoTime)
        kept (atom [])
        out *out*
        wanted? (fn [e] (and (or (queue-kinds (:kind e)) (#{:device_error :host_warning :handler_error :fault} (:kind e)))
                             (or (nil? device) (= device (:device e)))
                             (or (nil? queue) (= queue (:queue e)))))
        stop (g/subscribe! vm (fn [e]
                               (when (wanted? e)
                                 (when (< (count @kept) limit) (swap! kept conj e))
                                 (when print? (binding [*out* out] (println (format-event t0 e)))))))]
    {::stop stop ::events kept ::t0 t0 :guest (.name vm)}))

(defn stop!
  "Ends a trace and returns its events (maps, oldest first)."
  [t]
  (check/arg "rings/stop!" "t" #(fn? (::stop %)) "a trace from rings/trace" t)
  ((::stop t))
  @(::events t))

(defn trace-summary
  "Counts per device, queue and kind, and the median and maximum time in µs the device spent
  on a request (from taking the chain to using it; for a device served outside guestlab, from
  the driver's offer to its collecting the used entry)."
  [events]
  (check/arg "rings/trace-summary" "events" #(and (sequential? %) (every? map? %)) "a vector of events from rings/stop!" events)
  (let [latency #(let [n (:latency-nanos %)] (when (and n (not (neg? n))) (quot n 1000)))]
    (into (sorted-map)
          (for [[[d q] es] (group-by (juxt :device :queue) events)
                :let [lat (sort (keep latency (filter #(= :completion (:kind %)) es)))]]
            [(str d " q" q)
             (cond-> (frequencies (map :kind es))
               (seq lat) (assoc :median-service-us (nth lat (quot (count lat) 2)) :max-service-us (last lat)))]))))

;; --- injecting input ---------------------------------------------------------

(defn inject!
  "Gives a device's receive queue data from the host, as if it came from outside: a whole
  Ethernet frame for :net (destination, source, type, payload), bytes for :console. The data is
  placed in the next buffer the guest's driver posted on the receive queue, the queue's device
  thread is kicked to deliver it, and the guest is interrupted. Only the device side of the ring
  is used: a live driver's avail ring is never written behind its back, so a device served
  outside guestlab (a vhost-user back-end) takes no input this way."
  [g device data]
  (check/with-guest [vm "rings/inject!" g]
    (let [f "rings/inject!"
          n (check/device f vm device)
          d (try (.device vm n)
                 (catch IllegalArgumentException e
                   (err/fail! :not-injectable (str f ": " n " of guest " (.name vm) " cannot take input from guestlab: " (ex-message e)
                                                   "; inject! feeds a queue from its device's side, and that side is the back-end's")
                              {:fn f :guest (.name vm) :device n} e)))
          expected (str "a byte array or a string, of 1 to " max-bytes " bytes")
          ^bytes b (cond (bytes? data) data
                         (string? data) (.getBytes ^String data java.nio.charset.StandardCharsets/UTF_8)
                         :else (err/bad-arg! f "data" expected data))]
      (when-not (<= 1 (alength b) max-bytes) (err/bad-arg! f "data" expected data))
      (when-not (instance? Injectable d)
        (err/fail! :not-injectable (str f ": " n " of guest " (.name vm) " has no receive queue the host can feed (net and console devices do)")
                   {:fn f :guest (.name vm) :device n}))
      (try
        (.inject ^Injectable d b)
        (catch IllegalArgumentException e
          (err/fail! :argument (str f ": " n " of guest " (.name vm) " cannot take this data: " (ex-message e))
                     {:fn f :guest (.name vm) :device n :argument "data"} e))
        (catch IllegalStateException e
          (err/fail! :refused (str f ": " n " of guest " (.name vm) " cannot take data now: " (ex-message e))
                     {:fn f :guest (.name vm) :device n} e)))
      {:device n :queue (.receiveQueue ^Injectable d) :bytes (alength b)})))

(defn ethernet-frame
  "An Ethernet frame: destination and source MACs as \"52:54:00:12:34:56\" text, a 16-bit
  EtherType, and a payload (bytes or text), padded to the 60-byte minimum."
  [dst src ether-type payload]
  (doseq [[arg-name m] [["dst" dst] ["src" src]]]
    (check/arg "rings/ethernet-frame" arg-name #(re-matches #"(?i)([0-9a-f]{2}:){5}[0-9a-f]{2}" %)
               "a MAC address like \"52:54:00:12:34:56\"" m))
  (check/int-in "rings/ethernet-frame" "ether-type" 0 0xffff ether-type)
  (check/arg "rings/ethernet-frame" "payload" #(or (bytes? %) (string? %)) "a byte array or a string" payload)
  (let [mac #(map (fn [h] (unchecked-byte (Integer/parseInt h 16))) (str/split % #":"))
        p (if (bytes? payload) (seq payload) (seq (.getBytes (str payload) java.nio.charset.StandardCharsets/UTF_8)))
        body (concat (mac dst) (mac src) [(unchecked-byte (bit-shift-right ether-type 8)) (unchecked-byte ether-type)] p)]
    (byte-array (take (max 60 (count body)) (concat body (repeat 0))))))
