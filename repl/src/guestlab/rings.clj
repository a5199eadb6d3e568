(ns guestlab.rings
  "Look inside a guest's virtqueues while it runs: queue state, descriptor chains, a live trace,
  guest memory by guest-physical address, and input injected into receive queues. The same on a
  Linux guest's vhost-user queues and a simulated guest's lguest rings. Reading never stops the
  guest."
  (:refer-clojure :exclude [peek])
  (:require [clojure.string :as str]
            [guestlab.guest :as g])
  (:import (guestlab.launcher Guest)
           (guestlab.memory GuestMemory)
           (guestlab.virtio ChainView ChainView$Descriptor Injectable QueueState)))

(defn- dev-name [d] (if (keyword? d) (name d) (str d)))

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
  ([^Guest g device] (mapv ->map (.queues g (dev-name device)))))

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
;; --- guest memory ------------------------------------------------------------

(defn- memory ^GuestMemory [^Guest g] (.memory g))

(defn- check-range ^GuestMemory [^Guest g addr n]
  (let [m (memory g)]
    (when-not (and (>= addr 0) (pos? n) (.contains m addr n))
      (throw (ex-info (format "0x%x+%d is not inside %s's memory (guest-physical 0 to 0x%x, with holes where the engine has them)"
                              addr n (.name g) (.limit m))
                      {:addr addr :length n})))
    m))

(defn peek
  "n bytes of guest memory at guest-physical address addr (a byte array)."
  ^bytes [^Guest g addr n]
  (.read (check-range g addr n) (long addr) (int n)))

(defn poke
  "Writes bytes (a byte array or a sequence of 0-255 numbers) into guest memory at guest-physical
  address addr. The guest is not told: poking a live kernel's memory is your experiment."
  [^Guest g addr data]
  (let [^bytes b (if (bytes? data) data (byte-array (map unchecked-byte data)))]
    (.write (check-range g addr (alength b)) (long addr) b)
    (alength b)))

