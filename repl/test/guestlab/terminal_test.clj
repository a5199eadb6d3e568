(ns guestlab.terminal-test
  "The terminal REPL: its pure parts directly, and the REPL itself as a person meets it, through
  a real pseudo-terminal (guestlab.pty): Ctrl-C, history, Tab, escaped guest bytes."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [guestlab.errors :as err]
            [guestlab.pty :as pty]
            [guestlab.terminal :as term])
  (:import (java.nio.file Files)))

(defn- temp-dir [] (str (Files/createTempDirectory "terminal-test" (make-array java.nio.file.attribute.FileAttribute 0))))

;; --- the pure parts -----------------------------------------------------------

(deftest the-history-file-is-per-user-and-can-be-moved
  (is (= (io/file "/home/u/.local/state/guestlab/repl_history") (term/history-file {} "/home/u")))
  (is (= (io/file "/xdg/guestlab/repl_history") (term/history-file {"XDG_STATE_HOME" "/xdg"} "/home/u")))
  (is (= (io/file "/tmp/h") (term/history-file {"GUESTLAB_HISTORY" "/tmp/h" "XDG_STATE_HOME" "/xdg"} "/home/u")))
  (is (= (io/file "/home/u/.local/state/guestlab/repl_history") (term/history-file {"GUESTLAB_HISTORY" " "} "/home/u"))))

