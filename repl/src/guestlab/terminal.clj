(ns guestlab.terminal
  "The REPL on the user's terminal, with JLine 3 doing the terminal's part: line editing, history
  kept across sessions in a file, Tab completion of namespaces and vars (nREPL's completion, as
  an editor gets it), input over several lines until the forms are whole, Ctrl-D to quit. Input is
  evaluated by a guestlab.session, so Ctrl-C interrupts the evaluation, as nREPL's interrupt op
  does, and the prompt comes back with every guest still running. Results and errors are printed
  with guest bytes escaped (guestlab.text): nothing a guest wrote reaches the terminal as a
  control sequence that way.

  The pure parts (history-file, input-state, word-before, candidates, error-text, value-text) are
  functions of their arguments; run-repl! is the loop."
  (:require [clojure.java.io :as io]
            [clojure.main :as main]
            [clojure.string :as str]
            [guestlab.errors :as err]
            [guestlab.session :as session]
            [guestlab.text :as text]
            [nrepl.util.completion :as completion])
  (:import (clojure.lang LineNumberingPushbackReader)
           (java.io StringReader Writer)
           (java.nio.file Path)
           (java.util List)
           (org.jline.reader Candidate CompletingParsedLine Completer EndOfFileException EOFError LineReader LineReader$Option
                              LineReaderBuilder Parser UserInterruptException)
           (org.jline.terminal Size Terminal Terminal$Signal Terminal$SignalHandler TerminalBuilder)))

;; --- where the history lives --------------------------------------------------

