(ns guestlab.faults
  "Faults to inject into a running block device, each a middleware for dev/wrap! made from a map,
  each seeded where it is random, so a recipe fails the same way every run:

    (dev/wrap! vm :block0 (faults/io-error {:sectors [2048 4095] :ops #{:write}}))
    (dev/wrap! vm :block0 (faults/latency {:ms 20}))
    (dev/wrap! vm :block0 (faults/torn-write {:sectors 1}))

  Which requests a fault takes, for every fault: :sectors [from to] (inclusive; a request that
  touches one of them), :ops (a set of :read :write :flush ...), :every n (the nth, 2nth, ...
  request that matches), :probability p with :seed s. Each request a fault acts on gets an entry
  in its completion's :faults, which the device publishes as a FAULT event beside the guest's
  ring events. Lying disks (stale-read) are never on unless asked for.

  (faults/record \"trace.edn\" {:data? true}) injects nothing: it records each request and its
  completion, for dev/replay."
  (:require [guestlab.blocktrace :as trace]
            [guestlab.errors :as err])
  (:import (java.util Arrays Random)))

;; --- which requests --------------------------------------------------------------

(defn- check! [fault-name opts k ok? expected]
  (when (contains? opts k)
    (when-not (ok? (get opts k))
      (err/bad-arg! (str "faults/" fault-name) (str k) expected (get opts k)))))

(defn- selector
  "A predicate on request maps from the common options, with state (counter, seeded Random) of its own."
  [fault-name {:keys [sectors ops every probability seed] :as opts} default-ops]
  (check! fault-name opts :sectors #(and (vector? %) (= 2 (count %)) (every? nat-int? %) (<= (first %) (second %)))
          "[from to], two sector numbers with from <= to")
  (check! fault-name opts :ops #(and (set? %) (every? keyword? %)) "a set of ops like #{:read :write}")
  (check! fault-name opts :every pos-int? "a positive integer")
  (check! fault-name opts :probability #(and (number? %) (<= 0 % 1)) "a number from 0 to 1")
  (check! fault-name opts :seed integer? "an integer")
  (let [ops (or ops default-ops)
        seen (atom 0)
        rng (Random. (long (or seed 0)))]
    (fn [{:keys [op sector length]}]
      (and (contains? ops op)
           (or (nil? sectors)
               (and sector (<= sector (second sectors))
                    (<= (first sectors) (+ sector (max 0 (dec (quot (or length 512) 512)))))))
           (or (nil? every) (zero? (rem (swap! seen inc) every)))
           (or (nil? probability) (locking rng (< (.nextDouble rng) probability)))))))

(defn- with-fault [completion fault did]
  (update completion :faults (fnil conj []) {:fault fault :did did}))

;; --- the faults ------------------------------------------------------------------

(defn io-error
  "Requests taken (default ops #{:read :write}) fail with IOERR without reaching the device."
  [opts]
  (let [take? (selector "io-error" opts #{:read :write})]
    (fn [handler]
      (fn [request]
        (if (take? request)
          (with-fault {:status :ioerr} :io-error "answered IOERR, nothing done")
          (handler request))))))

(defn- sampler [{:keys [ms distribution seed] :as opts}]
  (let [rng (Random. (long (or seed 0)))
        draw #(locking rng (%))]
    (cond
      ms (do (check! "latency" opts :ms #(and (number? %) (<= 0 % 60000)) "milliseconds from 0 to 60000")
             (constantly (double ms)))
      (:uniform distribution) (let [[lo hi] (:uniform distribution)]
                                #(draw (fn [] (+ lo (* (- hi lo) (.nextDouble rng))))))
      (:normal distribution) (let [[mean sd] (:normal distribution)]
                               #(max 0.0 (draw (fn [] (+ mean (* sd (.nextGaussian rng)))))))
      (:exponential distribution) (let [mean (:exponential distribution)]
                                    #(draw (fn [] (* -1.0 mean (Math/log (- 1.0 (.nextDouble rng)))))))
      :else (err/bad-arg! "faults/latency" "opts" (str "{:ms n} or {:distribution {:uniform [lo hi]}},"
                                                       " {:normal [mean sd]} or {:exponential mean}} (ms)") opts))))

(defn latency
  "Requests taken (default: every read, write and flush) wait first: {:ms 20}, or
  {:distribution {:uniform [5 50]}} / {:normal [20 5]} / {:exponential 10} with :seed."
  [opts]
  (let [ms (sampler opts)
        take? (selector "latency" opts #{:read :write :flush})]
    (fn [handler]
      (fn [request]
        (if (take? request)
          (let [wait (ms)]
            (Thread/sleep (long wait))
            (with-fault (handler request) :latency (format "delayed %.1f ms" (double wait))))
          (handler request))))))

(defn torn-write
  "Writes taken that are longer than :sectors k: only their first k sectors reach the device,
  then the guest gets IOERR."
  [{:keys [sectors] :as opts}]
  (when-not (nat-int? sectors) (err/bad-arg! "faults/torn-write" ":sectors" "the number of sectors that reach the disk" sectors))
  (let [take? (selector "torn-write" (dissoc opts :sectors) #{:write})
        n (* 512 sectors)]
    (fn [handler]
      (fn [{:keys [length data] :as request}]
        (if (and (take? request) (> length n))
          (let [done (if (pos? n)
                       (:status (handler (assoc request :length n :data (Arrays/copyOf ^bytes data (int n)))))
                       :ok)]
            (with-fault {:status :ioerr} :torn-write
              (str (if (= :ok done) (str "stored the first " sectors " sectors") (str "the first " sectors " sectors failed too"))
                   " of " (quot length 512) ", answered IOERR")))
          (handler request))))))

(defn stale-read
  "A lying disk, on only when asked for: before each write taken, the contents of its sectors
  (those in :sectors, if given) are kept, the first version only; reads of them return those
  older contents, as a disk whose cache lost the newer ones would."
  [opts]
  (let [take? (selector "stale-read" opts #{:write})
        kept? (if-let [[from to] (:sectors opts)] #(<= from % to) any?)
        old (atom {})]
    (fn [handler]
      (fn [{:keys [op sector length] :as request}]
        (case op
          :write (do (when (take? request)
                       (let [{:keys [status data]} (handler (-> request (assoc :op :read) (dissoc :data)))]
                         (when (= :ok status)
                           (swap! old (fn [m] (reduce (fn [m i] (if (or (contains? m (+ sector i)) (not (kept? (+ sector i)))) m
                                                                    (assoc m (+ sector i) (Arrays/copyOfRange ^bytes data (int (* 512 i)) (int (* 512 (inc i)))))))
                                                      m (range (quot length 512))))))))
                     (handler request))
          :read (let [c (handler request)
                      stale (keep (fn [i] (when-let [b (@old (+ sector i))] [i b])) (range (quot length 512)))]
                  (if (and (= :ok (:status c)) (seq stale))
                    (let [data (aclone ^bytes (:data c))]
                      (doseq [[i ^bytes b] stale] (System/arraycopy b 0 data (int (* 512 i)) 512))
                      (with-fault (assoc c :data data) :stale-read (str "returned older contents of " (count stale) " sectors")))
                    c))
          (handler request))))))

(defn flush-fail
  "Flushes taken (all, or :every n / :probability p) fail with IOERR and flush nothing."
  [opts]
  (let [take? (selector "flush-fail" opts #{:flush})]
    (fn [handler]
      (fn [request]
        (if (take? request)
          (with-fault {:status :ioerr} :flush-fail "answered IOERR, flushed nothing")
          (handler request))))))

;; --- recording ---------------------------------------------------------------------

(defn record
  "A middleware that records every request and its completion to the file at path, one EDN map a
  line (guestlab.blocktrace describes them), for dev/replay. The file is emptied now; each entry
  is appended, and the file closed, as its completion comes back, so unwrapping or stopping loses
  nothing. Data is kept as sha256s; {:data? true} keeps the bytes too (base64), which dev/replay
  needs to replay writes. Requests of several queues may arrive at once: entries are numbered
  (:i) in the order their completions came back. Wrap it last, to record what the guest sees."
  ([path] (record path {}))
  ([path {:keys [data?] :as opts}]
   (when-not (or (string? path) (instance? java.io.File path))
     (err/bad-arg! "faults/record" "path" "a file name" path))
   (check! "record" opts :data? boolean? "true or false")
   (let [p (.toPath (java.io.File. (str path)))
         lock (Object.)
         n (volatile! 0)
         t0 (System/nanoTime)]
     (try (trace/start! p)
          (catch java.io.IOException e
            (err/fail! :argument (str "faults/record: cannot write " path ": " (ex-message e)) {:fn "faults/record" :path (str path)})))
     (fn [handler]
       (fn [request]
         (let [t (/ (Math/round (/ (- (System/nanoTime) t0) 1e5)) 10.0)
               log! (fn [c] (locking lock
                              (trace/append! p (trace/entry @n t request c data?))
                              (vswap! n inc)))
               c (try (handler request)
                      (catch Throwable e (log! {:status :ioerr}) (throw e)))]
           (log! c)
           c))))))
