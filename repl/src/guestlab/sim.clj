(ns guestlab.sim
  "Play the guest's side of a simulated guest (engine :sim): its drivers read and write the
  devices over the lguest bus, so you can watch the rings move."
  (:require [guestlab.check :as check]
            [guestlab.errors :as err])
  (:import (guestlab.virtio.net NetSpec)
           (guestlab.engine.sim SimBlockDriver SimGuest)
           (java.time Duration)))

(def max-block-bytes
  "The most bytes one block-read or block-write! moves: 64 MiB."
  (* 64 1024 1024))

(def max-bytes
  "The most bytes one rng-read or console-write! moves: 1 MiB."
  (* 1024 1024))

(defn- block ^SimBlockDriver [fn-name ^SimGuest vm device]
  (.block vm (check/device-of-kind fn-name vm device :block)))

(defn- sectors
  "Checks that n bytes from sector fit on the disk of drv, g's block device `device`."
  [fn-name ^SimGuest vm device ^SimBlockDriver drv sector n]
  (check/arg fn-name "sector" #(and (integer? %) (<= 0 % Long/MAX_VALUE)) "a sector number (an integer from 0)" sector)
  (let [name (check/device-name fn-name device)
        capacity (.capacity drv)
        count (quot n 512)]
    (when (> (+ sector count) capacity)
      (err/fail! :past-end (str fn-name ": " (if (= 1 count) (str "sector " sector " is") (str "sectors " sector ".." (+ sector count -1) " are"))
                                " past the end of " name " of guest " (.name vm) " (it has " capacity " sectors)")
                 {:fn fn-name :guest (.name vm) :device name :sector sector :sectors count :capacity capacity}))))

(defn block-write!
  "The guest writes bytes (a multiple of 512, up to 64 MiB) at a 512-byte sector."
  [g device sector data]
  (check/with-sim [vm "sim/block-write!" g]
    (let [f "sim/block-write!"
          drv (block f vm device)]
      (check/arg f "data" #(and (bytes? %) (pos? (alength ^bytes %)) (zero? (rem (alength ^bytes %) 512))
                                (<= (alength ^bytes %) max-block-bytes))
                 (str "a byte array of a whole number of 512-byte sectors, up to " max-block-bytes " bytes") data)
      (sectors f vm device drv sector (alength ^bytes data))
      (when (.readOnly drv)
        (err/fail! :read-only (str f ": " (check/device-name f device) " of guest " (.name vm) " is read-only")
                   {:fn f :guest (.name vm) :device (check/device-name f device)}))
      (.write drv (long sector) ^bytes data))))

(defn block-read
  "The guest reads n bytes (a multiple of 512, up to 64 MiB) from a sector."
  ^bytes [g device sector n]
  (check/with-sim [vm "sim/block-read" g]
    (let [f "sim/block-read"
          drv (block f vm device)]
      (check/arg f "n" #(and (integer? %) (< 0 % (inc max-block-bytes)) (zero? (rem % 512)))
                 (str "a positive multiple of 512 up to " max-block-bytes) n)
      (sectors f vm device drv sector n)
      (.read drv (long sector) (int n)))))

(defn block-flush!
  "The guest asks for a flush; returns when the data is on stable storage."
  [g device]
  (check/with-sim [vm "sim/block-flush!" g]
    (.flush (block "sim/block-flush!" vm device))))

(defn block-capacity
  "Capacity in 512-byte sectors, as the guest reads it from config space."
  [g device]
  (check/with-sim [vm "sim/block-capacity" g]
    (.capacity (block "sim/block-capacity" vm device))))

(defn console-write!
  "The guest writes text (a string) to its console."
  [g device text]
  (check/with-sim [vm "sim/console-write!" g]
    (let [f "sim/console-write!"
          n (check/device-of-kind f vm device :console)]
      (check/arg f "text" #(and (string? %) (<= (count %) max-bytes)) (str "a string of up to " max-bytes " characters") text)
      (.write (.console vm n) ^String text))))

(defn console-read
  "What the host sent to the guest's console, waiting up to timeout-ms for the first bytes."
  ([g device] (console-read g device 1000))
  ([g device timeout-ms]
   (check/with-sim [vm "sim/console-read" g]
     (let [f "sim/console-read"
           n (check/device-of-kind f vm device :console)]
       (check/timeout-ms f "timeout-ms" timeout-ms)
       (.read (.console vm n) (Duration/ofMillis timeout-ms))))))

(defn rng-read
  "n bytes (1 to 1 MiB) from the guest's virtio-rng."
  ^bytes [g device n]
  (check/with-sim [vm "sim/rng-read" g]
    (let [f "sim/rng-read"
          d (check/device-of-kind f vm device :rng)]
      (check/int-in f "n" 1 max-bytes n)
      (.read (.rng vm d) (int n)))))

(defn net-mac
  "The MAC address the guest reads from its net device's config space."
  ^bytes [g device]
  (check/with-sim [vm "sim/net-mac" g]
    (.mac (.net vm (check/device-of-kind "sim/net-mac" vm device :net)))))

(defn net-send!
  "The guest sends one Ethernet frame (14 to 1514 bytes)."
  [g device frame]
  (check/with-sim [vm "sim/net-send!" g]
    (let [f "sim/net-send!"
          n (check/device-of-kind f vm device :net)]
      (check/arg f "frame" #(and (bytes? %) (<= 14 (alength ^bytes %) NetSpec/MAX_FRAME))
                 (str "a byte array of 14 to " NetSpec/MAX_FRAME " bytes (an Ethernet frame)") frame)
      (.send (.net vm n) ^bytes frame))))

(defn net-receive
  "The next frame the guest received, or nil after timeout-ms."
  ([g device] (net-receive g device 1000))
  ([g device timeout-ms]
   (check/with-sim [vm "sim/net-receive" g]
     (let [f "sim/net-receive"
           n (check/device-of-kind f vm device :net)]
       (check/timeout-ms f "timeout-ms" timeout-ms)
       (.receive (.net vm n) (Duration/ofMillis timeout-ms))))))
