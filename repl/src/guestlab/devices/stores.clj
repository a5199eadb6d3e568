(ns guestlab.devices.stores
  "Disks defined in Clojure: a store keeps the sectors, and the device's own handler serves a
  guest's requests from it."
  (:require [guestlab.devices.events :as events]
            [guestlab.devices.handler :as handler]
            [guestlab.devices.handler-threads :as threads])
  (:import (guestlab.devices BlockHandler)
           (java.util Arrays)
           (java.util.concurrent ConcurrentHashMap)))

(defprotocol BlockStore
  "Where a disk defined in Clojure keeps its sectors."
  (read-sectors [store sector n] "n sectors from sector, as a byte array (zeros where never written).")
  (write-sectors! [store sector data] "Stores data, whole sectors, from sector on.")
  (flush-store! [store] "Makes what was written durable, as far as the store can."))

(defn memory-store
  "A store in this JVM's memory, sparse: only the sectors written take room."
  []
  (let [sectors (ConcurrentHashMap.)]
    (reify BlockStore
      (read-sectors [_ sector n]
        (let [out (byte-array (* 512 n))]
          (dotimes [i n]
            (when-let [^bytes b (.get sectors (+ sector i))] (System/arraycopy b 0 out (* 512 i) 512)))
          out))
      (write-sectors! [_ sector data]
        (dotimes [i (quot (alength ^bytes data) 512)]
          (.put sectors (+ sector i) (Arrays/copyOfRange ^bytes data (int (* 512 i)) (int (* 512 (inc i)))))))
      (flush-store! [_] nil))))

(defn fn-store
  "A store made of functions: {:read (fn [sector n] bytes) :write (fn [sector bytes]) :flush (fn [])},
  :flush optional."
  [{:keys [read write flush]}]
  (reify BlockStore
    (read-sectors [_ sector n] (read sector n))
    (write-sectors! [_ sector data] (write sector data))
    (flush-store! [_] (when flush (flush)))))

(defn store?
  "Whether x is a block store."
  [x]
  (satisfies? BlockStore x))

(def ^:private store-id (.getBytes "guestlab-store" "US-ASCII"))

(defn- store-fn
  "A handler function that serves requests from a store of capacity sectors."
  [store capacity read-only?]
  (fn [{:keys [op sector length data type]}]
    (let [fits? #(and (<= 0 sector capacity) (<= (quot length 512) (- capacity sector)))]
      (case op
        :read (if (fits?) {:status :ok :data (read-sectors store sector (quot length 512))} {:status :ioerr})
        :write (if (and (not read-only?) (fits?))
                 (do (write-sectors! store sector data) {:status :ok})
                 {:status :ioerr})
        :flush (do (flush-store! store) {:status :ok})
        :get-id {:status :ok :data (Arrays/copyOf ^bytes store-id (int (min length 14)))}
        :misaligned {:status (if (= :discard type) :unsupp :ioerr)}
        {:status :unsupp}))))

(defrecord StoreHandler [chain bound]
  BlockHandler
  (handle [_ r] (handler/serve chain threads/default-timeout-ms @bound r))
  events/Bindable
  (bind! [_ vm device] (reset! bound (events/target vm device))))

(defn handler
  "The device's own handler for a disk of size bytes kept in store."
  [store size read-only?]
  (->StoreHandler (store-fn store (quot size 512) read-only?) (atom events/unbound)))
