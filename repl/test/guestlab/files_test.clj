(ns guestlab.files-test
  "con/put! and con/get!: files into and out of a real Linux guest, checked by sha256 on both
  ends; the refusals a user meets (a missing path, a directory, a full filesystem, a :sim guest)."
  (:require [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [guestlab.console :as con]
            [guestlab.errors :as err]
            [guestlab.guest :as g])
  (:import (guestlab.engine.qemu TransferDisk)
           (java.nio.file Files)
           (java.security MessageDigest)
           (java.util HexFormat Random)))

(use-fixtures :each (fn [t] (try (t) (finally (g/stop-all!)))))

(defn- temp-dir [] (doto (.toFile (Files/createTempDirectory "files-test" (make-array java.nio.file.attribute.FileAttribute 0))) (.deleteOnExit)))

(defn- blank-disk [dir file-name bytes]
  (let [f (java.io.File. dir file-name)]
    (with-open [r (java.io.RandomAccessFile. f "rw")] (.setLength r bytes))
    (str f)))

(defn- random-bytes ^bytes [n seed]
  (let [b (byte-array n)] (.nextBytes (Random. seed) b) b))

(defn- sha256 [^bytes b] (.formatHex (HexFormat/of) (.digest (MessageDigest/getInstance "SHA-256") b)))

(defn- read-bytes ^bytes [f] (Files/readAllBytes (.toPath (java.io.File. (str f)))))

(defn- write-bytes [f ^bytes b] (Files/write (.toPath (java.io.File. (str f))) b (make-array java.nio.file.OpenOption 0)) (str f))

(defn- error-of
  "[kind message] of the guestlab error f throws, or nil if it throws none."
  [f]
  (try (f) nil (catch clojure.lang.ExceptionInfo e [(err/guestlab-error e) (ex-message e)])))

(defn- out [vm command]
  (let [{:keys [out exit]} (con/run vm command)]
    (is (zero? exit) (str command " failed: " out))
    (str/trim out)))

(deftest ^:qemu files-in-and-out-of-a-linux-guest
  (let [dir (temp-dir)
        disk (blank-disk dir "users-disk.img" (* 4 1024 1024))
        vm (binding [g/*progress* nil]
             (g/start! {:name "files" :engine :qemu :memory "512M" :devices [[:console] [:block {:file disk}]]}))
        ten-mib (random-bytes (* 10 1024 1024) 42)
        local (write-bytes (java.io.File. dir "ten.bin") ten-mib)]
    (binding [g/*progress* nil]
      (testing "the user's disk keeps its name: vda is the spec's disk, the transfer disk comes after it"
        (is (= "users-disk.img" (out vm "cat /sys/block/vda/serial")))
        (is (= TransferDisk/SERIAL (out vm "cat /sys/block/vdb/serial")))
        (is (= ["block0"] (vec (.devices ^guestlab.engine.Guest vm))) "the transfer disk is not among the guest's devices"))

      (testing "put!: a 10 MiB random binary file arrives whole; the guest's sha256 of it is the host's"
        (let [r (con/put! vm local "/root/data.bin")]
          (is (= {:bytes (alength ten-mib) :sha256 (sha256 ten-mib)} (select-keys r [:bytes :sha256])))
          (is (< (:seconds r) 30) "a 10 MiB file moves in seconds, not minutes"))
        (is (= (str (sha256 ten-mib) "  /root/data.bin") (out vm "sha256sum /root/data.bin")))
        (is (= "data.bin" (out vm "ls -A /root")) "no temporary file is left beside it"))

      (testing "get!: a file the guest changed comes back byte for byte"
        (out vm "printf 'changed in the guest' | dd of=/root/data.bin bs=1 seek=1000000 conv=notrunc 2>/dev/null")
        (let [expected (doto (aclone ten-mib)
                         (#(System/arraycopy (.getBytes "changed in the guest") 0 % 1000000 20)))
              back (java.io.File. dir "back.bin")
              r (con/get! vm "/root/data.bin" (str back))]
          (is (= (sha256 expected) (:sha256 r) (sha256 (read-bytes back))))
          (is (java.util.Arrays/equals expected (read-bytes back))))
        (out vm "printf 'made\\000in the guest\\n' > /root/new.txt")
        (let [back (java.io.File. dir "new.txt")]
          (is (= {:bytes 18} (select-keys (con/get! vm "/root/new.txt" back) [:bytes])))
          (is (= (seq (.getBytes "made\u0000in the guest\n" "ISO-8859-1")) (seq (read-bytes back))))))

      (testing "a file larger than the transfer disk moves in pieces, both ways"
        (let [big (random-bytes (+ TransferDisk/CAPACITY 4097) 7)
              from (write-bytes (java.io.File. dir "big.bin") big)
              back (java.io.File. dir "big-back.bin")]
          (out vm "rm /root/data.bin")
          (is (= (sha256 big) (:sha256 (con/put! vm from "/root/big.bin"))))
          (is (= (sha256 big) (:sha256 (con/get! vm "/root/big.bin" back))))
          (is (java.util.Arrays/equals big (read-bytes back)))
          (out vm "rm /root/big.bin")))

      (testing "a guest path that does not exist is a clear error, and nothing is written"
        (let [nowhere (java.io.File. dir "nowhere.bin")]
          (is (= [:transfer "con/get!: /no/such/file in guest files does not exist"]
                 (error-of #(con/get! vm "/no/such/file" nowhere))))
          (is (not (.exists nowhere))))
        (is (= [:transfer "con/put!: /no/such/dir/x: there is no directory /no/such/dir in guest files"]
               (error-of #(con/put! vm local "/no/such/dir/x")))))

      (testing "a directory is refused, both ways"
        (is (= [:transfer "con/get!: /root in guest files is a directory; get! copies one file"]
               (error-of #(con/get! vm "/root" (java.io.File. dir "x")))))
        (is (= [:transfer "con/put!: /root in guest files is a directory; give the path of the file to write"]
               (error-of #(con/put! vm local "/root"))))
        (is (= [:transfer (str "con/get!: " dir " is a directory; give the path of the file to write")]
               (error-of #(con/get! vm "/root/new.txt" dir)))))

      (testing "a put! larger than the guest's free space is refused, and leaves no file behind"
        (out vm "mkdir -p /mnt/small && mount -t tmpfs -o size=1m tmpfs /mnt/small")
        (is (= [:transfer (str "con/put!: no room for /mnt/small/data.bin in guest files: the file is 10.0 MiB,"
                               " the guest's filesystem holding /mnt/small has 1.0 MiB free; nothing written")]
               (error-of #(con/put! vm local "/mnt/small/data.bin"))))
        (is (= "" (out vm "ls -A /mnt/small"))))

      (testing "two transfers at once: the second waits for the first, both arrive"
        (let [a (future (con/put! vm local "/root/a.bin"))
              b (future (con/put! vm local "/root/b.bin"))]
          (is (= [(sha256 ten-mib) (sha256 ten-mib)] [(:sha256 @a) (:sha256 @b)]))
          (is (= (sha256 ten-mib) (first (str/split (out vm "sha256sum /root/b.bin") #" "))))))

      (g/stop! vm)
      (testing "a stopped guest"
        (is (= [:stopped "con/put!: guest files is stopped"] (error-of #(con/put! vm local "/root/x"))))))))

(deftest a-sim-guest-has-no-shell-to-copy-files-with
  (let [vm (g/start! {:name "simfiles" :engine :sim :devices [[:console]]})
        f (doto (java.io.File/createTempFile "files-test" ".bin") (.deleteOnExit))]
    (is (= [:engine "con/put!: guest simfiles is a :sim guest, which has no shell to copy files with; con/put! needs a guest with :engine :qemu"]
           (error-of #(con/put! vm f "/root/x"))))
    (is (= [:engine "con/get!: guest simfiles is a :sim guest, which has no shell to copy files with; con/get! needs a guest with :engine :qemu"]
           (error-of #(con/get! vm "/root/x" f))))))

(deftest bad-arguments-are-named
  (let [vm (g/start! {:name "argfiles" :engine :sim :devices [[:console]]})]
    (is (= [:argument "con/put!: guest-path must be an absolute path in the guest (a string starting with /), not \"root/x\""]
           (error-of #(con/put! vm "local.bin" "root/x"))))
    (is (= [:argument "con/get!: local must be a host file path (a string, File or Path), not 42"]
           (error-of #(con/get! vm "/root/x" 42))))))
