;; rings-live: look inside a running Linux guest's virtqueues while it does I/O.
;;
;; Debian's kernel runs in QEMU; its virtio-blk and virtio-net drivers share their rings with
;; guestlab over vhost-user. Everything below reads guest memory directly while the guest runs:
;; nothing here pauses it.   Run it with:  ./guestlab run recipes/rings-live.clj

(require '[guestlab.guest :as g]
         '[guestlab.console :as con]
         '[guestlab.rings :as rings])

(defn check [ok what]
  (if ok (println "  ok:" what) (throw (ex-info (str "check failed: " what) {}))))

(def disk (doto (java.io.File/createTempFile "rings-live" ".img") (.deleteOnExit)))
(with-open [f (java.io.RandomAccessFile. disk "rw")] (.setLength f (* 128 1024 1024)))

(println "== booting a guest with a disk and a network card ==")
(def vm (g/start! {:name "rings" :engine :qemu :memory "256M"
                   :devices [[:console] [:block {:file (str disk)}] [:net {:switch :lab :mac "52:54:00:00:00:0a"}]]}))

;; 1. The queues as the device sees them: ring addresses (guest-physical), the driver's avail
;;    index, the device's last seen index, the used index, and counters.
(println "\n== the queues after boot ==")
(rings/print-queues vm)

;; 2. Trace the block queue while the guest reads 80 MiB in 4 KiB O_DIRECT requests, and watch
;;    the indices move from here at the same time.
(println "\n== the block queue while the guest runs dd (sampled every 250 ms) ==")
(def t (rings/trace vm :device :block0 :print? false))
(def io (future (con/run vm "dd if=/dev/vda of=/dev/null bs=4k count=20480 iflag=direct 2>&1 | tail -1")))
(def samples
  (loop [acc []]
    (if (realized? io)
      acc
      (let [[q] (rings/queues vm :block0)]
        (println (format "  avail.idx %5d  last-seen %5d  used.idx %5d  in-flight %2d  requests %6d  interrupts %6d"
                         (:avail-idx q) (:last-seen q) (:used-idx q) (:in-flight q)
                         (get-in q [:counters :requests]) (get-in q [:counters :interrupts])))
        (Thread/sleep 250)
        (recur (conj acc q))))))
(def trace-events (rings/stop! t))
(println " " (clojure.string/trim (:out @io)))
(check (zero? (:exit @io)) "dd finished while we watched")
(let [requests (map #(get-in % [:counters :requests]) (concat samples (rings/queues vm :block0)))]
  (check (and (>= (count samples) 2) (apply <= requests) (< (first requests) (last requests)))
         "the request counter moved between samples: reading the rings did not stop the guest"))

;; 3. The trace: what happened, in order, with times relative to its start.
(println "\n== the first events of the trace ==")
(let [t0 (:nanos (first trace-events))]
  (doseq [e (take 8 trace-events)] (println (rings/format-event t0 e))))
(println "\n== trace summary (dd waits for each read, so every request costs a kick and an interrupt) ==")
(doseq [[q summary] (rings/trace-summary trace-events)] (println " " q summary))
(check (>= (count (filter #(= :request (:kind %)) trace-events)) 20480) "every 4 KiB read appeared in the trace")

;; 4. One descriptor chain, decoded: a virtio-blk request is a 16-byte header (type 0 = read,
;;    then the sector), the data buffers, and a 1-byte status the device writes (section 5.2.6).
;;    next-chain catches the next request as the device takes it, before the driver can reuse
;;    its buffers. Linux puts multi-buffer requests in an indirect table (section 2.7.5.3).
(println "\n== a request caught in flight ==")
(def io2 (future (con/run vm "dd if=/dev/vda of=/dev/null bs=4k count=1 skip=1000 iflag=direct")))
(def c (rings/next-chain vm :block0 0 :max-bytes 16))
@io2
(rings/print-chain c)
(check (nil? (:problem c)) "the chain follows the rules")
(let [header (first (remove #(some #{:indirect} (:flags %)) (:descriptors c)))
      b (:bytes header)
      sector (reduce + (map-indexed (fn [i x] (bit-shift-left (bit-and x 0xff) (* 8 i))) (take 8 (drop 8 b))))]
  (println "  header: type" (aget b 0) "(0 = read), sector" sector)
  (check (and (= 0 (aget b 0)) (= 8000 sector)) "a read of sector 8000: block 1000 of 4 KiB"))

;; 5. Guest memory by guest-physical address: the used ring's idx field, read here, is the used
;;    index the device last published.
(let [[q] (rings/queues vm :block0)
      b (rings/peek vm (+ (:used q) 2) 2)
      used-idx (bit-or (bit-and (aget b 0) 0xff) (bit-shift-left (bit-and (aget b 1) 0xff) 8))]
  (println (format "\n== peek at used.idx (0x%x): %d ==" (+ (:used q) 2) used-idx))
  (check (= used-idx (:used-idx q)) "guest memory says what the device's queue state says"))

;; 6. Inject a frame into the network card's receive queue, as if it came off the wire.
(println "\n== inject! a frame into net0's receive queue ==")
(con/run vm "ip link set eth0 up")
(defn rx-packets [] (parse-long (clojure.string/trim (:out (con/run vm "cat /sys/class/net/eth0/statistics/rx_packets")))))
(def before (rx-packets))
(println " " (rings/inject! vm :net0 (rings/ethernet-frame "52:54:00:00:00:0a" "52:54:00:00:00:99" 0x88b5 "hello from the host")))
(def after (loop [n 0] ; the guest counts it as soon as its driver takes it from the ring
             (let [now (rx-packets)] (if (or (> now before) (= n 20)) now (do (Thread/sleep 100) (recur (inc n)))))))
(println "  guest's eth0 rx_packets:" before "->" after)
(check (= (inc before) after) "the guest's driver received the injected frame")

(g/stop! vm)
(println "\nrings-live: all checks passed")
