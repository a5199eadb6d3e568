(ns guestlab.deps-test
  "deps.edn, as the Clojure CLI resolves it (tools.deps, its own resolver), gives exactly the Maven
  build's runtime dependencies, and a JVM on that classpath runs a guest and has what a QEMU guest
  needs."
  (:require [clojure.java.io :as io]
            [clojure.java.shell :as sh]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [clojure.tools.deps :as deps]))

(defn- basis [aliases]
  (deps/create-basis {:project "deps.edn" :user nil :aliases aliases}))

(defn- maven-runtime
  "group/artifact -> version of the Maven build's runtime dependencies (repl/target/runtime-dependencies.txt,
  written by the build before the tests), guestlab's own modules left out."
  []
  (into (sorted-map)
        (for [line (str/split-lines (slurp "repl/target/runtime-dependencies.txt"))
              :let [[_ g a v] (re-find #"^\s+([^:\s]+):([^:]+):jar:([^:]+):(compile|runtime)" line)]
              :when (and g (not= g "guestlab"))]
          [(str g "/" a) v])))

(defn- cli-libs [b]
  (into (sorted-map) (for [[lib coord] (:libs b)] [(str lib) (:mvn/version coord)])))

(deftest deps-edn-has-exactly-the-maven-builds-runtime-dependencies
  (let [maven (maven-runtime)]
    (is (seq maven) "the build listed its runtime dependencies")
    (is (= maven (cli-libs (basis [:lab]))) "deps.edn :deps, resolved with tools.deps, vs Maven's runtime scope")))

(deftest the-aliases-give-the-jvm-options-an-nrepl-server-and-a-test-runner
  (let [b (basis [:lab :nrepl])]
    (is (some #{"--enable-native-access=ALL-UNNAMED"} (get-in b [:argmap :jvm-opts])))
    (is (= ["-m" "nrepl.cmdline" "--bind" "127.0.0.1"] (get-in b [:argmap :main-opts]))))
  (let [b (basis [:lab :test])]
    (is (= ["-m" "guestlab.test-main"] (get-in b [:argmap :main-opts])))
    (is (some #(str/ends-with? % "repl/test") (:classpath-roots b)))))

(def ^:private script
  "(require '[guestlab.guest :as g] '[guestlab.sim :as sim] '[guestlab.rings :as rings]
            '[guestlab.console :as con] '[guestlab.topology :as topo] '[guestlab.repl :as repl])
   (def vm (g/start! {:name \"from-deps-edn\" :engine :sim :memory \"16M\" :devices [[:rng]]}))
   (println \"rng bytes:\" (count (sim/rng-read vm :rng0 8)))
   (g/stop! vm)
   ;; what a QEMU guest needs beyond a simulated one: QMP's JSON, the kit's .deb unpacking
   (doseq [c [\"guestlab.engine.qemu.QemuGuest\" \"guestlab.engine.qemu.QmpClient\" \"guestlab.image.DebianKit\"
              \"guestlab.image.DebArchive\" \"org.apache.commons.compress.archivers.ar.ArArchiveInputStream\"]]
     (Class/forName c))
   (println \"json:\" (.writeValueAsString (com.fasterxml.jackson.databind.ObjectMapper.) {\"execute\" \"qmp_capabilities\"}))
   (let [out (java.io.ByteArrayOutputStream.)]
     (with-open [xz (org.tukaani.xz.XZOutputStream. out (org.tukaani.xz.LZMA2Options.))] (.write xz (.getBytes \"kit\")))
     (println \"xz:\" (slurp (org.tukaani.xz.XZInputStream. (java.io.ByteArrayInputStream. (.toByteArray out))))))")

(deftest a-jvm-on-the-deps-edn-classpath-boots-a-guest-and-has-what-qemu-guests-need
  (let [b (basis [:lab])
        java (str (System/getProperty "java.home") "/bin/java")
        r (apply sh/sh java (concat (get-in b [:argmap :jvm-opts])
                                    ["-cp" (str/join java.io.File/pathSeparator (:classpath-roots b))
                                     "clojure.main" "-e" script]))]
    (testing (str "exit " (:exit r) "\nstdout:\n" (:out r) "\nstderr:\n" (:err r))
      (is (zero? (:exit r)))
      (is (str/includes? (:out r) "rng bytes: 8"))
      (is (str/includes? (:out r) "json: {\"execute\":\"qmp_capabilities\"}"))
      (is (str/includes? (:out r) "xz: kit")))))
