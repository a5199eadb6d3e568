(ns guestlab.sim
  "Play the guest's side of a simulated guest (engine :sim): its drivers read and write the
  devices over the lguest bus, so you can watch the rings move."
  (:import (guestlab.engine.sim SimGuest)
           (java.time Duration)))

(defn- sim ^SimGuest [g]
  (if (instance? SimGuest g)
    g
    (throw (ex-info (str "not a simulated guest: " g " (start it with :engine :sim)") {:guest g}))))

(defn- dev [d] (if (keyword? d) (name d) (str d)))

(defn block-write!
  "The guest writes bytes at a 512-byte sector."
  [g device sector ^bytes data]
  (.write (.block (sim g) (dev device)) (long sector) data))

(defn block-read
  "The guest reads n bytes (a multiple of 512) from a sector."
  ^bytes [g device sector n]
  (.read (.block (sim g) (dev device)) (long sector) (int n)))

(defn block-flush!
  "The guest asks for a flush; returns when the data is on stable storage."
  [g device]
  (.flush (.block (sim g) (dev device))))

(defn block-capacity
  "Capacity in 512-byte sectors, as the guest reads it from config space."
  [g device]
  (.capacity (.block (sim g) (dev device))))

(defn console-write!
  "The guest writes text to its console."
  [g device text]
  (.write (.console (sim g) (dev device)) (str text)))

(defn console-read
  "What the host sent to the guest's console, waiting up to timeout-ms for the first bytes."
  ([g device] (console-read g device 1000))
  ([g device timeout-ms]
   (.read (.console (sim g) (dev device)) (Duration/ofMillis timeout-ms))))

(defn rng-read
  "n bytes from the guest's virtio-rng."
  ^bytes [g device n]
  (.read (.rng (sim g) (dev device)) (int n)))

(defn net-mac
  "The MAC address the guest reads from its net device's config space."
  ^bytes [g device]
  (.mac (.net (sim g) (dev device))))

(defn net-send!
  "The guest sends one Ethernet frame."
  [g device ^bytes frame]
  (.send (.net (sim g) (dev device)) frame))

(defn net-receive
  "The next frame the guest received, or nil after timeout-ms."
  ([g device] (net-receive g device 1000))
  ([g device timeout-ms]
   (.receive (.net (sim g) (dev device)) (Duration/ofMillis timeout-ms))))
