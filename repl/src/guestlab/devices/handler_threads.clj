(ns guestlab.devices.handler-threads
  "The threads Clojure handlers and entropy sources run on, so that one that hangs or throws
  never holds up a device's own thread, and how a failed one is told in an event."
  (:require [guestlab.errors :as err])
  (:import (java.util.concurrent Callable ExecutionException ExecutorService Executors Future ThreadFactory)
           (java.util.concurrent.atomic AtomicLong)))

(def default-timeout-ms
  "How long a device waits for a request's handlers (or an entropy source) before it gives up."
  5000)

(defonce ^:private ^ExecutorService pool
  (let [n (AtomicLong.)]
    (Executors/newCachedThreadPool
     (reify ThreadFactory
       (newThread [_ r] (doto (Thread. ^Runnable r (str "guestlab-handler-" (.incrementAndGet n))) (.setDaemon true)))))))

(defn submit
  "Runs (f) on a handler thread; the Future gives its value."
  ^Future [f]
  (.submit pool ^Callable f))

(defn returned-garbage!
  "Throws: the handler returned x, which is what (\"no completion map\", ...)."
  [what x]
  (throw (ex-info (str "returned " what ": " (err/describe x)) {::garbage true})))

(defn failure-text
  "How a handler failed, in a few words: what it returned (returned-garbage!) or what it threw."
  [^Throwable e]
  (let [e (if (instance? ExecutionException e) (.getCause e) e)]
    (if (::garbage (ex-data e))
      (str "handler " (ex-message e))
      (str "handler threw " (.getName (class e)) ": " (err/one-line (ex-message e))))))
