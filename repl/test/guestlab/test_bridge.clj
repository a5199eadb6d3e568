(ns guestlab.test-bridge
  "Runs one clojure.test var at a time for the JUnit bridge (test-java/guestlab/ClojureTests)."
  (:require [clojure.test :as t]))

(defn test-vars
  "The test vars of namespace ns-name, in source order, as a vector."
  [ns-name]
  (require (symbol ns-name))
  (->> (ns-interns (symbol ns-name)) vals (filter (comp :test meta)) (sort-by (comp :line meta)) vec))

(defn skip-reason
  "Why test var v does not run here, or nil. A test marked ^:qemu boots QEMU guests; it is
  skipped when the system property guestlab.qemu is \"false\"
  (mvn ... -Dtest=ClojureTests -Dguestlab.qemu=false)."
  [v]
  (when (and (:qemu (meta v)) (= "false" (System/getProperty "guestlab.qemu")))
    "boots QEMU guests, and guestlab.qemu=false"))

(defn- run-now
  [v]
  (let [out (java.io.StringWriter.)
        counters (binding [t/*test-out* out
                           t/*report-counters* (ref t/*initial-report-counters*)]
                   (t/test-vars [v])
                   @t/*report-counters*)]
    {:ok (zero? (+ (:fail counters) (:error counters)))
     :report (str out)}))

(defn run-var
  "Runs one test var; returns {:ok bool :report text}, or {:ok true :skipped reason}."
  [v]
  (if-let [why (skip-reason v)]
    {:ok true :skipped why}
    (run-now v)))
