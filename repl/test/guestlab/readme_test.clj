(ns guestlab.readme-test
  "The README tells the truth: every ```clojure runnable block in it runs as shown, against the
  sim engine, in a fresh JVM started on deps.edn's classpath in an empty directory, and each
  `;; => value` line in such a block is what the forms before it return."
  (:require [clojure.java.shell :as sh]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [clojure.tools.deps :as deps])
  (:import (java.nio.file Files)
           (java.nio.file.attribute FileAttribute)))

(defn- runnable-blocks
  "The runnable blocks of markdown text: [{:line n :text \"...\"}], n the block's first line."
  [markdown]
  (loop [[l & more] (map-indexed vector (str/split-lines markdown)) block nil out []]
    (let [[i text] l]
      (cond (nil? l) out
            (and (nil? block) (= "```clojure runnable" (str/trim text))) (recur more {:line (+ i 2) :lines []} out)
            (and block (= "```" (str/trim text))) (recur more nil (conj out {:line (:line block) :text (str/join "\n" (:lines block))}))
            block (recur more (update block :lines conj text) out)
            :else (recur more nil out)))))

(defn- steps
  "A block cut at its `;; => value` lines: [{:code forms :expect value-text :line n}]."
  [{:keys [line text]}]
  (loop [[[i l] & more] (map-indexed vector (str/split-lines text)) code [] out []]
    (cond (nil? l) (cond-> out (seq code) (conj {:code (str/join "\n" code) :expect nil :line line}))
          (str/starts-with? (str/trim l) ";; =>")
          (recur more [] (conj out {:code (str/join "\n" code) :expect (subs (str/trim l) 5) :line (+ line i)}))
          :else (recur more (conj code l) out))))

(deftest the-readme-has-runnable-snippets-that-check-what-they-claim
  (let [blocks (runnable-blocks (slurp "README.md"))]
    (is (<= 2 (count blocks)) "the README marks its sim-engine snippets ```clojure runnable")
    (is (some :expect (mapcat steps blocks)) "and at least one claims a value with ;; =>")))

(deftest every-runnable-readme-snippet-runs-as-shown
  (let [dir (Files/createTempDirectory "readme" (make-array FileAttribute 0))
        snippets (mapv steps (runnable-blocks (slurp "README.md")))
        input (str (.resolve dir "snippets.edn"))
        b (deps/create-basis {:project "deps.edn" :user nil :aliases [:lab :test]})
        cp (str/join java.io.File/pathSeparator
                     (map #(.getAbsolutePath (java.io.File. ^String %)) (:classpath-roots b)))
        _ (spit input (pr-str snippets))
        r (apply sh/sh (str (System/getProperty "java.home") "/bin/java")
                 (concat (get-in b [:argmap :jvm-opts])
                         ["-cp" cp "clojure.main" "-m" "guestlab.readme-runner" input
                          :dir (str dir)]))]
    (testing (str "stdout:\n" (:out r) "\nstderr:\n" (:err r))
      (is (zero? (:exit r)))
      (is (str/includes? (:out r) (str "README snippets: " (count snippets) " ran"))))))
