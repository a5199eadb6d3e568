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
  names the requests whose completions differ."
  (:require [clojure.string :as str]
            [guestlab.blocktrace :as trace]
            [guestlab.check :as check]
            [guestlab.errors :as err])
  (:import (guestlab.devices BlockDevice BlockHandler RngHandler)
           (guestlab.engine Guest)
           (guestlab.events Event EventBus EventKind)
           (guestlab.memory GuestMemory MemfdMemory)
           (guestlab.virtio Buffer Buffers DescriptorChain)
           (guestlab.virtio.rng EntropyRequest)
           (guestlab.virtio.block BlockCompletion BlockRequest BlockRequest$DataRequest BlockRequest$Discard
                                  BlockRequest$Flush BlockRequest$GetId BlockRequest$Misaligned BlockRequest$Parser
                                  BlockRequest$Read BlockRequest$Unsupported BlockRequest$Write BlockSpec)
           (java.util.concurrent Callable ExecutionException ExecutorService Executors Future ThreadFactory
                                 TimeUnit TimeoutException)
           (java.util.concurrent.atomic AtomicLong)
           (java.util.concurrent.locks ReentrantLock)))

(def default-timeout-ms
  "How long a request's handlers may take before it completes with IOERR."
  5000)

;; --- requests as data ----------------------------------------------------------

