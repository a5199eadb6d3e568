;; two-guests-ping: a topology of two Linux guests on one guestlab switch, pinging each other.
;;
;; A topology is a map: named switches and guests. up! boots the guests in order; down! stops
;; them in reverse. Each guest's virtio-net card is guestlab's own device, attached to QEMU over
;; vhost-user and plugged into switch :lan, a learning Ethernet switch inside this JVM.
;; Run it with:  ./guestlab run recipes/two-guests-ping.clj

(require '[guestlab.topology :as topo]
         '[guestlab.console :as con])

(defn check [ok what]
  (if ok (println "  ok:" what) (throw (ex-info (str "check failed: " what) {}))))

(def lab
  {:switches [:lan]
   :guests [{:name "alpha" :engine :qemu :memory "256M"
             :devices [[:console] [:net {:switch :lan :mac "52:54:00:00:01:01"}]]}
            {:name "beta" :engine :qemu :memory "256M"
             :devices [[:console] [:net {:switch :lan :mac "52:54:00:00:01:02"}]]}]})

(println "== up! ==")
(def running (topo/up! lab))

(println "\n== addresses: alpha 10.0.0.1, beta 10.0.0.2 ==")
(doseq [[guest ip] [["alpha" "10.0.0.1"] ["beta" "10.0.0.2"]]]
  (check (zero? (:exit (con/run (topo/guest running guest) (str "ip link set eth0 up && ip addr add " ip "/24 dev eth0"))))
         (str guest " has " ip)))

(println "\n== beta pings alpha ==")
(let [{:keys [out exit]} (con/run (topo/guest running "beta") "ping -c 10 -i 0.2 -W 2 10.0.0.1" :timeout-ms 60000)]
  (println (clojure.string/trim out))
  (check (and (zero? exit) (re-find #" 0% packet loss" out)) "10 of 10 answered"))

(println "\n== the switch ==")
(let [s (topo/status running)]
  (println " " s)
  (check (>= (get-in s [:switches "lan" :forwarded]) 20) "the switch forwarded every echo request and reply"))

(println "\n== down! ==")
(topo/down! running)
(check (= {"alpha" :stopped "beta" :stopped} (:guests (topo/status running))) "both guests stopped")
(println "\ntwo-guests-ping: all checks passed")
