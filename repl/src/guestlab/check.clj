(ns guestlab.check
  "What the lab's functions check before they touch a guest: that the guest is one and has not
  been stopped, that the device and the queue exist, that each argument is what the function
  takes. A failed check throws a one-line guestlab error naming the function and the thing:

    \"rings/queues: guest a is stopped\"
    \"sim/rng-read: guest a has no device :blk9 (it has: console0 block0 net0 rng0)\"
    \"rings/chain: block0 of guest a has no queue 5 (it has 0..0)\"

  A stopped guest's memory is gone, so the stopped check comes before anything reads it."
  (:require [clojure.string :as str]
            [guestlab.errors :as err])
  (:import (guestlab.engine.sim SimGuest)
           (guestlab.engine Guest Guest$State)
           (guestlab.virtio DeviceType)))

;; --- what a value is ---------------------------------------------------------

(defprotocol AsGuest
  (as-guest [x] "x as a guestlab.engine.Guest, or nil if it is none."))

(extend-protocol AsGuest
  Guest (as-guest [g] g)
  Object (as-guest [_] nil)
  nil (as-guest [_] nil))

(defprotocol AsSimGuest
  (as-sim [x] "x as a simulated guest (engine :sim), or nil if it is none."))

(extend-protocol AsSimGuest
  SimGuest (as-sim [g] g)
  Object (as-sim [_] nil)
  nil (as-sim [_] nil))

;; --- guests ------------------------------------------------------------------

(defn guest
  "g if it is a guest (stopped or not), else throws naming fn-name."
  ^Guest [fn-name g]
  (or (as-guest g) (err/bad-arg! fn-name "guest" "a guest from g/start!" g)))

(defn stopped?
  [^Guest g]
  (= Guest$State/STOPPED (.state g)))

(defn- stopped-error [fn-name ^Guest g cause]
  (err/error :stopped (str fn-name ": guest " (.name g) " is stopped") {:fn fn-name :guest (.name g)} cause))

(defn live
  "g if it is a guest that has not been stopped, else throws \"<fn-name>: guest a is stopped\"
  (or says that g is no guest)."
  ^Guest [fn-name g]
  (let [g (guest fn-name g)]
    (when (stopped? g) (throw (stopped-error fn-name g nil)))
    g))

(defn sim
  "g if it is a simulated guest that has not been stopped, else throws naming fn-name."
  ^SimGuest [fn-name g]
  (let [vm (live fn-name g)]
    (or (as-sim vm)
        (err/fail! :engine (str fn-name ": guest " (.name vm) " is a :" (.engine vm) " guest; "
                                fn-name " plays the driver of a :sim guest only")
                   {:fn fn-name :guest (.name vm) :engine (.engine vm)}))))

(defn guarded*
  "Calls f, which works on live guest g. If it fails because g was stopped meanwhile (another
  thread stopped it), the error says so."
  [fn-name ^Guest g f]
  (try
    (f)
    (catch RuntimeException e
      (if (and (nil? (err/guestlab-error e)) (stopped? g))
        (throw (stopped-error fn-name g e))
        (throw e)))))

