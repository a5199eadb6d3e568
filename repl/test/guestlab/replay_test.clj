(ns guestlab.replay-test
  (:require [clojure.edn :as edn]
            [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [guestlab.devices :as dev]
            [guestlab.faults :as faults]
            [guestlab.guest :as g]
            [guestlab.sim :as sim])
  (:import (java.io File RandomAccessFile)
           (java.nio.file Files StandardCopyOption)))

(use-fixtures :each (fn [t] (try (t) (finally (g/stop-all!)))))

(defn- temp [suffix] (doto (File/createTempFile "replay-test" suffix) (.deleteOnExit)))

(defn- disk []
  (let [f (temp ".img")]
    (with-open [r (RandomAccessFile. f "rw")] (.setLength r (* 1024 1024)))
    f))

(defn- copy [^File f]
  (let [c (temp ".img")]
    (Files/copy (.toPath f) (.toPath c) ^"[Ljava.nio.file.CopyOption;" (into-array [StandardCopyOption/REPLACE_EXISTING]))
    c))

(defn- sectors [fill n] (byte-array (* 512 n) (byte fill)))

(defn- entries [f] (mapv edn/read-string (str/split-lines (slurp f))))

(defn- io-pattern!
  "What the sim guest does: writes, reads back (some reads depend on the writes), flushes."
  [vm]
  (sim/block-write! vm :block0 0 (sectors 1 2))
  (sim/block-write! vm :block0 8 (sectors 2 8))
  (sim/block-read vm :block0 0 1024)
  (sim/block-flush! vm :block0)
  (sim/block-read vm :block0 8 4096)
  (sim/block-write! vm :block0 8 (sectors 3 1))
  (sim/block-read vm :block0 8 4096)
  (sim/block-read vm :block0 100 512))

(deftest a-recorded-guest-replays-against-a-copy-of-its-original-image
  (let [img (disk)
        original (copy img)
        trace (temp ".edn")
        vm (g/start! {:name "rec" :devices [[:block {:file (str img)}]]})]
    (dev/wrap! vm :block0 (faults/record trace {:data? true}))
    (io-pattern! vm)
    (dev/unwrap! vm :block0)
    (testing "the file holds every request, in order, complete once unwrapped"
      (let [es (entries trace)]
        (is (= [:write :write :read :flush :read :write :read :read] (mapv :op es)))
        (is (= (range 8) (map :i es)))
        (is (every? #(= :ok (:status %)) es))
        (is (= [0 8 0 nil 8 8 8 100] (mapv :sector es)))
        (is (every? string? (keep :read-sha256 es)) "reads keep their data's sha256")
        (is (= 4 (count (filter :read-sha256 es))) "... the four reads, and none for the flush")))
    (testing "replayed against a copy of the original image, every completion matches"
      (is (= {:requests 8 :matched 8 :mismatches []} (dev/replay (str trace) (str original))))
      (is (= (vec (Files/readAllBytes (.toPath img))) (vec (Files/readAllBytes (.toPath original))))
          "and the copy ends up as the guest's image"))
    (testing "replayed against a fresh disk kept in memory too"
      (is (= {:requests 8 :matched 8 :mismatches []} (dev/replay trace (dev/memory-store)))))))

(deftest replay-against-a-faulty-device-names-the-requests-that-differ
  (let [trace (temp ".edn")
        vm (g/start! {:name "rec2" :devices [[:block {:size "1M" :store (dev/memory-store)}]]})]
    (dev/wrap! vm :block0 (faults/record trace {:data? true}))
    (io-pattern! vm)
    (dev/unwrap! vm :block0)
    (let [target (g/start! {:name "target" :devices [[:block {:size "1M" :store (dev/memory-store)}]]})]
      (dev/wrap! target :block0 (faults/io-error {:sectors [8 15] :ops #{:read}}))
      (let [{:keys [requests matched mismatches]} (dev/replay trace target :block0)]
        (is (= [8 6] [requests matched]))
        (is (= [4 6] (mapv :index mismatches)) "the two reads of sectors 8-15")
        (is (= {:op :read :sector 8 :length 4096} (:request (first mismatches))))
        (is (= :ok (get-in mismatches [0 :recorded :status])))
        (is (= {:status :ioerr} (get-in mismatches [0 :replayed]))))
      (testing "a read that differs in data, not status, is a mismatch too"
        (dev/unwrap! target :block0)
        (sim/block-write! target :block0 100 (sectors 5 1))
        (let [{:keys [mismatches]} (dev/replay trace target :block0)]
          (is (= [7] (mapv :index mismatches)))
          (is (= [:ok :ok] (map #(get-in mismatches [0 % :status]) [:recorded :replayed])))
          (is (not= (get-in mismatches [0 :recorded :read-sha256]) (get-in mismatches [0 :replayed :read-sha256]))))))))

(deftest without-data-a-trace-keeps-hashes-and-only-reads-replay
  (let [trace (temp ".edn")
        img (disk)
        vm (g/start! {:name "hash" :devices [[:block {:file (str img)}]]})]
    (sim/block-write! vm :block0 0 (sectors 4 1))
    (dev/wrap! vm :block0 (faults/record (str trace)))
    (sim/block-read vm :block0 0 512)
    (sim/block-write! vm :block0 1 (sectors 6 1))
    (g/stop! vm)
    (let [es (entries trace)]
      (is (= 2 (count es)) "stopping the guest loses nothing")
      (is (not-any? #(or (:read-data %) (:write-data %)) es) "no bytes, only sha256s")
      (is (= 64 (count (:write-sha256 (second es))))))
    (is (thrown-with-msg? clojure.lang.ExceptionInfo
                          #"^dev/replay: write 1 of .* was recorded without its data; record with \(faults/record path \{:data\? true\}\) to replay writes$"
                          (dev/replay trace (str img))))
    (spit trace (first (str/split-lines (slurp trace))))
    (is (= {:requests 1 :matched 1 :mismatches []} (dev/replay trace (str img))))))

(deftest requests-arriving-at-once-are-each-recorded-once
  (let [trace (temp ".edn")
        h ((faults/record trace) (fn [{:keys [length]}] {:status :ok :data (byte-array length)}))
        n 200]
    ;; plain threads, not pmap: agent threads would keep the test JVM alive for a minute
    (run! #(.join ^Thread %)
          (mapv (fn [q] (doto (Thread. ^Runnable (fn [] (doseq [s (range q n 8)] (h {:op :read :sector s :length 512})))) .start))
                (range 8)))
    (let [es (entries trace)]
      (is (= (range n) (map :i es)))
      (is (= (set (range n)) (set (map :sector es)))))))

(deftest replay-errors-are-one-line
  (is (thrown-with-msg? clojure.lang.ExceptionInfo #"^dev/replay: no trace file /nonexistent/t\.edn$"
                        (dev/replay "/nonexistent/t.edn" (dev/memory-store))))
  (let [t (temp ".edn")]
    (spit t "{:op :read :status :ok}\nnot a map\n")
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #"^dev/replay: line 2 of .* is not a trace entry: \"not a map\"$"
                          (dev/replay t (dev/memory-store)))))
  (is (thrown-with-msg? clojure.lang.ExceptionInfo #"^dev/replay: target must be a disk image file, a store, or a guest and its device, not 42$"
                        (dev/replay "x" 42)))
  (is (thrown-with-msg? clojure.lang.ExceptionInfo #"^faults/record: :data\? must be true or false, not 1$"
                        (faults/record "x.edn" {:data? 1}))))
