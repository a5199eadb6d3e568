(ns guestlab.cli
  "The command line: ./guestlab run FILE.clj, ./guestlab repl [--socket PATH].

  Paths are the caller's: ./guestlab starts the JVM in the directory it was called from, so a
  recipe's path, the disk images a recipe names and .nrepl-port are all relative to it. The lab
  itself is loaded only once a verb runs, after a line saying so."
  (:require [guestlab.text :as text]))

(defn- say [& xs] (binding [*out* *err*] (apply println "guestlab:" xs) (flush)))

(defn- lab
  "The var sym names, its namespace loaded on first use."
  [sym]
  (requiring-resolve sym))

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
  "Loads a recipe file (a path relative to the JVM's working directory, the caller's); every guest
  is stopped afterwards, even when it fails. Returns 0 on success, 1 on failure (after printing
  why, control characters escaped), 2 if there is no such file."
  [file]
  (let [f (java.io.File. (str file))
        t0 (System/nanoTime)]
    (if-not (.isFile f)
      (do (say "no such recipe:" (text/escape-controls file)
               (str "(looked in " (text/escape-controls (.getAbsolutePath f)) ")"))
          2)
      (try
        (say "running" file)
        (load-in-own-ns (.getPath f))
        (say (format "%s finished in %.1f s" file (/ (- (System/nanoTime) t0) 1e9)))
        0
        (catch Throwable e
          (let [cause (if (instance? clojure.lang.Compiler$CompilerException e) (or (ex-cause e) e) e)]
            (say "recipe" file "failed:" (text/escape-controls (or (ex-message cause) (str cause))))
            ;; a guestlab error's message names everything already; other data may help
            (when-let [d (when-not ((lab 'guestlab.errors/guestlab-error) cause) (ex-data cause))]
              (say "details:" (text/escape-controls (pr-str (dissoc d :explain)))))
            (when (System/getenv "GUESTLAB_TRACE") (.printStackTrace e)))
          1)
        (finally
          (try ((lab 'guestlab.guest/stop-all!)) (catch Throwable e (say "stopping guests:" (ex-message e)))))))))

(def ^:private repl-init
  "What the terminal REPL has required before its first prompt."
  "(require '[guestlab.guest :as g] '[guestlab.sim :as sim] '[guestlab.rings :as rings]
            '[guestlab.console :as con] '[guestlab.topology :as topo])")

(defn- since-jvm-start
  "Seconds since this JVM started."
  []
  (/ (.getUptime (java.lang.management.ManagementFactory/getRuntimeMXBean)) 1000.0))

(defn lab-repl
  "An nREPL server (127.0.0.1 with .nrepl-port in the working directory, or a unix socket) and a
  REPL on this terminal (guestlab.terminal); both end when the terminal REPL does, and every guest
  is stopped."
  [args]
  (say "starting the REPL: loading guestlab, nREPL and JLine ...")
  (let [open-terminal (lab 'guestlab.terminal/open-terminal)
        terminal (future (open-terminal)) ; JLine opens the terminal while nREPL loads and starts
        socket (second (drop-while #(not= "--socket" %) args))
        server ((lab 'guestlab.repl/start!) (if socket {:socket socket} {}))
        home (System/getProperty "user.home")
        shown #(let [p (str %)] (if (and home (.startsWith p (str home "/"))) (str "~" (subs p (count home))) p))]
    (say (if socket
           (str "nREPL server on unix socket " socket " (mode 0600)")
           (str "nREPL server on 127.0.0.1:" (:port server) " (.nrepl-port written here: cider-connect or Calva connect)")))
    (try
      ((lab 'guestlab.terminal/run-repl!)
       {:terminal @terminal
        :init repl-init
        :on-ready (fn [history]
                    (say (str "ready in " (format "%.1f s" (since-jvm-start)) "; history in " (shown history)
                              "; Tab completes, Ctrl-C interrupts, Ctrl-D quits")))})
      0
      (finally
        ((lab 'guestlab.repl/stop!) server)
        ((lab 'guestlab.guest/stop-all!))))))

(defn -main [& [verb file & more :as args]]
  (let [code (case verb
               "repl" (lab-repl (rest args))
               "run" (if (and file (empty? more))
                       (run-recipe file)
                       (do (say "usage: guestlab run FILE.clj") 2))
               (do (say "unknown verb" (pr-str verb) "- see ./guestlab --help") 2))]
    (shutdown-agents)
    (System/exit code)))