(defn- copy-data ^bytes [^BlockRequest$DataRequest r n]
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

(defn describe-request
  "A request as a few words: \"write sector 2048 +4096\"."
  [{:keys [op sector length]}]
  (str (name op) (when sector (str " sector " sector)) (when (and length (#{:read :write} op)) (str " +" length))))

;; --- the device's own handler, called from Clojure --------------------------------

(def ^:private ^:dynamic *call*
  "The request being served: {:request BlockRequest :original map :lock ReentrantLock :open? volatile}."
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

(def ^:private statuses {BlockSpec/S_OK :ok BlockSpec/S_IOERR :ioerr BlockSpec/S_UNSUPP :unsupp})

(defn- status-of [^BlockCompletion c]
  (statuses (.status c) :ioerr))

(defn- serve-live
  "The Java handler serves the guest's own request; a read's data is copied back out for the map."
  [^BlockHandler java call]
  (with-live-request call
    (fn [^BlockRequest r]
      (let [c (.handle java r)
            status (status-of c)]
        (if (and (= :ok status) (instance? BlockRequest$DataRequest r) (pos? (.dataWritten c)))
          (let [data (copy-data r (.dataWritten c))]
            (vreset! (:served-data call) data)
            {:status :ok :data data})
          {:status status})))))

(defn- detached-chain
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

(defn- check-detached [{:keys [op sector length data] :as m}]
  (let [bad #(throw (ex-info (str "a changed request must " % ", not " (err/describe (dissoc m :data))) {}))]
    (when-not (#{:read :write :flush :get-id} op) (bad "be a :read, :write, :flush or :get-id"))
    (when (#{:read :write} op)
      (when-not (and (integer? sector) (<= 0 sector)) (bad "have a :sector from 0"))
      (when-not (and (integer? length) (< 0 length (inc (* 64 1024 1024))) (zero? (rem length 512)))
        (bad "have a :length of whole sectors up to 64 MiB")))
    (when (and (= :write op) (not (and (bytes? data) (= length (alength ^bytes data)))))
      (bad "have :data of :length bytes"))
    (when (and (= :get-id op) (not (and (integer? length) (<= 0 length 4096)))) (bad "have a :length up to 4096"))))

(defn- serve-detached
  "The Java handler serves request map m from scratch memory, not the guest's."
  [^BlockHandler java m]
  (check-detached m)
  (with-open [mem (MemfdMemory/allocate "guestlab-request" (* 4096 (inc (quot (+ 17 (long (or (:length m) 0))) 4096))))]
    (let [r (.parse (BlockRequest$Parser.) mem (detached-chain mem m))
          c (.handle java r)
          status (status-of c)]
      (if (and (= :ok status) (pos? (.dataWritten c)))
        {:status :ok :data (.read mem 16 (.dataWritten c))}
        {:status status}))))

(defn- same-request? [m original]
  (and (= (:op m) (:op original)) (= (:sector m) (:sector original)) (= (:length m) (:length original))
       (identical? (:data m) (:data original))))

(defn- java-handler-fn
  "The device's own handler as a handler function."
  [^BlockHandler java]
  (fn [m]
    (let [call *call*]
      (if (same-request? m (:original call))
        (serve-live java call)
        (serve-detached java m)))))

;; --- completions back to the guest ------------------------------------------------

(defn- garbage! [what c]
  (throw (ex-info (str "returned " what ": " (err/describe c)) {::garbage true})))

(defn- put-data!
  "Writes a completion's data into the guest's request, unless it is what the device put there."
  [call ^BlockRequest$DataRequest r ^bytes data]
  (when-not (identical? data @(:served-data call))
    (.write r 0 data 0 (alength data)))
  (BlockCompletion/ok (alength data)))

(defn- ->completion
  "Completion map c as the device's BlockCompletion, its data written into the guest's request."
  ^BlockCompletion [call m c]
  (when-not (map? c) (garbage! "no completion map" c))
  (let [{:keys [status data]} c
        ^BlockRequest r (:request call)]
    (case status
      :ioerr BlockCompletion/IOERR
      :unsupp BlockCompletion/UNSUPP
      :ok (case (:op m)
            :read (if (and (bytes? data) (= (:length m) (alength ^bytes data)))
                    (put-data! call r data)
                    (garbage! (str "a read's completion without :data of " (:length m) " bytes") c))
            :get-id (if (and (bytes? data) (<= (alength ^bytes data) (min 20 (:length m))))
                      (put-data! call r data)
                      (garbage! "a get-id's completion without :data of up to 20 bytes" c))
            BlockCompletion/OK)
      (garbage! "a completion whose :status is not :ok, :ioerr or :unsupp" c))))

;; --- serving a request through handlers -------------------------------------------

(defonce ^:private ^ExecutorService pool
  (let [n (AtomicLong.)]
    (Executors/newCachedThreadPool
     (reify ThreadFactory
       (newThread [_ r] (doto (Thread. ^Runnable r (str "guestlab-handler-" (.incrementAndGet n))) (.setDaemon true)))))))

(defn- publish! [^EventBus events guest device ^EventKind kind detail]
  (when events (.publish events (Event/note guest device -1 kind detail))))

(defn- failure-text [^Throwable e]
  (let [e (if (instance? ExecutionException e) (.getCause e) e)]
    (if (::garbage (ex-data e))
      (str "handler " (ex-message e))
      (str "handler threw " (.getName (class e)) ": " (err/one-line (ex-message e))))))

(defn- serve
  "Serves one parsed request through handler function h within timeout-ms; never throws."
  ^BlockCompletion [h timeout-ms events guest device ^BlockRequest r]
  (let [call {:request r :lock (ReentrantLock.) :open? (volatile! true) :served-data (volatile! nil)}
        close! (fn [] (.lock ^ReentrantLock (:lock call)) (vreset! (:open? call) false) (.unlock ^ReentrantLock (:lock call)))
        m (try (assoc (->request r) :guest guest :device device)
               (catch Throwable e
                 (publish! events guest device EventKind/HANDLER_ERROR
                           (str r " could not be read for its handler: " (err/one-line (ex-message e)) "; answered IOERR"))
                 nil))]
    (if (nil? m)
      BlockCompletion/IOERR
      (let [call (assoc call :original m)
            ^Future f (.submit pool ^Callable (fn [] (binding [*call* call] (h m))))]
        (try
          (let [c (.get f (long timeout-ms) TimeUnit/MILLISECONDS)]
            (close!)
            (let [done (->completion call m c)]
              (doseq [{:keys [fault did]} (:faults c)]
                (publish! events guest device EventKind/FAULT
                          (str (name (or fault :fault)) " on " (describe-request m) ": " did)))
              done))
          (catch TimeoutException _
            (close!)
            (.cancel f true)
            (publish! events guest device EventKind/HANDLER_ERROR
                      (str (describe-request m) ": handler took longer than " timeout-ms " ms; answered IOERR"))
            BlockCompletion/IOERR)
          (catch Throwable e
            (close!)
            (publish! events guest device EventKind/HANDLER_ERROR
                      (str (describe-request m) ": " (failure-text e) "; answered IOERR"))
            BlockCompletion/IOERR))))))

;; --- installing handlers ------------------------------------------------------------

(defprotocol Layers
  (layers [h] "The Clojure layers of an installed handler: {:java :stack :timeout-ms}, or nil."))

(defrecord Wrapped [java stack timeout-ms chain events guest device]
  BlockHandler
  (handle [_ r] (serve chain timeout-ms events guest device r))
  Layers
  (layers [this] this))

(extend-protocol Layers
  Object (layers [_] nil))

(defn- apply-middleware [handler mw]
  (if (var? mw)
    (fn [m] (((deref mw) handler) m))
    (mw handler)))

(defn- block-device ^BlockDevice [fn-name ^Guest vm device]
  (.device vm (check/device-of-kind fn-name vm device :block)))

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
       (locking dev
         (let [now (layers (.handler dev))
               java (or (:java now) (.handler dev))
               stack (conj (or (:stack now) []) middleware)]
           (.setHandler dev (->Wrapped java stack (or timeout-ms (:timeout-ms now) default-timeout-ms)
                                       (reduce apply-middleware (java-handler-fn java) stack)
                                       (.events vm) (.name vm) (check/device-name f device)))))
       g))))

(defn unwrap!
  "Gives g's block device its own handler back, from its next request on. Returns g."
  [g device]
  (check/with-guest [vm "dev/unwrap!" g]
    (let [dev (block-device "dev/unwrap!" vm device)]
      (locking dev
        (when-let [{:keys [java]} (layers (.handler dev))]
          (.setHandler dev java)))
      g)))

(defn wrapped
  "The middleware around g's block device, innermost first ([] when it has its own handler)."
  [g device]
  (check/with-guest [vm "dev/wrapped" g]
    (:stack (layers (.handler (block-device "dev/wrapped" vm device))) [])))

;; --- whole devices in Clojure: a disk whose storage is a store ------------------------

(defprotocol BlockStore
  "Where a disk defined in Clojure keeps its sectors."
  (read-sectors [store sector n] "n sectors from sector, as a byte array (zeros where never written).")
  (write-sectors! [store sector data] "Stores data, whole sectors, from sector on.")
  (flush-store! [store] "Makes what was written durable, as far as the store can."))

(defn memory-store
  "A store in this JVM's memory, sparse: only the sectors written take room. The host reads what
  the guest wrote with (dev/read-sectors store sector n)."
  []
  (let [sectors (java.util.concurrent.ConcurrentHashMap.)]
    (reify BlockStore
      (read-sectors [_ sector n]
        (let [out (byte-array (* 512 n))]
          (dotimes [i n]
            (when-let [^bytes b (.get sectors (+ sector i))] (System/arraycopy b 0 out (* 512 i) 512)))
          out))
      (write-sectors! [_ sector data]
        (dotimes [i (quot (alength ^bytes data) 512)]
          (.put sectors (+ sector i) (java.util.Arrays/copyOfRange ^bytes data (int (* 512 i)) (int (* 512 (inc i)))))))
      (flush-store! [_] nil))))

(defn fn-store
  "A store made of functions: {:read (fn [sector n] bytes) :write (fn [sector bytes]) :flush (fn [])};
  :flush may be left out."
  [{:keys [read write flush]}]
  (check/arg "dev/fn-store" ":read" ifn? "a function (fn [sector n] bytes)" read)
  (check/arg "dev/fn-store" ":write" ifn? "a function (fn [sector bytes])" write)
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
        :get-id {:status :ok :data (java.util.Arrays/copyOf ^bytes store-id (int (min length 14)))}
        :misaligned {:status (if (= :discard type) :unsupp :ioerr)}
        {:status :unsupp}))))

(defprotocol Bindable
  (bind! [h vm device] "Tells a handler built before its guest started where its events go."))

(extend-protocol Bindable
  Object (bind! [_ _ _] nil))

(defrecord StoreHandler [chain bound]
  BlockHandler
  (handle [_ r]
    (let [{:keys [events guest device]} @bound]
      (serve chain default-timeout-ms events guest device r)))
  Bindable
  (bind! [_ vm device] (reset! bound {:events (.events ^Guest vm) :guest (.name ^Guest vm) :device device})))

(defn store-handler
  "The device's own handler for a disk of size bytes kept in store: what
  [:block {:size \"64M\" :store store}] becomes."
  [store size read-only?]
  (->StoreHandler (store-fn store (quot size 512) read-only?) (atom {:guest "" :device ""})))

(def ^:private entropy-per-request
  "The most random bytes asked of a source per request, as guestlab's own rng gives."
  4096)

(defn- entropy-bytes
  "Up to n bytes from (source n), on a handler thread within the timeout; nil, with a
  HANDLER_ERROR event, when it throws, is late or gives something else than up to n bytes."
  [source n {:keys [events guest device]}]
  (let [^Future f (.submit pool ^Callable (fn [] (source n)))
        fail (fn [why] (publish! events guest device EventKind/HANDLER_ERROR (str "entropy source " why "; the driver got no bytes")) nil)]
    (try
      (let [b (.get f (long default-timeout-ms) TimeUnit/MILLISECONDS)]
        (if (and (bytes? b) (<= (alength ^bytes b) n))
          b
          (fail (str "gave " (err/describe b) ", not up to " n " bytes"))))
      (catch TimeoutException _ (.cancel f true) (fail (str "took longer than " default-timeout-ms " ms")))
      (catch Throwable e (fail (failure-text e))))))

(defrecord SourceHandler [source bound]
  RngHandler
  (handle [_ request]
    (let [^EntropyRequest request request
          ^Buffers b (.buffers request)
          room (min entropy-per-request (reduce + (map #(.len b %) (range (.count b)))))
          ^bytes data (or (entropy-bytes source room @bound) (byte-array 0))]
      (loop [i 0 done 0]
        (if (and (< i (.count b)) (< done (alength data)))
          (let [n (min (.len b i) (- (alength data) done))]
            (.write (.memory request) (.addr b i) data done n)
            (recur (inc i) (+ done n)))
          done))))
  Bindable
  (bind! [_ vm device] (reset! bound {:events (.events ^Guest vm) :guest (.name ^Guest vm) :device device})))

(defn rng-handler
  "An entropy device whose bytes come from (source n), which gives up to n bytes: what
  [:rng {:source f}] becomes. A source that throws, is late or gives anything else leaves that
  request empty and is a HANDLER_ERROR event; the guest and device go on."
  [source]
  (->SourceHandler source (atom {:guest "" :device ""})))

(defn bind-handlers!
  "Points the handlers that g's spec built before g started (its disks kept in stores) at g's
  events. specs: g's guestlab.engine.DeviceSpecs."
  [^Guest g specs]
  (doseq [^guestlab.engine.DeviceSpec d (guestlab.engine.DeviceSpec/withDefaultNames specs)
          :let [h (get (.options d) guestlab.engine.DeviceSpec/HANDLER)]
          :when h]
    (bind! h g (.name d)))
  g)

;; --- replaying a recorded trace -------------------------------------------------------

(def ^:private replayable #{:read :write :flush :get-id})

(defn- issue
  "Request map m served by handler h the way a guest's request is, from scratch memory:
  {:status s} with :data for a read or get-id that is :ok."
  [^BlockHandler h m]
  (with-open [mem (MemfdMemory/allocate "guestlab-replay" (* 4096 (inc (quot (+ 17 (long (or (:length m) 0))) 4096))))]
    (let [r (.parse (BlockRequest$Parser.) mem (detached-chain mem m))
          c (.handle h r)
          status (status-of c)]
      (cond-> {:status status}
        (and (= :ok status) (pos? (.dataWritten c))) (assoc :data (.read mem 16 (.dataWritten c)))))))

(defn- replay-entry [fn-name file h {:keys [i op write-data write-sha256] :as e}]
  (let [data (when (= :write op)
               (when-not write-data
                 (err/fail! :argument (str fn-name ": write " i " of " file " was recorded without its data;"
                                           " record with (faults/record path {:data? true}) to replay writes")
                            {:fn fn-name :index i}))
               (let [b (trace/unbase64 write-data)]
                 (when (and write-sha256 (not= write-sha256 (trace/sha256 b)))
                   (err/fail! :argument (str fn-name ": write " i " of " file " has data that does not match its sha256") {:fn fn-name :index i}))
                 b))
        {:keys [status] out :data} (issue h (cond-> (select-keys e [:op :sector :length]) data (assoc :data data)))
        replayed (cond-> {:status status} out (assoc :read-sha256 (trace/sha256 out)))
        recorded (select-keys e [:status :read-sha256])]
    (when (not= recorded replayed)
      {:index i :request (select-keys e [:op :sector :length]) :recorded recorded :replayed replayed})))

(defn- replay-with [fn-name file ^BlockHandler h]
  (let [entries (sort-by :i (trace/read-trace fn-name file))
        todo (filter (comp replayable :op) entries)
        mismatches (into [] (keep #(replay-entry fn-name file h %)) todo)]
    (cond-> {:requests (count todo) :matched (- (count todo) (count mismatches)) :mismatches mismatches}
      (< (count todo) (count entries)) (assoc :skipped (- (count entries) (count todo))))))

(declare store-handler)

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
       (store? target) (replay-with f file (store-handler target (* 512 (bit-shift-left 1 40)) false))
       (or (string? target) (instance? java.io.File target))
       (let [dev (try (BlockDevice/open (.toPath (java.io.File. (str target))) false)
                      (catch java.io.IOException e
                        (err/fail! :argument (str f ": " (err/one-line (ex-message e))) {:fn f :target (str target)})))]
         (try (replay-with f file (.handler dev)) (finally (.close dev))))
       :else (err/bad-arg! f "target" "a disk image file, a store, or a guest and its device" target))))
  ([file g device]
   (check/with-guest [vm "dev/replay" g]
     (replay-with "dev/replay" file (.handler (block-device "dev/replay" vm device))))))
