(ns guestlab.readme-runner
  "Runs the README's runnable snippets as a reader would paste them into a REPL, in a JVM of
  their own started in a scratch directory (readme_test starts it): each snippet's forms in order,
  in one namespace, and each `;; => value` line checked against the value of the forms before it."
  (:require [clojure.edn :as edn]))

(defn- check! [{:keys [code expect line]}]
  (let [value (load-string code)]
    (when (some? expect)
      (let [wanted (edn/read-string expect)]
        (when (not= wanted value)
          (throw (ex-info (str "README line " line ": expected " (pr-str wanted) ", got " (pr-str value)) {})))))))

(defn -main
  "args: an EDN file holding a vector of snippets, each a vector of {:code :expect :line}."
  [file]
  (let [snippets (edn/read-string (slurp file))]
    (try
      (doseq [snippet snippets]
        (binding [*ns* (create-ns (gensym "readme-"))]
          (refer-clojure)
          (run! check! snippet)))
      (println "README snippets:" (count snippets) "ran")
      (catch Throwable e
        (println "README snippet failed:" (ex-message e))
        (.printStackTrace e)
        (shutdown-agents)
        (System/exit 1)))
    (shutdown-agents)
    (System/exit 0)))
