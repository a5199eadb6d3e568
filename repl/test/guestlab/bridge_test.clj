(ns guestlab.bridge-test
  "The JUnit bridge itself: a test that asserts nothing fails, ^:qemu tests say why they skip."
  (:require [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [guestlab.test-bridge :as bridge]))

(defn- sample-var
  "A test var made on the spot in a namespace of its own (so the suite never runs it as a test)."
  [sym meta-map test-fn]
  (let [v (intern (create-ns 'guestlab.bridge-test.samples) sym)]
    (alter-meta! v merge meta-map {:test test-fn})
    v))

(deftest a-test-that-asserts-nothing-fails-and-says-so
  (let [r (bridge/run-var (sample-var 'quiet {} (fn [] (+ 1 2))))]
    (is (false? (:ok r)))
    (is (str/includes? (:report r) "guestlab.bridge-test.samples/quiet asserted nothing") (:report r))))

(deftest a-test-with-an-assertion-passes-and-a-failing-one-fails
  (is (= {:ok true :report ""} (bridge/run-var (sample-var 'checks {} (fn [] (is (= 3 (+ 1 2))))))))
  ;; the bridge counts the sample's assertions apart from this test's: its failure stays its own
  (let [r (bridge/run-var (sample-var 'wrong {} (fn [] (is (= 4 (+ 1 2))))))]
    (is (false? (:ok r)))
    (is (str/includes? (:report r) "expected: (= 4 (+ 1 2))") (:report r))
    (is (not (str/includes? (:report r) "asserted nothing")))))

(deftest qemu-tests-say-why-they-skip
  (testing "where QEMU is missing, or turned off, a ^:qemu test is skipped with the reason"
    (is (= "qemu-system-x86_64 not found on PATH: install qemu-system-x86" (bridge/qemu-missing "/nowhere:" nil)))
    (is (= "qemu-system-x86_64 not found on PATH: install qemu-system-x86" (bridge/qemu-missing nil nil)))
    (is (= "QEMU tests are turned off (-Dguestlab.qemu=false)" (bridge/qemu-missing "/usr/bin" "false"))))
  (testing "a directory with an executable qemu-system-x86_64 on the PATH is enough"
    (let [dir (.toFile (java.nio.file.Files/createTempDirectory "bridge-test" (make-array java.nio.file.attribute.FileAttribute 0)))
          qemu (java.io.File. dir "qemu-system-x86_64")]
      (try
        (spit qemu "#!/bin/sh\n")
        (is (some? (bridge/qemu-missing (str dir) nil)) "a file that cannot be run is not QEMU")
        (.setExecutable qemu true)
        (is (nil? (bridge/qemu-missing (str "/nowhere:" dir) nil)))
        (finally (.delete qemu) (.delete dir)))))
  (testing "only ^:qemu tests are skipped"
    (is (nil? (bridge/skip-reason (sample-var 'plain {} (fn [] (is true))))))
    (is (= (bridge/qemu-missing (System/getenv "PATH") (System/getProperty "guestlab.qemu"))
           (bridge/skip-reason (sample-var 'boots {:qemu true} (fn [] (is true))))))))
