(ns guestlab.test-main
  "Runs every Clojure test namespace under repl/test from the command line (`clojure -M:lab:test`),
  skipping ^:qemu tests as the JUnit bridge does; exits 0 only when all pass."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :as t]
            [guestlab.test-bridge :as bridge]))

(defn- test-namespaces []
  (->> (file-seq (io/file "repl/test"))
       (map #(.getPath ^java.io.File %))
       (filter #(str/ends-with? % "_test.clj"))
       (map #(-> % (subs (count "repl/test/") (- (count %) 4)) (str/replace "/" ".") (str/replace "_" "-") symbol))
       sort))

(defn -main [& _]
  (let [results (for [ns-sym (test-namespaces)
                      v (bridge/test-vars (str ns-sym))]
                  (let [r (bridge/run-var v)]
                    (cond (:skipped r) (println "skipped" (str (symbol v)) "-" (:skipped r))
                          (not (:ok r)) (println "FAIL" (str (symbol v)) "\n" (:report r)))
                    r))
        results (doall results)
        failed (count (remove :ok results))
        skipped (count (filter :skipped results))]
    (println (format "%d passed, %d failed, %d skipped" (- (count results) failed skipped) failed skipped))
    (shutdown-agents)
    (System/exit (if (zero? failed) 0 1))))
