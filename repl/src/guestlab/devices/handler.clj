(ns guestlab.devices.handler
  "Serving one block request through a handler function, a function from a request map to a
  completion map. The innermost handler is the device's own (Java): it serves the guest's own
  request while the request is unchanged, and a copy from scratch memory when a middleware
  changed it. The completion goes back into the guest's request; a handler that throws, returns
  anything but a completion or is late answers IOERR and is a HANDLER_ERROR event."
  (:require [guestlab.devices.events :as events]
            [guestlab.devices.handler-threads :as threads]
            [guestlab.devices.requests :as requests]
            [guestlab.devices.scratch :as scratch]
            [guestlab.errors :as err])
  (:import (guestlab.devices BlockHandler)
           (guestlab.events EventKind)
           (guestlab.virtio.block BlockCompletion BlockRequest BlockRequest$DataRequest)
           (java.util.concurrent Future TimeUnit TimeoutException)
           (java.util.concurrent.locks ReentrantLock)))

;; --- the device's own handler, called from Clojure --------------------------------

(def ^:private ^:dynamic *call*
  "The request being served: {:request BlockRequest :original map :lock ReentrantLock :open? volatile
  :served-data volatile}."
  nil)

(defn- with-live-request
  "Runs (f request) on the guest's own request while the device still waits for it; after a
  timeout the request belongs to the next chain and this throws instead."
  [{:keys [^ReentrantLock lock open? request]} f]
  (.lock lock)
  (try
    (when-not @open? (throw (ex-info "the request timed out before its handler reached the device" {})))
    (f request)
    (finally (.unlock lock))))

(defn- serve-live
  "The Java handler serves the guest's own request; a read's data is copied back out for the map."
  [^BlockHandler java call]
  (with-live-request call
    (fn [^BlockRequest r]
      (let [c (.handle java r)
            status (scratch/status-of c)]
        (if (and (= :ok status) (instance? BlockRequest$DataRequest r) (pos? (.dataWritten c)))
          (let [data (requests/copy-data r (.dataWritten c))]
            (vreset! (:served-data call) data)
            {:status :ok :data data})
          {:status status})))))

(defn- check-changed [{:keys [op sector length data] :as m}]
  (let [bad #(throw (ex-info (str "a changed request must " % ", not " (err/describe (dissoc m :data))) {}))]
    (when-not (#{:read :write :flush :get-id} op) (bad "be a :read, :write, :flush or :get-id"))
    (when (#{:read :write} op)
      (when-not (and (integer? sector) (<= 0 sector)) (bad "have a :sector from 0"))
      (when-not (and (integer? length) (< 0 length (inc (* 64 1024 1024))) (zero? (rem length 512)))
        (bad "have a :length of whole sectors up to 64 MiB")))
    (when (and (= :write op) (not (and (bytes? data) (= length (alength ^bytes data)))))
      (bad "have :data of :length bytes"))
    (when (and (= :get-id op) (not (and (integer? length) (<= 0 length 4096)))) (bad "have a :length up to 4096"))))

(defn- same-request? [m original]
  (and (= (:op m) (:op original)) (= (:sector m) (:sector original)) (= (:length m) (:length original))
       (identical? (:data m) (:data original))))

(defn device-handler
  "The device's own handler as a handler function, the innermost of a chain."
  [^BlockHandler java]
  (fn [m]
    (let [call *call*]
      (if (same-request? m (:original call))
        (serve-live java call)
        (do (check-changed m)
            (scratch/serve java m))))))

;; --- completions back to the guest ------------------------------------------------

(defn- put-data!
  "Writes a completion's data into the guest's request, unless it is what the device put there."
  [call ^BlockRequest$DataRequest r ^bytes data]
  (when-not (identical? data @(:served-data call))
    (.write r 0 data 0 (alength data)))
  (BlockCompletion/ok (alength data)))

(defn- ->completion
  "Completion map c as the device's BlockCompletion, its data written into the guest's request."
  ^BlockCompletion [call m c]
  (when-not (map? c) (threads/returned-garbage! "no completion map" c))
  (let [{:keys [status data]} c
        ^BlockRequest r (:request call)]
    (case status
      :ioerr BlockCompletion/IOERR
      :unsupp BlockCompletion/UNSUPP
      :ok (case (:op m)
            :read (if (and (bytes? data) (= (:length m) (alength ^bytes data)))
                    (put-data! call r data)
                    (threads/returned-garbage! (str "a read's completion without :data of " (:length m) " bytes") c))
            :get-id (if (and (bytes? data) (<= (alength ^bytes data) (min 20 (:length m))))
                      (put-data! call r data)
                      (threads/returned-garbage! "a get-id's completion without :data of up to 20 bytes" c))
            BlockCompletion/OK)
      (threads/returned-garbage! "a completion whose :status is not :ok, :ioerr or :unsupp" c))))

;; --- serving a request through handlers -------------------------------------------

(defn serve
  "Serves one parsed request through handler function h within timeout-ms, telling target
  (guestlab.devices.events) of the faults it reports and of its failures; never throws."
  ^BlockCompletion [h timeout-ms target ^BlockRequest r]
  (let [call {:request r :lock (ReentrantLock.) :open? (volatile! true) :served-data (volatile! nil)}
        close! (fn [] (.lock ^ReentrantLock (:lock call)) (vreset! (:open? call) false) (.unlock ^ReentrantLock (:lock call)))
        m (try (assoc (requests/->request r) :guest (:guest target) :device (:device target))
               (catch Throwable e
                 (events/publish! target EventKind/HANDLER_ERROR
                                  (str r " could not be read for its handler: " (err/one-line (ex-message e)) "; answered IOERR"))
                 nil))]
    (if (nil? m)
      BlockCompletion/IOERR
      (let [call (assoc call :original m)
            ^Future f (threads/submit (fn [] (binding [*call* call] (h m))))]
        (try
          (let [c (.get f (long timeout-ms) TimeUnit/MILLISECONDS)]
            (close!)
            (let [done (->completion call m c)]
              (doseq [{:keys [fault did]} (:faults c)]
                (events/publish! target EventKind/FAULT
                                 (str (name (or fault :fault)) " on " (requests/describe m) ": " did)))
              done))
          (catch TimeoutException _
            (close!)
            (.cancel f true)
            (events/publish! target EventKind/HANDLER_ERROR
                             (str (requests/describe m) ": handler took longer than " timeout-ms " ms; answered IOERR"))
            BlockCompletion/IOERR)
          (catch Throwable e
            (close!)
            (events/publish! target EventKind/HANDLER_ERROR
                             (str (requests/describe m) ": " (threads/failure-text e) "; answered IOERR"))
            BlockCompletion/IOERR))))))
