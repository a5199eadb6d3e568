(ns guestlab.recipes-test
  (:require [clojure.test :refer [deftest is testing]]
            [guestlab.cli :as cli]
            [guestlab.guest :as g]))

(deftest every-recipe-runs-to-the-end
  (let [recipes (sort (map str (filter #(.endsWith (str %) ".clj") (.listFiles (java.io.File. "recipes")))))]
    (is (<= 5 (count recipes)) (str "recipes found: " (vec recipes)))
    (doseq [r recipes
            :let [recipe-name (second (re-find #"([^/]+)\.clj$" r))]]
      (testing r
        (let [out (with-out-str (is (= 0 (cli/run-recipe r))))]
          (is (re-find (re-pattern (str "(?m)^" recipe-name ": all checks passed$")) out) out)
          (is (not (re-find #"check failed" out))))
        (is (= [] (g/guests)) "every guest is stopped afterwards")))))

(deftest a-failing-recipe-exits-non-zero-and-stops-its-guests
  (let [f (doto (java.io.File/createTempFile "failing" ".clj") (.deleteOnExit))]
    (spit f "(require '[guestlab.guest :as g])
             (g/start! {:name \"doomed\" :devices [[:rng]]})
             (throw (ex-info \"deliberate\" {}))")
    (is (= 1 (cli/run-recipe (str f))))
    (is (= [] (g/guests)))))
