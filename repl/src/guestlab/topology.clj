(ns guestlab.topology
  "Several guests and the switches between them, as one map:

    {:switches [:lan]
     :guests [{:name \"a\" :engine :qemu :devices [[:net {:switch :lan}]]}
              {:name \"b\" :engine :qemu :devices [[:net {:switch :lan}]]}]}

  up! starts the guests in the order given, each booted before the next; down! stops them in
  the reverse order."
  (:require [clojure.spec.alpha :as s]
            [clojure.string :as str]
            [guestlab.check :as check]
            [guestlab.errors :as err]
            [guestlab.guest :as g]
            [guestlab.netfaults :as nf])
  (:import (guestlab.devices EthernetSwitch PcapCapture)
           (guestlab.engine Guest)
           (java.nio.file Path)))

(s/def ::switch (s/or :keyword keyword? :string string?))
(s/def ::switches (s/coll-of ::switch :kind sequential?))
(s/def ::guests (s/coll-of map? :kind sequential? :min-count 1))
(s/def ::topology (s/keys :req-un [::guests] :opt-un [::switches]))

(defn- switch-name [sw] (if (keyword? sw) (name sw) (str sw)))

(defn- fail [msg data] (err/fail! :topology (str "invalid topology: " msg) data))

(defn validate!
  "Returns the topology if it is valid, else throws naming what is wrong: each guest is checked as
  a guest spec and needs a :name of its own, and every switch a net device joins is declared."
  [topo]
  (when-not (s/valid? ::topology topo)
    (fail (str "expected a map with :guests (a non-empty vector of guest specs) and optionally "
               ":switches (a vector of switch names like :lan), got " (err/describe topo))
          {:topology topo}))
  (let [declared (set (map switch-name (:switches topo)))]
    (doseq [[i spec] (map-indexed vector (:guests topo))]
      (when-not (:name spec)
        (fail (str "guest " i " has no :name; guests of a topology are known by name") {:guest spec}))
      (try (g/validate! spec)
           (catch clojure.lang.ExceptionInfo e
             (fail (str "guest " (:name spec) ": " (ex-message e)) {:guest (:name spec)})))
      (doseq [[kind opts] (:devices spec)
              :when (= :net kind)
              :let [sw (switch-name (:switch opts :default))]]
        (when-not (declared sw)
          (fail (str "guest " (:name spec) " joins switch :" sw ", which :switches does not declare "
                     "(declared: " (pr-str (vec (sort declared))) ")")
                {:guest (:name spec) :switch sw}))))
    (when-let [twice (seq (for [[n c] (frequencies (map :name (:guests topo))) :when (> c 1)] n))]
      (fail (str "two guests are named " (first twice)) {:guest (first twice)})))
  topo)

(defn- say [& xs] (apply println "topology:" xs) (flush))

(defn- stop-quietly [^Guest vm]
  (try (g/stop! vm) nil (catch Throwable e e)))

(defn up!
  "Brings a topology up: its switches, then its guests in order, each booted before the next.
  If one fails, those already up are stopped again and the error names the guest. Returns the
  running topology: {:guests {name guest} :order [names] :switches [names]}."
  [topo]
  (validate! topo)
  (let [switches (mapv switch-name (:switches topo))]
    (doseq [sw switches] (.switchNamed (g/launcher) sw))
    (loop [specs (:guests topo) up []]
      (if-let [spec (first specs)]
        (let [t0 (System/nanoTime)
              vm (try
                   (say "starting" (:name spec) (str "(" (name (:engine spec :sim)) ")"))
                   (binding [g/*progress* nil] (g/start! spec)) ; these lines say it already
                   (catch Throwable e
                     (doseq [vm (rseq up)] (stop-quietly vm))
                     (err/fail! :start-failed
                                (str "topology up!: guest " (:name spec) " failed to start: " (ex-message e)
                                     (when (seq up) (str " (stopped again: " (mapv #(.name ^Guest %) up) ")")))
                                {:guest (:name spec)} e)))]
          (say (:name spec) (format "is up (%.1f s)" (/ (- (System/nanoTime) t0) 1e9)))
          (recur (rest specs) (conj up vm)))
        {:guests (into {} (map (juxt #(.name ^Guest %) identity) up))
         :order (mapv #(.name ^Guest %) up)
         :switches switches}))))

(defn- running-topology [fn-name running]
  (check/arg fn-name "running" #(and (map? %) (map? (:guests %)) (vector? (:order %)))
             "a running topology from topo/up!" running))

(defn guest
  "One guest of a running topology, by name."
  ^Guest [running guest-name]
  (running-topology "topo/guest" running)
  (check/arg "topo/guest" "guest-name" #(or (string? %) (keyword? %)) "a guest name like \"a\"" guest-name)
  (or (get-in running [:guests (name guest-name)])
      (err/fail! :no-guest (str "topo/guest: no guest " (err/describe guest-name) " in this topology; guests: "
                                (str/join " " (:order running)))
                 {:guest guest-name})))

(defn down!
  "Stops the topology's guests in reverse order. Every guest is stopped even if one fails to;
  the first failure is thrown afterwards."
  [running]
  (running-topology "topo/down!" running)
  (let [errors (doall (keep (fn [n]
                              (say "stopping" n)
                              (some->> (stop-quietly (guest running n)) (vector n)))
                            (rseq (:order running))))]
    (when-let [[n e] (first errors)]
      (err/fail! :stop-failed (str "topology down!: stopping " n " failed: " (ex-message e)) {:guest n} e))
    nil))

(defn status
  "Each guest's state and each switch's ports and forwarded frames."
  [running]
  (running-topology "topo/status" running)
  {:guests (into {} (for [n (:order running)] [n (g/state (guest running n))]))
   :switches (into {} (for [sw (:switches running)
                            :let [s (.switchNamed (g/launcher) sw)]]
                        [sw {:ports (.portCount s) :forwarded (.forwarded s)}]))})

;; --- net faults, partitions and capture on a switch ----------------------------------------

(defn- switch-of
  "The switch named sw (:lan or \"lan\"), made if no guest has joined it yet."
  ^EthernetSwitch [fn-name sw]
  (check/arg fn-name "switch" #(or (keyword? %) (string? %)) "a switch name like :lan" sw)
  (.switchNamed (g/launcher) (switch-name sw)))

(defn impair!
  "Sets a fault on the frames of switch sw that link picks (see guestlab.netfaults), after those
  set already; they act in turn. Returns the fault as data, with its :seed.

    (impair! :lan {:port \"a\"} {:loss 0.3 :seed 1})
    (impair! :lan {:from \"a\" :to \"b\"} {:delay-ms 50 :jitter-ms 10 :seed 2})"
  [sw link impairment]
  (let [i (nf/impairment "topo/impair!" link impairment)]
    (.impair (switch-of "topo/impair!" sw) i)
    (nf/impairment->map i)))

(defn clear!
  "Removes the faults set on switch sw with exactly this link, or all of them; the partition stays
  (heal! ends it). Returns how many were removed."
  ([sw] (.clear (switch-of "topo/clear!" sw) nil))
  ([sw link] (.clear (switch-of "topo/clear!" sw) (nf/selector "topo/clear!" link))))

(defn partition!
  "Cuts switch sw's frames between the groups (sets of guest names, or guest/device port names);
  a guest in no group still reaches everyone. Replaces any partition before it.

    (partition! :lan #{\"a\"} #{\"b\" \"c\"})"
  [sw group & groups]
  (.partition (switch-of "topo/partition!" sw) (nf/partition-of "topo/partition!" (cons group groups)))
  nil)

(defn heal!
  "Ends switch sw's partition; true if there was one."
  [sw]
  (.heal (switch-of "topo/heal!" sw)))

(defn faults
  "What is set on switch sw now: {:impairments [...] :partition [#{...} ...] or nil}."
  [sw]
  (let [s (switch-of "topo/faults" sw)]
    {:impairments (mapv nf/impairment->map (.impairments s))
     :partition (some->> (.partitionNow s) .groups (mapv set))}))

(defn capture!
  "Writes every frame switch sw delivers to file, as pcap (tcpdump -r reads it), until
  stop-capture! (or .close) on the handle returned. Frames a fault drops are not in it."
  ^PcapCapture [sw file]
  (check/arg "topo/capture!" "file" #(or (string? %) (instance? java.io.File %)) "a file name like \"lan.pcap\"" file)
  (let [s (switch-of "topo/capture!" sw)]
    (try (.capture s (Path/of (str file) (make-array String 0)))
         (catch IllegalStateException e (err/fail! :capture (str "topo/capture!: " (ex-message e)) {:switch (.name s)}))
         (catch java.io.UncheckedIOException e (err/fail! :capture (str "topo/capture!: " (ex-message e)) {:file (str file)})))))

(defn stop-capture!
  "Stops a capture once every frame it took is in the file; returns {:file :frames :missed}."
  [^PcapCapture capture]
  (check/arg "topo/stop-capture!" "capture" #(instance? PcapCapture %) "a capture from topo/capture!" capture)
  (.close capture)
  {:file (str (.file capture)) :frames (.written capture) :missed (.missed capture)})

(defn pcap-frames
  "The frames of a pcap file capture! wrote, oldest first: [{:micros wall-clock-µs :frame bytes}]."
  [file]
  (let [b (.order (java.nio.ByteBuffer/wrap (java.nio.file.Files/readAllBytes (Path/of (str file) (make-array String 0))))
                  java.nio.ByteOrder/LITTLE_ENDIAN)]
    (when-not (and (>= (.remaining b) 24) (= (unchecked-int 0xa1b2c3d4) (.getInt b 0)))
      (err/fail! :capture (str "topo/pcap-frames: " file " is not a pcap file with microsecond timestamps") {:file (str file)}))
    (.position b 24)
    (loop [out []]
      (if (< (.remaining b) 16)
        out
        (let [sec (Integer/toUnsignedLong (.getInt b)) usec (.getInt b) len (.getInt b) _ (.getInt b)
              f (byte-array (min len (.remaining b)))]
          (.get b f)
          (recur (conj out {:micros (+ (* 1000000 sec) usec) :frame f})))))))
