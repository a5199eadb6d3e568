(ns guestlab.cli-test
  "The command line as a user calls it: ./guestlab through a symlink, from a directory of theirs."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [guestlab.cli :as cli])
  (:import (java.nio.file Files LinkOption Path)
           (java.util.concurrent TimeUnit)))

(defn- temp-dir [] (str (Files/createTempDirectory "cli-test" (make-array java.nio.file.attribute.FileAttribute 0))))

(defn- on-path? [cmd]
  (some #(.canExecute (io/file % cmd)) (str/split (or (System/getenv "PATH") "") #":")))

(defn- setup-missing
  "What ./guestlab would install or fetch before running a verb here, or nil if nothing (a test
  must not start an install)."
  []
  (cond (not (on-path? "mvn")) "Maven"
        (not (.exists (io/file "/usr/share/maven-repo/nrepl/nrepl/1.0.0/nrepl-1.0.0.jar"))) "libnrepl-clojure"
        (not (on-path? "qemu-system-x86_64")) "QEMU"))

(defn- installed-script
  "A copy of ./guestlab in a directory of its own, as after a build: the stamp and the runtime
  classpath (this test's) beside it, so it runs the lab without building."
  []
  (let [repo (temp-dir)
        script (io/file repo "guestlab")
        target (io/file repo "repl/target")]
    (io/copy (io/file "guestlab") script)
    (.setExecutable script true)
    (.mkdirs target)
    (spit (io/file target "classpath.txt")
          (or (System/getProperty "surefire.test.class.path") (System/getProperty "java.class.path")))
    (spit (io/file target ".guestlab-built") "")
    script))

(defn- run-process
  "Runs argv in dir; returns {:exit :out} (stdout and stderr together)."
  [argv dir]
  (let [pb (doto (ProcessBuilder. ^java.util.List argv) (.directory (io/file dir)) (.redirectErrorStream true))
        _ (.put (.environment pb) "JAVA_HOME" (System/getProperty "java.home"))
        p (.start pb)
        out (future (slurp (.getInputStream p)))]
    (if (.waitFor p 60 TimeUnit/SECONDS)
      {:exit (.exitValue p) :out @out}
      (do (.destroyForcibly p) {:exit :timeout :out (deref out 1000 "")}))))

(deftest a-recipe-beside-the-user-runs-from-their-directory-through-a-symlink
  (if-let [missing (setup-missing)]
    (println "skipped: ./guestlab would install" missing "first")
    (let [script (installed-script)
          bin (io/file (temp-dir) "bin")
          work (temp-dir)
          disk (io/file work "disk.img")]
      (.mkdirs bin)
      (Files/createSymbolicLink (.toPath (io/file bin "guestlab")) (.toPath script)
                                (make-array java.nio.file.attribute.FileAttribute 0))
      (with-open [r (java.io.RandomAccessFile. disk "rw")] (.setLength r (* 1024 1024)))
      (spit (io/file work "topo.clj")
            "(require '[guestlab.guest :as g] '[guestlab.sim :as sim])
             (def vm (g/start! {:name \"from-here\" :devices [[:block {:file \"disk.img\"}]]}))
             (sim/block-write! vm :block0 0 (.getBytes (apply str (repeat 32 \"written-here-123\")) \"US-ASCII\"))
             (println \"recipe ran in\" (System/getProperty \"user.dir\"))")
      (let [{:keys [exit out]} (run-process [(str (io/file bin "guestlab")) "run" "topo.clj"] work)]
        (is (= 0 exit) out)
        (is (str/includes? out (str "recipe ran in " work)) "the JVM works in the caller's directory")
        (is (= "written-here-123" (String. (Files/readAllBytes (.toPath disk)) 0 16 "US-ASCII"))
            "the recipe's relative disk path is the caller's disk.img")))))

(deftest a-missing-recipe-says-where-it-was-looked-for
  (let [err (java.io.StringWriter.)]
    (is (= 2 (binding [*err* err] (cli/run-recipe "no-such-recipe.clj"))))
    (is (str/includes? (str err) (str "no such recipe: no-such-recipe.clj (looked in "
                                      (.getAbsolutePath (io/file "no-such-recipe.clj")) ")")))))

(deftest a-failing-recipe-prints-guest-bytes-escaped
  (let [f (doto (java.io.File/createTempFile "escapes" ".clj") (.deleteOnExit))
        err (java.io.StringWriter.)]
    (spit f "(throw (ex-info \"the guest said \\u001b[6n\" {:raw \"\\u001b[6n\"}))")
    (is (= 1 (binding [*err* err] (cli/run-recipe (str f)))))
    (is (not (str/includes? (str err) "\u001b")) (pr-str (str err)))
    (is (str/includes? (str err) "failed: the guest said \\u001b[6n"))
    (is (str/includes? (str err) "details: {:raw \"\\u001b[6n\"}"))))
