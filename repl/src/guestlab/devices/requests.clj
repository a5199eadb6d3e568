(ns guestlab.devices.requests
  "A block device's parsed requests as the maps handlers see:

    {:op :read  :sector 8 :length 4096}
    {:op :write :sector 8 :length 4096 :data <bytes, a copy of the guest's>}
    {:op :flush} {:op :get-id :length 20} {:op :discard :length 16}
    {:op :misaligned :type :read :sector 8 :length 100} {:op :unsupported :type 99}"
  (:import (guestlab.virtio.block BlockRequest$DataRequest BlockRequest$Discard BlockRequest$Flush
                                  BlockRequest$GetId BlockRequest$Misaligned BlockRequest$Read
                                  BlockRequest$Unsupported BlockRequest$Write BlockSpec)))

(defn copy-data
  "The first n bytes of a request's data, copied out of the guest's buffers."
  ^bytes [^BlockRequest$DataRequest r n]
  (let [b (byte-array n)]
    (.read r 0 b 0 (int n))
    b))

(defn- type-op [t]
  (condp = (int t) BlockSpec/T_IN :read BlockSpec/T_OUT :write BlockSpec/T_DISCARD :discard
         (keyword (str "type-" t))))

(defprotocol AsRequest
  (->request [r] "A parsed request as a map; the data of a write is copied out of the guest's buffers."))

(extend-protocol AsRequest
  BlockRequest$Read (->request [r] {:op :read :sector (.sector r) :length (.length r)})
  BlockRequest$Write (->request [r] {:op :write :sector (.sector r) :length (.length r) :data (copy-data r (.length r))})
  BlockRequest$Flush (->request [_] {:op :flush})
  BlockRequest$GetId (->request [r] {:op :get-id :length (.length r)})
  BlockRequest$Discard (->request [r] {:op :discard :length (.length r)})
  BlockRequest$Misaligned (->request [r] {:op :misaligned :type (type-op (.type r)) :sector (.sector r) :length (.length r)})
  BlockRequest$Unsupported (->request [r] {:op :unsupported :type (.type r)}))

(defn describe
  "A request map as a few words: \"write sector 2048 +4096\"."
  [{:keys [op sector length]}]
  (str (name op) (when sector (str " sector " sector)) (when (and length (#{:read :write} op)) (str " +" length))))
