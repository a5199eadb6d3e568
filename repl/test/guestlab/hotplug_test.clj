(ns guestlab.hotplug-test
  "g/plug!, g/unplug! and g/link!: what a real Linux guest sees when a disk comes and goes and a
  carrier drops; what a :sim guest's driver writes to a disk that comes and goes; frames that stop
  both ways on a :sim guest's link; the refusals a user meets."
  (:require [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [guestlab.await :as await]
            [guestlab.console :as con]
            [guestlab.errors :as err]
            [guestlab.guest :as g]
            [guestlab.sim :as sim])
  (:import (java.nio.file Files)))

(use-fixtures :each (fn [t] (try (t) (finally (g/stop-all!)))))

(defn- error-of
  "[kind message] of the guestlab error f throws, or nil if it throws none."
  [f]
  (try (f) nil (catch clojure.lang.ExceptionInfo e [(err/guestlab-error e) (ex-message e)])))

(defn- blank-disk [file-name bytes]
  (let [dir (.toFile (Files/createTempDirectory "hotplug-test" (make-array java.nio.file.attribute.FileAttribute 0)))
        f (doto (java.io.File. dir file-name) (.deleteOnExit))]
    (.deleteOnExit dir)
    (with-open [r (java.io.RandomAccessFile. f "rw")] (.setLength r bytes))
    (str f)))

(defn- out [vm command]
  (let [{:keys [out exit]} (con/run vm command)]
    (is (zero? exit) (str command " failed: " out))
    (str/trim out)))

(defn- disk-with-serial
  "The guest's /dev/vdX whose serial is `serial`, or \"\" if it has none."
  [vm serial]
  (out vm (str "for d in /sys/block/vd*; do [ \"$(cat $d/serial)\" = " serial " ] && echo /dev/${d##*/}; done; true")))

(defn- carrier [vm] (out vm "cat /sys/class/net/eth0/carrier"))

(defn- bytes-at [file offset n]
  (with-open [r (java.io.RandomAccessFile. (str file) "r")]
    (let [b (byte-array n)] (.seek r offset) (.readFully r b) (String. b "US-ASCII"))))

(deftest ^:qemu a-linux-guest-sees-a-disk-come-and-go-and-its-carrier-drop
  (let [vm (binding [g/*progress* nil]
             (g/start! {:name "hotplug" :engine :qemu :memory "256M"
                        :devices [[:console] [:block {:file (blank-disk "boot.img" (* 1024 1024))}]
                                  [:net {:switch :hotplug-test}]]}))
        plugged (blank-disk "plugged.img" (* 4 1024 1024))
        line "written by the guest to a hot-plugged disk"]
    (testing "plug!: the next free name; the guest finds the disk by its serial"
      (is (= :block1 (g/plug! vm [:block {:file plugged}])))
      (is (= ["block0" "net0" "block1"] (vec (.devices ^guestlab.engine.Guest vm))))
      (let [dev (await/until "the plugged disk in the guest" #(disk-with-serial vm "plugged.img") seq)]
        (is (re-matches #"/dev/vd[c-z]" dev) "a new name, after the boot disk and the transfer disk")
        (out vm (str "printf '" line "' | dd of=" dev " bs=512 seek=8 conv=sync oflag=direct 2>/dev/null && sync"))))
    (testing "unplug!: the disk leaves the guest, and the image holds what the guest wrote"
      (g/unplug! vm :block1)
      (is (= "" (disk-with-serial vm "plugged.img")) "the guest released it before DEVICE_DELETED")
      (is (= ["block0" "net0"] (vec (.devices ^guestlab.engine.Guest vm))))
      (is (= line (bytes-at plugged (* 8 512) (count line)))))
    (testing "the name and the slot are free again"
      (is (= :block1 (g/plug! vm [:block {:file plugged}])))
      (is (seq (await/until "the plugged disk in the guest again" #(disk-with-serial vm "plugged.img") seq)))
      (testing "beside the hidden transfer disk, which files still go through"
        (let [local (doto (java.io.File/createTempFile "hotplug" ".txt") (.deleteOnExit))]
          (spit local line)
          (binding [g/*progress* nil] (con/put! vm (str local) "/root/put.txt"))
          (is (= line (out vm "cat /root/put.txt")))))
      (g/unplug! vm :block1))
    (testing "a net device joins its switch and leaves it; three slots, and then a one-line refusal"
      (let [ports #(.portCount (.switchNamed (g/launcher) "hotplug-test"))]
        (is (= 1 (ports)))
        (is (= :net1 (g/plug! vm [:net {:switch :hotplug-test}])))
        (is (= 2 (ports)))
        (is (str/includes? (out vm "ls /sys/class/net") "eth1"))
        (is (= [:rng0 :rng1] [(g/plug! vm [:rng]) (g/plug! vm [:rng])]))
        (is (= [:hotplug "g/plug!: hotplug has no free hot-plug slot (3, holding net1 rng0 rng1); unplug one first"]
               (error-of #(g/plug! vm [:rng]))))
        (run! #(g/unplug! vm %) [:net1 :rng0 :rng1])
        (is (= 1 (ports)))
        (is (not (str/includes? (out vm "ls /sys/class/net") "eth1")))))
    (testing "link!: the guest's carrier drops and returns"
      (out vm "ip link set eth0 up")
      (await/until "carrier on eth0" #(carrier vm) #{"1"})
      (g/link! vm :net0 false)
      (is (= "0" (await/until "no carrier on eth0" #(carrier vm) #{"0"})))
      (is (await/until "ip link to say NO-CARRIER" #(out vm "ip link show eth0") #(str/includes? % "NO-CARRIER")))
      (g/link! vm :net0 true)
      (is (= "1" (await/until "carrier on eth0 again" #(carrier vm) #{"1"}))))
    (testing "refusals, each in one line"
      (is (= [:hotplug "g/unplug!: block0 of hotplug was attached at boot, on q35's root bus, which does not hot-unplug; only devices plugged in can be unplugged"]
             (error-of #(g/unplug! vm :block0))))
      (is (= [:no-device "g/unplug!: guest hotplug has no device :block7 (it has: block0 net0)"]
             (error-of #(g/unplug! vm :block7))))
      (is (= :device-kind (first (error-of #(g/link! vm :block0 false)))))
      (is (= [:argument "g/plug!: device must be a device like [:block {:file \"b.img\"}], [:net {:switch :lan}] or [:rng], not [:blok {:file \"b.img\"}]"]
             (error-of #(g/plug! vm [:blok {:file "b.img"}]))))
      (is (= [:hotplug "g/plug!: engine qemu cannot hot-plug a console device (it can: block net rng)"]
             (error-of #(g/plug! vm [:console]))))
      (is (= :hotplug (first (error-of #(g/plug! vm [:block {:file "/nonexistent/b.img"}])))))
      (is (= ["block0" "net0"] (vec (.devices ^guestlab.engine.Guest vm))) "a failed plug leaves nothing behind")
      (is (= [:hotplug "g/plug!: hotplug already has a device net0"]
             (error-of #(g/plug! vm [:net {:name "net0" :switch :hotplug-test}])))))
    (g/stop! vm)
    (is (= [:stopped "g/plug!: guest hotplug is stopped"] (error-of #(g/plug! vm [:rng]))))))

(def ^:private broadcast (byte-array (repeat 6 -1)))

(defn- frame
  "A broadcast Ethernet frame from mac whose payload is text."
  ^bytes [^bytes mac text]
  (byte-array (concat broadcast mac [0x88 0xb5] (.getBytes (str text) "US-ASCII"))))

(defn- payload [^bytes f] (when f (String. f 14 (- (alength f) 14) "US-ASCII")))

(deftest a-down-link-passes-no-frame-either-way-on-a-sim-guest
  (let [a (g/start! {:name "link-a" :engine :sim :devices [[:net {:switch :link-test}]]})
        b (g/start! {:name "link-b" :engine :sim :devices [[:net {:switch :link-test}]]})
        from-a #(sim/net-send! a :net0 (frame (sim/net-mac a :net0) %))
        from-b #(sim/net-send! b :net0 (frame (sim/net-mac b :net0) %))]
    (testing "sent while a's link is down: lost; the next frame after it comes back arrives first"
      (g/link! a :net0 false)
      (from-a "lost on the way out")
      (from-b "lost on the way in")
      (g/link! a :net0 true)
      (from-a "after")
      (from-b "after")
      (is (= "after" (payload (sim/net-receive b :net0 5000))))
      (is (= "after" (payload (sim/net-receive a :net0 5000)))))))

(defn- sector-of
  "text at the start of one 512-byte sector, zeros after it."
  ^bytes [text]
  (let [b (byte-array 512)]
    (System/arraycopy (.getBytes (str text) "US-ASCII") 0 b 0 (count text))
    b))

(defn- lifecycle [vm] (map :detail (filter #(= :lifecycle (:kind %)) (g/events vm))))

(defn- statuses [vm device] (map :detail (filter #(and (= :status (:kind %)) (= device (:device %))) (g/events vm))))

(deftest a-sim-guest-takes-a-disk-its-driver-writes-and-gives-it-back
  (let [vm (g/start! {:name "sim-plug" :engine :sim :devices [[:block {:file (blank-disk "boot.img" (* 1024 1024))}] [:rng]]})
        plugged (blank-disk "plugged.img" (* 1024 1024))
        line "written by the sim guest's driver"
        page (* 64 1024 1024)                    ; the lguest device page, just above the default 64M of RAM
        read-line #(String. ^bytes (sim/block-read vm :block1 8 512) 0 (count line) "US-ASCII")]
    (testing "plug!: the next free name, a descriptor appended to the device page, the guest's driver probes it"
      (is (= :block1 (g/plug! vm [:block {:file plugged}])))
      (is (= ["block0" "rng0" "block1"] (vec (.devices ^guestlab.engine.Guest vm))))
      (is (re-matches #"plugged block1: descriptor at 0x4000\p{XDigit}{3} in the lguest device page, irqs \[3\]" (last (lifecycle vm))))
      (is (= "ACKNOWLEDGE|DRIVER|FEATURES_OK -> ACKNOWLEDGE|DRIVER|DRIVER_OK|FEATURES_OK" (last (statuses vm "block1"))))
      (is (= 2048 (sim/block-capacity vm :block1)))
      (sim/block-write! vm :block1 8 (sector-of line))
      (is (= line (read-line))))
    (testing "unplug!: the driver resets it, the image holds what it wrote, its descriptor stays, marked removed"
      (let [desc (Long/decode (second (re-find #"descriptor at (0x\p{XDigit}+)" (last (lifecycle vm)))))]
        (g/unplug! vm :block1)
        (is (= ["block0" "rng0"] (vec (.devices ^guestlab.engine.Guest vm))))
        (is (= "ACKNOWLEDGE|DRIVER|DRIVER_OK|FEATURES_OK -> reset" (last (statuses vm "block1"))))
        (is (= line (bytes-at plugged (* 8 512) (count line))))
        (is (= 0xff (.readU8 (.memory ^guestlab.engine.Guest vm) desc)))
        (is (< page desc (+ page 4096)))
        (is (= [:no-device "sim/block-read: guest sim-plug has no device :block1 (it has: block0 rng0)"]
               (error-of #(sim/block-read vm :block1 0 512))))))
    (testing "the name is free again; the same image, plugged again, has the bytes"
      (is (= :block1 (g/plug! vm [:block {:file plugged}])))
      (is (= line (read-line)))
      (g/unplug! vm :block1))
    (testing "refusals, each in one line; a failed plug leaves nothing behind"
      (is (= [:hotplug "g/unplug!: block0 of sim-plug was attached at boot; only devices plugged in can be unplugged"]
             (error-of #(g/unplug! vm :block0))))
      (is (= [:hotplug "g/plug!: engine sim cannot hot-plug a console device (it can: block net rng)"]
             (error-of #(g/plug! vm [:console]))))
      (is (= [:hotplug (str "g/plug!: a hot-plugged device is guestlab's own, on a :file; :vhost-user, :rootfs and :ephemeral"
                            " are for the devices a guest starts with")]
             (error-of #(g/plug! vm [:block {:vhost-user "/tmp/no.sock"}]))))
      (is (= [:hotplug "g/plug!: sim-plug already has a device rng0"] (error-of #(g/plug! vm [:rng {:name "rng0"}]))))
      (is (= :hotplug (first (error-of #(g/plug! vm [:block {:file "/nonexistent/b.img"}])))))
      (is (= ["block0" "rng0"] (vec (.devices ^guestlab.engine.Guest vm)))))
    (g/stop! vm)
    (is (= [:stopped "g/plug!: guest sim-plug is stopped"] (error-of #(g/plug! vm [:rng]))))))
