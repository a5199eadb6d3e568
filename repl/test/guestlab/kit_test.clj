(ns guestlab.kit-test
  "A guest spec's :kit: a lock written by ./guestlab kit lock, naming exactly the Debian kit to boot."
  (:require [clojure.test :refer [deftest is testing use-fixtures]]
            [guestlab.console :as con]
            [guestlab.guest :as g])
  (:import (guestlab.image DebianKit KitLock)
           (java.nio.file Path)))

(use-fixtures :each (fn [t] (try (t) (finally (g/stop-all!)))))

(defn- message [f]
  (try (f) nil (catch Exception e (ex-message e))))

(deftest a-spec-names-its-kit-lock
  (is (= (Path/of "guestlab-kit.edn" (make-array String 0))
         (.kit (g/->java-spec {:engine :qemu :kit "guestlab-kit.edn" :devices []}))))
  (is (nil? (.kit (g/->java-spec {:engine :qemu :devices []}))))
  (testing "a typo is named with the key it likely meant"
    (is (= "invalid guest spec: unknown key :kti; did you mean :kit?"
           (message #(g/validate! {:engine :qemu :kti "guestlab-kit.edn" :devices []})))))
  (testing "a :sim guest boots no kernel"
    (is (= "a kit lock is for qemu guests; a sim guest boots no kernel"
           (message #(g/start! {:engine :sim :kit "guestlab-kit.edn" :devices []})))))
  (testing "a lock that is not there is named before anything boots"
    (let [f (str (java.io.File. (System/getProperty "java.io.tmpdir") "no-such-guestlab-kit.edn"))]
      (is (= (str "kit lock " f ": no such file (./guestlab kit lock writes one)")
             (message #(g/start! {:name "unlocked" :engine :qemu :kit f :devices []}))))
      (is (= [] (g/guests))))))

(deftest ^:qemu a-qemu-guest-boots-the-kit-its-lock-names
  (let [lock (.manifest (DebianKit. (DebianKit/defaultCache) (reify java.util.function.Consumer (accept [_ _]))))
        f (doto (java.io.File/createTempFile "guestlab-kit" ".edn") (.deleteOnExit))
        _ (.write ^KitLock lock (.toPath f))
        err (java.io.ByteArrayOutputStream.)
        stderr System/err
        vm (try (System/setErr (java.io.PrintStream. err true))
                (g/start! {:name "locked" :engine :qemu :memory "256M" :kit (str f) :devices [[:console]]})
                (finally (System/setErr stderr)))]
    (is (= (.kernelVersion lock) (.trim ^String (:out (con/run vm "uname -r")))))
    (is (re-find (re-pattern (str "(?m)^guestlab: kit: " (java.util.regex.Pattern/quote (str (.kernelPackage lock)))
                                  " \\+ busybox-static .*; locked by " (java.util.regex.Pattern/quote (str f)) "\\)$"))
                 (str err))
        (str err))
    (g/stop! vm)))
