(ns guestlab.topology-test
  (:require [clojure.test :refer [deftest is testing use-fixtures]]
            [guestlab.guest :as g]
            [guestlab.sim :as sim]
            [guestlab.topology :as topo]))

(use-fixtures :each (fn [t] (try (t) (finally (g/stop-all!)))))

(defn- topo-error [t]
  (try (topo/validate! t) nil (catch clojure.lang.ExceptionInfo e (ex-message e))))

(def ^:private mac-a "52:54:00:00:0a:01")
(def ^:private mac-b "52:54:00:00:0a:02")

(defn- frame [dst src text]
  (let [mac #(map (fn [h] (unchecked-byte (Integer/parseInt h 16))) (clojure.string/split % #":"))]
    (byte-array (take 60 (concat (mac dst) (mac src) [(unchecked-byte 0x88) (unchecked-byte 0xb5)]
                                 (.getBytes ^String text) (repeat 0))))))

(deftest up-brings-guests-up-in-order-on-their-switch-and-down-stops-them-in-reverse
  (let [lab {:switches [:topo-lan]
             :guests [{:name "ta" :devices [[:net {:switch :topo-lan :mac mac-a}]]}
                      {:name "tb" :devices [[:net {:switch :topo-lan :mac mac-b}]]}]}
        out (java.io.StringWriter.)
        running (binding [*out* out] (topo/up! lab))]
    (is (= ["ta" "tb"] (:order running)))
    (is (re-find #"(?s)starting ta.*ta is up.*starting tb.*tb is up" (str out)) "in the order given")
    (is (= {:guests {"ta" :running "tb" :running} :switches {"topo-lan" {:ports 2 :forwarded 0}}}
           (topo/status running)))
    (testing "the guests share the switch"
      (sim/net-send! (topo/guest running "ta") :net0 (frame mac-b mac-a "from ta"))
      (let [got (sim/net-receive (topo/guest running "tb") :net0 2000)]
        (is (some? got))
        (is (= "from ta" (String. ^bytes got 14 7)))))
    (let [out (java.io.StringWriter.)]
      (binding [*out* out] (topo/down! running))
      (is (re-find #"(?s)stopping tb.*stopping ta" (str out)) "in reverse order"))
    (is (= {"ta" :stopped "tb" :stopped} (:guests (topo/status running))))
    (is (= 0 (get-in (topo/status running) [:switches "topo-lan" :ports])) "both left the switch")
    (is (= [] (g/guests)))))

(deftest a-guest-that-fails-to-start-takes-the-ones-already-up-down-with-it
  (let [lab {:guests [{:name "ok1" :devices [[:rng]]}
                      {:name "broken" :devices [[:block {:file "/nonexistent/dir/disk.img"}]]}]}
        e (try (binding [*out* (java.io.StringWriter.)] (topo/up! lab)) nil
               (catch clojure.lang.ExceptionInfo e e))]
    (is (some? e))
    (is (re-find #"guest broken failed to start" (ex-message e)))
    (is (re-find #"stopped again: \[\"ok1\"\]" (ex-message e)))
    (is (= [] (g/guests)) "nothing is left running")))

(deftest invalid-topologies-say-what-is-wrong
  (testing "a switch nobody declared"
    (is (re-find #"guest a joins switch :wan, which :switches does not declare"
                 (topo-error {:switches [:lan] :guests [{:name "a" :devices [[:net {:switch :wan}]]}]}))))
  (testing "a guest without a name"
    (is (re-find #"guest 0 has no :name" (topo-error {:guests [{:devices []}]}))))
  (testing "two guests with one name"
    (is (re-find #"two guests are named a" (topo-error {:guests [{:name "a" :devices []} {:name "a" :devices []}]}))))
  (testing "a bad guest spec names the guest and the key"
    (is (re-find #"guest a: invalid guest spec: :memory" (topo-error {:guests [{:name "a" :memory "lots" :devices []}]}))))
  (testing "no guests at all"
    (is (re-find #"expected a map with :guests" (topo-error {:switches [:lan]})))))
