(ns guestlab.pty
  "Test support: a program on a real pseudo-terminal, driven like a person at a keyboard. The
  pty comes from util-linux's script(1), which runs the command on a new pty, copies what is
  written to its standard input to the pty and what the program writes to its standard output;
  so a test types bytes (Ctrl-C is \\u0003, and the line discipline turns it into SIGINT as a
  terminal does) and waits for output, never for a fixed time."
  (:require [clojure.string :as str]
            [guestlab.text :as text])
  (:import (java.io File InputStream OutputStream)
           (java.util.concurrent TimeUnit)))

(def keys-of
  "What a terminal sends for some keys (Up as in the keypad mode JLine switches xterm into)."
  {:up "\u001bOA" :tab "\t" :enter "\r" :ctrl-c "\u0003" :ctrl-d "\u0004"})

(defn available?
  "Whether script(1) is here to give a pty."
  []
  (some #(.canExecute (File. (str % "/script"))) (str/split (or (System/getenv "PATH") "") #":")))

(defn- shell-quote [s] (str "'" (str/replace (str s) "'" "'\\''") "'"))

(defn spawn!
  "Starts argv (a vector) on a new pty of 200 x 50 characters, in directory dir, with the
  environment plus env (a map), TERM xterm-256color. Returns the running program."
  [argv {:keys [dir env]}]
  ;; A program started in a terminal has Ctrl-C's signal at its default; a test suite run as a
  ;; background job (which ignores SIGINT) must not hand its child that ignore.
  (let [cmd (str "stty cols 200 rows 50 2>/dev/null; exec env --default-signal=INT,QUIT "
                 (str/join " " (map shell-quote argv)))
        pb (doto (ProcessBuilder. ["script" "-q" "-e" "-c" cmd "/dev/null"])
             (.directory (File. (str dir)))
             (.redirectErrorStream true))
        _ (doto (.environment pb) (.put "TERM" "xterm-256color") (.putAll (or env {})))
        p (.start pb)
        buf (StringBuilder.)
        state {:process p :buf buf :mark (atom 0) :ended (atom false)}
        pump (fn []
               (let [^InputStream in (.getInputStream p)
                     b (byte-array 4096)]
                 (try
                   (loop []
                     (let [n (.read in b)]
                       (when (pos? n)
                         ;; ISO-8859-1: one char per byte, so a raw ESC stays one \u001b char
                         (locking buf (.append buf (String. b 0 n "ISO-8859-1")) (.notifyAll buf))
                         (recur))))
                   (catch java.io.IOException _)
                   (finally (reset! (:ended state) true) (locking buf (.notifyAll buf))))))]
    (doto (Thread. ^Runnable pump "pty-reader") (.setDaemon true) .start)
    state))

(defn type!
  "Sends text (or a key of keys-of) to the program, as typed."
  [{:keys [^Process process]} x]
  (let [^OutputStream out (.getOutputStream process)]
    (.write out (.getBytes (str (get keys-of x x)) "UTF-8"))
    (.flush out)))

(defn output
  "Everything the program has written so far."
  [{:keys [^StringBuilder buf]}]
  (locking buf (str buf)))

(defn await!
  "Waits until re matches what the program wrote after the last match, at most timeout-ms;
  returns the match and moves past it. Throws with the output so far (escaped) if it does not
  come, or if the program ended without it."
  [{:keys [^StringBuilder buf mark ended]} re timeout-ms]
  (let [deadline (+ (System/currentTimeMillis) timeout-ms)]
    (locking buf
      (loop []
        (let [m (re-matcher re buf)]
          (if (.find m (int @mark))
            (do (reset! mark (.end m)) (.group m))
            (let [left (- deadline (System/currentTimeMillis))]
              (if (or (<= left 0) @ended)
                (throw (ex-info (str "no " (pr-str (str re)) (if @ended " before the program ended" (str " within " timeout-ms " ms"))
                                     "; its output after the last match:\n" (text/escape-controls (subs (str buf) @mark)))
                                {}))
                (do (.wait buf left) (recur))))))))))

(defn mark
  "Where the next await! starts looking."
  [{:keys [mark]}]
  @mark)

(defn end!
  "Waits up to timeout-ms for the program to exit, then kills it and what it started; returns
  its exit status, or nil if it had to be killed."
  [{:keys [^Process process]} timeout-ms]
  (let [done (.waitFor process timeout-ms TimeUnit/MILLISECONDS)]
    (when-not done
      (doseq [^java.lang.ProcessHandle h (iterator-seq (.iterator (.descendants process)))] (.destroyForcibly h))
      (.destroyForcibly process)
      (.waitFor process 5 TimeUnit/SECONDS))
    (when done (.exitValue process))))
