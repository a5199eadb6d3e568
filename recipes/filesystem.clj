;; filesystem: ext4 on guestlab's disk, made and checked by real tools.
;;
;; The guest gets the ext4 module (:modules) and e2fsprogs (:packages) in its initramfs; it makes
;; an ext4 filesystem on guestlab's virtio-blk disk, writes 100 files of random data, records
;; their sha256 and unmounts. The host's e2fsck finds the image clean; a second boot mounts it and
;; checks every sha256.
;; Run it with:  ./guestlab run recipes/filesystem.clj

(require '[guestlab.guest :as g]
         '[guestlab.console :as con]
         '[clojure.java.shell :as sh]
         '[clojure.string :as str])

(defn check [ok what]
  (if ok (println "  ok:" what) (throw (ex-info (str "check failed: " what) {}))))

(defn run [vm cmd]
  (let [{:keys [out exit]} (con/run vm cmd :timeout-ms 120000)]
    (when-not (zero? exit) (throw (ex-info (str "check failed: `" cmd "` exited " exit ": " out) {})))
    out))

(defn host-tool [name] ; e2fsprogs' tools live in /usr/sbin, which a user's PATH may lack
  (or (first (filter #(.canExecute (java.io.File. %)) [(str "/usr/sbin/" name) (str "/sbin/" name)])) name))

;; A 64 MiB disk image, empty (sparse).
(def disk (doto (java.io.File/createTempFile "filesystem" ".img") (.deleteOnExit)))
(with-open [f (java.io.RandomAccessFile. disk "rw")] (.setLength f (* 64 1024 1024)))

(def spec {:name "fs" :engine :qemu :memory "256M" :modules [:ext4] :packages ["e2fsprogs"]
           :devices [[:console] [:block {:file (str disk)}]]})

(defn sums
  "sha256sum of every file in /mnt, as {file hash}."
  [vm]
  (into {} (for [line (str/split-lines (run vm "(cd /mnt && sha256sum f*)"))
                 :let [[hash file] (str/split line #"\s+")]]
             [file hash])))

(println "== boot 1: mkfs.ext4 on guestlab's disk, 100 files of random data ==")
(def vm (g/start! spec))
(run vm "mkfs.ext4 -q -F /dev/vda && mount -t ext4 /dev/vda /mnt")
(run vm "for i in $(seq 1 100); do dd if=/dev/urandom of=/mnt/f$i bs=1k count=$((4 + i * 3 % 97)) 2>/dev/null || exit 1; done")
(def written (sums vm))
(let [[file hash] (first (sort written))]
  (println " " (str/trim (run vm "du -sh /mnt | cut -f1")) "in" (count written) "files, e.g." file hash))
(check (= 100 (count written)) "100 files written and hashed")
(run vm "umount /mnt")
(g/stop! vm)

(println "\n== the host: e2fsck -fn on the image ==")
(let [{:keys [exit out err]} (sh/sh (host-tool "e2fsck") "-fn" (str disk))]
  (println " " (last (str/split-lines (str/trim out))))
  (check (zero? exit) (str "e2fsck finds the filesystem clean" (when-not (zero? exit) (str ": " out err)))))

(println "\n== boot 2: mount it again, check every sha256 ==")
(def vm2 (g/start! spec))
(run vm2 "mount -t ext4 /dev/vda /mnt")
(def read-back (sums vm2))
(check (= written read-back) "all 100 files read back with the sha256 they were written with")
(run vm2 "umount /mnt")
(g/stop! vm2)

(println "\nfilesystem: all checks passed")
