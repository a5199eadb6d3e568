(ns guestlab.recipes-test
  (:require [clojure.test :refer [deftest is]]
            [guestlab.cli :as cli]
            [guestlab.guest :as g]))

(deftest sim-tour-runs-to-the-end
  (let [out (with-out-str (is (= 0 (cli/run-recipe "recipes/sim-tour.clj"))))]
    (is (re-find #"sim-tour: all checks passed" out))
    (is (re-find #"ok: after FLUSH the bytes are in the image file" out)))
  (is (= [] (g/guests)) "every guest is stopped afterwards"))

(deftest hello-boots-a-real-kernel-on-guestlabs-devices
  (let [out (with-out-str (is (= 0 (cli/run-recipe "recipes/hello.clj"))))]
    (is (re-find #"hello: all checks passed" out))
    (is (re-find #"ok: the guest read back what it wrote" out)))
  (is (= [] (g/guests))))

(deftest a-failing-recipe-exits-non-zero-and-stops-its-guests
  (let [f (doto (java.io.File/createTempFile "failing" ".clj") (.deleteOnExit))]
    (spit f "(require '[guestlab.guest :as g])
             (g/start! {:name \"doomed\" :devices [[:rng]]})
             (throw (ex-info \"deliberate\" {}))")
    (is (= 1 (cli/run-recipe (str f))))
    (is (= [] (g/guests)))))
