;; replay: a Debian guest's disk I/O, recorded, becomes a regression test for a disk.
;;
;; faults/record wraps the guest's disk and writes every request and its completion to an EDN
;; trace (with the written bytes: {:data? true}). dev/replay then re-issues the same requests, in
;; order, against a fresh copy of the disk as it was at boot: every completion matches. Replayed
;; against a disk that fails reads on a range, the report names the requests that came out different.
;; Run it with:  ./guestlab run recipes/replay.clj

(require '[guestlab.guest :as g]
         '[guestlab.console :as con]
         '[guestlab.devices :as dev]
         '[guestlab.faults :as faults])

(defn check [ok what]
  (if ok (println "  ok:" what) (throw (ex-info (str "check failed: " what) {}))))

(def MiB (* 1024 1024))
(defn temp [suffix] (doto (java.io.File/createTempFile "replay" suffix) (.deleteOnExit)))
(def disk (temp ".img"))
(with-open [f (java.io.RandomAccessFile. disk "rw")] (.setLength f (* 16 MiB)))
(def pristine (temp ".img"))
(java.nio.file.Files/copy (.toPath disk) (.toPath pristine) (into-array java.nio.file.CopyOption [java.nio.file.StandardCopyOption/REPLACE_EXISTING]))
(def trace (str (temp ".edn")))

(println "== booting a guest on a 16 MiB image ==")
(def vm (g/start! {:name "replay" :engine :qemu :memory "256M" :devices [[:console] [:block {:file (str disk)}]]}))

(println "\n== recording while the guest writes 256 KiB at 1 MiB and reads it back ==")
(dev/wrap! vm :block0 (faults/record trace {:data? true}))
(let [{:keys [exit]} (con/run vm (str "dd if=/dev/urandom of=/dev/vda bs=64k seek=16 count=4 oflag=direct 2>/dev/null"
                                      " && dd if=/dev/vda of=/dev/null bs=64k skip=16 count=4 iflag=direct 2>/dev/null"))]
  (check (zero? exit) "the guest's writes and reads succeeded"))
(dev/unwrap! vm :block0)
(g/stop! vm)
(def recorded (with-open [r (clojure.java.io/reader trace)] (count (line-seq r))))
(check (pos? recorded) (str recorded " requests recorded in " trace))

(println "\n== replaying them against the disk as it was at boot ==")
(let [{:keys [requests matched mismatches]} (dev/replay trace (str pristine))]
  (println "  replayed" requests "requests," matched "matched")
  (check (and (= requests recorded) (empty? mismatches)) "every completion is the recorded one"))

(println "\n== replaying them against a disk in memory that fails reads of sectors 2048-2559 ==")
(let [store (dev/memory-store)
      faulty-vm (g/start! {:name "replay-target" :devices [[:block {:size "16M" :store store}]]})]
  (dev/wrap! faulty-vm :block0 (faults/io-error {:sectors [2048 2559] :ops #{:read}}))
  (let [{:keys [mismatches]} (dev/replay trace faulty-vm :block0)]
    (doseq [{:keys [index request recorded replayed]} (take 2 mismatches)]
      (println "  request" index (select-keys request [:op :sector :length]) "recorded" (:status recorded) "replayed" (:status replayed)))
    (check (seq mismatches) (str (count mismatches) " requests came out different"))
    (check (every? #(= :read (get-in % [:request :op])) mismatches) "all of them reads of the failing range"))
  (g/stop! faulty-vm))

(println "\nreplay: all checks passed")