(defmacro with-guest
  "(with-guest [vm \"rings/queues\" g] body...): binds vm to g checked by `live` and runs body,
  guarded by `guarded*`."
  [[sym fn-name g] & body]
  `(let [fn-name# ~fn-name
         ~(vary-meta sym assoc :tag `Guest) (live fn-name# ~g)]
     (guarded* fn-name# ~sym (fn [] ~@body))))

(defmacro with-sim
  "As with-guest, for a simulated guest: binds sym to the SimGuest."
  [[sym fn-name g] & body]
  `(let [fn-name# ~fn-name
         ~(vary-meta sym assoc :tag `SimGuest) (sim fn-name# ~g)]
     (guarded* fn-name# ~sym (fn [] ~@body))))

;; --- devices and queues ------------------------------------------------------

(defn device-name
  "The name the guest knows a device by (:block0 and \"block0\" are both block0), or throws."
  ^String [fn-name device]
  (cond (keyword? device) (name device)
        (and (string? device) (not (str/blank? device))) device
        :else (err/bad-arg! fn-name "device" "a device name like :block0" device)))

(defn device
  "The name of g's device `device`, or throws
  \"<fn-name>: guest a has no device :blk9 (it has: console0 block0 net0 rng0)\"."
  ^String [fn-name ^Guest g device]
  (let [n (device-name fn-name device)
        names (vec (.devices g))]
    (when-not (some #{n} names)
      (err/fail! :no-device (str fn-name ": guest " (.name g) " has no device " (err/describe device)
                                 " (it has: " (if (seq names) (str/join " " names) "no devices") ")")
                 {:fn fn-name :guest (.name g) :device n :devices names}))
    n))

(def ^:private kinds {DeviceType/NET :net DeviceType/BLOCK :block DeviceType/CONSOLE :console DeviceType/RNG :rng})

(defn device-kind
  "What kind of device g's device `n` is: :block, :net, :console or :rng."
  [^Guest g ^String n]
  (let [t (.deviceType g n)]
    (kinds t (keyword (str "type-" t)))))

(defn device-of-kind
  "The name of g's device `device` if it is one of `kind` (:block, :net, :console, :rng), else throws
  \"<fn-name>: rng0 of guest a is a rng device, not a block device (it has block0)\"."
  ^String [fn-name ^Guest g dev kind]
  (let [n (device fn-name g dev)
        k (device-kind g n)]
    (when-not (= kind k)
      (let [same (filterv #(= kind (device-kind g %)) (.devices g))]
        (err/fail! :device-kind (str fn-name ": " n " of guest " (.name g) " is a " (name k) " device, not a "
                                     (name kind) " device ("
                                     (if (seq same) (str "its " (name kind) " devices: " (str/join " " same))
                                         (str "it has no " (name kind) " device"))
                                     ")")
                   {:fn fn-name :guest (.name g) :device n :kind k :wanted kind})))
    n))

(defn queue
  "queue if g's device n has a queue of that index, else throws
  \"<fn-name>: block0 of guest a has no queue 5 (it has 0..0)\"."
  [fn-name ^Guest g ^String n queue]
  (when-not (and (integer? queue) (not (neg? queue)))
    (err/bad-arg! fn-name "queue" "a queue index (an integer from 0)" queue))
  (let [c (.queueCount g n)]
    (when-not (< queue c)
      (err/fail! :no-queue (str fn-name ": " n " of guest " (.name g) " has no queue " queue
                                " (it has " (if (pos? c) (str "0.." (dec c)) "none") ")")
                 {:fn fn-name :guest (.name g) :device n :queue queue :queues c}))
    (int queue)))

;; --- arguments ---------------------------------------------------------------

(defn arg
  "x if (ok? x), else throws \"<fn-name>: <arg-name> must be <expected>, not <x>\"."
  [fn-name arg-name ok? expected x]
  (if (try (ok? x) (catch Exception _ false))
    x
    (err/bad-arg! fn-name arg-name expected x)))

(defn int-in
  "n if it is an integer from lo to hi, else throws naming the argument:
  \"rings/peek: n must be a positive integer up to 1048576, not -3\"."
  [fn-name arg-name lo hi n]
  (arg fn-name arg-name #(and (integer? %) (<= lo % hi))
       (cond (= 1 lo) (str "a positive integer up to " hi)
             :else (str "an integer from " lo " to " hi))
       n))

(def max-timeout-ms
  "The longest any wait of the lab may be: one hour, so that no call waits for ever by mistake."
  3600000)

(defn timeout-ms
  "ms if it is a timeout in milliseconds from 0 to an hour, else throws naming the argument."
  [fn-name arg-name ms]
  (arg fn-name arg-name #(and (integer? %) (<= 0 % max-timeout-ms))
       (str "a timeout in milliseconds from 0 to " max-timeout-ms " (an hour)") ms))

(defn byte-data
  "data as a byte array: a byte array, or a sequence of numbers from -128 to 255, of at most max
  bytes (and at least min); else throws naming the argument."
  ^bytes [fn-name arg-name min max data]
  (let [expected (str "a byte array or a sequence of numbers 0-255, of " min " to " max " bytes")
        b (cond (bytes? data) data
                (and (sequential? data) (every? #(and (integer? %) (<= -128 % 255)) (take (inc max) data)))
                (byte-array (map unchecked-byte (take (inc max) data)))
                :else (err/bad-arg! fn-name arg-name expected data))]
    (when-not (<= min (alength ^bytes b) max) (err/bad-arg! fn-name arg-name expected data))
    b))
