(ns guestlab.devices.scratch
  "A request map served by a block handler from scratch memory instead of a guest's buffers: how
  a request a middleware changed reaches the device's own handler, and how a replay issues one."
  (:import (guestlab.devices BlockHandler)
           (guestlab.memory GuestMemory MemfdMemory)
           (guestlab.virtio Buffer DescriptorChain)
           (guestlab.virtio.block BlockCompletion BlockRequest$Parser BlockSpec)))

(def ^:private statuses {BlockSpec/S_OK :ok BlockSpec/S_IOERR :ioerr BlockSpec/S_UNSUPP :unsupp})

(defn status-of
  "A completion's status: :ok, :unsupp, or :ioerr for anything else."
  [^BlockCompletion c]
  (statuses (.status c) :ioerr))

(defn- chain
  "A chain in scratch memory carrying request m: header at 0, data at 16, status byte last."
  [^GuestMemory mem {:keys [op sector length data]}]
  (let [t ({:read BlockSpec/T_IN :write BlockSpec/T_OUT :flush BlockSpec/T_FLUSH :get-id BlockSpec/T_GET_ID} op)
        n (long (or length 0))
        status (+ 16 n)]
    (.writeU32 mem 0 t)
    (.writeU64 mem 8 (long (or sector 0)))
    (if (= :write op)
      (do (.write mem 16 ^bytes data)
          (DescriptorChain. 0 0 [(Buffer. 0 (int status))] [(Buffer. status 1)] 0))
      (DescriptorChain. 0 0 [(Buffer. 0 16)] (cond-> [] (pos? n) (conj (Buffer. 16 (int n))) true (conj (Buffer. status 1))) 0))))

(defn serve
  "Request map m (a :read, :write, :flush or :get-id) served by handler h as a guest's request
  is, from scratch memory: {:status s}, with :data for a read or get-id that is :ok."
  [^BlockHandler h m]
  (with-open [mem (MemfdMemory/allocate "guestlab-request" (* 4096 (inc (quot (+ 17 (long (or (:length m) 0))) 4096))))]
    (let [r (.parse (BlockRequest$Parser.) mem (chain mem m))
          c (.handle h r)
          status (status-of c)]
      (cond-> {:status status}
        (and (= :ok status) (pos? (.dataWritten c))) (assoc :data (.read mem 16 (.dataWritten c)))))))
