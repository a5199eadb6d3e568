(ns guestlab.cli
  "The command line: ./guestlab run FILE.clj, ./guestlab repl [--socket PATH]"
  (:require [clojure.main :as main]
            [guestlab.errors :as err]
            [guestlab.guest :as g]
            [guestlab.repl :as repl]))

(defn- say [& xs] (binding [*out* *err*] (apply println "guestlab:" xs)))

(defn- load-in-own-ns
  "Loads a recipe in a namespace of its own, removed afterwards, so its defs never land in the
  caller's namespace (or clojure.core) and two recipes cannot see each other's."
  [path]
  (let [ns-sym (gensym "guestlab.recipe-")
        ns (create-ns ns-sym)]
    (try
      (binding [*ns* ns]
        (refer 'clojure.core)
        (load-file path))
      (finally (remove-ns ns-sym)))))

(defn run-recipe
  "Loads a recipe file; every guest is stopped afterwards, even when it fails. Returns 0 on
  success, 1 on failure (after printing why)."
  [file]
  (let [f (java.io.File. (str file))
        t0 (System/nanoTime)]
    (if-not (.isFile f)
      (do (say "no such recipe:" file) 2)
      (try
        (say "running" file)
        (load-in-own-ns (.getPath f))
        (say (format "%s finished in %.1f s" file (/ (- (System/nanoTime) t0) 1e9)))
        0
        (catch Throwable e
          (let [cause (if (instance? clojure.lang.Compiler$CompilerException e) (or (ex-cause e) e) e)]
            (say "recipe" file "failed:" (or (ex-message cause) (str cause)))
            ;; a guestlab error's message names everything already; other data may help
            (when-let [d (when-not (err/guestlab-error cause) (ex-data cause))]
              (say "details:" (pr-str (dissoc d :explain))))
            (when (System/getenv "GUESTLAB_TRACE") (.printStackTrace e)))
          1)
        (finally
          (try (g/stop-all!) (catch Throwable e (say "stopping guests:" (ex-message e)))))))))

(defn lab-repl
  "An nREPL server (127.0.0.1 with .nrepl-port here, or a unix socket) and a REPL on this
  terminal; both end when the terminal REPL does, and every guest is stopped."
  [args]
  (let [socket (second (drop-while #(not= "--socket" %) args))
        server (repl/start! (if socket {:socket socket} {}))]
    (say (if socket
           (str "nREPL server on unix socket " socket " (mode 0600)")
           (str "nREPL server on 127.0.0.1:" (:port server) " (.nrepl-port written: cider-connect or Calva connect)")))
    (try
      (main/repl :init #(require '[guestlab.guest :as g] '[guestlab.sim :as sim] '[guestlab.rings :as rings]
                                 '[guestlab.console :as con] '[guestlab.topology :as topo]))
      0
      (finally
        (repl/stop! server)
        (g/stop-all!)))))

(defn -main [& [verb file & more :as args]]
  (let [code (case verb
               "repl" (lab-repl (rest args))
               "run" (if (and file (empty? more))
                       (run-recipe file)
                       (do (say "usage: guestlab run FILE.clj") 2))
               (do (say "unknown verb" (pr-str verb) "- see ./guestlab --help") 2))]
    (shutdown-agents)
    (System/exit code)))
