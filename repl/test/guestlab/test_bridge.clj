(ns guestlab.test-bridge
  "Runs one clojure.test var at a time for the JUnit bridge (test-java/guestlab/ClojureTests)."
  (:require [clojure.test :as t]))

(defn test-vars
  "The test vars of namespace ns-name, in source order, as a vector."
  [ns-name]
  (require (symbol ns-name))
  (->> (ns-interns (symbol ns-name)) vals (filter (comp :test meta)) (sort-by (comp :line meta)) vec))

(defn run-var
  "Runs one test var; returns {:ok bool :report text}."
  [v]
  (let [out (java.io.StringWriter.)
        counters (binding [t/*test-out* out
                           t/*report-counters* (ref t/*initial-report-counters*)]
                   (t/test-vars [v])
                   @t/*report-counters*)]
    {:ok (zero? (+ (:fail counters) (:error counters)))
     :report (str out)}))
