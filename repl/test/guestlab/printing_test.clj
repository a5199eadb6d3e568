(ns guestlab.printing-test
  (:require [clojure.test :refer [deftest is use-fixtures]]
            [guestlab.guest :as g])
  (:import (guestlab.engine Guest)))

(use-fixtures :each (fn [t] (try (t) (finally (g/stop-all!)))))

(deftest a-guest-prints-as-what-it-is-running-or-stopped
  (let [vm (g/start! {:name "printed" :devices [[:console] [:rng]]})]
    (is (= "#guestlab/guest {:name \"printed\", :engine :sim, :state :running, :devices [\"console0\" \"rng0\"]}"
           (pr-str vm)))
    (is (= (pr-str vm) (binding [*print-dup* true] (pr-str vm))))
    (g/stop! vm)
    (is (= "#guestlab/guest {:name \"printed\", :engine :sim, :state :stopped, :devices [\"console0\" \"rng0\"]}"
           (pr-str vm)))
    (is (= (str "[" (pr-str vm) "]") (pr-str [vm])) "inside data too")))

(deftest printing-never-throws-even-when-the-guest-does
  (let [broken (reify Guest
                 (name [_] "broken")
                 (engine [_] (throw (IllegalStateException. "gone")))
                 (state [_] (throw (IllegalStateException. "gone")))
                 (devices [_] (throw (IllegalStateException. "gone"))))]
    (is (= "#guestlab/guest {:name \"broken\", :engine :unknown, :state :unknown, :devices []}" (pr-str broken)))))
