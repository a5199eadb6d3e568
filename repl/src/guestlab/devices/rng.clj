(ns guestlab.devices.rng
  "Entropy sources defined in Clojure: the device's own handler gives the driver what a function
  (fn [n] bytes) returns, up to n bytes."
  (:require [guestlab.devices.events :as events]
            [guestlab.devices.handler-threads :as threads]
            [guestlab.errors :as err])
  (:import (guestlab.devices RngHandler)
           (guestlab.events EventKind)
           (guestlab.virtio Buffers)
           (guestlab.virtio.rng EntropyRequest)
           (java.util.concurrent Future TimeUnit TimeoutException)))

(def ^:private entropy-per-request
  "The most random bytes asked of a source per request, as guestlab's own rng gives."
  4096)

(defn- entropy-bytes
  "Up to n bytes from (source n), on a handler thread within the timeout; nil, with a
  HANDLER_ERROR event to target, when it throws, is late or gives something else than up to n bytes."
  [source n target]
  (let [^Future f (threads/submit (fn [] (source n)))
        fail (fn [why] (events/publish! target EventKind/HANDLER_ERROR (str "entropy source " why "; the driver got no bytes")) nil)]
    (try
      (let [b (.get f (long threads/default-timeout-ms) TimeUnit/MILLISECONDS)]
        (if (and (bytes? b) (<= (alength ^bytes b) n))
          b
          (fail (str "gave " (err/describe b) ", not up to " n " bytes"))))
      (catch TimeoutException _ (.cancel f true) (fail (str "took longer than " threads/default-timeout-ms " ms")))
      (catch Throwable e (fail (threads/failure-text e))))))

(defrecord SourceHandler [source bound]
  RngHandler
  (handle [_ request]
    (let [^EntropyRequest request request
          ^Buffers b (.buffers request)
          room (min entropy-per-request (reduce + (map #(.len b %) (range (.count b)))))
          ^bytes data (or (entropy-bytes source room @bound) (byte-array 0))]
      (loop [i 0 done 0]
        (if (and (< i (.count b)) (< done (alength data)))
          (let [n (min (.len b i) (- (alength data) done))]
            (.write (.memory request) (.addr b i) data done n)
            (recur (inc i) (+ done n)))
          done))))
  events/Bindable
  (bind! [_ vm device] (reset! bound (events/target vm device))))

(defn handler
  "The device's own handler for an entropy device whose bytes come from (source n)."
  [source]
  (->SourceHandler source (atom events/unbound)))