(deftest enter-evaluates-whole-forms-and-continues-an-unfinished-one
  (let [user (the-ns 'user)]
    (is (= :complete (term/input-state "(+ 1 2)" user)))
    (is (= :complete (term/input-state "(+ 1 2) (inc 3) :k \"s\"" user)))
    (is (= {:incomplete 1} (term/input-state "(defn f [x]" user)))
    (is (= {:incomplete 2} (term/input-state "(let [a 1" user)))
    (is (= {:incomplete 1} (term/input-state "(str \"a ( string\"" user)) "brackets in strings do not count")
    (is (= {:incomplete 0} (term/input-state "\"an open string" user)))
    (is (= :complete (term/input-state "(+ 1 2))" user)) "an extra ) is the evaluator's to report")
    (is (= :complete (term/input-state "#=(+ 1 2)" user)) "nothing is evaluated while checking")
    (is (= :complete (term/input-state "#guestlab/guest {:name \"a\"}" user)) "an unknown tag is no reason to wait")))

(deftest tab-completes-the-word-before-the-cursor-from-nrepl-completion
  (is (= "g/sta" (term/word-before "(g/sta" 6)))
  (is (= "g/sta" (term/word-before "(var g/sta" 10)))
  (is (= "rings/q" (term/word-before "(map #(rings/q" 14)))
  (is (= "" (term/word-before "(f " 3)))
  (let [ns (create-ns (gensym "completion-test-"))]
    (binding [*ns* ns] (refer-clojure) (require '[guestlab.guest :as g]))
    (try
      (is (some #{"g/start!"} (map :candidate (term/candidates "g/sta" ns))))
      (is (= [] (term/candidates "" ns)))
      (finally (remove-ns (ns-name ns))))))

(deftest values-and-errors-print-with-guest-control-bytes-escaped
  (is (= "\"login: \\u001b[6n\"" (term/value-text "login: \u001b[6n")))
  (is (= "{:out \"a\\u0007b\\r\\n\"}" (term/value-text {:out "a\u0007b\r\n"})))
  (let [e (err/console-error "con/expect" "guest a: no match for /x/" "$ \u001b[6n\r\n$ " {:guest "a"} nil)
        shown (term/error-text e false)]
    (is (not (re-find #"[\u0000-\u0008\u000b-\u001f\u007f]" shown)) shown)
    (is (str/includes? shown "\\u001b[6n"))
    (is (= "$ \u001b[6n\r\n$ " (:console-tail (ex-data e))) "the raw bytes stay in the data"))
  (is (= "interrupted (Ctrl-C)" (term/error-text (InterruptedException.) true)))
  (is (re-find #"(?s)Execution error.*\\u001b\[31mred" (term/error-text (ex-info "\u001b[31mred" {}) false))
      "any other error prints as clojure.main prints it, escaped"))

;; --- the REPL on a pseudo-terminal ------------------------------------------

(def ^:private prompt #"user=> ")

(defn- repl-command []
  [(str (System/getProperty "java.home") "/bin/java") "--enable-native-access=ALL-UNNAMED"
   "-cp" (or (System/getProperty "surefire.test.class.path") (System/getProperty "java.class.path"))
   "clojure.main" "-m" "guestlab.cli" "repl"])

(defn- start-repl!
  "A terminal REPL on a pty in directory dir, history in history-file; returns once it prompts."
  [dir history-file]
  (let [r (pty/spawn! (repl-command) {:dir dir :env {"GUESTLAB_HISTORY" (str history-file)}})]
    (pty/await! r #"guestlab: ready" 25000)
    (pty/await! r prompt 10000)
    r))

(defn- quit!
  "Ctrl-D at the prompt; the REPL must exit 0."
  [r]
  (pty/type! r :ctrl-d)
  (is (= 0 (pty/end! r 15000)) "Ctrl-D quits the REPL"))

(defmacro ^:private with-repl [[sym dir history] & body]
  `(let [~sym (start-repl! ~dir ~history)]
     (try ~@body
          (finally (pty/end! ~sym 100)))))

(deftest ctrl-c-interrupts-a-long-evaluation-and-the-guest-keeps-running
  (when (pty/available?)
    (let [dir (temp-dir)]
      (with-repl [r dir (str dir "/history")]
        (pty/type! r "(def vm (g/start! {:name \"ctrl-c\" :devices [[:rng]]}))\r")
        (pty/await! r #"#'user/vm" 10000)
        (pty/await! r prompt 5000)
        (testing "Ctrl-C at the prompt drops the line and prompts again"
          (pty/type! r "(this line is dropped")
          (pty/type! r :ctrl-c)
          (pty/await! r prompt 5000)
          (pty/type! r "(keyword (str \"still\" \"-here\"))\r")
          (pty/await! r #":still-here" 5000))
        (testing "Ctrl-C during a 60 s wait for a chain interrupts it"
          (pty/type! r "(do (println (str \"waiting\" \"-for-a-chain\")) (rings/next-chain vm :rng0 0 :timeout-ms 60000))\r")
          (pty/await! r #"waiting-for-a-chain" 10000)
          (let [t0 (System/nanoTime)]
            (pty/type! r :ctrl-c)
            (pty/await! r #"interrupted \(Ctrl-C\)" 10000)
            (pty/await! r prompt 5000)
            (is (< (/ (- (System/nanoTime) t0) 1e9) 10) "the prompt is back long before the 60 s are up")))
        (testing "the guest runs on, and so does the REPL"
          (pty/type! r "[(g/state vm) (count (sim/rng-read vm :rng0 8))]\r")
          (pty/await! r #"\[:running 8\]" 10000)
          (pty/await! r prompt 5000))
        (quit! r)))))

(deftest up-arrow-recalls-a-line-from-the-previous-session
  (when (pty/available?)
    (let [dir (temp-dir)
          history (str dir "/state/history")]
      (with-repl [r dir history]
        (is (.exists (io/file dir ".nrepl-port")) ".nrepl-port is written where the REPL was started")
        (pty/type! r "(+ 40 2)\r")
        (pty/await! r #"42\r?\n" 10000)
        (pty/await! r prompt 5000)
        (quit! r))
      (is (not (.exists (io/file dir ".nrepl-port"))) "and removed when it ends")
      (is (str/includes? (slurp history) "(+ 40 2)") "the line is in the history file")
      (is (= "rw-------" (java.nio.file.attribute.PosixFilePermissions/toString
                          (Files/getPosixFilePermissions (.toPath (io/file history)) (make-array java.nio.file.LinkOption 0))))
          "readable by its owner only")
      (with-repl [r dir history]
        (pty/type! r :up)
        (pty/await! r #"\(\+ 40 2\)" 5000)
        (pty/type! r :enter)
        (pty/await! r #"42\r?\n" 10000)
        (pty/await! r prompt 5000)
        (quit! r)))))

(deftest tab-completes-g-sta-to-g-start!
  (when (pty/available?)
    (let [dir (temp-dir)]
      (with-repl [r dir (str dir "/history")]
        (testing "one candidate: Tab completes it"
          (pty/type! r "(var g/star")
          (pty/await! r #"g/star" 5000)
          (pty/type! r :tab)
          (pty/await! r #"t!" 5000)
          (pty/type! r ")\r")
          (pty/await! r #"#'guestlab.guest/start!" 10000)
          (pty/await! r prompt 5000))
        (testing "two (g/start! and g/state): Tab lists them, a second Tab picks the first"
          (pty/type! r "(var g/sta")
          (pty/await! r #"g/sta" 5000)
          (pty/type! r :tab)
          (pty/await! r #"g/sta(?:\u001b\[[0-9;]*m)*te" 5000) ; the list: g/start! g/state, the common part coloured
          (pty/type! r :tab)
          (pty/await! r #"rt!" 5000)
          (pty/type! r ")\r")
          (pty/await! r #"#'guestlab.guest/start!" 10000)
          (pty/await! r prompt 5000))
        (quit! r)))))

(deftest guest-bytes-in-an-error-or-a-result-reach-the-terminal-escaped
  (when (pty/available?)
    (let [dir (temp-dir)
          raw-controls #"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]"]
      (with-repl [r dir (str dir "/history")]
        (pty/type! r "(def vm (g/start! {:name \"esc\" :devices [[:console]]}))\r")
        (pty/await! r #"#'user/vm" 10000)
        (pty/await! r prompt 5000)
        ;; the guest writes a cursor position query (ESC[6n), a bell and a backspace
        (pty/type! r "(sim/console-write! vm :console0 \"$ \\u001b[6n ding\\u0007 x\\b TAIL-END\\r\\n\")\r")
        (pty/await! r prompt 5000)
        (testing "an error whose message holds the console's last lines"
          (pty/type! r "(con/expect vm #\"never\" :timeout-ms 100)\r")
          (let [shown (pty/await! r #"(?s)con/expect: guest esc: no match for /never/.*?TAIL-END" 10000)]
            (is (not (re-find raw-controls shown)) (pr-str shown))
            (is (str/includes? shown "$ \\u001b[6n ding\\u0007 x\\b TAIL-END")))
          (pty/await! r prompt 5000)
          (pty/type! r "(count (filter #{(char 27)} (:console-tail (ex-data *e))))\r")
          (pty/await! r #"(?<![0-9])1\r?\n" 5000)
          (pty/await! r prompt 5000))
        (testing "a printed result"
          (pty/type! r "(con/output vm)\r")
          (let [shown (pty/await! r #"(?s)\"\$ .*?TAIL-END\\r\\n\"" 10000)]
            (is (not (re-find raw-controls shown)) (pr-str shown))
            (is (str/includes? shown "\\u001b[6n"))))
        (pty/await! r prompt 5000)
        (quit! r)))))

(deftest a-line-printed-while-the-prompt-waits-goes-above-the-line-being-typed
  (when (pty/available?)
    (let [dir (temp-dir)]
      (with-repl [r dir (str dir "/history")]
        ;; as rings/trace prints events from a device thread while the user types: a thread that
        ;; prints once the file "go" appears in the REPL's directory
        (pty/type! r "(future (while (not (.exists (java.io.File. \"go\"))) (Thread/sleep 20)) (println (str \"from\" \"-another-thread\")))\r")
        (pty/await! r prompt 5000)
        (pty/type! r "(+ 1")
        (pty/await! r #"\(\+ 1" 5000)
        (spit (io/file dir "go") "")
        (pty/await! r #"from-another-thread" 5000)
        (pty/await! r #"user=> \(\+ 1" 5000) ; the prompt and the typed text drawn again, below the line
        (pty/type! r " 2)\r")
        (pty/await! r #"3\r?\n" 5000)
        (pty/await! r prompt 5000)
        (quit! r)))))

(deftest ^:qemu ctrl-c-never-reaches-a-qemu-guest
  (when (pty/available?)
    (let [dir (temp-dir)]
      (with-repl [r dir (str dir "/history")]
        (pty/type! r "(def vm (g/start! {:name \"qemu-ctrl-c\" :engine :qemu :memory \"256M\" :devices [[:console] [:rng]]}))\r")
        (pty/await! r #"guestlab: booting qemu-ctrl-c \((Debian [^,]+|own kernel [^,]+), (TCG|KVM)\) \.\.\." 120000)
        (pty/await! r #"guestlab: qemu-ctrl-c is up in [0-9.]+ s" 120000)
        (pty/await! r #"#'user/vm" 10000)
        (pty/await! r prompt 5000)
        (testing "Ctrl-C during an evaluation, and at the prompt: QEMU is in a session of its own and never sees it"
          (pty/type! r "(do (println (str \"sleep\" \"ing\")) (Thread/sleep 60000))\r")
          (pty/await! r #"sleeping" 10000)
          (pty/type! r :ctrl-c)
          (pty/await! r #"interrupted \(Ctrl-C\)" 10000)
          (pty/await! r prompt 5000)
          (pty/type! r :ctrl-c)
          (pty/await! r prompt 5000))
        (pty/type! r "[(g/state vm) (:out (con/run vm \"echo still-$((6*7))\"))]\r")
        (pty/await! r #"\[:running \"still-42\\n\"\]" 30000)
        (pty/await! r prompt 5000)
        (quit! r)))))