(defn history-file
  "The history file for environment env (a map of variable names to values) and home directory:
  $GUESTLAB_HISTORY if set, else $XDG_STATE_HOME/guestlab/repl_history, else
  ~/.local/state/guestlab/repl_history."
  ^java.io.File [env home]
  (let [given #(some-> (get env %) str/trim not-empty)]
    (if-let [f (given "GUESTLAB_HISTORY")]
      (io/file f)
      (io/file (or (given "XDG_STATE_HOME") (str home "/.local/state")) "guestlab" "repl_history"))))

;; --- when is the input whole -------------------------------------------------

(defn- eof-error?
  "Whether e (or a cause of it) is the reader running out of text inside a form."
  [e]
  (some #(str/starts-with? (str (ex-message %)) "EOF while reading") (take-while some? (iterate ex-cause e))))

(defn- open-depth
  "How many brackets are open at the end of text (outside strings, comments and characters)."
  [^String text]
  (let [n (.length text)]
    (loop [i 0 depth 0 in-string false]
      (if (>= i n)
        depth
        (let [c (.charAt text i)]
          (cond
            in-string (case c \\ (recur (+ i 2) depth true) \" (recur (inc i) depth false) (recur (inc i) depth true))
            (= c \") (recur (inc i) depth true)
            (= c \\) (recur (+ i 2) depth false)
            (= c \;) (let [nl (.indexOf text "\n" i)] (recur (if (neg? nl) n nl) depth false))
            (#{\( \[ \{} c) (recur (inc i) (inc depth) false)
            (#{\) \] \}} c) (recur (inc i) (max 0 (dec depth)) false)
            :else (recur (inc i) depth false)))))))

(defn input-state
  "Whether text, as typed so far, is ready to evaluate: :complete when it holds whole forms only
  (or something the reader refuses outright, which evaluating will report), or {:incomplete
  depth} when the reader ran out of text inside a form (Enter then starts a new line, indented by
  the open brackets). Read in namespace ns, without evaluating anything (#= is refused, unknown
  tags are read as plain values)."
  [text ns]
  (let [rdr (LineNumberingPushbackReader. (StringReader. (str text)))
        eof (Object.)]
    (binding [*ns* ns
              *read-eval* false
              *default-data-reader-fn* (fn [_ v] v)]
      (try
        (loop [] (when-not (identical? eof (read {:read-cond :preserve :eof eof} rdr)) (recur)))
        :complete
        (catch Exception e
          (if (eof-error? e) {:incomplete (open-depth (str text))} :complete))))))

;; --- completion ---------------------------------------------------------------

(def ^:private delimiter? (set " \t\n\r,()[]{}\"'`~@^;"))

(defn word-before
  "The symbol-like word that ends at cursor in line (what Tab completes): \"g/sta\" in
  \"(g/sta\" with the cursor at the end."
  ^String [^String line cursor]
  (let [start (loop [i cursor] (if (and (pos? i) (not (delimiter? (.charAt line (dec i))))) (recur (dec i)) i))]
    (subs line start cursor)))

(defn candidates
  "Completions of prefix in namespace ns, from nREPL's completion (what its completions op
  answers): [{:candidate \"g/start!\" :type :function} ...]."
  [prefix ns]
  (if (str/blank? prefix) [] (vec (completion/completions prefix ns))))

(defn- parsed-line
  "The line as JLine's completion sees it: one word, the one before the cursor."
  ^CompletingParsedLine [^String line cursor]
  (let [word (word-before line cursor)]
    (reify CompletingParsedLine
      (word [_] word)
      (wordCursor [_] (count word))
      (wordIndex [_] 0)
      (words [_] [word])
      (line [_] line)
      (cursor [_] cursor)
      (escape [_ candidate _] candidate) ; a symbol needs no quoting
      (rawWordCursor [_] (count word))
      (rawWordLength [_] (count word)))))

(defn- parser
  "JLine's parser: Enter inside an unfinished form continues the input on a new line. current-ns
  is a function: the namespace the input is read in."
  ^Parser [current-ns]
  (reify Parser
    (parse [_ line cursor context]
      (when (= context org.jline.reader.Parser$ParseContext/ACCEPT_LINE)
        (let [state (input-state line (current-ns))]
          (when (map? state)
            (throw (EOFError. -1 -1 "unfinished form" nil (int (:incomplete state)) nil)))))
      (parsed-line line cursor))))

(defn- completer ^Completer [current-ns]
  (reify Completer
    (complete [_ _ line out]
      (doseq [{:keys [candidate type]} (candidates (.word line) (current-ns))]
        ;; a namespace goes on with "/", so no space after it; a var is whole
        (.add ^List out (Candidate. candidate candidate nil nil nil nil (not= :namespace type)))))))

;; --- what is printed ----------------------------------------------------------

(defn value-text
  "A result as the REPL prints it: pr-str, with control characters escaped."
  ^String [v]
  (text/escape-controls (pr-str v)))

(defn error-text
  "An error as the REPL prints it, control characters escaped: \"interrupted (Ctrl-C)\" for an
  evaluation Ctrl-C ended; a guestlab error's one line (it names everything; (ex-data *e) has the
  rest); else what clojure.main's REPL prints."
  ^String [e interrupted?]
  (text/escape-controls
   (str/trimr
    (cond interrupted? "interrupted (Ctrl-C)"
          :else (if-let [lab-error (first (filter err/guestlab-error (take-while some? (iterate ex-cause e))))]
                  (ex-message lab-error)
                  (-> e Throwable->map main/ex-triage main/ex-str))))))

;; --- the loop -------------------------------------------------------------------

(def ^:private grace-ms
  "How long an interrupted evaluation has to end before the prompt comes back without it."
  2000)

(defn open-terminal
  "The user's terminal, through JLine (a dumb one when the input is not a terminal). Opening it
  takes a few hundred milliseconds, so the command line opens it while the rest loads."
  ^Terminal []
  (let [t (-> (TerminalBuilder/builder) (.name "guestlab") (.system true) (.dumb true) (.build))]
    ;; a pty nobody gave a size (some containers, script(1) without a terminal) says 0 x 0, and
    ;; the line editor would draw into no columns at all
    (when (or (zero? (.getWidth t)) (zero? (.getHeight t)))
      (.setSize t (Size. 80 24)))
    t))

(defn- owner-only-file!
  "Creates file, readable by its owner only (a history holds what was typed), unless it exists."
  [^java.io.File file]
  (io/make-parents file)
  (when-not (.exists file)
    (try
      (java.nio.file.Files/createFile (.toPath file)
                                      (into-array java.nio.file.attribute.FileAttribute
                                                  [(java.nio.file.attribute.PosixFilePermissions/asFileAttribute
                                                    (java.nio.file.attribute.PosixFilePermissions/fromString "rw-------"))]))
      (catch java.io.IOException _)))) ; another REPL made it meanwhile, or the directory is not ours: JLine will say

(defn- line-reader ^LineReader [^Terminal t current-ns ^java.io.File history]
  (owner-only-file! history)
  (-> (LineReaderBuilder/builder)
      (.terminal t)
      (.appName "guestlab")
      (.parser (parser current-ns))
      (.completer (completer current-ns))
      (.variable LineReader/HISTORY_FILE (.toPath history))
      (.variable LineReader/HISTORY_FILE_SIZE (int 10000))
      (.variable LineReader/INDENTATION (int 2))
      (.option LineReader$Option/DISABLE_EVENT_EXPANSION true) ; ! is part of names here (g/start!)
      (.option LineReader$Option/AUTO_FRESH_LINE true)
      (.build)))

(defn- prompt-safe-writer
  "A writer to the terminal for evaluations and what they start. While the prompt waits for
  input, a line written from another thread (rings/trace prints events as they happen) goes
  above the prompt and the line being typed (JLine's printAbove), not into them."
  ^Writer [^LineReader reader ^Writer direct]
  (let [pending (StringBuilder.)
        emit! (fn [^String text]
                (locking pending
                  (if-not (.isReading reader)
                    (do (.write direct (str pending text)) (.setLength pending 0))
                    (let [all (str pending text)
                          cut (.lastIndexOf all "\n")]
                      (.setLength pending 0)
                      (if (neg? cut)
                        (.append pending all)
                        (do (.printAbove reader (subs all 0 cut))
                            (.append pending (subs all (inc cut)))))))))]
    (proxy [Writer] []
      (write
        ([x] (emit! (if (integer? x) (str (char x)) (if (string? x) x (String. ^chars x)))))
        ([x off len] (emit! (if (string? x) (subs x off (+ off len)) (String. ^chars x (int off) (int len))))))
      (flush []
        (locking pending
          (when (and (pos? (.length pending)) (not (.isReading reader)))
            (.write direct (str pending))
            (.setLength pending 0))
          (.flush direct)))
      (close [] (.flush ^Writer this)))))

(defn- prompts
  "The prompt for namespace ns and the one for the lines after the first of an input, as JLine's
  prompt patterns (where % is special)."
  [ns]
  (let [p (str (ns-name ns) "=> ")
        p2 (str (str/join (repeat (max 0 (- (count p) 5)) " ")) "#_=> ")]
    (mapv #(str/replace % "%" "%%") [p p2])))

(defn- println! [^Writer w & xs]
  (.write w (str (str/join " " xs) "\n"))
  (.flush w))

(defn- await-job
  "Waits for the job to end. Once Ctrl-C has interrupted it (interrupted-at holds when), it has
  grace-ms to end; after that, or at a second Ctrl-C, it is left running and the prompt comes back."
  [s job interrupted-at ^Writer w]
  (loop []
    (or (session/outcome job 50)
        (let [t @interrupted-at]
          (if (and t (>= (- (System/currentTimeMillis) t) grace-ms))
            (let [^Thread th (deref (:thread job) 0 nil)]
              (session/abandon! s)
              (println! w (str "\nguestlab: the evaluation did not stop on Ctrl-C; it goes on in the background"
                               (when th (str " (thread " (.getName th) ")"))
                               " until it ends or the REPL does"))
              :abandoned)
            (recur))))))

(defn- on-ctrl-c!
  "What Ctrl-C does while an evaluation runs: the first interrupts it; a second one, before it
  ended, gives up waiting for it."
  [s interrupted-at]
  (if @interrupted-at
    (reset! interrupted-at (- (System/currentTimeMillis) grace-ms))
    (when (session/interrupt! s)
      (reset! interrupted-at (System/currentTimeMillis)))))

(defn run-repl!
  "The terminal REPL, until Ctrl-D (or the end of its input). Options: :terminal, from
  open-terminal (default: opened here; closed at the end either way); :init, forms (as text)
  evaluated first, silently; :history, the history file (default from history-file); :on-ready,
  called with the history file once the first prompt is about to show."
  [{:keys [terminal init history on-ready]}]
  (let [history (or history (history-file (System/getenv) (System/getProperty "user.home")))
        ^Terminal t (or terminal (open-terminal))
        session-ref (promise)
        reader (line-reader t #(session/current-ns @session-ref) history)
        out (prompt-safe-writer reader (.writer t))
        s (session/session {:out out})
        _ (deliver session-ref s)
        interrupted-at (atom nil)
        quiet {:value (fn [_]) :caught (fn [e _] (println! out (error-text e false)))}
        shown {:value (fn [v] (println! out (value-text v)))
               ;; after Ctrl-C the terminal has echoed ^C: the message goes on a line of its own
               :caught (fn [e job] (let [i @(:interrupted job)] (println! out (str (when i "\n") (error-text e i)))))}]
    (.handle t Terminal$Signal/INT (reify Terminal$SignalHandler (handle [_ _] (on-ctrl-c! s interrupted-at))))
    (try
      (when init (session/outcome (session/evaluate! s init quiet) Long/MAX_VALUE))
      (when on-ready (on-ready history))
      (loop []
        (let [[p p2] (prompts (session/current-ns s))
              _ (.setVariable reader LineReader/SECONDARY_PROMPT_PATTERN p2)
              input (try (.readLine reader ^String p)
                         (catch UserInterruptException _ ::again) ; Ctrl-C at the prompt drops the line
                         (catch EndOfFileException _ ::quit))]
          (cond
            (= ::quit input) nil
            (or (= ::again input) (str/blank? input)) (recur)
            :else (do (reset! interrupted-at nil)
                      (await-job s (session/evaluate! s input shown) interrupted-at out)
                      (reset! interrupted-at nil)
                      (recur)))))
      (finally
        (session/close! s)
        (.close t)))))
