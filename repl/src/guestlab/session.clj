(ns guestlab.session
  "Evaluation for the terminal REPL, on a thread of its own so that Ctrl-C can interrupt it while
  the terminal's thread stays free. A session evaluates one input (all the forms of the text) at a
  time, and keeps its bindings (*ns*, *1 *2 *3 *e, vars set! at the REPL) from one input to the
  next, as an nREPL session does.

    (def s (session {}))
    (def job (evaluate! s \"(+ 1 2)\" {:value prn :caught (fn [e job] ...)}))
    (outcome job 1000)   ; => :done, :error, :interrupted, :abandoned, or nil while it runs
    (interrupt! s)       ; Thread.interrupt of the evaluating thread, as nREPL's interrupt op does
    (abandon! s)         ; an evaluation that ignores interrupts goes on alone; the next input
                         ; gets a fresh thread with the session's bindings"
  (:import (clojure.lang DynamicClassLoader LineNumberingPushbackReader)
           (java.io StringReader)
           (java.util.concurrent ExecutorService Executors ThreadFactory)
           (java.util.concurrent.atomic AtomicLong)))

(def ^:private thread-count (AtomicLong.))

(defn- executor
  "One daemon thread, named guestlab-eval-N, whose context class loader is a DynamicClassLoader
  (as clojure.main's REPL thread has)."
  ^ExecutorService []
  (Executors/newSingleThreadExecutor
   (reify ThreadFactory
     (newThread [_ r]
       (doto (Thread. ^Runnable r (str "guestlab-eval-" (.incrementAndGet ^AtomicLong thread-count)))
         (.setDaemon true)
         (.setContextClassLoader (DynamicClassLoader. (.getContextClassLoader (Thread/currentThread)))))))))

(defn- initial-bindings
  "The bindings clojure.main's REPL starts with, in namespace user, *out* and *err* as given."
  [{:keys [out err]}]
  (cond-> {#'*ns* (create-ns 'user)
           #'*warn-on-reflection* *warn-on-reflection*
           #'*math-context* *math-context*
           #'*print-meta* *print-meta*
           #'*print-length* *print-length*
           #'*print-level* *print-level*
           #'*print-namespace-maps* true
           #'*data-readers* *data-readers*
           #'*default-data-reader-fn* *default-data-reader-fn*
           #'*compile-path* (System/getProperty "clojure.compile.path" "classes")
           #'*command-line-args* *command-line-args*
           #'*unchecked-math* *unchecked-math*
           #'*assert* *assert*
           #'*1 nil #'*2 nil #'*3 nil #'*e nil}
    out (assoc #'*out* out)
    err (assoc #'*err* err)))

(defn session
  "A new session in namespace user. Options: :out and :err, the writers *out* and *err* are bound
  to while it evaluates (default: the JVM's)."
  [opts]
  {:bindings (atom (initial-bindings opts))
   :executor (atom (executor))
   :job (atom nil)})

(defn current-ns
  "The namespace the session's next input is read and evaluated in."
  [s]
  (get @(:bindings s) #'*ns*))

(defn- eval-all
  "Reads and evaluates each form of text in turn, calling (value v) for each result, as a REPL
  does (*1 *2 *3); at the first error, sets *e, calls (caught e job) and stops. Returns :done,
  :error or :interrupted (an error while the job was being interrupted)."
  [text value caught job]
  (let [rdr (LineNumberingPushbackReader. (StringReader. text))
        eof (Object.)]
    (try
      (loop []
        (let [form (read {:read-cond :allow :eof eof} rdr)]
          (if (identical? eof form)
            :done
            (let [v (eval form)]
              (set! *3 *2)
              (set! *2 *1)
              (set! *1 v)
              (value v)
              (recur)))))
      (catch Throwable e
        (set! *e e)
        (caught e job)
        (if @(:interrupted job) :interrupted :error)))))

(defn evaluate!
  "Evaluates the forms of text in the session, after any input before it, and returns the job at
  once. fns: :value, called with each result; :caught, called with an exception and the job.
  Both run on the evaluating thread, with the session's bindings."
  [s text {:keys [value caught]}]
  (let [job {:text text :done (promise) :thread (promise) :interrupted (atom false) :abandoned (atom false)}
        bindings (:bindings s)
        run (fn []
              (deliver (:thread job) (Thread/currentThread))
              (deliver (:done job)
                       (if @(:interrupted job)
                         :interrupted
                         (with-bindings @bindings
                           (try
                             (eval-all text value caught job)
                             (finally
                               (Thread/interrupted) ; an interrupt that came too late is not the next input's
                               (when-not @(:abandoned job) (reset! bindings (get-thread-bindings)))))))))]
    (reset! (:job s) job)
    (.execute ^ExecutorService @(:executor s) ^Runnable run)
    job))

(defn outcome
  "How the job ended (:done :error :interrupted :abandoned), waiting up to timeout-ms; nil if it
  is still running then."
  [job timeout-ms]
  (deref (:done job) timeout-ms nil))

(defn interrupt!
  "Interrupts the session's running evaluation (Thread.interrupt, as nREPL's interrupt op): a wait
  in it (a sleep, a console expect, rings/next-chain, ...) ends with an exception. An input not
  started yet is dropped. True if there was one to interrupt."
  [s]
  (let [job @(:job s)]
    (when (and job (not (realized? (:done job))))
      (reset! (:interrupted job) true)
      (some-> ^Thread (deref (:thread job) 0 nil) .interrupt)
      true)))

(defn abandon!
  "Leaves the running evaluation to itself (it ignored the interrupt) and gives the session a new
  thread for its next input; the bindings are those from before the abandoned input."
  [s]
  (when-let [job @(:job s)]
    (reset! (:abandoned job) true)
    (deliver (:done job) :abandoned))
  (let [[^ExecutorService old] (reset-vals! (:executor s) (executor))]
    (.shutdown old))
  nil)

(defn close!
  "Ends the session's thread (an evaluation still running is interrupted)."
  [s]
  (.shutdownNow ^ExecutorService @(:executor s))
  nil)
