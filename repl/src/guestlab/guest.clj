(ns guestlab.guest
  "Guests as data: a spec map in, a running guest out.

    (start! {:name \"a\" :engine :sim :memory \"64M\"
             :devices [[:console] [:block {:file \"disk.img\"}] [:net {:switch :lan}] [:rng]]})"
  (:require [clojure.spec.alpha :as s]
            [clojure.string :as str]
            [guestlab.check :as check]
            [guestlab.devices :as dev]
            [guestlab.errors :as err]
            [guestlab.printing])
  (:import (guestlab.engine DeviceSpec Guest GuestSpec)
           (guestlab.engine.qemu SerialConsole$ConsoleException)
           (guestlab.launcher GuestNameTakenException Launcher StartProgress)
           (java.lang.management ManagementFactory)
           (java.time Duration)))

(defonce ^:private the-launcher (delay (Launcher.)))

(defn launcher
  "The launcher every guest of this JVM is started by; its switches are shared."
  ^Launcher []
  @the-launcher)

;; --- sizes -------------------------------------------------------------------

(def ^:private size-re #"(?i)(\d+)\s*([KMG]i?B?)?")

(defn- exact-size
  "The bytes a size stands for, exactly (a bigint when it is past a long), or nil if x is no size."
  [x]
  (if (integer? x)
    x
    (when-let [[_ n unit] (re-matches size-re (str/trim (str x)))]
      (* (bigint n)
         (case (some-> unit first str/upper-case)
           nil 1, "K" 1024, "M" (* 1024 1024), "G" (* 1024 1024 1024))))))

(defn parse-size
  "\"512M\" -> bytes. K, M and G are powers of 1024; a bare number is bytes."
  [x]
  (let [b (exact-size x)]
    (cond (nil? b) (err/fail! :argument (str "not a size: " (err/describe x) " (expected something like \"512M\")") {:value x})
          (not (<= Long/MIN_VALUE b Long/MAX_VALUE))
          (err/fail! :argument (str "not a size: " (err/describe x) " is more bytes than a 64-bit count holds") {:value x})
          :else (long b))))

;; --- the spec ----------------------------------------------------------------

(s/def ::name (s/and string? #(re-matches #"[A-Za-z0-9._-]+" %)))
(s/def ::engine #{:sim :qemu})
(s/def ::memory (s/or :bytes pos-int? :text (s/and string? #(re-matches size-re (str/trim %)))))
(s/def ::file (s/or :string (s/and string? (complement str/blank?)) :file #(instance? java.io.File %)))
(s/def ::read-only boolean?)
(s/def ::queues (s/int-in 1 (inc guestlab.devices.BlockDevice/MAX_QUEUES)))
(s/def ::switch (s/or :keyword keyword? :string string?))
(s/def ::mac (s/and string? #(re-matches #"(?i)([0-9a-f]{2}:){5}[0-9a-f]{2}" %)))
(s/def ::host #{:buffer :stdio})
(s/def ::vhost-user ::file)
(s/def ::ephemeral boolean?)
(s/def ::release (s/and string? #(re-matches #"[a-z][a-z0-9-]*" %)))
(s/def ::size (s/or :bytes pos-int? :text (s/and string? #(re-matches size-re (str/trim %)))))
(s/def ::rootfs (s/keys :opt-un [::release ::packages ::size]))
;; A disk is an image file, a Debian root disk guestlab builds (:rootfs, :qemu guests), or a
;; vhost-user back-end's socket (a :sim guest drives it as a front-end; a :qemu guest's QEMU
;; connects to it).
(s/def ::image-opts (s/keys :req-un [::file] :opt-un [::name ::read-only ::queues ::ephemeral ::rootfs]))
(s/def ::rootfs-opts (s/keys :req-un [::rootfs] :opt-un [::name ::queues ::ephemeral]))
(s/def ::vhost-user-opts (s/keys :req-un [::vhost-user] :opt-un [::name]))
(s/def ::store dev/store?)
(s/def ::store-opts (s/keys :req-un [::store ::size] :opt-un [::name ::read-only ::queues]))
(s/def ::block-opts (s/or :image ::image-opts :rootfs ::rootfs-opts :vhost-user ::vhost-user-opts :store ::store-opts))
(s/def ::net-opts (s/keys :opt-un [::name ::switch ::mac]))
(s/def ::console-opts (s/keys :opt-un [::name ::host]))
(s/def ::source ifn?)
(s/def ::rng-opts (s/keys :opt-un [::name ::vhost-user ::source]))
(s/def ::device
  (s/or :block (s/cat :kind #{:block} :opts ::block-opts)
        :net (s/cat :kind #{:net} :opts (s/? ::net-opts))
        :console (s/cat :kind #{:console} :opts (s/? ::console-opts))
        :rng (s/cat :kind #{:rng} :opts (s/? ::rng-opts))))
(s/def ::devices (s/coll-of (s/spec ::device) :kind vector?))
(s/def ::kernel ::file)
(s/def ::initrd ::file)
(s/def ::kit ::file)
(s/def ::module (s/or :keyword keyword? :string (s/and string? #(re-matches #"[A-Za-z0-9_-]+" %))))
(s/def ::modules (s/coll-of ::module :kind vector?))
(s/def ::package (s/and string? #(re-matches #"[a-z0-9][a-z0-9+.-]+" %)))
(s/def ::packages (s/coll-of ::package :kind vector?))
(s/def ::spec (s/keys :req-un [::devices] :opt-un [::name ::engine ::memory ::kernel ::initrd ::kit ::modules ::packages]))

(def ^:private expectations
  {::name "a name of letters, digits, '.', '_' or '-'"
   ::engine "an engine: :sim or :qemu"
   ::memory "a size like \"512M\" or a number of bytes"
   ::devices "a vector of devices like [[:console] [:block {:file \"disk.img\"}] [:net {:switch :lan}] [:rng]]"
   ::device "a device: [:console], [:block {:file ...}], [:net {:switch ...}] or [:rng]"
   ::file "a file path"
   ::store "a block store: (dev/memory-store) or (dev/fn-store {:read ... :write ...})"
   ::source "a function (fn [n] bytes) giving up to n random bytes"
   ::vhost-user "the socket of a vhost-user back-end (a :sim guest drives it, a :qemu guest's QEMU connects to it)"
   ::ephemeral "true or false (true: the guest gets a copy of the disk, deleted when it stops)"
   ::rootfs "a Debian root disk like {:release \"bookworm\" :packages [\"fio\"] :size \"1G\"}"
   ::release "a Debian release name like \"bookworm\""
   ::size "a size like \"1G\" or a number of bytes"
   ::kernel "a kernel image path (with :initrd)"
   ::initrd "an initramfs path (with :kernel)"
   ::kit "a kit lock file (./guestlab kit lock writes one)"
   ::modules "a vector of kernel module names like [:ext4 :xfs :9p]"
   ::module "a kernel module name like :ext4 or \"9p\""
   ::packages "a vector of Debian package names like [\"fio\" \"e2fsprogs\"]"
   ::package "a Debian package name like \"e2fsprogs\" (lower-case letters, digits, '+', '-' and '.')"
   ::read-only "true or false"
   ::queues "a number of request queues from 1 to 64"
   ::switch "a switch name like :lan"
   ::mac "a MAC address like \"52:54:00:12:34:56\""
   ::host ":buffer or :stdio"})

(def ^:private mib (* 1024 1024))

(def min-memory
  "The least memory guestlab gives a guest of each engine: 1 MiB for :sim (the launcher's own
  floor: the rings and buffers of its drivers), 128 MiB for :qemu (Debian's 6.1 kernel and the
  initramfs did not boot in 64 MiB; they did in 96)."
  {:sim mib :qemu (* 128 mib)})

(def default-memory
  "The :memory of a spec that gives none, by engine."
  {:sim "64M" :qemu "256M"})

(defn max-memory
  "The most memory one guest may have: this host's physical RAM (as the OS, or the container's
  limit, says)."
  []
  (.getTotalMemorySize ^com.sun.management.OperatingSystemMXBean (ManagementFactory/getOperatingSystemMXBean)))

(defn- in-units [bytes]
  (let [gib (/ (double bytes) (* 1024 mib))]
    (if (>= gib 1) (format "%.1f GiB" gib) (format "%d MiB" (quot bytes mib)))))

(defn- memory-problem
  "Why the spec's :memory cannot be given to a guest of its engine, or nil."
  [{:keys [memory engine] :or {engine :sim}}]
  (let [memory (or memory (default-memory engine))
        b (exact-size memory)
        least (min-memory engine)
        most (max-memory)
        shown (err/describe memory)]
    (cond (> b most) (str ":memory " shown " is more than this host's RAM (" (in-units most) "), the most one guest may have")
          (< b least) (str ":memory " shown " is less than " (in-units least) ", the least a " engine " guest runs in")
          (not (zero? (rem b 4096))) (str ":memory " shown " is not a whole number of 4096-byte pages")
          (and (= :qemu engine) (not (zero? (rem b mib)))) (str ":memory " shown " is not a whole number of MiB (QEMU takes memory in MiB)"))))

(defn- extras-problem
  "Why the spec's :modules or :packages cannot be given to its guest, or nil: they go into the
  Debian kit's initramfs, so only a :qemu guest booting that kit takes them."
  [{:keys [engine modules packages kernel] :or {engine :sim}}]
  (let [k (if (seq modules) :modules :packages)]
    (when (or (seq modules) (seq packages))
      (cond (not= :qemu engine) (str k " is for :qemu guests, which boot Debian's kernel; a " engine
                                     " guest has no kernel to load modules into and no userland to add packages to")
            kernel (str k " is added to the Debian kit's initramfs; a guest with its own :kernel and :initrd boots those as they are")))))

(def ^:private device-options
  "Each device kind's option spec."
  {:block ::block-opts :net ::net-opts :console ::console-opts :rng ::rng-opts})

(defn- spec-keys
  "The unqualified keys an s/keys spec names, or the branches of an s/or of them."
  [spec]
  (let [[op & args] (s/form spec)]
    (if (= op `s/or)
      (into #{} (mapcat spec-keys) (take-nth 2 (rest args)))
      (let [{:keys [req-un opt-un]} (apply hash-map args)]
        (set (map (comp keyword name) (concat req-un opt-un)))))))

(defn- unknown-key-problem
  "A key of the spec, or of a device's options, that no guest spec has, with the one it likely
  meant; or nil."
  [spec-map]
  (let [top (spec-keys ::spec)]
    (or (some (fn [k] (when-not (top k) (str "unknown key " (err/describe k) "; " (err/did-you-mean k top "valid keys"))))
              (keys spec-map))
        (when (vector? (:devices spec-map))
          (some (fn [[i d]]
                  (when (and (vector? d) (keyword? (first d)))
                    (let [[kind opts] d]
                      (if-let [opt-spec (device-options kind)]
                        (when (map? opts)
                          (let [valid (spec-keys opt-spec)]
                            (some (fn [k] (when-not (valid k)
                                            (str kind " device " i " has no option " (err/describe k) "; "
                                                 (err/did-you-mean k valid "its options"))))
                                  (keys opts))))
                        (when-let [meant (err/closest kind (keys device-options))]
                          (str "unknown device kind " kind " (device " i "); did you mean " meant "?"))))))
                (map-indexed vector (:devices spec-map)))))))

(defn- explain
  "One line naming the key at fault and what was expected."
  [spec-map]
  (let [problems (::s/problems (s/explain-data ::spec spec-map))
        p (first (sort-by (comp - count :via) problems))
        missing (some->> (:pred p) pr-str (re-find #"contains\? % :([\w-]+)") second)
        k (or (some->> missing (keyword "guestlab.guest"))
              (last (filter expectations (:via p))))
        where (if missing (str "missing :" missing) (str ":" (name (or k :spec)) " is " (pr-str (:val p))))]
    (str "invalid guest spec: " where "; expected " (get expectations k "a map with :devices")
         (when (seq (:in p)) (str " (at " (pr-str (:in p)) ")")))))

(defn validate!
  "Returns spec-map if it is a valid guest spec, else throws ex-info naming the key at fault:
  a key no spec has (and the one it likely meant), a value of the wrong shape, a :memory this
  host cannot give or the engine cannot run in, or :modules or :packages for a guest that does not
  boot the Debian kit. Whether each module and package exists is checked when the guest starts
  (the kit's kernel and apt know), before it boots."
  [spec-map]
  (let [invalid! (fn [problem data] (err/fail! :spec (str "invalid guest spec: " problem) (assoc data :spec spec-map)))]
    (when-not (map? spec-map)
      (invalid! (str "expected a map, got " (err/describe spec-map)) {}))
    (some-> (unknown-key-problem spec-map) (invalid! {}))
    (when-not (s/valid? ::spec spec-map)
      (err/fail! :spec (explain spec-map) {:spec spec-map :explain (s/explain-data ::spec spec-map)}))
    (some-> (memory-problem spec-map) (invalid! {:key :memory}))
    (some-> (extras-problem spec-map) (invalid! {})))
  spec-map)

(defonce ^:private counter (atom 0))

(defn- rootfs-map
  "A :rootfs map as the Java spec takes it: string keys (all of them: the launcher names a key it
  does not know), the size in bytes."
  [m]
  (into {} (for [[k v] m]
             [(name k) (case k :size (parse-size v) :packages (vec v) v)])))

(defn- option-map [opts]
  (into {} (for [[k v] (dissoc opts :name)]
             [(name k) (cond (= :rootfs k) (rootfs-map v) (keyword? v) (name v) (instance? java.io.File v) (str v) :else v)])))

(defn- store-options
  "A disk kept in a Clojure store: its :store becomes the device's own handler; so does an
  entropy source's :source."
  [{:keys [store size read-only source] :as opts}]
  (cond
    source (-> opts (dissoc :source) (assoc :handler (dev/rng-handler source)))
    store
    (let [bytes (parse-size size)]
      (when-not (zero? (rem bytes 512))
        (err/fail! :argument (str "a block device's :size is whole 512-byte sectors, not " (err/describe size)) {:value size}))
      (-> opts (dissoc :store) (assoc :size bytes :handler (dev/store-handler store bytes (boolean read-only)))))
    :else opts))

(defn ->java-spec
  "The Java GuestSpec for a validated spec map, with defaults filled in."
  ^GuestSpec [spec-map]
  (let [{:keys [name engine memory devices kernel initrd kit modules packages] :or {engine :sim}} (validate! spec-map)
        memory (or memory (default-memory engine))
        path #(some-> % str (java.nio.file.Path/of (make-array String 0)))]
    (GuestSpec. (or name (str "guest" (swap! counter inc)))
                (clojure.core/name engine)
                (parse-size memory)
                (vec (for [[kind opts] devices]
                       (DeviceSpec. (clojure.core/name kind) (:name opts) (option-map (store-options opts)))))
                (path kernel)
                (path initrd)
                (path kit)
                (mapv clojure.core/name modules)
                (vec packages))))

;; --- lifecycle ---------------------------------------------------------------

(def ^:dynamic *progress*
  "What start! (a :qemu boot takes seconds) and guestlab.console's put! and get! do with their
  progress lines: a function of one line, or nil for none. By default each line goes to *err*
  after \"guestlab: \"."
  (fn [line] (binding [*out* *err*] (println "guestlab:" line) (flush))))

(defn- progress
  "The launcher's StartProgress for *progress*: a line when a :qemu boot starts, one when it is up."
  ^StartProgress []
  (if-let [say *progress*]
    (reify StartProgress
      (booting [_ guest kit accelerator] (say (str "booting " guest " (" kit ", " accelerator ") ...")))
      (up [_ guest took] (say (format "%s is up in %.1f s" guest (/ (.toMillis ^Duration took) 1e3)))))
    StartProgress/SILENT))

(defn start!
  "Starts a guest from a spec map and returns it (a guestlab.engine.Guest). Two guests that are
  not stopped never share a name. A :qemu guest's boot prints a line when it starts and one when
  it is up (see *progress*); if its init never shows, the error has the console's last lines,
  escaped, and the raw ones in (:console-tail (ex-data e))."
  ^Guest [spec-map]
  (let [spec (->java-spec spec-map)
        guest-name (.name spec)]
    (try
      (dev/bind-handlers! (.start (launcher) spec (progress)) (.devices spec))
      (catch GuestNameTakenException e
        (err/fail! :name-taken (str "g/start!: " (.getMessage e) "; stop it (g/stop!) or give this one another :name")
                   {:guest guest-name}))
      (catch SerialConsole$ConsoleException e
        (throw (err/console-error "g/start!" (str "guest " guest-name ": " (first (str/split-lines (str (.getMessage e)))))
                                  (.consoleTail e) {:guest guest-name} e))))))

(defn stop!
  "Stops a guest and releases everything it holds. Stopping twice is harmless."
  [g]
  (.stop (check/guest "g/stop!" g)))

(defn stop-all!
  "Stops every guest this JVM started."
  []
  (.stopAll (launcher)))

(defn guests
  "The guests running now."
  []
  (vec (.guests (launcher))))

(defn pause!
  "Freezes the guest's CPU (QMP stop for :qemu; a :sim guest's CPU waits at its next hypercall).
  Its devices keep their state and go on serving what they already hold."
  [g]
  (.pause (check/live "g/pause!" g))
  g)

(defn resume!
  "Lets a paused guest run again."
  [g]
  (.resume (check/live "g/resume!" g))
  g)

(defn state
  "The guest's state: :running, :paused, :stopped or :failed."
  [g]
  (keyword (str/lower-case (str (.state (check/guest "g/state" g))))))

;; --- devices that come and go ------------------------------------------------

(defn- topology-change
  "Runs f, a change to live guest vm's devices, turning what the engine refuses into a one-line
  error \"<fn-name>: <why>\": :engine for an engine that cannot do it, :timeout when the guest did
  not answer in time, :hotplug otherwise."
  [fn-name ^Guest vm f]
  (try
    (f)
    (catch UnsupportedOperationException e
      (err/fail! :engine (str fn-name ": guest " (.name vm) " is a :" (.engine vm) " guest; " (.getMessage e))
                 {:fn fn-name :guest (.name vm) :engine (.engine vm)}))
    (catch RuntimeException e
      (when (or (err/guestlab-error e) (check/stopped? vm)) (throw e))
      (let [msg (str (.getMessage e))]
        (err/fail! (if (str/includes? msg "timed out") :timeout :hotplug) (str fn-name ": " msg)
                   {:fn fn-name :guest (.name vm)} e)))))

(defn plug!
  "Hot-plugs a block, net or rng device into running guest g and returns its name as a keyword:
  the device's :name, or the next free one of its kind (:block1, ...). A :qemu guest gets it in a
  free PCIe slot (guestlab's back-end starts first, then QMP chardev-add and device_add); a :sim
  guest's launcher appends its descriptor to the lguest device page, and the simulated kernel
  walks the page on from where it last stopped and probes it. plug! returns once the guest's
  driver has started it (a disk is then /dev/vdX in a :qemu guest, (sim/block-read vm :block1 ...)
  in a :sim one).

    (plug! vm [:block {:file \"b.img\"}])  ; => :block1"
  [g device]
  (check/with-guest [vm "g/plug!" g]
    (when-not (s/valid? ::device device)
      (err/bad-arg! "g/plug!" "device" "a device like [:block {:file \"b.img\"}], [:net {:switch :lan}] or [:rng]" device))
    (let [[kind opts] device]
      (keyword (topology-change "g/plug!" vm
                 #(.plug vm (DeviceSpec. (name kind) (:name opts) (option-map opts))))))))

(defn unplug!
  "Hot-unplugs a device plug! added to g, once the guest has let it go (for :qemu, QMP
  device_del and the DEVICE_DELETED event; for :sim, the guest's driver resets the device); then
  its queues stop and a disk's image is flushed and closed, so the file holds what the guest
  wrote. A :sim guest's device page keeps the device's descriptor, marked removed (type 0xFF).
  Devices a guest started with stay. Returns g."
  [g device]
  (check/with-guest [vm "g/unplug!" g]
    (let [n (check/device "g/unplug!" vm device)]
      (topology-change "g/unplug!" vm #(.unplug vm n))
      g)))

(defn link!
  "Sets the link of g's net device: false, the guest loses its carrier and no frame passes either
  way; true, both come back. Returns g.

    (link! vm :net0 false)"
  [g device up?]
  (check/with-guest [vm "g/link!" g]
    (let [n (check/device-of-kind "g/link!" vm device :net)]
      (check/arg "g/link!" "up?" boolean? "true or false" up?)
      (topology-change "g/link!" vm #(.setLink vm n (boolean up?)))
      g)))

;; --- events ------------------------------------------------------------------

(defn event->map
  "A guestlab.events.Event as a map."
  [^guestlab.events.Event e]
  (check/arg "g/event->map" "e" #(instance? guestlab.events.Event %) "a guestlab.events.Event" e)
  {:nanos (.nanos e) :guest (.guest e) :device (.device e) :queue (.queue e)
   :kind (keyword (str/lower-case (str (.kind e)))) :index (.index e) :head (.head e)
   :length (.length e) :latency-nanos (.latencyNanos e) :detail (.detail e)})

(defn events
  "The guest's recent events (the last 4096), oldest first, as maps."
  [g]
  (mapv event->map (.recent (.events (check/guest "g/events" g)))))

(defn subscribe!
  "Calls (f event-map) for every event of the guest from now on, on the thread where it happens
  (a device thread: keep f short). Returns a function of no arguments that unsubscribes."
  [g f]
  (let [vm (check/live "g/subscribe!" g)
        _ (check/arg "g/subscribe!" "f" ifn? "a function of one event map" f)
        handle (.subscribe (.events vm) (reify java.util.function.Consumer
                                          (accept [_ e] (f (event->map e)))))]
    (fn [] (.close ^java.lang.AutoCloseable handle))))

(defn event-stream
  "A live stream of the guest's events from now on; read it with next-event or drain-events,
  close it (with-open) when done. It holds at most :capacity events (default 65536); past that the
  oldest are dropped and counted by dropped-count."
  ^java.io.Closeable [g & {:keys [capacity] :or {capacity 65536}}]
  (check/live "g/event-stream" g)
  (check/int-in "g/event-stream" ":capacity" 1 (* 16 1024 1024) capacity)
  (let [q (java.util.concurrent.LinkedBlockingDeque. (int capacity))
        dropped (java.util.concurrent.atomic.AtomicLong.)
        stop (subscribe! g (fn [e]
                             (while (not (.offerLast q e))
                               (when (.pollFirst q) (.incrementAndGet dropped)))))]
    (reify
      java.io.Closeable (close [_] (stop))
      clojure.lang.ILookup
      (valAt [this k] (.valAt this k nil))
      (valAt [_ k not-found] (case k ::queue q ::dropped dropped not-found)))))

(defn- stream [fn-name s]
  (check/arg fn-name "s" #(some? (::queue %)) "an event stream from g/event-stream" s))

(defn next-event
  "The stream's next event, waiting up to timeout-ms (default 10000); nil if none came."
  ([s] (next-event s 10000))
  ([s timeout-ms]
   (stream "g/next-event" s)
   (check/timeout-ms "g/next-event" "timeout-ms" timeout-ms)
   (.pollFirst ^java.util.concurrent.LinkedBlockingDeque (::queue s)
               (long timeout-ms) java.util.concurrent.TimeUnit/MILLISECONDS)))

(defn drain-events
  "Every event the stream holds now, oldest first, without waiting."
  [s]
  (stream "g/drain-events" s)
  (let [out (java.util.ArrayList.)]
    (.drainTo ^java.util.concurrent.LinkedBlockingDeque (::queue s) out)
    (vec out)))

(defn dropped-count
  "How many events the stream dropped because nobody read them in time."
  [s]
  (stream "g/dropped-count" s)
  (.get ^java.util.concurrent.atomic.AtomicLong (::dropped s)))
