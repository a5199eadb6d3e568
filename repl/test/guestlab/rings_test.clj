(ns guestlab.rings-test
  (:require [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [guestlab.await :as await]
            [guestlab.console :as con]
            [guestlab.guest :as g]
            [guestlab.rings :as rings]
            [guestlab.sim :as sim])
  (:import (guestlab.devices BlockDevice)
           (guestlab.events EventBus)
           (guestlab.vhostuser VhostUserBackend)
           (guestlab.virtio VringLayout)
           (java.nio.file Files Path)
           (java.nio.file.attribute FileAttribute)))

(use-fixtures :each (fn [t] (try (t) (finally (g/stop-all!)))))

(defn- disk [mib]
  (let [f (doto (java.io.File/createTempFile "rings-test" ".img") (.deleteOnExit))]
    (with-open [r (java.io.RandomAccessFile. f "rw")] (.setLength r (* mib 1024 1024)))
    (str f)))

(defn- at-paused-hypercall?
  "Whether a stack frame is a simulated CPU waiting, at a hypercall, for its paused guest to resume."
  [^StackTraceElement f]
  (and (= "guestlab.engine.sim.SimHypervisor" (.getClassName f)) (= "awaitRunning" (.getMethodName f))))

(defn- u16 [^bytes b] (bit-or (bit-and (aget b 0) 0xff) (bit-shift-left (bit-and (aget b 1) 0xff) 8)))

(defn- le64 [bs] (reduce + (map-indexed (fn [i x] (bit-shift-left (bit-and x 0xff) (* 8 i))) (take 8 bs))))

(deftest a-sim-guests-chain-trace-and-memory-are-what-its-driver-did
  (let [vm (g/start! {:name "r1" :devices [[:block {:file (disk 1)}]]})
        sector-data (byte-array (take 512 (cycle (.getBytes "ring!"))))
        t (rings/trace vm :device :block0 :print? false)]
    (sim/block-write! vm :block0 5 sector-data)
    (let [events (rings/stop! t)
          c (rings/chain vm :block0 0)
          [hdr data status] (:descriptors c)]
      (testing "the trace saw the request from kick to interrupt, in order"
        (is (= [:kick :request :completion :interrupt] (mapv :kind events)))
        (is (apply <= (map :nanos events)))
        (is (= {"block0 q0" 1} (update-vals (rings/trace-summary events) :request))))
      (testing "the chain: header (type 1 = write, sector 5), the data, the status byte"
        (is (= {:head (:head (second events)) :status :taken :problem nil} (select-keys c [:head :status :problem])))
        (is (= [16 512 1] (mapv :len (:descriptors c))))
        (is (= [[:next] [:next] [:write]] (mapv :flags (:descriptors c))))
        (is (= [1 5] [(aget ^bytes (:bytes hdr) 0) (le64 (drop 8 (:bytes hdr)))]))
        (is (= (seq (take 64 sector-data)) (seq (:bytes data))) "64 bytes of the buffer by default")
        (is (= [0] (vec (:bytes status))) "VIRTIO_BLK_S_OK")
        (is (re-find #"desc\[\s*1\] addr=0x\p{XDigit}+ len=512 device-readable next=2\n.*\|ring!ring!ring!r" (rings/format-chain c))))
      (testing "peek reads the same bytes by guest-physical address; poke writes them"
        (is (= (seq (:bytes data)) (seq (rings/peek vm (:addr data) 64))))
        (let [[q] (rings/queues vm :block0)]
          (is (= (:used-idx q) (u16 (rings/peek vm (+ (:used q) VringLayout/USED_IDX) 2)))))
        (rings/poke vm (:addr data) (.getBytes "POKED"))
        (is (= "POKED" (String. (rings/peek vm (:addr data) 5))))
        (is (re-find #"not inside r1's memory" (try (rings/peek vm (* 1 1024 1024 1024) 4) nil
                                                    (catch clojure.lang.ExceptionInfo e (ex-message e))))))
      (testing "a chain the device would refuse is described, not followed"
        ;; point the status descriptor at an address past the end of guest memory
        (let [[q] (rings/queues vm :block0)
              desc2 (VringLayout/descriptorAt (:desc q) (:next data))]
          (rings/poke vm desc2 [0 0 0 0 0 0 0 0x40])
          (let [c (rings/chain vm :block0 0)]
            (is (re-find #"outside guest memory" (:problem c)))
            (is (= :buffer-outside-memory (:fault c))))
          (is (nil? (:fault (first (rings/queues vm :block0)))) "the queue itself is not broken")
          (is (= 0 (get-in (first (rings/queues vm :block0)) [:counters :errors])) "reading broke nothing"))))))

(deftest inject-feeds-receive-queues-and-says-what-cannot
  (let [vm (g/start! {:name "r2" :devices [[:console] [:net {:switch :r2-lan :mac "52:54:00:00:0b:01"}] [:rng]]})
        frame (rings/ethernet-frame "52:54:00:00:0b:01" "52:54:00:00:0b:99" 0x88b5 "injected")]
    (is (= {:device "net0" :queue 0 :bytes 60} (rings/inject! vm :net0 frame)))
    (is (= (seq frame) (seq (sim/net-receive vm :net0 2000))) "the driver received the frame as sent")
    (rings/inject! vm :console0 "typed\n")
    (is (= "typed\n" (sim/console-read vm :console0 2000)))
    (is (re-find #"rng0 of guest r2 has no receive queue" (try (rings/inject! vm :rng0 "x") nil (catch Exception e (ex-message e)))))
    (is (re-find #"an Ethernet frame is 14 to 1514 bytes" (try (rings/inject! vm :net0 (byte-array 5)) nil
                                                                (catch Exception e (ex-message e)))))))

(deftest pause-freezes-a-sim-guests-cpu-and-the-event-stream-shows-it-live
  (let [vm (g/start! {:name "r3" :devices [[:rng]]})]
    (with-open [s (g/event-stream vm)]
      (g/pause! vm)
      (is (= :paused (g/state vm)))
      (let [cpu (promise)
            read (future (deliver cpu (Thread/currentThread)) (sim/rng-read vm :rng0 8))]
        ;; the moment that matters: the driver's notify hypercall is waiting for resume
        (await/until "the guest's CPU to wait at its notify hypercall"
                     #(let [^Thread t @cpu] [(str (.getState t)) (some at-paused-hypercall? (.getStackTrace t))])
                     (fn [[state parked?]] (and parked? (#{"WAITING" "TIMED_WAITING"} state))))
        (is (not (realized? read)) "the guest's driver is stuck at its hypercall")
        (is (= 0 (get-in (first (rings/queues vm :rng0)) [:counters :kicks])) "reading the queues works while paused")
        (g/resume! vm)
        (is (= 8 (count (deref read 5000 nil)))))
      (is (= :running (g/state vm)))
      (let [seen (loop [acc []]
                   (if-let [e (g/next-event s 1000)]
                     (recur (conj acc e))
                     acc))]
        (is (= ["paused" "resumed"] (mapv :detail (filter #(= :lifecycle (:kind %)) seen))))
        ;; The kick's event comes first, unless the device thread had not yet run the wake-up it
        ;; got at DRIVER_OK when the driver kicked (seen once on a loaded machine): it then serves
        ;; the request in that pass and counts the kick after.
        (let [kinds (mapv :kind (filter #(= "rng0" (:device %)) seen))]
          (is (= [:request :completion :interrupt] (remove #{:kick} kinds)) (str "rng0's events: " kinds))
          (is (= 1 (count (filter #{:kick} kinds))) (str "one kick among rng0's events: " kinds)))
        (is (= 0 (g/dropped-count s)))))))

;; --- a disk some vhost-user back-end serves: its rings seen from the driver's side -----

(defn- path ^Path [s] (Path/of (str s) (make-array String 0)))

(defn- socket-in-a-fresh-dir [file-name]
  (str (Files/createTempDirectory "rings-remote" (make-array FileAttribute 0)) "/" file-name))

(defn- guestlab-back-end!
  "guestlab's own vhost-user back-end serving the image img: {:socket s :close! f}."
  [img]
  (let [sock (socket-in-a-fresh-dir "blk.sock")
        device (BlockDevice/open (path img) false)
        backend (VhostUserBackend. "remote" "blk" device (path sock) (EventBus. 64))]
    {:socket sock :close! #(do (.close backend) (.close device))}))

(defn- qemu-storage-daemon!
  "qemu-storage-daemon exporting the image img as a vhost-user-blk back-end: {:socket s :close! f}."
  [img]
  (let [sock (socket-in-a-fresh-dir "qsd.sock")
        log (java.io.File. (str sock ".log"))
        p (.start (doto (ProcessBuilder. ["qemu-storage-daemon"
                                          "--blockdev" (str "driver=file,node-name=file0,filename=" img)
                                          "--export" (str "type=vhost-user-blk,id=exp0,node-name=file0,writable=on,addr.type=unix,addr.path=" sock)])
                    (.redirectErrorStream true)
                    (.redirectOutput log)))]
    (await/until "qemu-storage-daemon's socket" #(or (.exists (java.io.File. sock)) (not (.isAlive p))) true?)
    (when-not (.isAlive p) (throw (ex-info (str "qemu-storage-daemon ended: " (slurp log)) {})))
    {:socket sock :close! #(do (.destroy p) (.waitFor p))}))

(defn- requests [events kind] (filterv #(and (= "block0" (:device %)) (= kind (:kind %))) events))

(defn- check-the-rings-of-a-remote-disk
  "Four 4 KiB writes to a disk the back-end on sock serves, as rings/queues, the trace, g/events,
  rings/chain and rings/next-chain show them."
  [guest-name sock]
  (let [vm (g/start! {:name guest-name :devices [[:block {:vhost-user sock}] [:rng]]})
        data (byte-array (take 4096 (cycle (.getBytes "remote!"))))
        t (rings/trace vm :device :block0 :print? false)]
    (dotimes [i 4] (sim/block-write! vm :block0 (* 8 i) data))
    (let [events (rings/stop! t)
          [q] (rings/queues vm :block0)]
      (testing "rings/queues: the ring as the driver sees it"
        (is (= {:device "block0" :queue 0 :size 128 :seen-from :driver :avail-idx 4 :used-idx 4 :in-flight 0 :fault nil}
               (select-keys q [:device :queue :size :seen-from :avail-idx :used-idx :in-flight :fault])))
        (is (= {:requests 4 :completions 4 :bytes-read (* 4 (+ 16 4096)) :bytes-written 4 :errors 0}
               (select-keys (:counters q) [:requests :completions :bytes-read :bytes-written :errors])))
        (is (= {:last-seen 4 :pending 0}
               (select-keys (await/until "the back-end's avail_event to show it took all four"
                                         #(first (rings/queues vm :block0)) #(= 4 (:last-seen %)))
                            [:last-seen :pending])))
        (is (= ["rng0" "block0"] (mapv :device (rings/queues vm))) "with the guest's other queues")
        (is (re-find #"(?m)^block0 +0 +128 .* seen by the driver$" (with-out-str (rings/print-queues vm)))))
      (testing "the trace and g/events: each write's request and completion, in ring order"
        (is (= [0 1 2 3] (mapv :index (requests events :request))) "the avail index each chain went into")
        (is (= [1 2 3 4] (mapv :index (requests events :completion))) "used.idx once it was collected")
        (is (every? #(= (+ 16 4096) (:length %)) (requests events :request)))
        (is (every? #(and (= 1 (:length %)) (<= 0 (:latency-nanos %))) (requests events :completion)))
        (is (= (get-in q [:counters :kicks]) (count (requests events :kick))))
        (is (= {:request 4 :completion 4} (select-keys (get (rings/trace-summary events) "block0 q0") [:request :completion])))
        (is (= (requests events :request) (requests (g/events vm) :request)) "the same events, kept with the guest's"))
      (testing "rings/chain: the last write, decoded from guest memory"
        (let [c (rings/chain vm :block0 0)
              [hdr buf status] (:descriptors c)]
          (is (= {:avail-index 3 :status :taken :problem nil :fault nil} (select-keys c [:avail-index :status :problem :fault])))
          (is (= (:head (last (requests events :request))) (:head c)))
          (is (= [16 4096 1] (mapv :len (:descriptors c))))
          (is (= [[:next] [:next] [:write]] (mapv :flags (:descriptors c))))
          (is (= [1 24] [(aget ^bytes (:bytes hdr) 0) (le64 (drop 8 (:bytes hdr)))]) "a write (type 1) at sector 24")
          (is (= (seq (take 64 data)) (seq (:bytes buf))))
          (is (= [0] (vec (:bytes status))) "VIRTIO_BLK_S_OK")))
      (testing "rings/next-chain catches a write as the driver offers it"
        (let [caught (future (rings/next-chain vm :block0 0 :max-bytes 16))]
          (loop [] ; until next-chain has subscribed and seen one
            (when-not (realized? caught)
              (sim/block-write! vm :block0 40 data)
              (recur)))
          (let [hdr (first (:descriptors @caught))]
            (is (= :in-flight (:status @caught)))
            (is (= [1 40] [(aget ^bytes (:bytes hdr) 0) (le64 (drop 8 (:bytes hdr)))])))))
      (testing "inject! says the device side is the back-end's"
        (is (re-find #"block0 of guest .* served by the vhost-user back-end on .*that side is the back-end's"
                     (try (rings/inject! vm :block0 "x") nil (catch Exception e (ex-message e)))))))
    (g/stop! vm)))

(deftest a-disk-guestlabs-back-end-serves-has-rings-and-events-seen-from-the-driver
  (let [{:keys [socket close!]} (guestlab-back-end! (disk 1))]
    (try (check-the-rings-of-a-remote-disk "remote-gl" socket)
         (finally (close!)))))

(deftest ^:qemu a-disk-qemu-storage-daemon-serves-has-rings-and-events-seen-from-the-driver
  (let [{:keys [socket close!]} (qemu-storage-daemon! (disk 1))]
    (try (check-the-rings-of-a-remote-disk "remote-qsd" socket)
         (finally (close!)))))

(deftest ^:qemu rings-of-a-running-linux-guest
  (let [vm (g/start! {:name "live" :engine :qemu :memory "256M"
                      :devices [[:console] [:block {:file (disk 64)}] [:net {:switch :live-lan :mac "52:54:00:00:0c:01"}]]})]
    (testing "queues: the block queue and both net queues, with rings in guest memory"
      ;; QEMU sent the net rings' messages before the guest's init said it was up, but the
      ;; back-end's session thread may not have read them yet on a busy machine
      (let [qs (await/until "both net queues to be set up" #(rings/queues vm) #(= 3 (count %)))]
        (is (= [["block0" 0] ["net0" 0] ["net0" 1]] (mapv (juxt :device :queue) qs)))
        (is (every? #(pos? (:size %)) qs))
        (is (pos? (get-in (first qs) [:counters :requests])) "the kernel read the disk's partition table")))
    (testing "a trace and the queue state while the guest works; reading never stops it"
      (let [t (rings/trace vm :device :block0 :print? false)
            io (future (con/run vm "dd if=/dev/vda of=/dev/null bs=4k count=4096 iflag=direct"))
            samples (loop [acc []]
                      (if (or (realized? io) (> (count acc) 200))
                        acc
                        (do (Thread/sleep 20) (recur (conj acc (get-in (first (rings/queues vm :block0)) [:counters :requests]))))))
            events (rings/stop! t)]
        (is (zero? (:exit @io)))
        (is (apply <= samples))
        (is (< 1 (count (distinct samples))) "the counter moved while we sampled")
        (is (<= 4096 (count (filter #(= :request (:kind %)) events))))
        (is (= (count (filter #(= :request (:kind %)) events)) (count (filter #(= :completion (:kind %)) events))))
        (is (some #(= :interrupt (:kind %)) events))
        (is (apply <= (map :nanos events)))))
    (testing "a chain caught in flight is a well-formed virtio-blk read"
      (let [io (future (con/run vm "dd if=/dev/vda of=/dev/null bs=4k count=1 skip=77 iflag=direct"))
            c (rings/next-chain vm :block0 0 :max-bytes 16)
            bufs (remove #(some #{:indirect} (:flags %)) (:descriptors c))
            hdr (first bufs)]
        (is (zero? (:exit @io)))
        (is (nil? (:problem c)))
        (is (= :in-flight (:status c)))
        (is (= 16 (:len hdr)))
        (is (= [0 (* 77 8)] [(aget ^bytes (:bytes hdr) 0) (le64 (drop 8 (:bytes hdr)))]) "read, sector 616")
        (is (= 1 (:len (last bufs))))
        (is (some #{:write} (:flags (last bufs))) "the status byte is device-writable")
        (is (= 4096 (reduce + (map :len (butlast (rest bufs))))))))
    (testing "peek: used.idx in guest memory is the device's used index"
      (let [[q] (rings/queues vm :block0)]
        (is (= (:used-idx q) (u16 (rings/peek vm (+ (:used q) VringLayout/USED_IDX) 2))))))
    (testing "inject!: the guest's driver receives a frame the host put in its receive queue"
      (let [rx #(parse-long (str/trim (:out (con/run vm "cat /sys/class/net/eth0/statistics/rx_packets"))))]
        (con/run vm "ip link set eth0 up")
        (let [before (rx)]
          (rings/inject! vm :net0 (rings/ethernet-frame "52:54:00:00:0c:01" "52:54:00:00:0c:99" 0x88b5 "hi"))
          (is (= (inc before) (await/until "eth0's rx_packets to count the injected frame" rx #(> % before)))))))
    (testing "pause! and resume!: the console is silent while paused and answers after"
      (g/pause! vm)
      (is (= :paused (g/state vm)))
      (con/send-line vm "echo after-pause")
      (is (re-find #"timed out|did not|within" (try (con/expect vm #"after-pause\r?\n" :timeout-ms 1500) ""
                                                     (catch Exception e (ex-message e)))))
      (g/resume! vm)
      (is (= :running (g/state vm)))
      (is (con/expect vm #"after-pause\r?\n" :timeout-ms 10000)))
    (g/stop! vm)
    (is (= :stopped (g/state vm)))))
