(ns guestlab.userland-test
  "A guest spec's :modules and :packages: kernel modules and Debian packages added to the kit's
  initramfs. One boot: ext4 and e2fsprogs make a filesystem on guestlab's disk, and the host reads it."
  (:require [clojure.java.io :as io]
            [clojure.java.shell :as sh]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [guestlab.console :as con]
            [guestlab.guest :as g]))

(use-fixtures :each (fn [t] (try (t) (finally (g/stop-all!)))))

(defn- message [f]
  (try (f) nil (catch Exception e (ex-message e))))

(deftest the-spec-carries-modules-and-packages
  (let [spec (g/->java-spec {:engine :qemu :modules [:ext4 "9p" :crc32c-generic] :packages ["e2fsprogs"] :devices []})]
    (is (= ["ext4" "9p" "crc32c-generic"] (vec (.modules spec))))
    (is (= ["e2fsprogs"] (vec (.packages spec)))))
  (testing "a :sim guest has no kernel"
    (is (= (str "invalid guest spec: :modules is for :qemu guests, which boot Debian's kernel; a :sim guest has no "
                "kernel to load modules into and no userland to add packages to")
           (message #(g/start! {:engine :sim :modules [:ext4] :devices []})))))
  (testing "names of the wrong shape are refused by the spec"
    (is (= (str "invalid guest spec: :package is \"E2fsprogs\"; expected a Debian package name like \"e2fsprogs\" "
                "(lower-case letters, digits, '+', '-' and '.') (at [:packages 0])")
           (message #(g/validate! {:engine :qemu :packages ["E2fsprogs"] :devices []}))))
    (is (= "invalid guest spec: :modules is :ext4; expected a vector of kernel module names like [:ext4 :xfs :9p] (at [:modules])"
           (message #(g/validate! {:engine :qemu :modules :ext4 :devices []}))))))

(deftest names-that-do-not-exist-are-refused-before-boot
  (is (re-matches #"kernel module ext5 \(did you mean ext4\?\) is not in Debian's \S+ kernel"
                  (str (message #(g/start! {:name "nomod" :engine :qemu :modules [:ext5] :devices [[:console]]})))))
  (is (= (str "Debian package e2fsprog (did you mean e2fsprogs?) is not known to apt (apt-cache search NAME finds "
              "packages by name)")
         (message #(g/start! {:name "nopkg" :engine :qemu :packages ["e2fsprog"] :devices [[:console]]}))))
  (is (= [] (g/guests)) "nothing booted"))

(deftest a-guest-whose-memory-cannot-hold-its-initramfs-is-refused
  (is (re-matches (re-pattern (str "guest small: its initramfs with modules \\[ext4\\] and packages \\[e2fsprogs\\] is \\d+ MiB, "
                                   "and the kernel unpacks it into RAM beside itself: the guest needs at least \\d+ MiB of "
                                   "memory, not 128 \\(give it :memory \"\\d+M\"\\)"))
                  (str (message #(g/start! {:name "small" :engine :qemu :memory "128M" :modules [:ext4] :packages ["e2fsprogs"]
                                            :devices [[:console]]})))))
  (is (= [] (g/guests))))

(defn- ext4-magic?
  "Whether the image holds an ext2/3/4 superblock: magic 0xEF53 at byte 1080, little-endian."
  [file]
  (with-open [f (java.io.RandomAccessFile. (io/file file) "r")]
    (.seek f 1080)
    (= [0x53 0xef] [(.read f) (.read f)])))

(defn- host-tool [name]
  (some #(let [f (io/file % name)] (when (.canExecute f) (str f))) ["/usr/sbin" "/sbin" "/usr/bin"]))

(deftest ^:qemu a-guest-makes-an-ext4-filesystem-on-guestlabs-disk
  (let [img (doto (java.io.File/createTempFile "ext4" ".img") (.deleteOnExit))
        _ (with-open [f (java.io.RandomAccessFile. img "rw")] (.setLength f (* 32 1024 1024)))
        vm (g/start! {:name "ext4" :engine :qemu :modules [:ext4] :packages ["e2fsprogs"]
                      :devices [[:console] [:block {:file (str img)}]]})
        run (fn [cmd] (con/run vm cmd :timeout-ms 60000))]
    (is (= 0 (:exit (run "grep -qw ext4 /proc/filesystems"))) "the ext4 module is loaded")
    (is (str/starts-with? (:out (run "mke2fs -V 2>&1")) "mke2fs 1.47") "e2fsprogs' mke2fs, not busybox's applet")
    (is (= 0 (:exit (run "mkfs.ext4 -q -F /dev/vda"))))
    (is (= {:out "" :exit 0} (run "mount -t ext4 /dev/vda /mnt && echo written-by-the-guest > /mnt/hello && umount /mnt")))
    (g/stop! vm)
    (is (ext4-magic? img) "the host sees an ext4 superblock")
    (if-let [e2fsck (host-tool "e2fsck")]
      (is (= 0 (:exit (sh/sh e2fsck "-fn" (str img)))) "and e2fsck finds it clean")
      (println "note: no e2fsck on this host; the superblock magic was checked"))
    (when-let [debugfs (host-tool "debugfs")]
      (is (= "written-by-the-guest\n" (:out (sh/sh debugfs "-R" "cat /hello" (str img)))) "with the guest's file in it"))))
