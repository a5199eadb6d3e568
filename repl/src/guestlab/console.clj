(ns guestlab.console
  "Script a guest's console: wait for its output, type into it."
  (:import (guestlab.engine.sim SimGuest)
           (java.time Duration)
           (java.util.regex Pattern)))

(defn- host-console [g device]
  (if (instance? SimGuest g)
    (.hostConsole ^SimGuest g (name device))
    (throw (ex-info (str "no scriptable console on " g) {:guest g}))))

(defn expect
  "Waits until the guest's console output (since the last expect) matches re; returns the match.
  Options: :timeout-ms (default 10000), :device (default :console0). On timeout, throws with
  the last lines of output in the message."
  [g re & {:keys [timeout-ms device] :or {timeout-ms 10000 device :console0}}]
  (.awaitText (host-console g device) ^Pattern re (Duration/ofMillis timeout-ms)))

(defn send-line
  "Types a line into the guest's console."
  [g text & {:keys [device] :or {device :console0}}]
  (.send (host-console g device) (str text "\n")))

(defn output
  "Everything the guest has written to its console so far."
  [g & {:keys [device] :or {device :console0}}]
  (.text (host-console g device)))
