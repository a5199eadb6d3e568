(ns guestlab.netfaults-test
  "Net faults, partitions and capture on a switch, as the receiving sim guest sees them; and
  corrupted frames as the receiving Linux guest's kernel sees them."
  (:require [clojure.java.shell :as sh]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [guestlab.await :as await]
            [guestlab.console :as con]
            [guestlab.guest :as g]
            [guestlab.sim :as sim]
            [guestlab.topology :as topo])
  (:import (java.nio ByteBuffer ByteOrder)
           (java.nio.file Files)))

(use-fixtures :each (fn [t] (try (t) (finally (g/stop-all!) (topo/heal! :nf-lan) (topo/clear! :nf-lan)))))

(def ^:private macs {"fa" "52:54:00:00:0f:01" "fb" "52:54:00:00:0f:02" "fc" "52:54:00:00:0f:03"})

(defn- lab [& names]
  (binding [*out* (java.io.StringWriter.)]
    (topo/up! {:switches [:nf-lan]
               :guests (vec (for [n names] {:name n :devices [[:net {:switch :nf-lan :mac (macs n)}]]}))})))

(defn- frame
  "A 60-byte frame from guest src to guest dst carrying text."
  [dst src text]
  (let [mac #(map (fn [h] (unchecked-byte (Integer/parseInt h 16))) (str/split (macs %) #":"))]
    (byte-array (take 60 (concat (mac dst) (mac src) [(unchecked-byte 0x88) (unchecked-byte 0xb5)]
                                 (.getBytes ^String text) (repeat 0))))))

(defn- text-of [^bytes f] (str/replace (String. f 14 (- (alength f) 14)) #"\x00+$" ""))

(defn- send! [running src dst text] (sim/net-send! (topo/guest running src) :net0 (frame dst src text)))

(defn- receive-until
  "Texts dst receives up to and including the marker text: the marker is sent after the others,
  so whatever has not come before it was not delivered."
  [running dst marker]
  (loop [got []]
    (let [f (sim/net-receive (topo/guest running dst) :net0 5000)]
      (is (some? f) (str dst " received nothing more; got so far " got))
      (if (or (nil? f) (= marker (text-of f))) got (recur (conj got (text-of f)))))))

(defn- learn! [running & names]
  (doseq [n names] (sim/net-send! (topo/guest running n) :net0 (frame n n "hello"))))

(defn- fault-details [running n]
  (->> (g/events (topo/guest running n)) (filter #(= :fault (:kind %))) (map :detail)))

(defn- lossy-run [running seed]
  (topo/impair! :nf-lan {:port "fb"} {:loss 0.5 :seed seed})
  (doseq [i (range 40)] (send! running "fa" "fb" (str "n" i)))
  (topo/clear! :nf-lan)
  (send! running "fa" "fb" "end")
  (receive-until running "fb" "end"))

(deftest loss-drops-the-same-frames-for-the-same-seed-and-says-so
  (let [running (lab "fa" "fb")]
    (learn! running "fb")
    (let [first-run (lossy-run running 1)
          second-run (lossy-run running 1)
          third-run (lossy-run running 2)]
      (is (< 5 (count first-run) 35) "about half of the 40 frames arrive")
      (is (= first-run second-run) "the same seed loses the same frames")
      (is (not= first-run third-run) "another seed loses others")
      (is (= (sort-by #(parse-long (subs % 1)) first-run) first-run) "the rest arrive in order")
      (is (= (* 2 (- 40 (count first-run)))
             (count (filter #(re-find #"^loss on nf-lan \(port fb, seed 1\): dropped a 60-byte frame fa/net0 -> fb/net0" %)
                            (take-while (complement #(str/includes? % "seed 2")) (fault-details running "fb")))))
          "each lost frame of the two seed-1 runs is a fault event on the receiver's stream")
      (is (some #(str/starts-with? % "net fault set on nf-lan: loss 0.5 on port fb (seed 1)") (fault-details running "fb"))))))

(deftest delay-and-jitter-hold-frames-back-in-order-without-holding-the-sender
  (let [running (lab "fa" "fb")]
    (learn! running "fb")
    (topo/impair! :nf-lan {:from "fa" :to "fb"} {:delay-ms 40 :jitter-ms 30 :seed 3})
    (let [t0 (System/nanoTime)]
      (doseq [i (range 20)] (send! running "fa" "fb" (str "n" i)))
      (let [got (vec (for [_ (range 20)] (some-> (sim/net-receive (topo/guest running "fb") :net0 5000) text-of)))
            ms (/ (- (System/nanoTime) t0) 1e6)]
        (is (= (mapv #(str "n" %) (range 20)) got) "every frame, in the order sent, despite the jitter")
        (is (<= 10 ms) (str "the first frames waited at least 40-30 ms; all took " ms " ms"))))
    (testing "the other direction is not delayed: fb's reply needs no delay line"
      (send! running "fb" "fa" "reply")
      (is (= "reply" (text-of (sim/net-receive (topo/guest running "fa") :net0 5000)))))))

(deftest duplicate-corrupt-and-reorder
  (let [running (lab "fa" "fb")]
    (learn! running "fb")
    (testing "duplicate 1.0: every frame twice"
      (topo/impair! :nf-lan {:link ["fa" "fb"]} {:duplicate 1.0 :seed 4})
      (doseq [i (range 3)] (send! running "fa" "fb" (str "n" i)))
      (topo/clear! :nf-lan {:link ["fa" "fb"]})
      (send! running "fa" "fb" "end")
      (is (= ["n0" "n0" "n1" "n1" "n2" "n2"] (receive-until running "fb" "end"))))
    (testing "corrupt 1.0: one payload byte flipped in each frame"
      (topo/impair! :nf-lan {} {:corrupt 1.0 :seed 5})
      (send! running "fa" "fb" "intact")
      (let [sent (frame "fb" "fa" "intact")
            got (sim/net-receive (topo/guest running "fb") :net0 5000)
            diffs (keep-indexed (fn [i [x y]] (when (not= x y) i)) (map vector sent got))]
        (is (= 1 (count diffs)))
        (is (<= 14 (first diffs)) "the Ethernet header is left alone, so the frame still arrives"))
      (topo/clear! :nf-lan))
    (testing "reorder 0.5: every frame arrives, some overtaken"
      (topo/impair! :nf-lan {:port "fa"} {:reorder 0.5 :delay-ms 20 :seed 6})
      (doseq [i (range 20)] (send! running "fa" "fb" (str "n" i)))
      (let [got (vec (for [_ (range 20)] (some-> (sim/net-receive (topo/guest running "fb") :net0 5000) text-of)))]
        (is (= (set (map #(str "n" %) (range 20))) (set got)))
        (is (not= (sort-by #(parse-long (subs % 1)) got) got) (str "out of order: " got))))))

(defn- linux-lab
  "Two Debian guests on :nf-lan, 10.0.9.1 and 10.0.9.2, IPv4 only: with no IPv6 chatter, a
  ping's echo requests are the only frames between them."
  []
  (let [running (binding [*out* (java.io.StringWriter.)]
                  (topo/up! {:switches [:nf-lan]
                             :guests (vec (for [[n mac] [["la" "52:54:00:00:0f:11"] ["lb" "52:54:00:00:0f:12"]]]
                                            {:name n :engine :qemu :memory "256M"
                                             :devices [[:console] [:net {:switch :nf-lan :mac mac}]]}))}))]
    (doseq [[n ip] [["la" "10.0.9.1"] ["lb" "10.0.9.2"]]]
      (is (zero? (:exit (con/run (topo/guest running n) (str "sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1 && "
                                                             "ip link set eth0 up && ip addr add " ip "/24 dev eth0"))))))
    running))

(defn- snmp
  "Guest vm's IPv4 counters, /proc/net/snmp as {\"Ip\" {\"InHdrErrors\" n ...} \"Icmp\" {...} ...}."
  [vm]
  (let [{:keys [out exit]} (con/run vm "cat /proc/net/snmp")]
    (is (zero? exit) out)
    (into {} (for [[names values] (partition 2 (str/split-lines (str/trim out)))
                   :let [[proto & ks] (str/split names #"\s+")]]
               [(str/replace proto #":$" "") (zipmap ks (map parse-long (rest (str/split values #"\s+"))))]))))

(defn- corrupted-at
  "The byte each corrupt fault flipped in a 98-byte frame (a ping's echo request) from la to lb,
  as lb's :fault events tell."
  [vm]
  (keep #(some->> (re-find #"^corrupt on nf-lan .*: flipped byte (\d+) of a 98-byte frame la/net0 -> lb/net0$" %)
                  second parse-long)
        (->> (g/events vm) (filter #(= :fault (:kind %))) (map :detail))))

(deftest ^:qemu a-corrupted-frame-is-dropped-by-the-receiving-kernel-on-its-checksum
  (let [running (linux-lab)
        [la lb] (map #(topo/guest running %) ["la" "lb"])
        ping #(con/run la (str "ping " % " 10.0.9.2") :timeout-ms 30000)]
    (testing "an intact link: lb answers"
      (is (zero? (:exit (ping "-c 1 -W 5")))))
    (testing "corrupt 1.0 from la to lb: lb's kernel drops every echo request on a checksum, counted where the byte was flipped"
      (let [before (snmp lb)
            grown (fn [] (let [now (snmp lb)]
                           (into {} (for [[proto k :as at] [["Ip" "InHdrErrors"] ["Icmp" "InCsumErrors"] ["Icmp" "InEchos"]]]
                                      [(str proto " " k) (- (get-in now at) (get-in before at))]))))]
        (topo/impair! :nf-lan {:from "la" :to "lb"} {:corrupt 1.0 :seed 7})
        (let [{:keys [out exit]} (ping "-c 10 -i 0.2 -W 1")]
          (is (= 1 exit) out)
          (is (re-find #"10 packets transmitted, 0 packets received" out)))
        (let [flipped (corrupted-at lb)
              ;; bytes 14-33 are the IPv4 header (ip_rcv drops the frame: Ip InHdrErrors), the
              ;; rest the ICMP message (icmp_rcv drops it on its checksum: Icmp InCsumErrors)
              {in-header true in-icmp false} (group-by #(< % 34) flipped)
              expected {"Ip InHdrErrors" (count in-header) "Icmp InCsumErrors" (count in-icmp) "Icmp InEchos" 0}]
          (is (= 10 (count flipped)) "each of the 10 echo requests was corrupted, a :fault event on lb's stream")
          (is (and (seq in-header) (seq in-icmp)) (str "seed 7 flips bytes of both the IP header and the ICMP message: " (vec flipped)))
          (is (= expected (await/until "lb's kernel to count the corrupted echo requests" grown #(= expected %)))))))
    (testing "the fault cleared: lb answers again"
      (is (= 1 (topo/clear! :nf-lan)))
      (let [{:keys [out exit]} (ping "-c 2 -W 5")]
        (is (zero? exit) out)
        (is (re-find #"2 packets transmitted, 2 packets received" out))))))

(deftest a-rate-limit-spaces-frames-out
  (let [running (lab "fa" "fb")]
    (learn! running "fb")
    (topo/impair! :nf-lan {:port "fb"} {:rate-kbit 800})
    (let [t0 (System/nanoTime)]
      (doseq [i (range 10)] (sim/net-send! (topo/guest running "fa") :net0 (byte-array 1000 (frame "fb" "fa" (str "n" i)))))
      (dotimes [_ 10] (is (some? (sim/net-receive (topo/guest running "fb") :net0 5000))))
      (is (<= 80 (/ (- (System/nanoTime) t0) 1e6)) "10 kB at 800 kbit/s take 100 ms"))))

(defn- pcap-records
  "The frames of a pcap file, checking its header: [{:micros :frame}]."
  [file]
  (let [b (.order (ByteBuffer/wrap (Files/readAllBytes (.toPath (java.io.File. (str file))))) ByteOrder/LITTLE_ENDIAN)]
    (is (= (unchecked-int 0xa1b2c3d4) (.getInt b)) "pcap magic, microsecond timestamps")
    (is (= [2 4] [(.getShort b) (.getShort b)]))
    (.position b 20)
    (is (= 1 (.getInt b)) "LINKTYPE_ETHERNET")
    (loop [out []]
      (if (< (.remaining b) 16)
        out
        (let [sec (.getInt b) usec (.getInt b) incl (.getInt b) _orig (.getInt b)
              f (byte-array incl)]
          (.get b f)
          (recur (conj out {:micros (+ (* 1000000 sec) usec) :frame f})))))))

(defn- tcpdump-lines [file]
  (let [r (sh/sh "tcpdump" "-nn" "-e" "-r" (str file))]
    (is (zero? (:exit r)) (:err r))
    (remove #(re-find #"^\s" %) (str/split-lines (:out r))))) ; one line per frame, without the hex dump

(deftest a-partition-cuts-between-groups-until-healed-and-the-capture-shows-what-was-delivered
  (let [running (lab "fa" "fb" "fc")
        file (java.io.File/createTempFile "nf-lan" ".pcap")]
    (learn! running "fa" "fb" "fc")
    (doseq [n ["fa" "fb" "fc"]] (while (sim/net-receive (topo/guest running n) :net0 200)))
    (let [cap (topo/capture! :nf-lan file)]
      (topo/partition! :nf-lan #{"fa"} #{"fb" "fc"})
      (is (= {:impairments [] :partition [#{"fa"} #{"fb" "fc"}]} (topo/faults :nf-lan)))
      (send! running "fa" "fb" "cut")
      (send! running "fb" "fc" "b to c")
      (is (= "b to c" (text-of (sim/net-receive (topo/guest running "fc") :net0 5000))) "b and c still talk")
      (is (some #(re-find #"^partition \[fa\] \| \[fb, fc\] on nf-lan: cut a 60-byte frame fa/net0 -> fb/net0" %)
                (fault-details running "fb")) "the cut frame is an event on b's stream")
      (is (some #(re-find #"cut a 60-byte frame fa/net0 -> fb/net0" %) (fault-details running "fa")) "and on a's")
      (is (true? (topo/heal! :nf-lan)))
      (send! running "fa" "fb" "healed")
      (is (= "healed" (text-of (sim/net-receive (topo/guest running "fb") :net0 5000)))
          "the next frame b gets is the one after healing: the cut one never came")
      (is (= {:file (str file) :frames 2 :missed 0} (topo/stop-capture! cap))))
    (let [records (pcap-records file)]
      (is (= ["b to c" "healed"] (map (comp text-of :frame) records)) "the delivered frames, not the cut one")
      (is (apply <= (map :micros records)))
      (is (= (map (comp vec :frame) records) (map (comp vec :frame) (topo/pcap-frames file))) "topo/pcap-frames reads the same")
      (is (< (Math/abs (- (quot (:micros (first records)) 1000) (System/currentTimeMillis))) 60000) "wall-clock time"))
    (if (zero? (:exit (sh/sh "sh" "-c" "command -v tcpdump")))
      (let [lines (tcpdump-lines file)]
        (is (= 2 (count lines)) lines)
        (is (re-find #"52:54:00:00:0f:02 > 52:54:00:00:0f:03, ethertype Unknown \(0x88b5\), length 60" (first lines)) lines))
      (println "netfaults-test: tcpdump is not installed (apt-get install tcpdump); the pcap was checked by parsing only"))
    (.delete file)))

(deftest bad-faults-are-refused-in-one-line
  (let [msg #(try (apply % %&) nil (catch clojure.lang.ExceptionInfo e (ex-message e)))]
    (is (= "topo/impair!: :loss must be a probability from 0 to 1, not 2" (msg topo/impair! :nf-lan {:port "a"} {:loss 2})))
    (is (= "topo/impair!: an impairment has no key :los; did you mean :loss?" (msg topo/impair! :nf-lan {} {:los 0.1})))
    (is (re-find #"^topo/impair!: link must be one of" (msg topo/impair! :nf-lan {:guest "a"} {:loss 0.1})))
    (is (= "topo/partition!: a is in two groups; a partition's groups are apart" (msg topo/partition! :nf-lan #{"a"} #{"a" "b"})))
    (let [f (java.io.File/createTempFile "busy" ".pcap")
          cap (topo/capture! :nf-lan f)]
      (is (= (str "topo/capture!: switch nf-lan is already capturing to " f) (msg topo/capture! :nf-lan f)))
      (topo/stop-capture! cap)
      (.delete f))
    (is (= {:impairments [] :partition nil} (topo/faults :nf-lan)) "nothing refused was set")))
