;; debian-root: a guest whose root filesystem is a Debian root disk that guestlab builds.
;;
;; [:block {:file "root.img" :rootfs {:release "bookworm"}}] asks for Debian's minbase (its
;; Essential packages, apt and a shell) built with mmdebstrap and mkfs.ext4 -d, once, into the
;; cache; root.img is made from it, served by guestlab's block device, and booted as / with
;; guestlab's small init (no systemd). The guest writes a file; after it stops, the host finds the
;; file in root.img, and a second boot of root.img finds it too.
;; Run it with:  ./guestlab run recipes/debian-root.clj

(require '[guestlab.guest :as g]
         '[guestlab.console :as con]
         '[clojure.java.shell :as sh]
         '[clojure.string :as str])

(defn check [ok what]
  (if ok (println "  ok:" what) (throw (ex-info (str "check failed: " what) {}))))

(def dir (.toFile (java.nio.file.Files/createTempDirectory "debian-root" (make-array java.nio.file.attribute.FileAttribute 0))))
(def image (java.io.File. dir "root.img"))

(def spec {:name "debian" :engine :qemu :memory "256M"
           :devices [[:console] [:block {:file (str image) :rootfs {:release "bookworm"}}]]})

(defn run [vm cmd]
  (let [{:keys [out exit]} (con/run vm cmd :timeout-ms 120000)]
    (when-not (zero? exit) (throw (ex-info (str "check failed: `" cmd "` exited " exit ": " out) {})))
    (str/trim out)))

(defn host-tool [name] ; e2fsprogs' tools live in /usr/sbin, which a user's PATH may lack
  (or (first (filter #(.canExecute (java.io.File. %)) [(str "/usr/sbin/" name) (str "/sbin/" name)])) name))

(try
  (println "== booting a Debian root disk (built once, then from the cache) ==")
  (def vm (g/start! spec))

  (println "\n== cat /etc/debian_version ==")
  (let [v (run vm "cat /etc/debian_version")]
    (println " " v)
    (check (re-matches #"\d+\.\d+" v) "Debian's version file is there"))

  (println "\n== apt list --installed | wc -l ==")
  (let [n (parse-long (run vm "apt list --installed 2>/dev/null | wc -l"))]
    (println " " n "lines (apt's \"Listing...\" and one per package)")
    (check (< 50 n) "apt lists the packages of minbase"))

  (println "\n== the guest writes /root/note.txt ==")
  (def note (run vm "echo \"written by $(hostname) on Debian $(cat /etc/debian_version)\" > /root/note.txt && cat /root/note.txt"))
  (println " " note)
  (g/stop! vm)

  (println "\n== after stop: the file is in root.img (the host reads it with debugfs) ==")
  (let [{:keys [out]} (sh/sh (host-tool "debugfs") "-R" "cat /root/note.txt" (str image))]
    (println " " (str/trim out))
    (check (= note (str/trim out)) "root.img holds what the guest wrote"))

  (println "\n== a second boot of root.img finds it ==")
  (def vm2 (g/start! spec))
  (check (= note (run vm2 "cat /root/note.txt")) "the file survived the reboot")
  (g/stop! vm2)
  (finally
    (.delete image)
    (.delete dir)))

(println "\ndebian-root: all checks passed")
