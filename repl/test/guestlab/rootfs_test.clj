(ns guestlab.rootfs-test
  "A Debian root disk ([:block {:rootfs {...}}]): the spec's refusals, the cache, and two boots of
  the same built image: an ephemeral one that leaves the image as it was, and one on a file of its
  own that keeps what the guest wrote. The image is built once per cache (recipes/debian-root.clj
  asks for the same one)."
  (:require [clojure.java.io :as io]
            [clojure.java.shell :as sh]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [guestlab.console :as con]
            [guestlab.guest :as g])
  (:import (guestlab.image DebianKit RootDisk RootDisk$Request)))

(use-fixtures :each (fn [t] (try (t) (finally (g/stop-all!)))))

(defn- message [f]
  (try (f) nil (catch Exception e (ex-message e))))

(def ^:private rootfs {:release "bookworm"})

(defn- temp-dir []
  (.toFile (java.nio.file.Files/createTempDirectory "rootfs-test" (make-array java.nio.file.attribute.FileAttribute 0))))

(deftest specs-that-cannot-boot-a-root-disk-are-refused-before-anything-is-built
  (testing "a :sim guest boots no kernel"
    (is (= "block device block0: rootfs (a Debian root disk the guest boots) is for qemu guests; a sim guest boots no kernel"
           (message #(g/start! {:engine :sim :devices [[:block {:rootfs rootfs :ephemeral true}]]})))))
  (testing "the guest's writes need somewhere to go"
    (is (= (str "block device block0: a root disk needs a file (the guest's own image, made from the built one if it does "
                "not exist, written by the guest) or ephemeral true (a copy, deleted when the guest stops)")
           (message #(g/start! {:engine :qemu :devices [[:console] [:block {:rootfs rootfs}]]})))))
  (testing "packages for the initramfs would be left behind at the switch to the root disk"
    (is (= (str "packages go into the initramfs, which a guest with a root disk leaves when it boots the disk: name them "
                "in the disk's rootfs {:packages [...]} instead")
           (message #(g/start! {:engine :qemu :packages ["fio"] :devices [[:block {:rootfs rootfs :ephemeral true}]]})))))
  (testing "a typo in the rootfs map"
    (is (= "block device block0: rootfs has no option relase; its options: [packages, release, size]"
           (message #(g/start! {:engine :qemu :devices [[:block {:rootfs {:relase "bookworm"} :ephemeral true}]]})))))
  (testing "the file's name is the disk's serial, which the guest finds it by"
    (is (= (str "block device block0: a root disk's file name is its serial, which the guest finds it by: 1 to 20 letters, "
                "digits, '.', '_', '+' or '-', not \"my root disk.img\"")
           (message #(g/start! {:engine :qemu :devices [[:block {:rootfs rootfs :file "/tmp/my root disk.img"}]]})))))
  (testing "the shape of the map, by the spec"
    (is (= (str "invalid guest spec: :package is \"Fio\"; expected a Debian package name like \"e2fsprogs\" (lower-case "
                "letters, digits, '+', '-' and '.') (at [:devices 0 1 :rootfs :packages 0])")
           (message #(g/start! {:engine :qemu :devices [[:block {:rootfs {:packages ["Fio"]} :ephemeral true}]]})))))
  (testing "a size too small for any root"
    (is (= "block device block0: rootfs size must be a whole number of MiB, at least 256 MiB, not 67108864"
           (message #(g/start! {:engine :qemu :devices [[:block {:rootfs {:size "64M"} :ephemeral true}]]})))))
  (testing "ephemeral copies are for :qemu guests"
    (is (= "block device block0: ephemeral (the guest gets a copy of its disk) is for qemu guests"
           (message #(g/start! {:engine :sim :devices [[:block {:file "/tmp/x.img" :ephemeral true}]]})))))
  (is (= [] (g/guests)) "nothing booted"))

(deftest the-java-spec-carries-the-root-disk
  (let [spec (g/->java-spec {:engine :qemu :devices [[:block {:file "root.img" :rootfs {:release "bookworm" :packages ["fio"] :size "1G"}}]]})
        [d] (.devices spec)]
    (is (.rootDisk d))
    (is (= {"release" "bookworm" "packages" ["fio"] "size" (* 1024 1024 1024)} (get (.options d) "rootfs")))
    (is (not (.ephemeral d)))))

(deftest a-package-apt-does-not-know-is-refused-with-the-names-near-it
  (let [host-release (RootDisk/hostRelease)]
    (if (not= "bookworm" host-release)
      (println "note: this host runs" host-release "not bookworm; apt cannot check bookworm's package names here")
      (do (is (= (str "Debian package e2fsprog (did you mean e2fsprogs?) is not known to apt (apt-cache search NAME finds "
                      "packages by name)")
                 (message #(g/start! {:name "nopkg" :engine :qemu
                                      :devices [[:console] [:block {:rootfs {:release "bookworm" :packages ["e2fsprog"]} :ephemeral true}]]}))))
          (is (= [] (g/guests)))))))

(deftest a-root-disk-asking-for-a-package-its-kit-lock-does-not-pin-is-refused-before-anything-is-built
  (let [lock (io/file (temp-dir) "guestlab-kit.edn")
        kit (DebianKit. (DebianKit/defaultCache) (reify java.util.function.Consumer (accept [_ _])))]
    (.write (.manifest kit) (.toPath lock))
    (is (= (str "kit lock " lock " does not pin fio (it pins no guest packages): re-run ./guestlab kit lock " lock
                " --packages fio (with every package your guests ask for)")
           (message #(g/start! {:name "pinned" :engine :qemu :kit (str lock)
                                :devices [[:console] [:block {:rootfs {:release "bookworm" :packages ["fio"]} :ephemeral true}]]}))))
    (is (= [] (g/guests)))))

(defn- host-tool [name]
  (some #(let [f (io/file % name)] (when (.canExecute f) (str f))) ["/usr/sbin" "/sbin" "/usr/bin"]))

(defn- debugfs-cat [img path]
  (sh/sh (host-tool "debugfs") "-R" (str "cat " path) (str img)))

(defn- cached-image
  "The built image for rootfs, from the cache: {:file :built-now? :progress [lines]}."
  []
  (let [lines (atom [])
        disks (RootDisk/system (DebianKit/defaultCache) (reify java.util.function.Consumer (accept [_ l] (swap! lines conj l))))
        img (.image disks (RootDisk$Request. "bookworm" "amd64" [] 0) (reify guestlab.image.RootDisk$Check (check [_ _])))]
    {:file (.toFile (.file img)) :built-now? (.builtNow img) :progress @lines}))

(deftest ^:qemu a-guest-boots-a-debian-root-disk
  (let [dir (temp-dir)
        own (io/file dir "root.img")]
    (try
      (testing "ephemeral: the guest boots a copy; the built image is left as it was"
        (let [vm (g/start! {:name "eph" :engine :qemu :devices [[:console] [:block {:rootfs rootfs :ephemeral true}]]})
              {:keys [file built-now? progress]} (cached-image)
              before (.lastModified file)]
          (is (false? built-now?) "the image the guest booted is in the cache: asking again builds nothing")
          (is (= [] progress))
          (is (re-matches #"12\.\d+\n" (:out (con/run vm "cat /etc/debian_version"))) "Debian's own files")
          (is (= {:out "/dev/vda on / type ext4 (rw,relatime)\n" :exit 0} (con/run vm "grep ' / ' /proc/mounts | sed 's/ 0 0$//; s/^\\(\\S*\\) \\(\\S*\\) \\(\\S*\\) \\(\\S*\\)/\\1 on \\2 type \\3 (\\4)/'"))
              "the root disk is / , on guestlab's virtio disk")
          (is (= 0 (:exit (con/run vm "echo ephemeral > /root/ephemeral.txt && sync"))))
          (g/stop! vm)
          (is (= before (.lastModified file)) "the built image was not written")
          (is (str/includes? (:err (debugfs-cat file "/root/ephemeral.txt")) "File not found") "and holds no file of the guest's")))
      (testing "a file of its own: made from the built image, the guest's writes stay in it"
        (let [vm (g/start! {:name "own" :engine :qemu :devices [[:console] [:block {:rootfs rootfs :file (str own)}]]})
              local (doto (io/file dir "in.txt") (spit "through the transfer disk\n"))]
          (is (.exists own))
          (is (= {:out "own\n" :exit 0} (con/run vm "hostname")) "the host is named after the guest")
          (is (= 0 (:exit (con/run vm "apt-get --version >/dev/null"))) "apt is there")
          (is (= 26 (:bytes (con/put! vm local "/root/in.txt"))) "con/put! works on a root disk guest")
          (is (= 0 (:exit (con/run vm "echo kept > /root/kept.txt"))))
          (g/stop! vm)
          (is (= "kept\n" (:out (debugfs-cat own "/root/kept.txt"))) "stop synced the guest's write into the file")
          (is (= "through the transfer disk\n" (:out (debugfs-cat own "/root/in.txt"))))
          (is (= 0 (:exit (sh/sh (host-tool "e2fsck") "-fn" (str own)))) "and the filesystem is clean")))
      (finally
        (doseq [f (reverse (file-seq dir))] (.delete f))))))
