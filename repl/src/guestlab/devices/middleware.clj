(ns guestlab.devices.middleware
  "Middleware installed on a block device (a guestlab.devices.BlockDevice): its handler becomes a
  Wrapped, which keeps the device's own handler, the middleware in the order they were added and
  the handler function they make around it."
  (:require [guestlab.devices.handler :as handler]
            [guestlab.devices.handler-threads :as threads])
  (:import (guestlab.devices BlockDevice BlockHandler)))

(defprotocol Layers
  (layers [h] "The Clojure layers of an installed handler: {:java :stack :timeout-ms}, or nil."))

(defrecord Wrapped [java stack timeout-ms chain target]
  BlockHandler
  (handle [_ r] (handler/serve chain timeout-ms target r))
  Layers
  (layers [this] this))

(extend-protocol Layers
  Object (layers [_] nil))

(defn- apply-middleware [handler mw]
  (if (var? mw)
    (fn [m] (((deref mw) handler) m))
    (mw handler)))

(defn wrap!
  "Wraps dev's handler in middleware, around those before, from its next request on. timeout-ms
  nil keeps the one set before (or the default); target: where its events go."
  [^BlockDevice dev middleware timeout-ms target]
  (locking dev
    (let [now (layers (.handler dev))
          java (or (:java now) (.handler dev))
          stack (conj (or (:stack now) []) middleware)]
      (.setHandler dev (->Wrapped java stack (or timeout-ms (:timeout-ms now) threads/default-timeout-ms)
                                  (reduce apply-middleware (handler/device-handler java) stack)
                                  target)))))

(defn unwrap!
  "Gives dev its own handler back, from its next request on."
  [^BlockDevice dev]
  (locking dev
    (when-let [{:keys [java]} (layers (.handler dev))]
      (.setHandler dev java))))

(defn wrapped
  "The middleware around dev's own handler, innermost first ([] when there is none)."
  [^BlockDevice dev]
  (:stack (layers (.handler dev)) []))
