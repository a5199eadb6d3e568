(ns guestlab.netfaults
  "Net faults as data, and their Java form. Which frames (a link selector):

    {:port \"a\"}            every frame a's net ports send or receive (\"a/net0\": that device only)
    {:link [\"a\" \"b\"]}      frames between a and b, both ways
    {:from \"a\" :to \"b\"}    frames from a to b only (either side may be left out)
    {}                     every frame of the switch

  What is done to them (an impairment; keys left out do nothing):

    {:loss 0.3 :delay-ms 50 :jitter-ms 10 :duplicate 0.1 :reorder 0.2 :corrupt 0.01
     :rate-kbit 512 :seed 7}

  Probabilities are drawn from a generator seeded with :seed (one is picked and returned when
  none is given), so the same frames meet the same fate on every run."
  (:require [guestlab.errors :as err])
  (:import (guestlab.devices Impairment LinkSelector Partition)))

(def impairment-keys
  "Each key of an impairment and what it must be."
  {:loss "a probability from 0 to 1" :duplicate "a probability from 0 to 1"
   :reorder "a probability from 0 to 1" :corrupt "a probability from 0 to 1"
   :delay-ms "milliseconds, 0 or more" :jitter-ms "milliseconds, 0 or more"
   :rate-kbit "kbit/s, 0 or more" :seed "an integer"})

(defn- valid-value? [k v]
  (case k
    (:loss :duplicate :reorder :corrupt) (and (number? v) (<= 0 v 1))
    :seed (int? v)
    (and (int? v) (<= 0 v))))

(defn- name-of [fn-name what x]
  (if (or (string? x) (keyword? x))
    (name x)
    (err/bad-arg! fn-name what "a guest name like \"a\" or a port like \"a/net0\"" x)))

(defn selector
  "The LinkSelector a selector map describes."
  ^LinkSelector [fn-name sel]
  (when-not (map? sel)
    (err/bad-arg! fn-name "link" "a map like {:port \"a\"}, {:link [\"a\" \"b\"]}, {:from \"a\" :to \"b\"} or {}" sel))
  (let [ks (set (keys sel))]
    (cond
      (empty? ks) LinkSelector/ALL
      (= ks #{:port}) (LinkSelector. (name-of fn-name ":port" (:port sel)) nil true)
      (= ks #{:link}) (let [[a b :as l] (:link sel)]
                        (when-not (and (vector? l) (= 2 (count l)))
                          (err/bad-arg! fn-name ":link" "two guest or port names, like [\"a\" \"b\"]" l))
                        (LinkSelector. (name-of fn-name ":link" a) (name-of fn-name ":link" b) true))
      (and (seq ks) (every? #{:from :to} ks))
      (LinkSelector. (some->> (:from sel) (name-of fn-name ":from")) (some->> (:to sel) (name-of fn-name ":to")) false)
      :else (err/bad-arg! fn-name "link" "one of {:port P}, {:link [P Q]}, {:from P :to Q} or {}" sel))))

(defn selector->map
  "A LinkSelector as the map that makes it."
  [^LinkSelector s]
  (cond (and (nil? (.from s)) (nil? (.to s))) {}
        (and (.bothWays s) (nil? (.to s))) {:port (.from s)}
        (.bothWays s) {:link [(.from s) (.to s)]}
        :else (cond-> {} (.from s) (assoc :from (.from s)) (.to s) (assoc :to (.to s)))))

(defn impairment
  "The Impairment an impairment map describes, on the frames sel picks; a missing :seed is drawn."
  ^Impairment [fn-name sel m]
  (when-not (and (map? m) (seq m))
    (err/bad-arg! fn-name "impairment" "a map like {:loss 0.3 :seed 1} or {:delay-ms 50 :jitter-ms 10}" m))
  (doseq [[k v] m]
    (if-let [expected (impairment-keys k)]
      (when-not (valid-value? k v) (err/bad-arg! fn-name (str k) expected v))
      (err/fail! :argument (str fn-name ": an impairment has no key " (err/describe k)
                                (if-let [meant (err/closest k (keys impairment-keys))]
                                  (str "; did you mean " meant "?")
                                  (str "; keys: " (vec (sort (keys impairment-keys))))))
                 {:fn fn-name :argument "impairment" :value m})))
  (Impairment. (selector fn-name sel) (double (:loss m 0)) (long (:delay-ms m 0)) (long (:jitter-ms m 0))
               (double (:duplicate m 0)) (double (:reorder m 0)) (double (:corrupt m 0))
               (long (:rate-kbit m 0)) (long (:seed m (.nextLong (java.util.Random.))))))

(defn impairment->map
  "An Impairment as data: {:link selector-map ...} with only the keys that act, and the seed."
  [^Impairment i]
  (into {:link (selector->map (.link i)) :seed (.seed i)}
        (remove (comp zero? val))
        {:loss (.loss i) :delay-ms (.delayMs i) :jitter-ms (.jitterMs i) :duplicate (.duplicate i)
         :reorder (.reorder i) :corrupt (.corrupt i) :rate-kbit (.rateKbit i)}))

(defn partition-of
  "The Partition of these groups (each a set of guest or port names)."
  ^Partition [fn-name groups]
  (when-not (and (<= 2 (count groups)) (every? #(and (set? %) (seq %)) groups))
    (err/bad-arg! fn-name "groups" "two or more non-empty sets of guest names, like #{\"a\"} #{\"b\" \"c\"}" (vec groups)))
  (when-let [twice (first (for [[n c] (frequencies (mapcat #(map (partial name-of fn-name "groups") %) groups)) :when (> c 1)] n))]
    (err/fail! :argument (str fn-name ": " twice " is in two groups; a partition's groups are apart")
               {:fn fn-name :argument "groups" :value (vec groups)}))
  (Partition. (mapv #(set (map (partial name-of fn-name "groups") %)) groups)))
