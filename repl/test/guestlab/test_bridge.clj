(ns guestlab.test-bridge
  "Runs one clojure.test var at a time for the JUnit bridge (test-java/guestlab/ClojureTests)."
  (:require [clojure.string :as str]
            [clojure.test :as t]))

(defn test-vars
  "The test vars of namespace ns-name, in source order, as a vector."
  [ns-name]
  (require (symbol ns-name))
  (->> (ns-interns (symbol ns-name)) vals (filter (comp :test meta)) (sort-by (comp :line meta)) vec))

(defn qemu-missing
  "Why QEMU guests cannot boot with path (a PATH value) and these system properties, or nil:
  qemu-system-x86_64 must be on the PATH, and guestlab.qemu must not be \"false\"."
  [path qemu-property]
  (cond (= "false" qemu-property) "QEMU tests are turned off (-Dguestlab.qemu=false)"
        (not-any? #(.canExecute (java.io.File. ^String % "qemu-system-x86_64"))
                  (remove str/blank? (str/split (or path "") #":")))
        "qemu-system-x86_64 not found on PATH: install qemu-system-x86"))

(defn skip-reason
  "Why test var v does not run here, or nil. A test marked ^:qemu boots QEMU guests; it is
  skipped where qemu-system-x86_64 is not on the PATH, or when the system property guestlab.qemu
  is \"false\" (mvn ... -Dtest=ClojureTests -Dguestlab.qemu=false)."
  [v]
  (when (:qemu (meta v))
    (qemu-missing (System/getenv "PATH") (System/getProperty "guestlab.qemu"))))

(defn- run-now
  [v]
  (let [out (java.io.StringWriter.)
        counters (binding [t/*test-out* out
                           t/*report-counters* (ref t/*initial-report-counters*)]
                   (t/test-vars [v])
                   @t/*report-counters*)
        assertions (+ (:pass counters) (:fail counters) (:error counters))]
    (if (zero? assertions)
      {:ok false
       :report (str out (symbol v) " asserted nothing: a test must check what it did with at least one `is`\n")}
      {:ok (zero? (+ (:fail counters) (:error counters)))
       :report (str out)})))

(defn run-var
  "Runs one test var; returns {:ok bool :report text}, or {:ok true :skipped reason}. A test that
  ran no assertion (no `is`, or none reached) fails: it proved nothing."
  [v]
  (if-let [why (skip-reason v)]
    {:ok true :skipped why}
    (run-now v)))
