;; partition: three Linux guests on one guestlab switch; a partition cuts a from b and c, and heals.
;;
;; a, b and c ping each other across switch :lan while guestlab captures the switch's frames to
;; a pcap file. topo/partition! cuts every frame between a and the group {b c}: a's pings fail,
;; b and c still reach each other; topo/heal! restores the link. The capture shows a's ICMP before
;; the partition and after the heal, and none between a and b while it lasted.
;; Run it with:  ./guestlab run recipes/partition.clj

(require '[guestlab.guest :as g]
         '[guestlab.topology :as topo]
         '[guestlab.console :as con]
         '[clojure.java.shell :as sh]
         '[clojure.string :as str])

(defn check [ok what]
  (if ok (println "  ok:" what) (throw (ex-info (str "check failed: " what) {}))))

(def ips {"a" "10.0.0.1" "b" "10.0.0.2" "c" "10.0.0.3"})

(def lab
  {:switches [:lan]
   :guests (vec (for [[n i] [["a" 1] ["b" 2] ["c" 3]]]
                  {:name n :engine :qemu :memory "256M"
                   :devices [[:console] [:net {:switch :lan :mac (str "52:54:00:00:02:0" i)}]]}))})

(defn ping [running from to]
  (let [{:keys [out exit]} (con/run (topo/guest running from) (str "ping -c 2 -W 1 " (ips to)) :timeout-ms 30000)]
    (println (str "  " from " -> " to ": " (or (re-find #"\d+ packets transmitted.*" out) (str/trim out))))
    (zero? exit)))

(println "== up! ==")
(def running (topo/up! lab))
(doseq [[n ip] ips]
  (check (zero? (:exit (con/run (topo/guest running n) (str "ip link set eth0 up && ip addr add " ip "/24 dev eth0"))))
         (str n " has " ip)))

(def pcap (str (java.io.File/createTempFile "lan" ".pcap")))
(def capture (topo/capture! :lan pcap))

(println "\n== before: everyone reaches everyone ==")
(check (ping running "a" "b") "a reaches b")
(check (ping running "b" "c") "b reaches c")
(def cut-at (* 1000 (System/currentTimeMillis)))

(println "\n== partition: #{a} | #{b c} ==")
(topo/partition! :lan #{"a"} #{"b" "c"})
(println " " (pr-str (topo/faults :lan)))
(check (not (ping running "a" "b")) "a's pings to b fail")
(check (not (ping running "a" "c")) "a's pings to c fail")
(check (ping running "b" "c") "b and c still reach each other")
(check (some #(re-find #"partition .* cut a \d+-byte frame a/net0 -> b/net0" (:detail %))
             (g/events (topo/guest running "b")))
       "b's event stream shows the frames the partition cut")
(def healed-at (* 1000 (System/currentTimeMillis)))

(println "\n== heal ==")
(topo/heal! :lan)
(check (ping running "a" "b") "a reaches b again")
(println " " (pr-str (topo/stop-capture! capture)))

(println "\n== the capture: ICMP echo between a and b ==")
(defn icmp-echo [{:keys [micros ^bytes frame]}]
  (when (and (>= (alength frame) 42) (= 0x08 (aget frame 12)) (= 0 (aget frame 13)) (= 1 (aget frame 23)))
    (let [ip #(str/join "." (map (fn [i] (bit-and 0xff (aget frame (int i)))) (range % (+ % 4))))]
      {:micros micros :src (ip 26) :dst (ip 30) :type (if (= 8 (aget frame 34)) :request :reply)})))
(def a<->b (filter #(= #{"10.0.0.1" "10.0.0.2"} (hash-set (:src %) (:dst %))) (keep icmp-echo (topo/pcap-frames pcap))))
(def phases (group-by #(cond (< (:micros %) cut-at) :before (< (:micros %) healed-at) :partitioned :else :healed) a<->b))
(doseq [p [:before :partitioned :healed]]
  (println (format "  %-12s %d echo requests, %d replies" (name p)
                   (count (filter #(= :request (:type %)) (phases p))) (count (filter #(= :reply (:type %)) (phases p))))))
(check (= 4 (count (phases :before))) "before: a's 2 requests and b's 2 replies")
(check (empty? (phases :partitioned)) "partitioned: nothing between a and b was delivered")
(check (= 4 (count (phases :healed))) "healed: 2 requests and 2 replies again")
(when (zero? (:exit (sh/sh "sh" "-c" "command -v tcpdump")))
  (println "  tcpdump -nn -r" pcap "icmp:")
  (doseq [l (str/split-lines (:out (sh/sh "tcpdump" "-nn" "-r" pcap "icmp")))] (println "   " l)))
(.delete (java.io.File. pcap))

(println "\n== down! ==")
(topo/down! running)
(println "\npartition: all checks passed")
