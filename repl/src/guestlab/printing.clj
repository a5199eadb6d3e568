(ns guestlab.printing
  "How a guest prints: as what it is, not as #object[guestlab.engine.sim.SimGuest 0x541afb85 ...].

    (pr-str vm) => \"#guestlab/guest {:name \\\"a\\\", :engine :sim, :state :running, :devices [\\\"console0\\\" \\\"rng0\\\"]}\"

  The tag has no reader function on purpose: the printed form is a description to read, not a
  way to make a guest. Printing never throws, for a stopped or failed guest too."
  (:require [clojure.string :as str])
  (:import (guestlab.engine Guest)
           (java.io Writer)))

(defn- attempt
  "(f), or `otherwise` if it throws: a guest being stopped on another thread may refuse a call."
  [f otherwise]
  (try (f) (catch Throwable _ otherwise)))

(defn guest-data
  "What a guest shows of itself when printed, as a map: {:name :engine :state :devices}."
  [^Guest g]
  {:name (attempt #(.name g) nil)
   :engine (attempt #(keyword (.engine g)) :unknown)
   :state (attempt #(keyword (str/lower-case (str (.state g)))) :unknown)
   :devices (attempt #(vec (.devices g)) [])})

(defn- print-guest [g ^Writer w]
  (.write w "#guestlab/guest ")
  (print-method (guest-data g) w))

(defmethod print-method Guest [g w] (print-guest g w))

(defmethod print-dup Guest [g w] (print-guest g w))
