(ns guestlab.guest-test
  (:require [clojure.test :refer [deftest is testing use-fixtures]]
            [guestlab.guest :as g]
            [guestlab.sim :as sim]
            [guestlab.rings :as rings]
            [guestlab.console :as con]))

(use-fixtures :each (fn [t] (try (t) (finally (g/stop-all!)))))

(defn- disk []
  (let [f (doto (java.io.File/createTempFile "guest-test" ".img") (.deleteOnExit))]
    (with-open [r (java.io.RandomAccessFile. f "rw")] (.setLength r (* 1024 1024)))
    (str f)))

(defn- spec-error [spec]
  (try (g/validate! spec) nil (catch clojure.lang.ExceptionInfo e (ex-message e))))

(deftest sizes-parse-like-qemu-memory-options
  (is (= (* 512 1024 1024) (g/parse-size "512M")))
  (is (= (* 1024 1024 1024) (g/parse-size "1G")))
  (is (= (* 64 1024) (g/parse-size "64K")))
  (is (= 4096 (g/parse-size "4096")))
  (is (= 4096 (g/parse-size 4096)))
  (is (thrown-with-msg? clojure.lang.ExceptionInfo #"not a size" (g/parse-size "12Q"))))

(deftest invalid-specs-name-the-key-at-fault
  (testing "memory"
    (is (re-find #":memory .*expected a size like \"512M\"" (spec-error {:memory "12Q" :devices []}))))
  (testing "engine"
    (is (re-find #":engine .*expected an engine" (spec-error {:engine :warp :devices []}))))
  (testing "missing devices"
    (is (re-find #"missing :devices" (spec-error {:memory "64M"}))))
  (testing "a block device without a file"
    (is (re-find #"missing :file" (spec-error {:devices [[:block {}]]}))))
  (testing "an unknown device kind"
    (is (re-find #"expected a device" (spec-error {:devices [[:floppy]]}))))
  (testing "a bad MAC"
    (is (re-find #":mac .*MAC address" (spec-error {:devices [[:net {:mac "nope"}]]}))))
  (testing "not a map at all"
    (is (re-find #"expected a map" (spec-error [:console]))))
  (testing "a valid spec passes"
    (is (nil? (spec-error {:devices [[:console] [:block {:file "x.img" :read-only true}] [:net {:switch :lan}] [:rng]]})))))

(deftest a-sim-guest-starts-runs-io-and-stops
  (let [vm (g/start! {:name "t1" :memory "16M" :devices [[:block {:file (disk)}] [:rng]]})]
    (is (= ["block0" "rng0"] (vec (.devices vm))))
    (is (= [vm] (g/guests)))
    (let [data (byte-array (range 512))]
      (sim/block-write! vm :block0 3 data)
      (is (= (seq data) (seq (sim/block-read vm :block0 3 512)))))
    (let [[q] (rings/queues vm :block0)]
      (is (= {:device "block0" :queue 0 :avail-idx 2 :last-seen 2 :used-idx 2 :pending 0}
             (select-keys q [:device :queue :avail-idx :last-seen :used-idx :pending])))
      (is (= 2 (get-in q [:counters :requests]))))
    (is (some #(= :completion (:kind %)) (g/events vm)))
    (g/stop! vm)
    (is (= [] (g/guests)))
    (g/stop! vm)))

(deftest a-disk-offers-the-request-queues-asked-for
  (let [vm (g/start! {:name "mq" :devices [[:block {:file (disk) :queues 2}]]})]
    (sim/block-write! vm :block0 0 (byte-array 512 (byte 7)))
    (is (= 7 (first (sim/block-read vm :block0 0 512))))
    (is (= [0 1] (mapv :queue (rings/queues vm :block0))) "both queues are set up; the sim driver uses the first")
    (g/stop! vm)))

(deftest console-scripting-both-ways
  (let [vm (g/start! {:name "t2" :devices [[:console]]})]
    (sim/console-write! vm :console0 "login: ")
    (is (= "login: " (con/expect vm #"login: ")))
    (con/send-line vm "root")
    (is (= "root\n" (loop [s "" n 0]
                      (if (or (.contains s "\n") (= n 20)) s
                          (recur (str s (sim/console-read vm :console0 250)) (inc n))))))
    (testing "a timeout names the pattern and shows the last output"
      (let [msg (try (con/expect vm #"never" :timeout-ms 200) nil
                     (catch Exception e (ex-message e)))]
        (is (re-find #"/never/" msg))
        (is (re-find #"login: " msg))))))

(deftest the-tables-people-read-show-each-queue
  (let [vm (g/start! {:name "t3" :devices [[:rng]]})]
    (sim/rng-read vm :rng0 16)
    (let [table (rings/format-queues (rings/queues vm))]
      (is (re-find #"rng0\s+0\s+64" table))
      (is (re-find #"avail.idx" table)))))

(deftest a-sim-guest-drives-a-vhost-user-back-end-as-its-front-end
  ;; guestlab's own back-end here (any other serves the same way: qemu-storage-daemon is in the
  ;; Java tests); the guest writes through it and the image file holds the bytes
  (let [img (disk)
        sock (str (java.nio.file.Files/createTempDirectory "fe" (make-array java.nio.file.attribute.FileAttribute 0)) "/blk.sock")
        device (guestlab.devices.BlockDevice/open (java.nio.file.Path/of img (make-array String 0)) false)
        backend (guestlab.vhostuser.VhostUserBackend. "remote" "blk" device (java.nio.file.Path/of sock (make-array String 0))
                                                      (guestlab.events.EventBus. 64))]
    (try
      (let [vm (g/start! {:name "fe" :devices [[:block {:vhost-user sock}] [:rng]]})]
        (is (= ["rng0" "block0"] (vec (.devices vm))) "lguest devices first, then the ones served outside")
        (is (= 2048 (sim/block-capacity vm :block0)) "1 MiB, read from the back-end's config")
        (sim/block-write! vm :block0 8 (java.util.Arrays/copyOf (.getBytes "FRONT-END") 512))
        (sim/block-flush! vm :block0)
        (is (= "FRONT-END" (String. (java.util.Arrays/copyOf (sim/block-read vm :block0 8 512) 9))))
        (is (= "FRONT-END" (String. (java.util.Arrays/copyOfRange (java.nio.file.Files/readAllBytes (java.nio.file.Path/of img (make-array String 0))) 4096 4105)))
            "in the image file")
        (g/stop! vm))
      (finally (.close backend) (.close device)))))
