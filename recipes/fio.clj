;; fio: 4 KiB random reads at queue depth 8 from inside a real guest, on guestlab's disk and on
;; qemu-storage-daemon's vhost-user-blk export, in the same guest and the same run.
;;
;; The guest gets Debian's fio in its initramfs (:packages). Its first disk (vda) is guestlab's
;; block device; its second (vdb) is served by qemu-storage-daemon, to which QEMU connects
;; directly ([:block {:vhost-user SOCKET}]). Both images hold the same 64 MiB of random data, and
;; both back-ends read them through the host's page cache (guestlab's always does; so
;; qemu-storage-daemon's runs without cache.direct).
;; fio's own IOPS and latency lines are printed, then the two side by side. Under TCG the guest's
;; CPU is emulated, so these numbers say more about the emulator than about the back-ends.
;; Run it with:  ./guestlab run recipes/fio.clj
;; Shorter runs: JAVA_TOOL_OPTIONS=-Dguestlab.fio.seconds=3 ./guestlab run recipes/fio.clj (the
;; test suite runs it so).

(require '[guestlab.guest :as g]
         '[guestlab.console :as con]
         '[clojure.string :as str])

(defn check [ok what]
  (if ok (println "  ok:" what) (throw (ex-info (str "check failed: " what) {}))))

(def seconds (or (some-> (System/getProperty "guestlab.fio.seconds") parse-long) 10))
(def mib (* 1024 1024))

(def dir (.toFile (java.nio.file.Files/createTempDirectory "fio" (make-array java.nio.file.attribute.FileAttribute 0))))
(def guestlab-image (java.io.File. dir "guestlab.img"))
(def qsd-image (java.io.File. dir "qsd.img"))
(def qsd-socket (java.io.File. dir "qsd.sock"))

;; The same 64 MiB of random data in both images.
(let [data (byte-array (* 64 mib))]
  (.nextBytes (java.util.Random. 42) data)
  (doseq [f [guestlab-image qsd-image]] (with-open [o (java.io.FileOutputStream. f)] (.write o data))))

(defn qemu-storage-daemon
  "qemu-storage-daemon exporting qsd-image as vhost-user-blk on qsd-socket; returns its process
  once the socket is there."
  []
  (let [log (java.io.File. dir "qsd.log")
        p (.start (doto (ProcessBuilder. ["qemu-storage-daemon"
                                          "--blockdev" (str "driver=file,node-name=file0,filename=" qsd-image)
                                          "--export" (str "type=vhost-user-blk,id=exp0,node-name=file0,writable=on,addr.type=unix,addr.path=" qsd-socket)])
                    (.redirectErrorStream true)
                    (.redirectOutput log)))
        deadline (+ (System/currentTimeMillis) 10000)]
    (while (and (not (.exists qsd-socket)) (.isAlive p) (< (System/currentTimeMillis) deadline))
      (Thread/onSpinWait))
    (when-not (.exists qsd-socket)
      (.destroy p)
      (throw (ex-info (str "qemu-storage-daemon did not start: " (slurp log)) {})))
    p))

(defn fio
  "Runs the job on /dev/DEV in the guest; prints fio's IOPS and latency lines; returns {:iops :lat-us}."
  [vm dev]
  (let [cmd (str "fio --name=randread --filename=/dev/" dev " --rw=randread --bs=4k --iodepth=8 --ioengine=libaio"
                 " --direct=1 --size=64M --time_based --runtime=" seconds " 2>&1")
        {:keys [out exit]} (con/run vm cmd :timeout-ms (* 1000 (+ 120 (* 2 seconds))))
        _ (check (zero? exit) (str "fio ran on /dev/" dev))
        shown (filter #(re-find #"IOPS=|^\s+c?lat \(\w+\): min=" %) (str/split-lines out))
        [_ iops k] (re-find #"IOPS=([\d.]+)(k?)" out)
        [_ unit avg] (re-find #"(?m)^\s+lat \((nsec|usec|msec)\):.*avg=\s*([\d.]+)" out)]
    (doseq [l shown] (println " " (str/trim l)))
    {:iops (* (parse-double iops) (if (= k "k") 1000 1))
     :lat-us (* (parse-double avg) ({"nsec" 0.001 "usec" 1 "msec" 1000} unit))}))

(def qsd (qemu-storage-daemon))
(try
  (println "== booting a guest with fio; vda is guestlab's disk, vdb qemu-storage-daemon's ==")
  (def vm (g/start! {:name "fio" :engine :qemu :memory "512M" :packages ["fio"]
                     :devices [[:console] [:block {:file (str guestlab-image)}] [:block {:vhost-user (str qsd-socket)}]]}))
  (println " " (str/trim (:out (con/run vm "fio --version"))))

  (println (str "\n== fio on vda (guestlab): 4 KiB random read, QD 8, " seconds " s =="))
  (def ours (fio vm "vda"))
  (println (str "\n== fio on vdb (qemu-storage-daemon): the same job =="))
  (def theirs (fio vm "vdb"))
  (g/stop! vm)

  (println "\n== side by side ==")
  (println (format "  %-22s %10s %16s" "back-end" "IOPS" "avg latency"))
  (doseq [[who {:keys [iops lat-us]}] [["guestlab" ours] ["qemu-storage-daemon" theirs]]]
    (println (format "  %-22s %10.0f %13.0f us" who iops lat-us)))
  (check (every? #(pos? (:iops %)) [ours theirs]) "both back-ends served the job")
  (finally
    (.destroy qsd)
    (.waitFor qsd)
    (doseq [f (reverse (file-seq dir))] (.delete f))))

(println "\nfio: all checks passed")
