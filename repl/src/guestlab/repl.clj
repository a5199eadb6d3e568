(ns guestlab.repl
  "An nREPL server inside guestlab, for CIDER, Calva or any nREPL client. It evaluates arbitrary
  code, so it listens on 127.0.0.1 (or a unix socket only its owner can use) unless told otherwise."
  (:require [clojure.string :as str]
            [guestlab.check :as check]
            [nrepl.server :as nrepl])
  (:import (java.nio.file Files LinkOption Path)
           (java.nio.file.attribute PosixFilePermissions)))

(defn- owner-only! [^Path p perms]
  (Files/setPosixFilePermissions p (PosixFilePermissions/fromString perms)))

(defn- check-options [{:keys [port bind socket dir] :or {port 0 bind "127.0.0.1" dir "."} :as opts}]
  (let [f "repl/start!"
        text? #(and (string? %) (not (str/blank? %)))]
    (check/arg f "opts" map? "a map like {:port 0} or {:socket \"/path/nrepl.sock\"}" opts)
    (check/int-in f ":port" 0 65535 port)
    (check/arg f ":bind" text? "an address to listen on, like \"127.0.0.1\"" bind)
    (check/arg f ":dir" text? "a directory (a string)" dir)
    (some->> socket (check/arg f ":socket" text? "a socket path (a string)"))
    opts))

(defn- remove-port-file!
  "Deletes .nrepl-port if it still names this server's port (another REPL may have written its
  own there since)."
  [^Path port-file port]
  (try
    (when (= port (str/trim (slurp (.toFile port-file)))) (Files/deleteIfExists port-file))
    (catch java.io.IOException _)))

(defn- cleanup-at-exit!
  "A shutdown hook that removes .nrepl-port when the JVM ends without stop! (a signal, a
  System/exit), so no stale one is left behind; stop! unregisters it."
  ^Thread [port-file port]
  (doto (Thread. ^Runnable (fn [] (remove-port-file! port-file port)) "guestlab-nrepl-port-cleanup")
    (->> (.addShutdownHook (Runtime/getRuntime)))))

(defn start!
  "Starts an nREPL server and returns it.
    {:port 0 :bind \"127.0.0.1\"}  TCP (port 0 picks one); writes .nrepl-port in :dir (default \".\")
    {:socket \"/path/nrepl.sock\"}   a unix socket, mode 0600, in a directory of mode 0700"
  ([] (start! {}))
  ([opts]
   (let [{:keys [port bind socket dir] :or {port 0 bind "127.0.0.1" dir "."}} (check-options opts)]
     (if socket
       (let [path (.toAbsolutePath (Path/of (str socket) (make-array String 0)))
             parent (.getParent path)]
         (when-not (Files/isDirectory parent (make-array LinkOption 0))
           (Files/createDirectories parent (make-array java.nio.file.attribute.FileAttribute 0))
           (owner-only! parent "rwx------"))
         (Files/deleteIfExists path)
         (let [server (nrepl/start-server :socket (str path))]
           (owner-only! path "rw-------")
           (assoc server ::socket path)))
       (let [server (nrepl/start-server :port port :bind bind)
             port-file (Path/of (str dir) (into-array String [".nrepl-port"]))]
         (spit (.toFile port-file) (str (:port server)))
         (assoc server ::port-file port-file ::cleanup (cleanup-at-exit! port-file (str (:port server)))))))))

(defn stop!
  "Stops the server and removes its .nrepl-port or socket file."
  [server]
  (check/arg "repl/stop!" "server" #(some? (:server-socket %)) "a server from repl/start!" server)
  (nrepl/stop-server server)
  (when-let [^Thread hook (::cleanup server)]
    (try (.removeShutdownHook (Runtime/getRuntime) hook) (catch IllegalStateException _))) ; the JVM is ending
  (some-> (::port-file server) Files/deleteIfExists)
  (some-> (::socket server) Files/deleteIfExists)
  nil)
