;; disk-roundtrip: data goes host -> guest -> host through guestlab's virtio-blk, byte for byte.
;;
;; The disk image is an ordinary file. The host writes a pattern into it before boot; the Linux
;; guest reads it through its virtio-blk driver, writes its own data with O_DIRECT and flushes;
;; the host then finds exactly those bytes in the file, before and after the guest stops.
;; Run it with:  ./guestlab run recipes/disk-roundtrip.clj

(require '[guestlab.guest :as g]
         '[guestlab.console :as con]
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

;; 1. A 64 MiB image; sector 100 gets a line of text from the host.
(def disk (doto (java.io.File/createTempFile "disk-roundtrip" ".img") (.deleteOnExit)))
(def host-line "written by the host before boot")
(with-open [f (java.io.RandomAccessFile. disk "rw")]
  (.setLength f (* 64 1024 1024))
  (.seek f (* 100 512))
  (.write f (.getBytes host-line)))

(println "== booting a guest on the image ==")
(def vm (g/start! {:name "roundtrip" :engine :qemu :memory "256M" :devices [[:console] [:block {:file (str disk)}]]}))

;; 2. Host -> guest: the guest reads sector 100.
(println "\n== the guest reads sector 100 ==")
(let [{:keys [out exit]} (con/run vm "dd if=/dev/vda bs=512 skip=100 count=1 iflag=direct 2>/dev/null | tr -d '\\000'")]
  (println " " (str/trim out))
  (check (and (zero? exit) (str/includes? out host-line)) "the guest sees the host's bytes"))

;; 3. Guest -> host: 8 MiB of random data at 1 MiB, O_DIRECT, then sync (a virtio-blk FLUSH,
;;    which guestlab completes only after fsync).
(println "\n== the guest writes 8 MiB of random data at offset 1 MiB and flushes ==")
(def guest-sum
  (let [{:keys [out exit]} (con/run vm (str "dd if=/dev/urandom of=/tmp/data bs=1M count=8 2>/dev/null"
                                            " && dd if=/tmp/data of=/dev/vda bs=1M seek=1 oflag=direct 2>/dev/null"
                                            " && sync && sha256sum /tmp/data"))]
    (check (zero? exit) "write and flush succeeded in the guest")
    (first (str/split (str/trim out) #"\s+"))))
(println "  guest's sha256:" guest-sum)
(def host-sum (sha256-of-file-range disk (* 1024 1024) (* 8 1024 1024)))
(println "  host's  sha256:" host-sum)
(check (= guest-sum host-sum) "the image file holds exactly what the guest wrote, while the guest runs")

(g/stop! vm)
(check (= guest-sum (sha256-of-file-range disk (* 1024 1024) (* 8 1024 1024))) "and still after the guest stopped")
(println "\ndisk-roundtrip: all checks passed")
