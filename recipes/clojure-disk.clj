;; clojure-disk: a Debian guest's disk whose sectors live in a Clojure store, not in a file.
;;
;; [:block {:size "64M" :store (dev/memory-store)}] is a virtio-blk device like any other to the
;; guest (served over vhost-user), but every read and write is a call into the store. The guest
;; writes 1 MiB and reads it back; the host reads the same bytes out of the store.
;; Run it with:  ./guestlab run recipes/clojure-disk.clj

(require '[guestlab.guest :as g]
         '[guestlab.console :as con]
         '[guestlab.devices :as dev]
         '[clojure.string :as str])

(defn check [ok what]
  (if ok (println "  ok:" what) (throw (ex-info (str "check failed: " what) {}))))

(defn sha256 [^bytes b]
  (format "%064x" (BigInteger. 1 (.digest (java.security.MessageDigest/getInstance "SHA-256") b))))

(def store (dev/memory-store))

(println "== booting a guest whose 64 MiB disk is a Clojure store ==")
(def vm (g/start! {:name "cljdisk" :engine :qemu :memory "256M"
                   :devices [[:console] [:block {:size "64M" :store store}]]}))

(println "\n== the guest writes 1 MiB of random bytes at 4 MiB and reads it back ==")
(let [{:keys [out exit]} (con/run vm (str "dd if=/dev/urandom of=/tmp/x bs=1M count=1 2>/dev/null"
                                          " && dd if=/tmp/x of=/dev/vda bs=1M seek=4 oflag=direct 2>/dev/null"
                                          " && dd if=/dev/vda of=/tmp/y bs=1M skip=4 count=1 iflag=direct 2>/dev/null"
                                          " && sha256sum /tmp/x /tmp/y"))
      [written read-back] (map #(first (str/split % #"\s+")) (str/split-lines (str/trim out)))]
  (println "  guest: written  " written)
  (println "  guest: read back" read-back)
  (check (zero? exit) "the guest's writes and reads succeeded")
  (check (= written read-back) "the guest read back what it wrote")
  (let [host (sha256 (dev/read-sectors store (* 4 2048) 2048))]
    (println "  host:  the store" host)
    (check (= written host) "the store holds the guest's bytes, sector for sector")))

(g/stop! vm)
(println "\nclojure-disk: all checks passed")
