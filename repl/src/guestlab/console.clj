(ns guestlab.console
  "Script a guest's console: wait for its output, type into it, run commands.
  A :qemu guest's console is its serial port; a :sim guest's is its virtio console's host end."
  (:import (guestlab.engine.sim SimGuest)
           (guestlab.launcher QemuGuest)
           (java.time Duration)
           (java.util.regex Pattern)))

(defn- host-console [g device]
  (if (instance? SimGuest g)
    (.hostConsole ^SimGuest g (name device))
    (throw (ex-info (str "no scriptable console on " g) {:guest g}))))

(defn expect
  "Waits until the guest's console output (since the last expect) matches re; returns the match.
  Options: :timeout-ms (default 10000), :device (sim guests; default :console0). On timeout,
  throws with the last lines of output in the message."
  [g re & {:keys [timeout-ms device] :or {timeout-ms 10000 device :console0}}]
  (if (instance? QemuGuest g)
    (.group (.expect (.console ^QemuGuest g) ^Pattern re (Duration/ofMillis timeout-ms)))
    (.awaitText (host-console g device) ^Pattern re (Duration/ofMillis timeout-ms))))

(defn send-line
  "Types a line into the guest's console."
  [g text & {:keys [device] :or {device :console0}}]
  (if (instance? QemuGuest g)
    (.sendLine (.console ^QemuGuest g) (str text))
    (.send (host-console g device) (str text "\n"))))

(defn run
  "Runs a shell command in a :qemu guest and returns {:out text :exit code}."
  [g command & {:keys [timeout-ms] :or {timeout-ms 60000}}]
  (when-not (instance? QemuGuest g)
    (throw (ex-info "run needs a guest with a shell (:engine :qemu)" {:guest g})))
  (let [r (.run (.console ^QemuGuest g) (str command) (Duration/ofMillis timeout-ms))]
    {:out (.output r) :exit (.exitCode r)}))

(defn output
  "Everything the guest has written to its console so far."
  [g & {:keys [device] :or {device :console0}}]
  (if (instance? QemuGuest g)
    (.text (.console ^QemuGuest g))
    (.text (host-console g device))))
