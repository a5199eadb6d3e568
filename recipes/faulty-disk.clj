;; faulty-disk: guestlab makes a running Debian guest's disk fail writes on a sector range, the
;; guest's kernel reports it, and once the fault is removed the same write succeeds.
;;
;; guestlab's virtio-blk serves the guest over vhost-user. dev/wrap! puts a fault from
;; guestlab.faults around the device's own handler while the guest runs; every request it
;; fails is a FAULT event. At the end the image holds exactly what the guest wrote successfully.
;; Run it with:  ./guestlab run recipes/faulty-disk.clj

(require '[guestlab.guest :as g]
         '[guestlab.console :as con]
         '[guestlab.devices :as dev]
         '[guestlab.faults :as faults]
         '[clojure.string :as str])

(defn check [ok what]
  (if ok (println "  ok:" what) (throw (ex-info (str "check failed: " what) {}))))

(defn sha256-of-file-range
  "The sha256 of n bytes of file f from offset, in hex, as sha256sum prints it."
  [f offset n]
  (with-open [r (java.io.RandomAccessFile. (str f) "r")]
    (let [b (byte-array n)]
      (.seek r offset)
      (.readFully r b)
      (format "%064x" (BigInteger. 1 (.digest (java.security.MessageDigest/getInstance "SHA-256") b))))))

(defn guest-sum [out] (first (str/split (str/trim out) #"\s+")))

(def MiB (* 1024 1024))
(def zeros-sum (sha256-of-file-range "/dev/zero" 0 MiB))

(def disk (doto (java.io.File/createTempFile "faulty-disk" ".img") (.deleteOnExit)))
(with-open [f (java.io.RandomAccessFile. disk "rw")] (.setLength f (* 64 MiB)))

(println "== booting a guest on a 64 MiB image ==")
(def vm (g/start! {:name "faulty" :engine :qemu :memory "256M" :devices [[:console] [:block {:file (str disk)}]]}))

(println "\n== the guest writes 1 MiB at offset 1 MiB (sectors 2048-4095) ==")
(def first-sum
  (let [{:keys [out exit]} (con/run vm (str "dd if=/dev/urandom of=/tmp/a bs=1M count=1 2>/dev/null"
                                            " && dd if=/tmp/a of=/dev/vda bs=64k seek=16 oflag=direct 2>/dev/null"
                                            " && sha256sum /tmp/a"))]
    (check (zero? exit) "the write succeeded")
    (guest-sum out)))

(println "\n== guestlab fails every write to sectors 4096-6143 ==")
(println "  (dev/wrap! vm :block0 (faults/io-error {:sectors [4096 6143] :ops #{:write}}))")
(dev/wrap! vm :block0 (faults/io-error {:sectors [4096 6143] :ops #{:write}}))
(def second-sum
  (guest-sum (:out (con/run vm "dd if=/dev/urandom of=/tmp/b bs=1M count=1 2>/dev/null && sha256sum /tmp/b"))))
(def write-b "dd if=/tmp/b of=/dev/vda bs=64k seek=32 oflag=direct")
(let [{:keys [out exit]} (con/run vm (str write-b " 2>&1"))]
  (doseq [l (str/split-lines out) :when (str/starts-with? l "dd:")] (println "  guest:" l))
  (check (not (zero? exit)) (str "dd failed (exit " exit ")")))
(let [{:keys [out]} (con/run vm "dmesg | grep 'I/O error, dev vda' | tail -n 2")]
  (doseq [l (str/split-lines (str/trim out))] (println "  dmesg:" l))
  (check (re-find #"I/O error, dev vda, sector 4096 " out) "the guest's kernel reports the I/O error at sector 4096"))
(let [faults (filterv #(= :fault (:kind %)) (g/events vm))]
  (println "  event:" (:detail (first faults)))
  (check (seq faults) (str (count faults) " FAULT events name the requests guestlab failed")))
(check (= zeros-sum (sha256-of-file-range disk (* 2 MiB) MiB)) "nothing of the failed write is in the image")

(println "\n== the fault is removed; the same write succeeds ==")
(dev/unwrap! vm :block0)
(let [{:keys [exit]} (con/run vm (str write-b " 2>/dev/null && sync"))]
  (check (zero? exit) "dd succeeded"))

(println "\n== the image holds exactly what the guest wrote successfully ==")
(check (= first-sum (sha256-of-file-range disk MiB MiB)) "1 MiB at offset 1 MiB: the first write")
(check (= second-sum (sha256-of-file-range disk (* 2 MiB) MiB)) "1 MiB at offset 2 MiB: the write that failed, then succeeded")
(check (= zeros-sum (sha256-of-file-range disk (* 3 MiB) MiB)) "the next MiB: untouched")

(g/stop! vm)
(println "\nfaulty-disk: all checks passed")
