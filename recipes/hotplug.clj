;; hotplug: a disk plugged into a running Linux guest appears as /dev/vdb, is written, unplugged,
;; and its data is in the image file; then the guest's network cable is pulled and put back.
;;
;; The guest boots with no disk of its own (its first disk, vda, is guestlab's hidden transfer
;; disk). g/plug! starts guestlab's back-end for the new disk, then asks QEMU over QMP to attach it
;; to a free PCIe slot; the guest's kernel finds it there. g/unplug! asks QEMU to remove it, waits
;; until the guest has let it go, then flushes and closes the image.
;; Run it with:  ./guestlab run recipes/hotplug.clj

(require '[guestlab.guest :as g]
         '[guestlab.console :as con]
         '[clojure.string :as str])

(defn check [ok what]
  (if ok (println "  ok:" what) (throw (ex-info (str "check failed: " what) {}))))

(defn sh
  "Runs command in the guest; its output, trimmed (a failing command fails the recipe)."
  [vm command]
  (let [{:keys [out exit]} (con/run vm command)]
    (when-not (zero? exit) (throw (ex-info (str "check failed: the guest could not run " command ": " out) {})))
    (str/trim out)))

(defn sha256-of-file-range [f offset n]
  (with-open [r (java.io.RandomAccessFile. (str f) "r")]
    (let [b (byte-array n)]
      (.seek r offset)
      (.readFully r b)
      (format "%064x" (BigInteger. 1 (.digest (java.security.MessageDigest/getInstance "SHA-256") b))))))

(defn seconds-since [t0] (format "%.2f s" (/ (- (System/nanoTime) t0) 1e9)))

(def dir (.toFile (java.nio.file.Files/createTempDirectory "hotplug" (make-array java.nio.file.attribute.FileAttribute 0))))
(def image (doto (java.io.File. dir "b.img") (.deleteOnExit)))
(.deleteOnExit dir)
(with-open [f (java.io.RandomAccessFile. image "rw")] (.setLength f (* 16 1024 1024)))

(println "== booting a guest with no disk of its own ==")
(def vm (g/start! {:name "hotplug" :engine :qemu :memory "256M" :devices [[:console] [:net {:switch :lan}]]}))
(println " " (sh vm "ls /dev/vd*"))

(println "\n== (g/plug! vm [:block {:file \"b.img\"}]) ==")
(let [t0 (System/nanoTime)
      device (g/plug! vm [:block {:file (str image)}])]
  (println "  plugged" device "in" (seconds-since t0)))
(def disk (sh vm "for d in /sys/block/vd*; do [ \"$(cat $d/serial)\" = b.img ] && echo /dev/${d##*/}; done; true"))
(println "  the guest's disk with serial b.img:" disk)
(check (= "/dev/vdb" disk) "the plugged disk appears as /dev/vdb")

(println "\n== the guest writes 1 MiB of random data at offset 1 MiB and flushes ==")
(def guest-sum
  (first (str/split (sh vm (str "dd if=/dev/urandom of=/tmp/data bs=1M count=1 2>/dev/null"
                                " && dd if=/tmp/data of=" disk " bs=1M seek=1 oflag=direct 2>/dev/null"
                                " && sync && sha256sum /tmp/data"))
                    #"\s+")))
(println "  guest's sha256:" guest-sum)

(println "\n== (g/unplug! vm :block0) ==")
(let [t0 (System/nanoTime)]
  (g/unplug! vm :block0)
  (println "  unplugged in" (seconds-since t0)))
(let [disks (sh vm "ls /dev/vd*")]
  (println " " disks)
  (check (not (str/includes? disks "vdb")) "/dev/vdb is gone from the guest"))
(def host-sum (sha256-of-file-range image (* 1024 1024) (* 1024 1024)))
(println "  host's  sha256:" host-sum)
(check (= guest-sum host-sum) "the image file holds what the guest wrote")

(println "\n== (g/link! vm :net0 false), then true ==")
(def carrier
  ;; waits in the guest (at most 5 s) until eth0's carrier reads `want`, then prints it
  #(sh vm (str "for i in $(seq 50); do [ \"$(cat /sys/class/net/eth0/carrier)\" = " % " ] && break; sleep 0.1; done;"
               " cat /sys/class/net/eth0/carrier")))
(sh vm "ip link set eth0 up")
(println "  carrier:" (carrier 1))
(g/link! vm :net0 false)
(let [c (carrier 0)]
  (println "  carrier:" c)
  (check (= "0" c) "the guest lost its carrier"))
(g/link! vm :net0 true)
(let [c (carrier 1)]
  (println "  carrier:" c)
  (check (= "1" c) "and has it back"))

(g/stop! vm)
(println "\nhotplug: all checks passed")
