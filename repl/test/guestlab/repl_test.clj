(ns guestlab.repl-test
  (:require [clojure.test :refer [deftest is]]
            [guestlab.guest :as g]
            [guestlab.repl :as repl]
            [nrepl.core :as nrepl])
  (:import (java.nio.file Files LinkOption Path)
           (java.nio.file.attribute PosixFilePermissions)))

(defn- temp-dir [] (str (Files/createTempDirectory "repl-test" (make-array java.nio.file.attribute.FileAttribute 0))))

(deftest an-nrepl-client-starts-a-sim-guest-and-reads-its-queues
  (let [dir (temp-dir)
        server (repl/start! {:dir dir})
        port (parse-long (slurp (str dir "/.nrepl-port")))]
    (try
      (is (= (:port server) port) ".nrepl-port names the port, as CIDER and Calva expect")
      (with-open [conn (nrepl/connect :port port)]
        (let [client (nrepl/client conn 30000)
              eval! (fn [code] (nrepl/combine-responses (nrepl/message client {:op "eval" :code code})))
              r1 (eval! "(require '[guestlab.guest :as g] '[guestlab.sim :as sim] '[guestlab.rings :as rings])
                         (def vm (g/start! {:name \"via-nrepl\" :devices [[:rng]]}))
                         (count (sim/rng-read vm :rng0 16))")
              r2 (eval! "(select-keys (first (rings/queues vm :rng0)) [:device :avail-idx :used-idx :pending])")
              r3 (eval! "(g/stop! vm) :stopped")]
          (is (= ["16"] (take-last 1 (:value r1))) (pr-str r1))
          (is (= {:device "rng0" :avail-idx 1 :used-idx 1 :pending 0} (read-string (last (:value r2)))) (pr-str r2))
          (is (= ":stopped" (last (:value r3))))))
      (finally
        (repl/stop! server)
        (g/stop-all!)))
    (is (not (.exists (java.io.File. (str dir "/.nrepl-port")))) "stop! removes .nrepl-port")))

(deftest a-unix-socket-server-is-for-its-owner-only
  (let [path (str (temp-dir) "/private/nrepl.sock")
        server (repl/start! {:socket path})]
    (try
      (is (= "rw-------" (PosixFilePermissions/toString
                          (Files/getPosixFilePermissions (Path/of path (make-array String 0)) (make-array LinkOption 0)))))
      (is (= "rwx------" (PosixFilePermissions/toString
                          (Files/getPosixFilePermissions (.getParent (Path/of path (make-array String 0))) (make-array LinkOption 0)))))
      (finally (repl/stop! server)))))

(deftest a-repl-killed-without-stop-leaves-no-stale-nrepl-port
  (let [dir (temp-dir)
        port-file (java.io.File. (str dir "/.nrepl-port"))
        p (.start (doto (ProcessBuilder. [(str (System/getProperty "java.home") "/bin/java")
                                          "-cp" (or (System/getProperty "surefire.test.class.path") (System/getProperty "java.class.path"))
                                          "clojure.main" "-e"
                                          (str "(require 'guestlab.repl) (do (guestlab.repl/start! {:dir " (pr-str dir) "}) nil)"
                                               " (println :written) (flush) @(promise)")])
                    (.redirectErrorStream true)))]
    (try
      (let [out (java.io.BufferedReader. (java.io.InputStreamReader. (.getInputStream p)))]
        (is (= ":written" (.readLine out)))
        (is (.exists port-file))
        (.destroy p) ; SIGTERM, as when the terminal goes away
        (is (.waitFor p 20 java.util.concurrent.TimeUnit/SECONDS))
        (is (not (.exists port-file)) "the JVM's end removed it"))
      (finally (.destroyForcibly p)))))
