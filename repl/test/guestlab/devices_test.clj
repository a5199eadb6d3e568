(ns guestlab.devices-test
  (:require [clojure.test :refer [deftest is testing use-fixtures]]
            [clojure.string :as str]
            [guestlab.console :as con]
            [guestlab.devices :as dev]
            [guestlab.faults :as faults]
            [guestlab.guest :as g]
            [guestlab.sim :as sim])
  (:import (guestlab.engine.sim BlockIoException)
           (java.io RandomAccessFile)
           (java.util.concurrent CountDownLatch TimeUnit)))

(use-fixtures :each (fn [t] (try (t) (finally (g/stop-all!)))))

(defn- disk []
  (let [f (doto (java.io.File/createTempFile "devices-test" ".img") (.deleteOnExit))]
    (with-open [r (RandomAccessFile. f "rw")] (.setLength r (* 1024 1024)))
    (str f)))

(defn- start [name]
  (let [img (disk)]
    [(g/start! {:name name :devices [[:block {:file img}]]}) img]))

(defn- sectors [fill n] (byte-array (* 512 n) (byte fill)))

(defn- on-image [img sector n]
  (with-open [r (RandomAccessFile. (str img) "r")]
    (let [b (byte-array (* 512 n))] (.seek r (* 512 sector)) (.readFully r b) (vec b))))

(defn- status-of [f]
  (try (f) :ok (catch BlockIoException e ({0 :ok 1 :ioerr 2 :unsupp} (.status e)))))

