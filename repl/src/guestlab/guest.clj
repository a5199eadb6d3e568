(ns guestlab.guest
  "Guests as data: a spec map in, a running guest out.

    (start! {:name \"a\" :engine :sim :memory \"64M\"
             :devices [[:console] [:block {:file \"disk.img\"}] [:net {:switch :lan}] [:rng]]})"
  (:require [clojure.spec.alpha :as s]
            [clojure.string :as str])
  (:import (guestlab.launcher DeviceSpec Guest GuestSpec Launcher)))

(defonce ^:private the-launcher (delay (Launcher.)))

(defn launcher
  "The launcher every guest of this JVM is started by; its switches are shared."
  ^Launcher []
  @the-launcher)

;; --- sizes -------------------------------------------------------------------

(def ^:private size-re #"(?i)(\d+)\s*([KMG]i?B?)?")

(defn parse-size
  "\"512M\" -> bytes. K, M and G are powers of 1024; a bare number is bytes."
  [x]
  (if (integer? x)
    x
    (let [[_ n unit] (re-matches size-re (str/trim (str x)))]
      (when-not n
        (throw (ex-info (str "not a size: " (pr-str x) " (expected something like \"512M\")") {:value x})))
      (* (parse-long n)
         (case (some-> unit first str/upper-case)
           nil 1, "K" 1024, "M" (* 1024 1024), "G" (* 1024 1024 1024))))))

;; --- the spec ----------------------------------------------------------------

(s/def ::name (s/and string? #(re-matches #"[A-Za-z0-9._-]+" %)))
(s/def ::engine #{:sim :qemu})
(s/def ::memory (s/or :bytes pos-int? :text (s/and string? #(re-matches size-re (str/trim %)))))
(s/def ::file (s/or :string (s/and string? (complement str/blank?)) :file #(instance? java.io.File %)))
(s/def ::read-only boolean?)
(s/def ::switch (s/or :keyword keyword? :string string?))
(s/def ::mac (s/and string? #(re-matches #"(?i)([0-9a-f]{2}:){5}[0-9a-f]{2}" %)))
(s/def ::host #{:buffer :stdio})
(s/def ::block-opts (s/keys :req-un [::file] :opt-un [::name ::read-only]))
(s/def ::net-opts (s/keys :opt-un [::name ::switch ::mac]))
(s/def ::console-opts (s/keys :opt-un [::name ::host]))
(s/def ::rng-opts (s/keys :opt-un [::name]))
(s/def ::device
  (s/or :block (s/cat :kind #{:block} :opts ::block-opts)
        :net (s/cat :kind #{:net} :opts (s/? ::net-opts))
        :console (s/cat :kind #{:console} :opts (s/? ::console-opts))
        :rng (s/cat :kind #{:rng} :opts (s/? ::rng-opts))))
(s/def ::devices (s/coll-of (s/spec ::device) :kind vector?))
(s/def ::kernel ::file)
(s/def ::initrd ::file)
(s/def ::spec (s/keys :req-un [::devices] :opt-un [::name ::engine ::memory ::kernel ::initrd]))

(def ^:private expectations
  {::name "a name of letters, digits, '.', '_' or '-'"
   ::engine "an engine: :sim or :qemu"
   ::memory "a size like \"512M\" or a number of bytes"
   ::devices "a vector of devices like [[:console] [:block {:file \"disk.img\"}] [:net {:switch :lan}] [:rng]]"
   ::device "a device: [:console], [:block {:file ...}], [:net {:switch ...}] or [:rng]"
   ::file "a file path"
   ::kernel "a kernel image path (with :initrd)"
   ::initrd "an initramfs path (with :kernel)"
   ::read-only "true or false"
   ::switch "a switch name like :lan"
   ::mac "a MAC address like \"52:54:00:12:34:56\""
   ::host ":buffer or :stdio"})

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
  "Returns spec-map if it is a valid guest spec, else throws ex-info naming the key at fault."
  [spec-map]
  (when-not (map? spec-map)
    (throw (ex-info (str "invalid guest spec: expected a map, got " (pr-str spec-map)) {:spec spec-map})))
  (when-not (s/valid? ::spec spec-map)
    (throw (ex-info (explain spec-map) {:spec spec-map :explain (s/explain-data ::spec spec-map)})))
  spec-map)

(defonce ^:private counter (atom 0))

(defn- option-map [opts]
  (into {} (for [[k v] (dissoc opts :name)]
             [(name k) (cond (keyword? v) (name v) (instance? java.io.File v) (str v) :else v)])))

(defn ->java-spec
  "The Java GuestSpec for a validated spec map, with defaults filled in."
  ^GuestSpec [spec-map]
  (let [{:keys [name engine memory devices kernel initrd] :or {engine :sim memory "64M"}} (validate! spec-map)
        path #(some-> % str (java.nio.file.Path/of (make-array String 0)))]
    (GuestSpec. (or name (str "guest" (swap! counter inc)))
                (clojure.core/name engine)
                (parse-size memory)
                (vec (for [[kind opts] devices]
                       (DeviceSpec. (clojure.core/name kind) (:name opts) (option-map opts))))
                (path kernel)
                (path initrd))))

;; --- lifecycle ---------------------------------------------------------------

(defn start!
  "Starts a guest from a spec map and returns it (a guestlab.launcher.Guest)."
  ^Guest [spec-map]
  (.start (launcher) (->java-spec spec-map)))

(defn stop!
  "Stops a guest and releases everything it holds. Stopping twice is harmless."
  [^Guest g]
  (.stop g))

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
  [^Guest g]
  (.pause g)
  g)

(defn resume!
  "Lets a paused guest run again."
  [^Guest g]
  (.resume g)
  g)

(defn state
  "The guest's state: :running, :paused, :stopped or :failed."
  [^Guest g]
  (keyword (str/lower-case (str (.state g)))))

;; --- events ------------------------------------------------------------------

(defn event->map [^guestlab.events.Event e]
  {:nanos (.nanos e) :guest (.guest e) :device (.device e) :queue (.queue e)
   :kind (keyword (str/lower-case (str (.kind e)))) :index (.index e) :head (.head e)
   :length (.length e) :detail (.detail e)})

(defn events
  "The guest's recent events (the last 4096), oldest first, as maps."
  [^Guest g]
  (mapv event->map (.recent (.events g))))

(defn subscribe!
  "Calls (f event-map) for every event of the guest from now on, on the thread where it happens
  (a device thread: keep f short). Returns a function of no arguments that unsubscribes."
  [^Guest g f]
  (let [handle (.subscribe (.events g) (reify java.util.function.Consumer
                                          (accept [_ e] (f (event->map e)))))]
    (fn [] (.close ^java.lang.AutoCloseable handle))))

(defn event-stream
  "A live stream of the guest's events from now on; read it with next-event or drain-events,
  close it (with-open) when done. It holds at most :capacity events (default 65536); past that the
  oldest are dropped and counted by dropped-count."
  ^java.io.Closeable [^Guest g & {:keys [capacity] :or {capacity 65536}}]
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

(defn next-event
  "The stream's next event, waiting up to timeout-ms (default 10000); nil if none came."
  ([s] (next-event s 10000))
  ([s timeout-ms]
   (.pollFirst ^java.util.concurrent.LinkedBlockingDeque (::queue s)
               (long timeout-ms) java.util.concurrent.TimeUnit/MILLISECONDS)))

(defn drain-events
  "Every event the stream holds now, oldest first, without waiting."
  [s]
  (let [out (java.util.ArrayList.)]
    (.drainTo ^java.util.concurrent.LinkedBlockingDeque (::queue s) out)
    (vec out)))

(defn dropped-count
  "How many events the stream dropped because nobody read them in time."
  [s]
  (.get ^java.util.concurrent.atomic.AtomicLong (::dropped s)))
