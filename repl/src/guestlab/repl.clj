(ns guestlab.repl
  "An nREPL server inside guestlab, for CIDER, Calva or any nREPL client. It evaluates arbitrary
  code, so it listens on 127.0.0.1 (or a unix socket only its owner can use) unless told otherwise."
  (:require [nrepl.server :as nrepl])
  (:import (java.nio.file Files LinkOption Path)
           (java.nio.file.attribute PosixFilePermissions)))

(defn- owner-only! [^Path p perms]
  (Files/setPosixFilePermissions p (PosixFilePermissions/fromString perms)))

(defn start!
  "Starts an nREPL server and returns it.
    {:port 0 :bind \"127.0.0.1\"}  TCP (port 0 picks one); writes .nrepl-port in :dir (default \".\")
    {:socket \"/path/nrepl.sock\"}   a unix socket, mode 0600, in a directory of mode 0700"
  ([] (start! {}))
  ([{:keys [port bind socket dir] :or {port 0 bind "127.0.0.1" dir "."}}]
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
       (assoc server ::port-file port-file)))))

(defn stop!
  "Stops the server and removes its .nrepl-port or socket file."
  [server]
  (nrepl/stop-server server)
  (some-> (::port-file server) Files/deleteIfExists)
  (some-> (::socket server) Files/deleteIfExists)
  nil)
