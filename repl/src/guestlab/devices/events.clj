(ns guestlab.devices.events
  "Where a device's Clojure handlers tell what they did: a target, {:events bus :guest name
  :device name}. A handler a guest's spec builds (a disk kept in a store, an entropy source)
  exists before its guest does, and is bound to the guest's target once it has started."
  (:import (guestlab.engine DeviceSpec Guest)
           (guestlab.events Event EventBus EventKind)))

(def unbound
  "The target of a handler whose guest has not started yet: its events go nowhere."
  {:guest "" :device ""})

(defn target
  "The target of guest vm's device (a name)."
  [^Guest vm device]
  {:events (.events vm) :guest (.name vm) :device device})

(defn publish!
  "Publishes an event of kind with text detail to a target; nothing when it has no events."
  [{:keys [^EventBus events guest device]} ^EventKind kind detail]
  (when events (.publish events (Event/note guest device -1 kind detail))))

(defprotocol Bindable
  (bind! [h vm device] "Points a handler built before its guest started at guest vm's device's target."))

(extend-protocol Bindable
  Object (bind! [_ _ _] nil))

(defn bind-handlers!
  "Binds the handlers that g's spec built before g started. specs: g's DeviceSpecs. Returns g."
  [^Guest g specs]
  (doseq [^DeviceSpec d (DeviceSpec/withDefaultNames specs)
          :let [h (get (.options d) DeviceSpec/HANDLER)]
          :when h]
    (bind! h g (.name d)))
  g)