(defn- events-of [vm kind]
  (filterv #(= kind (:kind %)) (g/events vm)))

(deftest a-wrapped-device-still-does-what-it-did-and-unwrap-restores-it
  (let [[vm img] (start "wrap")
        seen (atom [])]
    (dev/wrap! vm :block0 (fn [h] (fn [r] (swap! seen conj (dissoc r :data)) (h r))))
    (sim/block-write! vm :block0 4 (sectors 7 2))
    (is (= (vec (sectors 7 2)) (vec (sim/block-read vm :block0 4 1024))) "the guest reads back what it wrote")
    (is (= (vec (sectors 7 2)) (on-image img 4 2)) "and the image holds it")
    (is (= [{:op :write :sector 4 :length 1024 :guest "wrap" :device "block0"}
            {:op :read :sector 4 :length 1024 :guest "wrap" :device "block0"}]
           (filterv #(#{:read :write} (:op %)) @seen)))
    (testing "a middleware that changes the data changes what reaches the image"
      (dev/wrap! vm :block0 (fn [h] (fn [r] (h (cond-> r (= :write (:op r)) (assoc :data (sectors 9 1)))))))
      (sim/block-write! vm :block0 10 (sectors 1 1))
      (is (= (vec (sectors 9 1)) (on-image img 10 1))))
    (is (= 2 (count (dev/wrapped vm :block0))))
    (dev/unwrap! vm :block0)
    (is (= [] (dev/wrapped vm :block0)))
    (sim/block-write! vm :block0 10 (sectors 3 1))
    (is (= (vec (sectors 3 1)) (on-image img 10 1)) "unwrapped: the device's own behaviour again")))

(defn zero-reads [h]
  (fn [r] (if (= :read (:op r)) {:status :ok :data (byte-array (:length r))} (h r))))

(deftest a-var-is-looked-up-on-every-request
  (let [[vm _] (start "var")]
    (sim/block-write! vm :block0 0 (sectors 5 1))
    (dev/wrap! vm :block0 #'zero-reads)
    (is (= (vec (sectors 0 1)) (vec (sim/block-read vm :block0 0 512))))
    (try
      (alter-var-root #'zero-reads (constantly (fn [h] h)))
      (is (= (vec (sectors 5 1)) (vec (sim/block-read vm :block0 0 512))) "the redefined var serves the next request")
      (finally (alter-var-root #'zero-reads (constantly (fn [h] (fn [r] (if (= :read (:op r)) {:status :ok :data (byte-array (:length r))} (h r))))))))))

(deftest a-handler-that-throws-returns-garbage-or-hangs-costs-one-request
  (let [[vm img] (start "bad")]
    (testing "throws"
      (dev/wrap! vm :block0 (fn [h] (fn [r] (if (= :write (:op r)) (throw (IllegalStateException. "boom")) (h r)))))
      (is (= :ioerr (status-of #(sim/block-write! vm :block0 0 (sectors 1 1)))))
      (is (re-find #"write sector 0 \+512: handler threw java.lang.IllegalStateException: boom; answered IOERR"
                   (:detail (last (events-of vm :handler_error))))))
    (dev/unwrap! vm :block0)
    (testing "garbage"
      (dev/wrap! vm :block0 (fn [_] (fn [_] :fine)))
      (is (= :ioerr (status-of #(sim/block-read vm :block0 0 512))))
      (is (re-find #"handler returned no completion map: :fine" (:detail (last (events-of vm :handler_error)))))
      (dev/unwrap! vm :block0)
      (dev/wrap! vm :block0 (fn [_] (fn [_] {:status :ok :data (byte-array 3)})))
      (is (= :ioerr (status-of #(sim/block-read vm :block0 0 512))) "a read's data must be its length"))
    (dev/unwrap! vm :block0)
    (testing "too slow"
      (let [release (CountDownLatch. 1)]
        (dev/wrap! vm :block0 (fn [h] (fn [r] (.await release 30 TimeUnit/SECONDS) (h r))) {:timeout-ms 200})
        (is (= :ioerr (status-of #(sim/block-write! vm :block0 0 (sectors 4 1)))))
        (is (re-find #"write sector 0 \+512: handler took longer than 200 ms" (:detail (last (events-of vm :handler_error)))))
        (.countDown release)))
    (dev/unwrap! vm :block0)
    (sim/block-write! vm :block0 0 (sectors 6 1))
    (is (= (vec (sectors 6 1)) (on-image img 0 1)) "the device and the guest keep running")
    (is (= :running (g/state vm)))))

(deftest io-error-fails-the-chosen-writes-and-says-so
  (let [[vm img] (start "ioerr")]
    (dev/wrap! vm :block0 (faults/io-error {:sectors [100 199] :ops #{:write}}))
    (is (= :ioerr (status-of #(sim/block-write! vm :block0 98 (sectors 2 4)))) "touches sector 100")
    (is (= (vec (sectors 0 4)) (on-image img 98 4)) "nothing reached the image")
    (is (= :ok (status-of #(sim/block-write! vm :block0 90 (sectors 2 4)))) "outside the range")
    (is (= :ok (status-of #(sim/block-read vm :block0 100 512))) "reads are not taken")
    (is (= "io-error on write sector 98 +2048: answered IOERR, nothing done" (:detail (last (events-of vm :fault)))))
    (dev/unwrap! vm :block0)
    (testing "every nth, and seeded probability"
      (dev/wrap! vm :block0 (faults/io-error {:every 3 :ops #{:read}}))
      (is (= [:ok :ok :ioerr :ok :ok :ioerr] (vec (repeatedly 6 #(status-of (fn [] (sim/block-read vm :block0 0 512)))))))
      (dev/unwrap! vm :block0)
      (let [run (fn [] (dev/wrap! vm :block0 (faults/io-error {:probability 0.5 :seed 42}))
                  (let [s (vec (repeatedly 12 #(status-of (fn [] (sim/block-read vm :block0 0 512)))))]
                    (dev/unwrap! vm :block0)
                    s))
            a (run)]
        (is (= a (run)) "the same seed fails the same requests")
        (is (some #{:ioerr} a))
        (is (some #{:ok} a))))))

(deftest torn-write-stores-only-the-first-sectors
  (let [[vm img] (start "torn")]
    (dev/wrap! vm :block0 (faults/torn-write {:sectors 2}))
    (is (= :ioerr (status-of #(sim/block-write! vm :block0 20 (sectors 8 5)))))
    (is (= (concat (sectors 8 2) (sectors 0 3)) (on-image img 20 5)))
    (is (re-find #"torn-write on write sector 20 \+2560: stored the first 2 sectors of 5" (:detail (last (events-of vm :fault)))))))

(deftest stale-read-returns-what-was-there-before-the-write
  (let [[vm img] (start "stale")]
    (sim/block-write! vm :block0 30 (sectors 1 2))
    (dev/wrap! vm :block0 (faults/stale-read {:sectors [31 31]}))
    (sim/block-write! vm :block0 30 (sectors 2 2))
    (is (= (vec (sectors 2 2)) (on-image img 30 2)) "the write reached the image")
    (is (= (vec (concat (sectors 2 1) (sectors 1 1))) (vec (sim/block-read vm :block0 30 1024))) "sector 31 reads stale")
    (dev/unwrap! vm :block0)
    (is (= (vec (sectors 2 2)) (vec (sim/block-read vm :block0 30 1024))))))

(deftest flush-fail-and-latency
  (let [[vm _] (start "flush")]
    (dev/wrap! vm :block0 (faults/flush-fail {}))
    (is (= :ioerr (status-of #(sim/block-flush! vm :block0))))
    (is (= "flush-fail on flush: answered IOERR, flushed nothing" (:detail (last (events-of vm :fault)))))
    (dev/unwrap! vm :block0)
    (is (= :ok (status-of #(sim/block-flush! vm :block0))))
    (dev/wrap! vm :block0 (faults/latency {:ms 50 :ops #{:read}}))
    (let [t0 (System/nanoTime)]
      (sim/block-read vm :block0 0 512)
      (is (<= 50 (quot (- (System/nanoTime) t0) 1000000))))
    (is (= "latency on read sector 0 +512: delayed 50.0 ms" (:detail (last (events-of vm :fault)))))
    (dev/wrap! vm :block0 (faults/latency {:distribution {:uniform [1 3]} :seed 1}))
    (is (= :ok (status-of #(sim/block-read vm :block0 0 512))))))

(deftest wrong-arguments-are-one-line-errors
  (let [[vm _] (start "args")]
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #"^dev/wrap!: middleware must be a function"
                          (dev/wrap! vm :block0 42)))
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #"^faults/io-error: :sectors must be \[from to\]"
                          (faults/io-error {:sectors [5 1]})))
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #"^dev/wrap!: guest args has no device :block7"
                          (dev/wrap! vm :block7 identity)))))

(deftest a-disk-defined-in-clojure-serves-a-sim-guest
  (let [store (dev/memory-store)
        vm (g/start! {:name "store" :devices [[:block {:size "1M" :store store}]]})]
    (is (= 2048 (sim/block-capacity vm :block0)) "capacity from :size")
    (sim/block-write! vm :block0 7 (sectors 42 3))
    (is (= (vec (sectors 42 3)) (vec (sim/block-read vm :block0 7 1536))) "the guest reads back what it wrote")
    (is (= (vec (sectors 42 3)) (vec (dev/read-sectors store 7 3))) "the host reads the same bytes from the store")
    (is (= (vec (sectors 0 1)) (vec (sim/block-read vm :block0 0 512))) "never written: zeros")
    (is (= :ok (status-of #(sim/block-flush! vm :block0))))
    (testing "wrapped like any block device"
      (dev/wrap! vm :block0 (faults/io-error {:ops #{:write}}))
      (is (= :ioerr (status-of #(sim/block-write! vm :block0 7 (sectors 1 1)))))
      (dev/unwrap! vm :block0)
      (is (= (vec (sectors 42 1)) (vec (dev/read-sectors store 7 1)))))
    (testing "a store that throws costs one request, and says so"
      (let [vm2 (g/start! {:name "store2" :devices [[:block {:size "64K" :store (dev/fn-store {:read (fn [_ _] (throw (RuntimeException. "disk on fire")))
                                                                                              :write (fn [_ _])})}]]})]
        (is (= :ioerr (status-of #(sim/block-read vm2 :block0 0 512))))
        (is (re-find #"read sector 0 \+512: handler threw java.lang.RuntimeException: disk on fire"
                     (:detail (last (events-of vm2 :handler_error)))))
        (is (= :ok (status-of #(sim/block-write! vm2 :block0 0 (sectors 1 1)))))))))

(deftest a-store-disk-spec-is-checked
  (is (thrown-with-msg? clojure.lang.ExceptionInfo #":store .*a block store"
                        (g/validate! {:devices [[:block {:size "1M" :store 42}]]})))
  (is (thrown-with-msg? clojure.lang.ExceptionInfo #"size"
                        (g/start! {:devices [[:block {:size 1000 :store (dev/memory-store)}]]}))))

(deftest ^:qemu a-debian-guest-writes-and-reads-a-disk-kept-in-a-clojure-store
  (let [store (dev/memory-store)
        vm (g/start! {:name "cljdisk" :engine :qemu :memory "256M" :devices [[:console] [:block {:size "64M" :store store}]]})
        sha #(format "%064x" (BigInteger. 1 (.digest (java.security.MessageDigest/getInstance "SHA-256") ^bytes %)))]
    (is (= "131072" (str/trim (:out (con/run vm "cat /sys/block/vda/size")))) "64 MiB in 512-byte sectors")
    (let [{:keys [out exit]} (con/run vm (str "dd if=/dev/urandom of=/tmp/x bs=64k count=4 2>/dev/null"
                                              " && dd if=/tmp/x of=/dev/vda bs=64k seek=16 oflag=direct 2>/dev/null && sync"
                                              " && sha256sum /tmp/x && dd if=/dev/vda bs=64k skip=16 count=4 iflag=direct 2>/dev/null | sha256sum"))
          [written read-back] (map #(first (str/split % #"\s+")) (str/split-lines (str/trim out)))]
      (is (zero? exit))
      (is (= written read-back) "the guest reads back what it wrote")
      (is (= written (sha (dev/read-sectors store 2048 512))) "the host finds the same bytes in the store"))))

(deftest an-entropy-source-defined-in-clojure-serves-the-guest
  (testing "its bytes are what the guest reads"
    (let [asked (atom [])
          vm (g/start! {:name "src" :devices [[:rng {:source (fn [n] (swap! asked conj n) (byte-array (min n 5000) (byte 7)))}]]})]
      (is (= (repeat 16 7) (seq (sim/rng-read vm :rng0 16))))
      (is (= [16] @asked) "asked for what the driver offered")
      (is (= 6000 (count (sim/rng-read vm :rng0 6000))) "a large read takes several requests, each of at most 4096 bytes")
      (is (every? #(<= % 4096) @asked))))
  (testing "a source that throws or gives garbage leaves that request empty, says so, and the guest goes on"
    (let [mode (atom :throw)
          vm (g/start! {:name "badsrc" :devices [[:rng {:source (fn [n] (case @mode
                                                                        :throw (throw (ex-info "no entropy today" {}))
                                                                        :garbage "not bytes"
                                                                        (byte-array n (byte 1))))}]]})]
      (is (= 0 (count (sim/rng-read vm :rng0 16))))
      (is (re-find #"entropy source handler threw .*no entropy today; the driver got no bytes"
                   (:detail (first (events-of vm :handler_error)))))
      (reset! mode :garbage)
      (is (= 0 (count (sim/rng-read vm :rng0 16))))
      (is (re-find #"gave \"not bytes\", not up to 16 bytes" (:detail (second (events-of vm :handler_error)))))
      (reset! mode :ok)
      (is (= (repeat 16 1) (seq (sim/rng-read vm :rng0 16))) "the device still serves"))))
