(ns guestlab.devices
  "Device behaviour as functions, on a running guest. A block device's requests become maps, a
  handler is a function from a request map to a completion map, and middleware wraps handlers as
  in Ring: (fn [handler] (fn [request] ...)). The innermost handler is the device's own (Java).

    (dev/wrap! vm :block0 (faults/io-error {:sectors [2048 4095] :ops #{:write}}))
    (dev/wrap! vm :block0 #'my-middleware)  ; a var is looked up per request
    (dev/unwrap! vm :block0)                ; the device's own behaviour again

  A request:   {:op :read  :sector 8 :length 4096 :guest \"a\" :device \"block0\"}
               {:op :write :sector 8 :length 4096 :data <bytes, a copy of the guest's>}
               {:op :flush} {:op :get-id :length 20} {:op :discard :length 16}
               {:op :misaligned :type :read :sector 8 :length 100} {:op :unsupported :type 99}
  A completion: {:status :ok|:ioerr|:unsupp}, with :data (bytes) for a read or get-id that is :ok;
               :faults, a vector of {:fault kind :did text}, becomes one FAULT event each.

  A middleware may call the next handler with a changed request (another :sector, :length or
  :data); the device's own handler then serves it from a copy, not from the guest's buffers.
  Handlers run on a thread of their own: one that throws, returns anything but a completion, or
  takes longer than :timeout-ms (5000 unless given to wrap!) completes the request with IOERR and
  publishes a HANDLER_ERROR event; the device and the guest keep running. A write the device's
  own handler has done stays done, whatever the handlers around it answer.

  (dev/replay \"trace.edn\" vm :block0) re-issues what (faults/record \"trace.edn\") recorded and
  names the requests whose completions differ.

  This namespace is the API, on guests and their devices. Beneath it: guestlab.devices.requests
  (requests as maps), .handler (serving one through handler functions), .middleware (installing
  them on a device), .stores and .rng (devices defined in Clojure), .replay, and .scratch,
  .handler-threads and .events, which those share."
  (:require [guestlab.check :as check]
            [guestlab.devices.events :as events]
            [guestlab.devices.middleware :as middleware]
            [guestlab.devices.replay :as replay]
            [guestlab.devices.rng :as rng]
            [guestlab.devices.stores :as stores]
            [guestlab.errors :as err])
  (:import (guestlab.devices BlockDevice)
           (guestlab.engine Guest)
           (java.io File IOException)))

(defn- block-device ^BlockDevice [fn-name ^Guest vm device]
  (.device vm (check/device-of-kind fn-name vm device :block)))

;; --- middleware around a running guest's disk --------------------------------------

(defn wrap!
  "Wraps the handler of g's block device in middleware, (fn [handler] (fn [request] completion)),
  from its next request on; each wrap goes around the ones before. A var is looked up per
  request. Options: :timeout-ms per request (default 5000). Returns g."
  ([g device middleware] (wrap! g device middleware {}))
  ([g device middleware {:keys [timeout-ms]}]
   (check/with-guest [vm "dev/wrap!" g]
     (let [f "dev/wrap!"
           dev (block-device f vm device)]
       (check/arg f "middleware" ifn? "a function (fn [handler] (fn [request] ...)) or its var" middleware)
       (some->> timeout-ms (check/int-in f ":timeout-ms" 1 3600000))
       (middleware/wrap! dev middleware timeout-ms (events/target vm (check/device-name f device)))
       g))))

(defn unwrap!
  "Gives g's block device its own handler back, from its next request on. Returns g."
  [g device]
  (check/with-guest [vm "dev/unwrap!" g]
    (middleware/unwrap! (block-device "dev/unwrap!" vm device))
    g))

(defn wrapped
  "The middleware around g's block device, innermost first ([] when it has its own handler)."
  [g device]
  (check/with-guest [vm "dev/wrapped" g]
    (middleware/wrapped (block-device "dev/wrapped" vm device))))

;; --- disks and entropy sources defined in Clojure ------------------------------------

(defn memory-store
  "A store in this JVM's memory, sparse: only the sectors written take room. The host reads what
  the guest wrote with (dev/read-sectors store sector n)."
  []
  (stores/memory-store))

(defn fn-store
  "A store made of functions: {:read (fn [sector n] bytes) :write (fn [sector bytes]) :flush (fn [])};
  :flush may be left out."
  [{:keys [read write] :as fns}]
  (check/arg "dev/fn-store" ":read" ifn? "a function (fn [sector n] bytes)" read)
  (check/arg "dev/fn-store" ":write" ifn? "a function (fn [sector bytes])" write)
  (stores/fn-store fns))

(defn store?
  "Whether x is a block store."
  [x]
  (stores/store? x))

(defn read-sectors
  "n sectors of store from sector on, as a byte array (zeros where never written)."
  [store sector n]
  (stores/read-sectors store sector n))

(defn store-handler
  "The device's own handler for a disk of size bytes kept in store: what
  [:block {:size \"64M\" :store store}] becomes."
  [store size read-only?]
  (stores/handler store size read-only?))

(defn rng-handler
  "An entropy device whose bytes come from (source n), which gives up to n bytes: what
  [:rng {:source f}] becomes. A source that throws, is late or gives anything else leaves that
  request empty and is a HANDLER_ERROR event; the guest and device go on."
  [source]
  (rng/handler source))

(defn bind-handlers!
  "Points the handlers that g's spec built before g started (its disks kept in stores, its
  entropy sources) at g's events. specs: g's guestlab.engine.DeviceSpecs. Returns g."
  [g specs]
  (events/bind-handlers! g specs))

;; --- replaying a recorded trace -------------------------------------------------------

(def ^:private store-replay-size
  "The size of the disk a store is replayed as: large enough for any sector a trace names."
  (* 512 (bit-shift-left 1 40)))

(defn- open-image ^BlockDevice [fn-name target]
  (try (BlockDevice/open (.toPath (File. (str target))) false)
       (catch IOException e
         (err/fail! :argument (str fn-name ": " (err/one-line (ex-message e))) {:fn fn-name :target (str target)}))))

(defn replay
  "Re-issues the requests recorded in file (by faults/record) in order, each the way a guest's
  request reaches the device (from scratch memory, through its handlers), and compares each
  completion's status and read data (sha256) with the recorded one:
  {:requests n :matched n :mismatches [{:index i :request .. :recorded .. :replayed ..}]}, and
  :skipped n for requests that cannot be replayed (discard, misaligned, unsupported).

    (dev/replay \"trace.edn\" vm :block0)   ; a running guest's device, with what wraps it
    (dev/replay \"trace.edn\" \"copy.img\")   ; a disk image file
    (dev/replay \"trace.edn\" store)        ; a store, (dev/memory-store) or (dev/fn-store ...)

  Writes are replayed only from a trace recorded with {:data? true}; writes replayed change the target."
  ([file target]
   (let [f "dev/replay"]
     (cond
       (store? target) (replay/replay f file (store-handler target store-replay-size false))
       (or (string? target) (instance? File target)) (with-open [dev (open-image f target)]
                                                       (replay/replay f file (.handler dev)))
       :else (err/bad-arg! f "target" "a disk image file, a store, or a guest and its device" target))))
  ([file g device]
   (check/with-guest [vm "dev/replay" g]
     (replay/replay "dev/replay" file (.handler (block-device "dev/replay" vm device))))))
