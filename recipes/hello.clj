;; hello: a real Linux guest whose disk, network card and rng are guestlab's own devices.
;;
;; Debian's stock kernel runs in QEMU (TCG here, KVM where the host has hardware
;; virtualisation); its virtio-blk, virtio-net and virtio-rng drivers talk to guestlab over
;; vhost-user.
;; Run it with:  ./guestlab run recipes/hello.clj

(require '[guestlab.guest :as g]
         '[guestlab.console :as con]
         '[guestlab.rings :as rings])

(defn check [ok what]
  (if ok (println "  ok:" what) (throw (ex-info (str "check failed: " what) {}))))

;; A 64 MiB disk image for the guest.
(def disk (doto (java.io.File/createTempFile "hello" ".img") (.deleteOnExit)))
(with-open [f (java.io.RandomAccessFile. disk "rw")] (.setLength f (* 64 1024 1024)))

(println "== booting Debian's kernel (engine :qemu) ==")
(def vm (g/start! {:name "hello" :engine :qemu :memory "256M"
                   :devices [[:console] [:block {:file (str disk)}] [:net {:switch :lan :mac "52:54:00:12:34:56"}] [:rng]]}))

(println "\n== uname -r in the guest ==")
(let [{:keys [out exit]} (con/run vm "uname -r")]
  (println " " (clojure.string/trim out))
  (check (zero? exit) "uname ran"))

(println "\n== disk check: write 4 MiB with O_DIRECT, read it back, compare ==")
(let [{:keys [out exit]} (con/run vm (str "dd if=/dev/urandom of=/tmp/a bs=1M count=4 2>/dev/null"
                                          " && dd if=/tmp/a of=/dev/vda bs=1M oflag=direct 2>/dev/null"
                                          " && dd if=/dev/vda of=/tmp/b bs=1M count=4 iflag=direct 2>/dev/null"
                                          " && cmp /tmp/a /tmp/b && echo same"))]
  (check (and (zero? exit) (.contains out "same")) "the guest read back what it wrote through guestlab's virtio-blk"))

(println "\n== the network card guestlab plugged into switch :lan ==")
(let [{:keys [out exit]} (con/run vm "cat /sys/class/net/eth0/address")]
  (check (and (zero? exit) (.contains out "52:54:00:12:34:56")) "eth0 carries the MAC from the spec"))

(println "\n== 16 bytes from /dev/hwrng (guestlab's rng) ==")
(let [{:keys [out exit]} (con/run vm "dd if=/dev/hwrng bs=16 count=1 2>/dev/null | od -An -tx1")]
  (println " " (clojure.string/trim out))
  (check (zero? exit) "hwrng answered"))

(println "\n== the vhost-user rings, seen from guestlab ==")
(rings/print-queues vm)

(g/stop! vm)
(println "\nhello: all checks passed")