(defn hexdump
  "Bytes as lines of 16: address, hex, ASCII (addresses start at base, default 0)."
  ([^bytes b] (hexdump b 0))
  ([^bytes b base]
   (str/join "\n"
             (for [[i row] (map-indexed vector (partition-all 16 b))]
               (format "%08x  %-48s |%s|" (+ base (* 16 i))
                       (str/join " " (map #(format "%02x" (bit-and % 0xff)) row))
                       (apply str (map #(let [c (bit-and % 0xff)] (if (<= 32 c 126) (char c) \.)) row)))))))

;; --- descriptor chains -------------------------------------------------------

(defn- queue-state ^QueueState [^Guest g device queue]
  (or (first (filter #(= queue (.index (.id ^QueueState %))) (.queues g (dev-name device))))
      (throw (ex-info (str (.name g) " has no started queue " queue " on " (dev-name device)
                           "; started: " (pr-str (mapv (juxt :device :queue) (queues g))))
                      {:device device :queue queue}))))

(defn- descriptor->map [^GuestMemory m max-bytes ^ChainView$Descriptor d]
  (let [flags (cond-> [] (.hasNext d) (conj :next) (.writable d) (conj :write) (.indirect d) (conj :indirect))
        n (int (min max-bytes (.len d)))]
    (cond-> {:index (.index d) :addr (.addr d) :len (.len d) :flags flags
             :next (when (.hasNext d) (.next d)) :in-indirect-table (.inIndirectTable d)}
      (and (not (.indirect d)) (pos? n)) (assoc :bytes (.read m (.addr d) n)))))

(defn- slot-status
  "Where free-running avail index i stands: :pending (offered, not yet taken), :taken (the device
  has taken it; once it is used the driver may reuse its buffers), or :stale (a ring or more ago)."
  [^QueueState q i]
  (let [last-seen (.lastAvail q)]
    (cond (< (bit-and (- i last-seen) 0xffff) (.pending q)) :pending
          (< (bit-and (- last-seen 1 i) 0xffff) (.size q)) :taken
          :else :stale)))

(defn chain
  "One descriptor chain of a queue, decoded as it sits in guest memory now: by default the chain
  the device took last; {:avail i} the chain at free-running avail index i; {:head h} the chain
  from descriptor h. Each descriptor comes with up to :max-bytes (default 64) of its buffer.
  :status says whether the chain is still :pending, already :taken (once the device has used it,
  the driver may have reused its buffers: see next-chain for a chain caught in flight) or :stale.
  A chain that breaks the rules has :problem saying which, as the device would see it."
  ([g device queue] (chain g device queue {}))
  ([^Guest g device queue {:keys [avail head max-bytes] :or {max-bytes 64}}]
   (let [q (queue-state g device queue)
         m (memory g)
         _ (when-not (or head avail (pos? (.requests (.counters q))))
             (throw (ex-info (str (dev-name device) " q" queue " has taken no chain yet; give {:avail i} or {:head h}")
                             {:device device :queue queue})))
         avail (some-> (or avail (when-not head (dec (.lastAvail q)))) (bit-and 0xffff))
         head (or head (ChainView/headAt m q (int avail)))
         v (ChainView/read m q (int head))]
     {:device (dev-name device) :queue queue :head head :avail-index avail
      :status (when avail (slot-status q avail))
      :descriptors (mapv #(descriptor->map m max-bytes %) (.descriptors v))
      :problem (.problem v)})))

(defn next-chain
  "Waits up to :timeout-ms (default 10000) for the device to take its next chain on the queue,
  and decodes it at that moment, before the device can complete it, so its buffers still hold the
  driver's request. The device waits while the chain is decoded."
  [^Guest g device queue & {:keys [timeout-ms max-bytes] :or {timeout-ms 10000 max-bytes 64}}]
  (let [taken (promise)
        stop (g/subscribe! g (fn [e]
                               (when (and (= :request (:kind e)) (= (dev-name device) (:device e)) (= queue (:queue e))
                                          (not (realized? taken)))
                                 (deliver taken (try (chain g device queue {:head (:head e) :avail (:index e) :max-bytes max-bytes})
                                                     (catch Throwable t t))))))]
    (try
      (let [c (deref taken timeout-ms ::timeout)]
        (cond (= ::timeout c) (throw (ex-info (str (dev-name device) " q" queue " took no chain within " timeout-ms " ms")
                                              {:device device :queue queue}))
              (instance? Throwable c) (throw c)
              :else (assoc c :status :in-flight)))
      (finally (stop)))))

(defn format-chain
  "A chain from `chain` as text: one line per descriptor, then its bytes."
  [{:keys [device queue head avail-index status descriptors problem]}]
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
  ([c] (println (format-chain c)))
  ([g device queue] (print-chain (chain g device queue)))
  ([g device queue opts] (print-chain (chain g device queue opts))))

;; --- trace -------------------------------------------------------------------

(def ^:private queue-kinds #{:kick :request :completion :interrupt})

(defn format-event
  "One event as a trace line, its time in ms relative to t0 (nanos)."
  [t0 {:keys [nanos device queue kind index head length detail]}]
  (str (format "%+10.3f ms  %-9s %-3s %-11s" (/ (- nanos t0) 1e6) device (if (neg? queue) "" (str "q" queue)) (name kind))
       (case kind
         :kick (str " #" index)
         :request (format " avail %d head %d, %d bytes to the device, %s" index head length detail)
         :completion (format " used %d head %d, %d bytes to the guest, %s" index head length detail)
         :interrupt (format " used %d, %s" index detail)
         (str " " detail))))

(defn trace
  "Starts tracing the guest's queues: kicks, requests, completions and interrupts (and device
  errors and warnings) as they happen, with their time since the trace began. Options:
  :device and :queue narrow it, :print? (default true) prints each line as it happens,
  :limit (default 100000) events kept. Returns a trace; (stop! t) ends it and returns its events."
  [^Guest g & {:keys [device queue print? limit] :or {print? true limit 100000}}]
  (let [t0 (System/nanoTime)
        kept (atom [])
        out *out*
        wanted? (fn [e] (and (or (queue-kinds (:kind e)) (#{:device_error :host_warning} (:kind e)))
                             (or (nil? device) (= (dev-name device) (:device e)))
                             (or (nil? queue) (= queue (:queue e)))))
        stop (g/subscribe! g (fn [e]
                               (when (wanted? e)
                                 (when (< (count @kept) limit) (swap! kept conj e))
                                 (when print? (binding [*out* out] (println (format-event t0 e)))))))]
    {::stop stop ::events kept ::t0 t0 :guest (.name g)}))

(defn stop!
  "Ends a trace and returns its events (maps, oldest first)."
  [t]
  ((::stop t))
  @(::events t))

(defn trace-summary
  "Counts per device, queue and kind, and the median and maximum time in µs the device spent
  on a request (from taking the chain to using it)."
  [events]
  (let [latency #(some->> (:detail %) (re-find #"latency=(\d+)us") second parse-long)]
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
  is used: a live driver's avail ring is never written behind its back."
  [^Guest g device data]
  (let [d (.device g (dev-name device))
        ^bytes b (if (bytes? data) data (.getBytes (str data) java.nio.charset.StandardCharsets/UTF_8))]
    (when-not (instance? Injectable d)
      (throw (ex-info (str (dev-name device) " has no receive queue the host can feed (net and console devices do)")
                      {:device device})))
    (.inject ^Injectable d b)
    {:device (dev-name device) :queue (.receiveQueue ^Injectable d) :bytes (alength b)}))

(defn ethernet-frame
  "An Ethernet frame: destination and source MACs as \"52:54:00:12:34:56\" text, a 16-bit
  EtherType, and a payload (bytes or text), padded to the 60-byte minimum."
  [dst src ether-type payload]
  (let [mac #(map (fn [h] (unchecked-byte (Integer/parseInt h 16))) (str/split % #":"))
        p (if (bytes? payload) (seq payload) (seq (.getBytes (str payload) java.nio.charset.StandardCharsets/UTF_8)))
        body (concat (mac dst) (mac src) [(unchecked-byte (bit-shift-right ether-type 8)) (unchecked-byte ether-type)] p)]
    (byte-array (take (max 60 (count body)) (concat body (repeat 0))))))
