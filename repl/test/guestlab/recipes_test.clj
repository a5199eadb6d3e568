(ns guestlab.recipes-test
  (:require [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [guestlab.cli :as cli]
            [guestlab.guest :as g]))

(defn- recipes []
  (sort (map str (filter #(.endsWith (str %) ".clj") (.listFiles (java.io.File. "recipes"))))))

(defn- qemu-recipe? [r] (boolean (re-find #":engine :qemu" (slurp r))))

(defn- runs-to-the-end [r]
  (let [recipe-name (second (re-find #"([^/]+)\.clj$" r))]
    (testing r
      (let [out (with-out-str (is (= 0 (cli/run-recipe r))))]
        (is (re-find (re-pattern (str "(?m)^" recipe-name ": all checks passed$")) out) out)
        (is (not (re-find #"check failed" out))))
      (is (= [] (g/guests)) "every guest is stopped afterwards"))))

(deftest every-sim-recipe-runs-to-the-end
  (is (<= 5 (count (recipes))) (str "recipes found: " (vec (recipes))))
  (doseq [r (remove qemu-recipe? (recipes))]
    (runs-to-the-end r)))

(deftest ^:qemu every-qemu-recipe-runs-to-the-end
  (is (seq (filter qemu-recipe? (recipes))) (str "no :qemu recipe among " (vec (recipes))))
  ;; fio.clj's job runs 10 s on each disk; 3 s says as much here, where only its working is tested
  (System/setProperty "guestlab.fio.seconds" "3")
  (try
    (doseq [r (filter qemu-recipe? (recipes))]
      (runs-to-the-end r))
    (finally (System/clearProperty "guestlab.fio.seconds"))))

(deftest a-failing-recipe-exits-non-zero-and-stops-its-guests
  (let [f (doto (java.io.File/createTempFile "failing" ".clj") (.deleteOnExit))]
    (spit f "(require '[guestlab.guest :as g])
             (g/start! {:name \"doomed\" :devices [[:rng]]})
             (throw (ex-info \"deliberate\" {}))")
    (is (= 1 (cli/run-recipe (str f))))
    (is (= [] (g/guests)))))

(deftest a-recipe-that-breaks-the-rules-fails-in-one-line
  (let [f (doto (java.io.File/createTempFile "stopped" ".clj") (.deleteOnExit))
        err (java.io.StringWriter.)]
    (spit f "(require '[guestlab.guest :as g] '[guestlab.rings :as rings])
             (def vm (g/start! {:name \"gone\" :devices [[:rng]]}))
             (g/stop! vm)
             (rings/queues vm)")
    (is (= 1 (binding [*err* err] (cli/run-recipe (str f)))))
    (let [lines (str/split-lines (str err))]
      (is (= [(str "guestlab: running " f)
              (str "guestlab: recipe " f " failed: rings/queues: guest gone is stopped")]
             lines)
          "the message and nothing else: no details, no stack trace"))))
